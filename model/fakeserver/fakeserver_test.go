package fakeserver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/agentteam/agentteam/model"
)

// post sends a JSON body with the given headers and returns the response
// and its whole body.
func post(t *testing.T, url, body string, headers ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return resp, string(b)
}

func chatBody(modelName string, stream, includeUsage bool) string {
	m := map[string]any{
		"model":    modelName,
		"messages": []map[string]string{{"role": "user", "content": "hi there"}},
	}
	if stream {
		m["stream"] = true
		if includeUsage {
			m["stream_options"] = map[string]bool{"include_usage": true}
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

type apiError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func decodeError(t *testing.T, body string) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Message == "" {
		t.Fatalf("not an OpenAI error JSON (%v): %q", err, body)
	}
	return e
}

func code(e apiError) string {
	if e.Error.Code == nil {
		return "<null>"
	}
	return *e.Error.Code
}

type completion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *Usage `json:"usage"`
}

func TestNonStreamReplyAndRecord(t *testing.T) {
	s := New(Script{Replies: []Step{
		{Content: "hello, world"},
		{Content: "second", FinishReason: "length", Usage: &Usage{PromptTokens: 7, CompletionTokens: 3, TotalTokens: 10}},
		{Content: "third", NoUsage: true},
	}})
	defer s.Close()

	body := `{"model":"gpt-4o","messages":[{"role":"system","content":"be brief"},{"role":"user","name":"ann","content":"what is up?"}],"temperature":0.5,"max_tokens":100}`
	resp, got := post(t, s.URL+"/chat/completions", body, "Authorization", "Bearer sk-test")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), got)
	}
	var c completion
	if err := json.Unmarshal([]byte(got), &c); err != nil {
		t.Fatal(err)
	}
	if c.ID != "chatcmpl-fake1" || c.Object != "chat.completion" || c.Model != "gpt-4o" || c.Created < time.Now().Add(-time.Minute).Unix() {
		t.Errorf("envelope: %+v", c)
	}
	if len(c.Choices) != 1 || c.Choices[0].Message.Role != "assistant" || c.Choices[0].Message.Content != "hello, world" || c.Choices[0].FinishReason != "stop" {
		t.Errorf("choices: %+v", c.Choices)
	}
	// "be brief" + "what is up?" = 19 bytes -> 4; "hello, world" = 12 bytes -> 3.
	if want := (Usage{PromptTokens: 4, CompletionTokens: 3, TotalTokens: 7}); c.Usage == nil || *c.Usage != want {
		t.Errorf("usage %+v, want %+v", c.Usage, want)
	}

	temp := float32(0.5)
	want := Recorded{
		Path: "/v1/chat/completions", Model: "gpt-4o",
		Messages:    []model.Message{{Role: "system", Content: "be brief"}, {Role: "user", Name: "ann", Content: "what is up?"}},
		Temperature: &temp, MaxTokens: 100, Authorization: "Bearer sk-test",
	}
	if recs := s.Requests(); len(recs) != 1 || !reflect.DeepEqual(recs[0], want) {
		t.Errorf("recorded %+v\nwant     %+v", recs, want)
	}

	// Scripted usage and finish reason; max_completion_tokens; content parts.
	body = `{"model":"o3","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],"max_completion_tokens":42}`
	_, got = post(t, s.URL+"/chat/completions", body, "api-key", "k1")
	c = completion{}
	if err := json.Unmarshal([]byte(got), &c); err != nil {
		t.Fatal(err)
	}
	if c.ID != "chatcmpl-fake2" || c.Choices[0].FinishReason != "length" || *c.Usage != (Usage{7, 3, 10}) {
		t.Errorf("second reply: %s", got)
	}
	r := s.Requests()[1]
	if r.MaxTokens != 42 || r.Temperature != nil || r.Messages[0].Content != "ab" || r.APIKeyHeader != "k1" || r.Authorization != "" {
		t.Errorf("second record: %+v", r)
	}

	// NoUsage: no usage key at all; an empty model is answered as fake-model.
	_, got = post(t, s.URL+"/chat/completions", `{"messages":[]}`)
	var raw map[string]any
	if err := json.Unmarshal([]byte(got), &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["usage"]; ok || raw["model"] != "fake-model" {
		t.Errorf("no_usage reply: %s", got)
	}
	if s.Remaining() != 0 {
		t.Errorf("remaining %d", s.Remaining())
	}

	// Requests returns copies.
	recs := s.Requests()
	recs[0].Messages[0].Content = "changed"
	*recs[0].Temperature = 9
	if r := s.Requests()[0]; r.Messages[0].Content != "be brief" || *r.Temperature != 0.5 {
		t.Errorf("Requests shares memory with the server: %+v", r)
	}
}

func TestQueues(t *testing.T) {
	s := New(Script{
		Replies: []Step{{Content: "shared 1"}, {Content: "shared 2"}},
		Models:  map[string][]Step{"alpha": {{Content: "alpha 1"}, {Content: "alpha 2"}}},
	})
	defer s.Close()
	steps := []struct {
		model, want string
		status      int
		remaining   int
	}{
		{"alpha", "alpha 1", 200, 3},
		{"beta", "shared 1", 200, 2},
		{"alpha", "alpha 2", 200, 1},
		{"alpha", `fake server: no scripted reply left for model "alpha"`, 500, 1}, // own queue used up: no fallback
		{"gamma", "shared 2", 200, 0},
		{"gamma", `fake server: no scripted reply left for model "gamma"`, 500, 0},
	}
	for i, st := range steps {
		resp, body := post(t, s.URL+"/chat/completions", chatBody(st.model, false, false))
		if resp.StatusCode != st.status {
			t.Fatalf("step %d: status %d: %s", i, resp.StatusCode, body)
		}
		if st.status == 200 {
			var c completion
			if err := json.Unmarshal([]byte(body), &c); err != nil || c.Choices[0].Message.Content != st.want || c.Model != st.model {
				t.Errorf("step %d: %v %s", i, err, body)
			}
		} else {
			e := decodeError(t, body)
			if e.Error.Message != st.want || e.Error.Type != "server_error" {
				t.Errorf("step %d: %+v", i, e.Error)
			}
		}
		if got := s.Remaining(); got != st.remaining {
			t.Errorf("step %d: remaining %d, want %d", i, got, st.remaining)
		}
	}
	if n := len(s.Requests()); n != len(steps) {
		t.Errorf("%d requests recorded, want %d", n, len(steps))
	}
}

// sse is a stream body read apart: its data payloads and comment lines in
// order ("data:" payloads as is, comments with their leading ':').
type sse struct {
	lines  []string // non-blank lines in order
	events []string // the data payloads
}

func readSSE(t *testing.T, r io.Reader) (sse, error) {
	t.Helper()
	var out sse
	sc := bufio.NewScanner(r)
	prevBlank := true
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			prevBlank = true
			continue
		}
		if !prevBlank {
			t.Errorf("event line %q not preceded by a blank line", line)
		}
		prevBlank = false
		out.lines = append(out.lines, line)
		if p, ok := strings.CutPrefix(line, "data: "); ok {
			out.events = append(out.events, p)
		} else if !strings.HasPrefix(line, ":") {
			t.Errorf("unexpected SSE line %q", line)
		}
	}
	return out, sc.Err()
}

type streamChunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Delta struct {
			Role    *string `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *Usage `json:"usage"`
}

func TestStream(t *testing.T) {
	long := "The quick brown fox jumps over the lazy dog — ünïcødé ✓ 日本語のテキスト"
	cases := []struct {
		name         string
		step         Step
		includeUsage bool
		wantPieces   []string // nil: the default split
		wantUsage    *Usage
	}{
		{name: "default split, usage asked", step: Step{Content: long}, includeUsage: true,
			wantUsage: &Usage{PromptTokens: 2, CompletionTokens: len(long) / 4, TotalTokens: 2 + len(long)/4}},
		{name: "usage not asked", step: Step{Content: long}},
		{name: "no_usage wins over include_usage", step: Step{Content: "abc", NoUsage: true}, includeUsage: true},
		{name: "scripted chunks and finish", step: Step{Content: "one two three", Chunks: []string{"one", " two", " three"}, FinishReason: "length", Usage: &Usage{1, 2, 3}},
			includeUsage: true, wantPieces: []string{"one", " two", " three"}, wantUsage: &Usage{1, 2, 3}},
		{name: "keep-alive and chunk delay", step: Step{Content: "slow reply", KeepAlive: 3, ChunkDelayMS: 5}},
		{name: "empty content", step: Step{Content: ""}, wantPieces: []string{""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Script{Replies: []Step{tc.step}})
			defer s.Close()
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/chat/completions", strings.NewReader(chatBody("m1", true, tc.includeUsage)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("status %d type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			got, err := readSSE(t, resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			// Keep-alive comments come first, then only data lines.
			for i, l := range got.lines {
				isComment := strings.HasPrefix(l, ":")
				if isComment != (i < tc.step.KeepAlive) {
					t.Errorf("line %d %q: keep-alive comments must be exactly the first %d lines", i, l, tc.step.KeepAlive)
				}
				if isComment && l != ": keep-alive" {
					t.Errorf("comment %q", l)
				}
			}
			if n := len(got.events); n < 3 || got.events[n-1] != "[DONE]" {
				t.Fatalf("events do not end with [DONE]: %q", got.events)
			}
			var chunks []streamChunk
			for _, e := range got.events[:len(got.events)-1] {
				var c streamChunk
				if err := json.Unmarshal([]byte(e), &c); err != nil {
					t.Fatalf("chunk %q: %v", e, err)
				}
				if c.Object != "chat.completion.chunk" || c.ID != "chatcmpl-fake1" || c.Model != "m1" {
					t.Errorf("chunk envelope %q", e)
				}
				chunks = append(chunks, c)
			}
			if tc.wantUsage != nil {
				last := chunks[len(chunks)-1]
				if len(last.Choices) != 0 || last.Usage == nil || *last.Usage != *tc.wantUsage || !strings.Contains(got.events[len(got.events)-2], `"choices":[]`) {
					t.Errorf("usage chunk %q, want usage %+v", got.events[len(got.events)-2], tc.wantUsage)
				}
				chunks = chunks[:len(chunks)-1]
			}
			for _, c := range chunks {
				if c.Usage != nil {
					t.Errorf("unexpected usage in %+v", c)
				}
			}
			fin := chunks[len(chunks)-1]
			wantFinish := tc.step.FinishReason
			if wantFinish == "" {
				wantFinish = "stop"
			}
			if len(fin.Choices) != 1 || fin.Choices[0].FinishReason == nil || *fin.Choices[0].FinishReason != wantFinish ||
				fin.Choices[0].Delta.Content != nil || fin.Choices[0].Delta.Role != nil {
				t.Errorf("finish chunk %q", got.events[len(chunks)-1])
			}
			var pieces []string
			for i, c := range chunks[:len(chunks)-1] {
				ch := c.Choices[0]
				if (ch.Delta.Role != nil) != (i == 0) || (i == 0 && *ch.Delta.Role != "assistant") {
					t.Errorf("chunk %d: role %v (only the first delta has role assistant)", i, ch.Delta.Role)
				}
				if ch.FinishReason != nil || ch.Delta.Content == nil {
					t.Errorf("content chunk %d: %q", i, got.events[i])
				}
				if !strings.Contains(got.events[i], `"finish_reason":null`) {
					t.Errorf("content chunk %d lacks finish_reason null: %q", i, got.events[i])
				}
				pieces = append(pieces, *ch.Delta.Content)
			}
			if strings.Join(pieces, "") != tc.step.Content {
				t.Errorf("pieces %q do not add up to %q", pieces, tc.step.Content)
			}
			if tc.wantPieces != nil && !reflect.DeepEqual(pieces, tc.wantPieces) {
				t.Errorf("pieces %q, want %q", pieces, tc.wantPieces)
			}
			if tc.wantPieces == nil {
				for _, p := range pieces {
					if !utf8.ValidString(p) || len(p) < 1 || len(p) > 11 {
						t.Errorf("default piece %q: not 1-11 bytes of valid UTF-8", p)
					}
				}
			}
			r := s.Requests()[0]
			if !r.Stream || r.IncludeUsage != tc.includeUsage {
				t.Errorf("recorded %+v", r)
			}
		})
	}
}

func TestCutAfter(t *testing.T) {
	s := New(Script{Replies: []Step{
		{Content: "aaaa bbbb cccc dddd eeee", Chunks: []string{"aaaa", " bbbb", " cccc", " dddd", " eeee"}, CutAfter: 2},
		{Content: "short", Chunks: []string{"sh", "ort"}, CutAfter: 9}, // more than there are: cut before the finish chunk
		{Content: "a plain reply cut in half", CutAfter: 1},
	}})
	defer s.Close()
	for i, wantEvents := range []int{2, 2} {
		resp, err := http.Post(s.URL+"/chat/completions", "application/json", strings.NewReader(chatBody("m", true, true)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := readSSE(t, resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Errorf("stream %d: body ended cleanly, want an abrupt end", i)
		}
		if len(got.events) != wantEvents || strings.Contains(strings.Join(got.events, "\n"), "[DONE]") || strings.Contains(strings.Join(got.events, "\n"), "finish_reason\":\"") {
			t.Errorf("stream %d: events %q, want %d content chunks and no end", i, got.events, wantEvents)
		}
	}
	resp, err := http.Post(s.URL+"/chat/completions", "application/json", strings.NewReader(chatBody("m", false, false)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(b) == 0 || json.Valid(b) {
		t.Errorf("plain cut: err %v, body %q", err, b)
	}
	// The server is still fine afterwards.
	if r, body := post(t, s.URL+"/chat/completions", chatBody("m", false, false)); r.StatusCode != 500 {
		t.Errorf("after the cuts: %d %s", r.StatusCode, body)
	}
}

func TestFaults(t *testing.T) {
	html := "<html><body><h1>502 Bad Gateway</h1></body></html>"
	cases := []struct {
		name       string
		fault      Fault
		wantType   string // Content-Type
		wantRetry  string
		wantBody   string // "" : an OpenAI error JSON
		wantCode   string
		wantErrTyp string
		wantMsg    string
	}{
		{name: "429 rate limit", fault: Fault{Status: 429, RetryAfter: "1", Code: "rate_limit_exceeded", Message: "Rate limit reached"},
			wantType: "application/json", wantRetry: "1", wantCode: "rate_limit_exceeded", wantErrTyp: "requests", wantMsg: "Rate limit reached"},
		{name: "429 quota", fault: Fault{Status: 429, Code: "insufficient_quota"},
			wantType: "application/json", wantCode: "insufficient_quota", wantErrTyp: "insufficient_quota", wantMsg: "fake server: Too Many Requests (insufficient_quota)"},
		{name: "503 http date", fault: Fault{Status: 503, RetryAfter: "Wed, 21 Oct 2015 07:28:00 GMT"},
			wantType: "application/json", wantRetry: "Wed, 21 Oct 2015 07:28:00 GMT", wantCode: "<null>", wantErrTyp: "server_error", wantMsg: "fake server: Service Unavailable"},
		{name: "400 context length", fault: Fault{Status: 400, Code: "context_length_exceeded", Message: "too long"},
			wantType: "application/json", wantCode: "context_length_exceeded", wantErrTyp: "invalid_request_error", wantMsg: "too long"},
		{name: "404 model", fault: Fault{Status: 404, Code: "model_not_found", Message: "no such model"},
			wantType: "application/json", wantCode: "model_not_found", wantErrTyp: "invalid_request_error", wantMsg: "no such model"},
		{name: "html from a proxy", fault: Fault{Status: 502, Body: html, ContentType: "text/html"},
			wantType: "text/html", wantBody: html},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Script{Replies: []Step{{Fault: &tc.fault}, {Content: "after the fault"}}})
			defer s.Close()
			resp, body := post(t, s.URL+"/chat/completions", chatBody("m", false, false))
			if resp.StatusCode != tc.fault.Status || resp.Header.Get("Content-Type") != tc.wantType || resp.Header.Get("Retry-After") != tc.wantRetry {
				t.Errorf("status %d type %q retry-after %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Retry-After"))
			}
			if tc.wantBody != "" {
				if body != tc.wantBody {
					t.Errorf("body %q", body)
				}
			} else {
				e := decodeError(t, body)
				if code(e) != tc.wantCode || e.Error.Type != tc.wantErrTyp || e.Error.Message != tc.wantMsg || e.Error.Param != nil {
					t.Errorf("error %s", body)
				}
			}
			// The fault used its step: the retry gets the next one.
			if resp, body := post(t, s.URL+"/chat/completions", chatBody("m", false, false)); resp.StatusCode != 200 || !strings.Contains(body, "after the fault") {
				t.Errorf("retry: %d %s", resp.StatusCode, body)
			}
			if n := len(s.Requests()); n != 2 || s.Remaining() != 0 {
				t.Errorf("%d recorded, %d remaining", n, s.Remaining())
			}
		})
	}
}

func TestDelay(t *testing.T) {
	s := New(Script{Replies: []Step{{Content: "late", DelayMS: 150}, {Content: "late stream", DelayMS: 150}}})
	defer s.Close()
	for _, stream := range []bool{false, true} {
		start := time.Now()
		resp, err := http.Post(s.URL+"/chat/completions", "application/json", strings.NewReader(chatBody("m", stream, false)))
		if err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		resp.Body.Close()
		if resp.StatusCode != 200 || elapsed < 150*time.Millisecond {
			t.Errorf("stream %v: headers after %v, want at least 150ms", stream, elapsed)
		}
	}
}

func TestDelayClientGivesUp(t *testing.T) {
	h := NewHandler(Script{Replies: []Step{{Content: "never read", DelayMS: 60_000}, {Content: "next"}}})
	returned := make(chan struct{}, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		returned <- struct{}{}
	}))
	defer ts.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/v1/chat/completions", strings.NewReader(chatBody("m", false, false)))
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the client to give up, got %v", err)
	}
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler is still waiting after the client went away")
	}
	resp, body := post(t, ts.URL+"/v1/chat/completions", chatBody("m", false, false))
	if resp.StatusCode != 200 || !strings.Contains(body, `"next"`) {
		t.Errorf("next request: %d %s", resp.StatusCode, body)
	}
}

func TestAPIKey(t *testing.T) {
	const key = "sk-fake-0123456789abcdef"
	s := New(Script{APIKey: key, Replies: []Step{{Content: "a"}, {Content: "b"}, {Content: "c"}}})
	defer s.Close()
	root := strings.TrimSuffix(s.URL, "/v1")
	azure := root + "/openai/deployments/dep1/chat/completions?api-version=2024-06-01"
	cases := []struct {
		name    string
		url     string
		headers []string
		status  int
	}{
		{"missing", s.URL + "/chat/completions", nil, 401},
		{"wrong bearer", s.URL + "/chat/completions", []string{"Authorization", "Bearer sk-wrong-key-000000000000"}, 401},
		{"not bearer", s.URL + "/chat/completions", []string{"Authorization", key}, 401},
		{"bearer ok", s.URL + "/chat/completions", []string{"Authorization", "Bearer " + key}, 200},
		{"azure wrong", azure, []string{"api-key", "nope"}, 401},
		{"azure api-key ok", azure, []string{"api-key", key}, 200},
		{"api-key on the openai route", s.URL + "/chat/completions", []string{"api-key", key}, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, tc.url, chatBody("m", false, false), tc.headers...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if tc.status == 401 {
				e := decodeError(t, body)
				if code(e) != "invalid_api_key" || e.Error.Type != "invalid_request_error" || strings.Contains(body, "wrong-key-0000") {
					t.Errorf("error %s", body)
				}
			}
		})
	}
	if n, want := len(s.Requests()), len(cases); n != want {
		t.Errorf("%d requests recorded, want %d (rejected ones too)", n, want)
	}
	if s.Remaining() != 0 {
		t.Errorf("remaining %d: a rejected request must not use a step", s.Remaining())
	}
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/models", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("models without a key: %d", resp.StatusCode)
	}
}

func TestAzure(t *testing.T) {
	s := New(Script{Models: map[string][]Step{"gpt-4o-deploy": {{Content: "from azure"}}}})
	defer s.Close()
	root := strings.TrimSuffix(s.URL, "/v1")
	resp, body := post(t, root+"/openai/deployments/gpt-4o-deploy/chat/completions", chatBody("gpt-4o", false, false), "api-key", "x")
	if e := decodeError(t, body); resp.StatusCode != 400 || !strings.Contains(e.Error.Message, "api-version") {
		t.Errorf("without api-version: %d %s", resp.StatusCode, body)
	}
	resp, body = post(t, root+"/openai/deployments/gpt-4o-deploy/chat/completions?api-version=2024-06-01", chatBody("gpt-4o", false, false), "api-key", "x")
	var c completion
	if err := json.Unmarshal([]byte(body), &c); err != nil || resp.StatusCode != 200 || c.Choices[0].Message.Content != "from azure" || c.Model != "gpt-4o-deploy" {
		t.Errorf("with api-version: %d %s", resp.StatusCode, body)
	}
	recs := s.Requests()
	if len(recs) != 2 || recs[1].Model != "gpt-4o-deploy" || recs[1].Query != "api-version=2024-06-01" ||
		recs[1].Path != "/openai/deployments/gpt-4o-deploy/chat/completions" || recs[1].APIKeyHeader != "x" {
		t.Errorf("recorded %+v", recs)
	}
}

func TestModelsAndNotFound(t *testing.T) {
	s := New(Script{Models: map[string][]Step{"zeta": nil, "alpha": nil}})
	defer s.Close()
	resp, err := http.Get(s.URL + "/models")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			OwnedBy string `json:"owned_by"`
		} `json:"data"`
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || list.Object != "list" {
		t.Fatalf("%v %+v", err, list)
	}
	var ids []string
	for _, d := range list.Data {
		if d.Object != "model" || d.OwnedBy != "fake" {
			t.Errorf("entry %+v", d)
		}
		ids = append(ids, d.ID)
	}
	if want := []string{"alpha", "fake-model", "zeta"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("models %q, want %q", ids, want)
	}

	root := strings.TrimSuffix(s.URL, "/v1")
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/chat/completions"},
		{"POST", "/v1/completions"},
		{"POST", "/chat/completions"},
		{"GET", "/"},
		{"POST", "/openai/deployments//chat/completions?api-version=1"},
	} {
		req, _ := http.NewRequest(c.method, root+c.path, strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d", c.method, c.path, resp.StatusCode)
		}
		if e := decodeError(t, string(b)); e.Error.Type != "invalid_request_error" {
			t.Errorf("%s %s: %s", c.method, c.path, b)
		}
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("%d chat requests recorded, want 0", n)
	}
}

func TestMalformedBody(t *testing.T) {
	s := New(Script{Replies: []Step{{Content: "kept"}}})
	defer s.Close()
	resp, body := post(t, s.URL+"/chat/completions", `{"model": "m", "messages": [`)
	if e := decodeError(t, body); resp.StatusCode != 400 || e.Error.Type != "invalid_request_error" {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	if len(s.Requests()) != 1 || s.Remaining() != 1 {
		t.Errorf("recorded %d, remaining %d", len(s.Requests()), s.Remaining())
	}
}

func TestConcurrent(t *testing.T) {
	const n = 20
	var script Script
	for i := range n {
		script.Replies = append(script.Replies, Step{Content: fmt.Sprintf("reply %02d", i), ChunkDelayMS: 1})
	}
	s := New(script)
	defer s.Close()
	var wg sync.WaitGroup
	got := make([]string, n)
	for i := range n {
		wg.Go(func() {
			resp, err := http.Post(s.URL+"/chat/completions", "application/json", strings.NewReader(chatBody("m", i%2 == 0, false)))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			i0 := strings.Index(string(b), "reply ")
			if i0 < 0 && i%2 == 1 {
				t.Errorf("request %d: %s", i, b)
				return
			}
			if i%2 == 0 { // stream: join the pieces
				sb, _ := readSSE(t, strings.NewReader(string(b)))
				var text strings.Builder
				for _, e := range sb.events[:len(sb.events)-2] {
					var c streamChunk
					_ = json.Unmarshal([]byte(e), &c)
					text.WriteString(*c.Choices[0].Delta.Content)
				}
				got[i] = text.String()
			} else {
				got[i] = string(b[i0 : i0+len("reply 00")])
			}
		})
	}
	wg.Wait()
	sort.Strings(got)
	for i := range n {
		if want := fmt.Sprintf("reply %02d", i); got[i] != want {
			t.Fatalf("replies %q: each step must be used exactly once", got)
		}
	}
	if s.Remaining() != 0 || len(s.Requests()) != n {
		t.Errorf("remaining %d, recorded %d", s.Remaining(), len(s.Requests()))
	}
}

func TestLoadScript(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{
  "api_key": "k",
  "replies": [{"content": "hi", "chunks": ["h", "i"], "keep_alive": 2}],
  "models": {"m": [{"content": "", "fault": {"status": 429, "retry_after": "1", "code": "rate_limit_exceeded"}}]}
}`)
	s, err := LoadScript(good)
	want := Script{APIKey: "k", Replies: []Step{{Content: "hi", Chunks: []string{"h", "i"}, KeepAlive: 2}},
		Models: map[string][]Step{"m": {{Fault: &Fault{Status: 429, RetryAfter: "1", Code: "rate_limit_exceeded"}}}}}
	if err != nil || !reflect.DeepEqual(s, want) {
		t.Errorf("LoadScript: %v\n%+v", err, s)
	}
	for _, tc := range []struct{ name, text, want string }{
		{"unknown.json", `{"replies": [{"content": "x", "delay": 5}]}`, `unknown field "delay"`},
		{"chunks.json", `{"replies": [{"content": "abc", "chunks": ["a", "b"]}]}`, "replies[0]: the chunks do not add up"},
		{"status.json", `{"models": {"x": [{"fault": {"status": 200}}]}}`, `models["x"][0]: fault status 200`},
		{"negative.json", `{"replies": [{"content": "x"}, {"delay_ms": -1}]}`, "replies[1]: "},
		{"trailing.json", `{} {}`, "after the JSON"},
		{"syntax.json", `{"replies": [`, "unexpected EOF"},
		{"reasoning.json", `{"replies": [{"reasoning": "x", "reasoning_field": "thoughts"}]}`, `reasoning field "thoughts"`},
		{"usagefield.json", `{"replies": [{"usage_field": "x_other"}]}`, `usage field "x_other"`},
		{"errorshape.json", `{"replies": [{"error": {"message": "x", "shape": "xml"}}]}`, `error shape "xml"`},
		{"faultshape.json", `{"replies": [{"fault": {"status": 500, "shape": "xml"}}]}`, `fault shape "xml"`},
		{"errorfault.json", `{"replies": [{"error": {"message": "x"}, "fault": {"status": 500}}]}`, "neither a fault nor cut_after"},
	} {
		p := write(tc.name, tc.text)
		_, err := LoadScript(p)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming the file and saying %q", tc.name, err, tc.want)
		}
	}
	missing := filepath.Join(dir, "missing.json")
	if _, err := LoadScript(missing); err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestNewPanicsOnInvalidScript(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "chunks do not add up") {
			t.Errorf("recovered %v", r)
		}
	}()
	NewHandler(Script{Replies: []Step{{Content: "abc", Chunks: []string{"x"}}}})
}

func TestSplit(t *testing.T) {
	for _, s := range []string{"", "a", "12345678", "123456789", "ééééééééé", "日本語のテキストです", "a\xff\xfe\xfdb"} {
		pieces := split(s, 8)
		if strings.Join(pieces, "") != s {
			t.Errorf("split(%q) = %q", s, pieces)
		}
		for _, p := range pieces[:max(len(pieces)-1, 0)] {
			if len(p) < 8 {
				t.Errorf("split(%q): piece %q shorter than 8 bytes before the last", s, p)
			}
		}
		if utf8.ValidString(s) {
			for _, p := range pieces {
				if !utf8.ValidString(p) {
					t.Errorf("split(%q): piece %q cuts a rune", s, p)
				}
			}
		}
	}
}

// TestShapes: the answers real servers give that the OpenAI documentation
// does not, byte for byte where the shape is the point.
func TestShapes(t *testing.T) {
	cases := []struct {
		name   string
		step   Step
		stream bool
		want   []string // in the body, in order
		not    []string // nowhere in the body
	}{
		{name: "event line before an error frame", stream: true,
			step: Step{Content: "maybe", Error: &StreamError{Message: "Tool choice is required", Type: "invalid_request_error", Code: "tool_use_failed", StatusCode: 400, Event: true}},
			want: []string{`"content":"maybe"`, "\n\nevent: error\ndata: {\"error\":{", `"code":"tool_use_failed"`, `"status_code":400`},
			not:  []string{"[DONE]", `"finish_reason":"stop"`}},
		{name: "bare error line", stream: true,
			step: Step{Content: "Hi", Error: &StreamError{Message: "unexpected EOF", Type: "api_error", Raw: true}},
			want: []string{"\n\n{\"error\":{\"code\":null,\"message\":\"unexpected EOF\",\"param\":null,\"type\":\"api_error\"}}\n"}, not: []string{"data: {\"error\""}},
		{name: "string error in a stream", stream: true, step: Step{Error: &StreamError{Message: "runner crashed", Shape: "string"}},
			want: []string{"data: {\"error\":\"runner crashed\"}\n\n"}},
		{name: "top-level error in a stream", stream: true, step: Step{Error: &StreamError{Message: "too long", Type: "BadRequestError", Code: "400", Shape: "top_level"}},
			want: []string{`"code":400`, `"object":"error"`}, not: []string{`{"error"`}},
		{name: "error inside a chunk", stream: true, step: Step{Content: "Half", Error: &StreamError{Message: "Provider disconnected", Code: "server_error", Shape: "in_chunk"}},
			want: []string{`"content":"Half"`, `"finish_reason":"error"}],"error":{"code":"server_error"`, "data: [DONE]"}},
		{name: "error as a 200 body", step: Step{Error: &StreamError{Message: "runner crashed", Shape: "string"}},
			want: []string{`{"error":"runner crashed"}`}, not: []string{"choices"}},
		{name: "reasoning_content before the content", stream: true, step: Step{Content: "4", Reasoning: "2+2"},
			want: []string{`"reasoning_content":"2+2"`, `"content":"4"`}},
		{name: "reasoning field", stream: true, step: Step{Content: "4", Reasoning: "2+2", ReasoningField: "reasoning"},
			want: []string{`"reasoning":"2+2"`, `"content":"4"`}, not: []string{"reasoning_content"}},
		{name: "think tags", stream: true, step: Step{Content: "4", Reasoning: "2+2", ReasoningField: "think"},
			want: []string{`"content":"\u003cthink\u003e\n"`, `"content":"2+2\n\u003c/th"`, `"content":"4"`}, not: []string{"reasoning"}},
		{name: "think tags in a body", step: Step{Content: "4", Reasoning: "2+2", ReasoningField: "think"},
			want: []string{`"content":"\u003cthink\u003e\n2+2\n\u003c/think\u003e\n\n4"`}},
		{name: "reasoning in a body", step: Step{Content: "4", Reasoning: "2+2", ReasoningField: "reasoning"},
			want: []string{`"content":"4","reasoning":"2+2"`}},
		{name: "only a tool call", stream: true, step: Step{ToolCall: "get_capital"},
			want: []string{`"tool_calls":[{"index":0,"id":"call_fake","type":"function","function":{"name":"get_capital","arguments":"{}"}}]`, `"finish_reason":"tool_calls"`},
			not:  []string{`"content"`}},
		{name: "content filter", stream: true, step: Step{Content: "Here is how", FinishReason: "content_filter"},
			want: []string{`"finish_reason":"content_filter"`}},
		{name: "usage under x_groq", stream: true, step: Step{Content: "hi", Usage: &Usage{1, 2, 3}, UsageField: "x_groq"},
			want: []string{`"finish_reason":"stop"}],"x_groq":{"id":"req_`, `"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}}`},
			not:  []string{`"choices":[],"usage"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Script{Replies: []Step{tc.step}})
			defer s.Close()
			resp, body := post(t, s.URL+"/chat/completions", chatBody("m", tc.stream, true))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			rest := body
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("%q is not in the body (after the previous ones):\n%s", w, body)
				}
				rest = rest[i+len(w):]
			}
			for _, n := range tc.not {
				if strings.Contains(body, n) {
					t.Errorf("%q is in the body:\n%s", n, body)
				}
			}
		})
	}
}

func TestFaultShapes(t *testing.T) {
	for shape, want := range map[string]string{
		"string":    `{"error":"fake server: Internal Server Error"}`,
		"top_level": `{"code":null,"message":"fake server: Internal Server Error","object":"error","param":null,"type":"server_error"}`,
	} {
		s := New(Script{Replies: []Step{{Fault: &Fault{Status: 500, Shape: shape}}}})
		resp, body := post(t, s.URL+"/chat/completions", chatBody("m", false, false))
		s.Close()
		if resp.StatusCode != 500 || strings.TrimSpace(body) != want {
			t.Errorf("shape %s: %d %s, want %s", shape, resp.StatusCode, body, want)
		}
	}
}
