package openaicompat

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentteam/agentteam/model"
)

// A quirk is how a capture is served beyond its bytes.
type quirk int

const (
	plainServe quirk = iota
	gzipped          // Content-Encoding: gzip
	gaps             // a pause between events, shorter than the idle timeout
	stall            // silence after the sixth event, longer than the idle timeout
	dropped          // the connection closes after the body, mid-response
)

// captureCase is what a user must see from one capture, streamed or not.
type captureCase struct {
	file       string
	served     int    // the HTTP status, where the name does not say (default 200)
	retryAfter string // the Retry-After header, for a 429
	quirk      quirk

	// A reply: its content and reasoning ("[…]" stands for the middle of a
	// long text), finish reason and usage (zero: unknown).
	content, reasoning string
	finish             string
	usage              [3]int

	// An error: its kind, HTTP status (0 inside a 200), words of its
	// message, and the text streamed before it.
	kind   model.Kind
	status int
	says   []string
	shown  string

	tries int           // requests made with two tries allowed (default 1)
	after time.Duration // the error's RetryAfter
}

var captureCases = []captureCase{
	// OpenAI.
	{file: "openai_json_httprr", content: "Hello! I'm just a computer program, so I don't have feelings[…]How can I assist you today?", finish: "stop", usage: [3]int{13, 31, 44}},
	{file: "openai_stream_httprr", content: "Sure! Pomeranians are a breed of dog[…]in various dog shows and competitions.", finish: "stop", usage: [3]int{19, 82, 101}},
	{file: "openai_stream_usage_last", content: "The capital of the UK is London.", finish: "stop", usage: [3]int{78, 9, 87}},
	{file: "openai_stream_crlf", content: "The capital of the UK is London.", finish: "stop", usage: [3]int{78, 9, 87}},
	{file: "openai_stream_gzip", quirk: gzipped, content: "The capital of the UK is London.", finish: "stop", usage: [3]int{78, 9, 87}},
	{file: "openai_stream_keepalive_gaps", quirk: gaps, content: "The capital of the UK is London.", finish: "stop", usage: [3]int{78, 9, 87}},
	{file: "openai_stream_no_done", content: "The capital of the UK is London.", finish: "stop", usage: [3]int{78, 9, 87}},
	{file: "openai_stream_stall", quirk: stall, kind: model.KindNetwork, says: []string{"no data from the server for 1s"}, shown: "The capital of the UK"},
	{file: "openai_stream_cut", quirk: dropped, kind: model.KindNetwork, says: []string{"closed in the middle of a reply"}, shown: "The capital of the UK is London."},
	{file: "openai_stream_error_midway", kind: model.KindServer, says: []string{"The server had an error while processing your request"}, shown: "Partial"},
	{file: "openai_stream_toolcall_unasked", kind: model.KindEmptyReply, says: []string{"no text, only a call of the tool get_capital"}},
	{file: "openai_400_context_length", kind: model.KindContextTooLong, status: 400, says: []string{"maximum context length is 16385 tokens"}},
	{file: "openai_401_masked_key", kind: model.KindAuth, status: 401, says: []string{"Incorrect API key provided: sk-[redacted]"}},
	{file: "openai_404_model", kind: model.KindModelNotFound, status: 404, says: []string{"The model `gpt-5.2-proo` does not exist"}},
	{file: "openai_429_insufficient_quota", kind: model.KindQuota, status: 429, says: []string{"You exceeded your current quota"}},
	{file: "openai_429_rate_limit", kind: model.KindRateLimited, status: 429, says: []string{"Rate limit reached for gpt-4o-mini"}, tries: 2},
	{file: "openai_500_server_error", kind: model.KindServer, status: 500, says: []string{"The server had an error while processing your request"}, tries: 2},
	{file: "json_content_null_length", kind: model.KindEmptyReply,
		says: []string{"token limit was reached while the model was still reasoning (100 tokens, not shown); raise max tokens"}},

	// Azure OpenAI.
	{file: "azure_json_filter_results", content: "The capital of France is **Paris**.", finish: "stop", usage: [3]int{14, 9, 23}},
	{file: "azure_stream_prompt_filter_first", content: "Hey! 👋 how can I help you?", finish: "stop"},
	{file: "azure_stream_output_filtered", kind: model.KindContentFilter,
		says: []string{"the server's content filter stopped the reply (violence) after 11 characters"}, shown: "Here is how"},
	{file: "azure_400_content_filter", kind: model.KindContentFilter, status: 400,
		says: []string{"filtered due to the prompt triggering Azure OpenAI's content management policy", "(filtered: jailbreak)"}},
	{file: "azure_429_retry_after", retryAfter: "1", kind: model.KindRateLimited, status: 429, says: []string{"exceeded token rate limit"},
		tries: 2, after: time.Second},
	{file: "azure_429_retry_after_long", retryAfter: "86400", kind: model.KindRateLimited, status: 429, says: []string{"Please retry after 86400 seconds"},
		after: 24 * time.Hour},

	// Local servers.
	{file: "ollama_json_reasoning", content: `{ "city": "Paris", "country": "France" }`, finish: "stop", usage: [3]int{136, 15, 151},
		reasoning: "Okay, the user is asking for the capital of France.[…]Yep, I'm confident the answer is Paris.\n"},
	{file: "ollama_404_model", kind: model.KindModelNotFound, status: 404, says: []string{`model "gemma3:12b" not found, try pulling it first`}},
	{file: "ollama_native_string_error", served: 500, kind: model.KindServer, status: 500, says: []string{"llama runner process has terminated: signal: killed"}, tries: 2},
	{file: "ollama_stream_raw_error", kind: model.KindServer, says: []string{"an error was encountered while running the model: unexpected EOF"}, shown: "Hi"},
	{file: "vllm_400_context_toplevel", kind: model.KindContextTooLong, status: 400, says: []string{"maximum context length is 4096 tokens"}},
	{file: "vllm_404_model_toplevel", kind: model.KindModelNotFound, status: 404, says: []string{"The model `qwen` does not exist."}},
	{file: "vllm_stream_error_frame", kind: model.KindContextTooLong, says: []string{"longer than the maximum model length of 8192"}},
	{file: "vllm_reasoning_only_stream", kind: model.KindEmptyReply, says: []string{"no text, only reasoning (41 characters)"}},
	{file: "llamacpp_stream_timings", content: "Hello", finish: "length", usage: [3]int{9, 1, 10}},
	{file: "llamacpp_400_exceed_context", kind: model.KindContextTooLong, status: 400,
		says: []string{"request (13392 tokens) exceeds the available context size (8192 tokens)"}},
	{file: "lmstudio_no_model", served: 404, kind: model.KindModelNotFound, status: 404, says: []string{"No models loaded"}},

	// Hosted services.
	{file: "openrouter_stream_comments", content: "test response", finish: "stop", usage: [3]int{586, 3, 589}},
	{file: "openrouter_stream_reasoning", content: "2 + 2 = 4", finish: "stop", usage: [3]int{43, 36, 79},
		reasoning: "This is a simple arithmetic question. 2+2 equals 4."},
	{file: "openrouter_comments_then_error", kind: model.KindServer, says: []string{"Provider returned error (Together: upstream connect error)"}},
	{file: "openrouter_finish_error", kind: model.KindServer, says: []string{"Provider disconnected unexpectedly"}, shown: "Half an ans"},
	{file: "openrouter_stream_error_in_chunk", kind: model.KindEmptyReply,
		says: []string{"token limit was reached while the model was still reasoning (42 characters of it)", "the server added: Token limit reached"}},
	{file: "openrouter_429_provider", kind: model.KindRateLimited, status: 429,
		says: []string{"Provider returned error (Google: google/gemini-2.0-flash-exp:free is temporarily rate-limited upstream"}, tries: 2},
	{file: "groq_stream_x_groq_usage", finish: "stop", usage: [3]int{573, 1509, 2082},
		content:   "To cook Argentinian alfajores, follow these steps[…]such as a crisper texture and optional chocolate coating.",
		reasoning: "Alright, so I'm trying to figure out how to make Argentinian alfajores.[…]to achieve an authentic Argentinian alfajor.\n"},
	{file: "groq_stream_think_tags", finish: "stop", usage: [3]int{21, 988, 1009},
		content:   "To make Uruguayan alfajores, follow these organized steps[…]Enjoy your homemade Uruguayan alfajores!",
		reasoning: "Okay, so I want to make Uruguayan alfajores.[…]I can adjust next time.\n"},
	{file: "groq_stream_event_error", kind: model.KindBadRequest, says: []string{"Tool choice is required, but model did not call a tool"}, shown: "maybe"},
	{file: "groq_404_model", kind: model.KindModelNotFound, status: 404, says: []string{"The model `llama-3.3-70b-versatlie` does not exist"}},
	{file: "deepseek_reasoner_stream", content: "Hello there! 😊 How can I help you today?", finish: "stop", usage: [3]int{6, 212, 218},
		reasoning: `Hmm, the user just said "Hello".[…]they might not reply further - and that's okay too.`},
	{file: "deepseek_reasoner_json", finish: "stop", usage: [3]int{12, 789, 801},
		content:   "Crossing the street safely involves careful observation[…]stay alert until you've fully crossed.",
		reasoning: "Okay, the user is asking how to cross the street.[…]Need to present it clearly and concisely."},
	{file: "deepseek_json_keepalive_lines", finish: "stop", usage: [3]int{12, 789, 801},
		content:   "Crossing the street safely involves careful observation[…]stay alert until you've fully crossed.",
		reasoning: "Okay, the user is asking how to cross the street.[…]Need to present it clearly and concisely."},
	{file: "cerebras_json_time_info", content: "2 + 2 = 4.", finish: "stop", usage: [3]int{43, 9, 52}},
	{file: "hf_together_stream", finish: "stop", usage: [3]int{10, 955, 965},
		content:   "Crossing the street safely requires attention and following key steps.[…]it could save your life! 🌟",
		reasoning: `Okay, the user asked "How do I cross the street?"[…]Safety first, but don't sound like a paranoid robot.` + "\n"},

	// Not model servers: a proxy, web servers, the wrong URL.
	{file: "content_echo_key", content: "debug: your header was Bearer [redacted]", finish: "stop", usage: [3]int{1, 1, 2}},
	{file: "proxy_401_full_key_echo", kind: model.KindAuth, status: 401, says: []string{"Invalid proxy server token passed. Received API Key = [redacted]"}},
	{file: "nginx_502_html", kind: model.KindServer, status: 502, says: []string{"502 Bad Gateway"}, tries: 2},
	{file: "cloudflare_524_html", kind: model.KindServer, status: 524, says: []string{"524: A timeout occurred"}, tries: 2},
	{file: "not_openai_json", kind: model.KindBadReply, says: []string{"JSON that has no choices", `pathname`}},
	{file: "not_openai_text", kind: model.KindBadReply, says: []string{"text/plain that is not a chat reply", "method=POST pathname=/bin/chat/completions"}},
}

// TestCaptures replays every real capture through the backend, streamed
// when it is a stream, both ways when it is one body (a server may answer
// a streaming request with one), and checks what the user gets.
func TestCaptures(t *testing.T) {
	dir := filepath.Join("testdata", "captures")
	files, err := filepath.Glob(filepath.Join(dir, "*.body"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures in %s: %v", dir, err)
	}
	byName := map[string]captureCase{}
	for _, tc := range captureCases {
		byName[tc.file] = tc
	}
	for _, f := range files {
		if _, ok := byName[strings.TrimSuffix(filepath.Base(f), ".body")]; !ok {
			t.Errorf("capture %s has no expectation", f)
		}
	}
	for _, tc := range captureCases {
		body, err := os.ReadFile(filepath.Join(dir, tc.file+".body"))
		if err != nil {
			t.Errorf("case %s: %v", tc.file, err)
			continue
		}
		body = bytes.ReplaceAll(body, []byte("{{KEY_MASKED}}"), []byte(secret[:3]+"*****"+secret[len(secret)-4:]))
		body = bytes.ReplaceAll(body, []byte("{{KEY}}"), []byte(secret))
		status, ctype := servedAs(tc.file, body)
		if tc.served != 0 {
			status = tc.served
		}
		modes := []bool{true}
		if ctype != "text/event-stream" {
			modes = []bool{false, true}
		}
		for _, stream := range modes {
			name := tc.file + map[bool]string{false: "/plain", true: "/stream"}[stream]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				replayCapture(t, tc, status, ctype, body, stream)
			})
		}
	}
}

// servedAs is the status a capture was answered with, from the _NNN_ in
// its name (default 200), and its content type, from its bytes.
func servedAs(name string, body []byte) (int, string) {
	status := http.StatusOK
	if m := regexp.MustCompile(`_([1-5]\d\d)_`).FindStringSubmatch(name); m != nil {
		status, _ = strconv.Atoi(m[1])
	}
	b := bytes.TrimLeft(body, " \r\n")
	switch {
	case bytes.HasPrefix(b, []byte("<")):
		return status, "text/html"
	case bytes.HasPrefix(b, []byte("data:")), bytes.HasPrefix(b, []byte(":")), bytes.HasPrefix(b, []byte("event:")):
		return status, "text/event-stream"
	case bytes.HasPrefix(b, []byte("{")):
		return status, "application/json"
	}
	return status, "text/plain"
}

func replayCapture(t *testing.T, tc captureCase, status int, ctype string, body []byte, stream bool) {
	var requests atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", ctype)
		if tc.retryAfter != "" {
			w.Header().Set("Retry-After", tc.retryAfter)
		}
		serveCapture(w, r, tc.quirk, status, body)
	}))
	defer ts.Close()
	clk := &clock{}
	c, err := New(Config{Provider: "vllm", BaseURL: ts.URL + "/v1", APIKey: secret, IdleTimeout: time.Second,
		Retry: RetryPolicy{MaxAttempts: 2, Sleep: clk.sleep}})
	if err != nil {
		t.Fatal(err)
	}
	req := ask("x")
	var shown, thought strings.Builder
	if stream {
		req.OnDelta = func(d string) { shown.WriteString(d) }
		req.OnReasoning = func(d string) { thought.WriteString(d) }
	}
	reply, err := c.Complete(context.Background(), req)

	if tries := max(tc.tries, 1); int(requests.Load()) != tries {
		t.Errorf("%d requests, want %d", requests.Load(), tries)
	}
	for _, s := range []string{shown.String(), thought.String(), reply.Content, reply.Reasoning, errText(err)} {
		if strings.Contains(s, secret) || strings.Contains(s, "5ecr3t") {
			t.Errorf("the key shows: %q", s)
		}
	}
	if tc.kind != "" {
		var me *model.Error
		if !errors.As(err, &me) {
			t.Fatalf("reply %q, error %v; want a %s error", clip(reply.Content), err, tc.kind)
		}
		if me.Kind != tc.kind || me.Status != tc.status || strings.Contains(me.Error(), "\n") || me.RetryAfter != tc.after {
			t.Errorf("error %q: kind %s, status %d, retry after %s; want kind %s, status %d, retry after %s, one line",
				me, me.Kind, me.Status, me.RetryAfter, tc.kind, tc.status, tc.after)
		}
		for _, w := range tc.says {
			if !strings.Contains(me.Error(), w) {
				t.Errorf("error %q does not say %q", me, w)
			}
		}
		if stream && shown.String() != tc.shown {
			t.Errorf("streamed %q before the error, want %q", shown.String(), tc.shown)
		}
		return
	}
	if err != nil {
		t.Fatalf("error %v, want a reply", err)
	}
	if !matches(reply.Content, tc.content) || !matches(reply.Reasoning, tc.reasoning) {
		t.Errorf("content %q, reasoning %q; want %q, %q", clip(reply.Content), clip(reply.Reasoning), tc.content, tc.reasoning)
	}
	if strings.Contains(reply.Content, "<think>") || strings.Contains(reply.Content, "</think>") {
		t.Errorf("the think tags stayed in the content: %q", clip(reply.Content))
	}
	want := model.Usage{}
	if tc.usage != [3]int{} {
		want = model.Usage{PromptTokens: tc.usage[0], CompletionTokens: tc.usage[1], TotalTokens: tc.usage[2], Known: true}
	}
	if reply.FinishReason != tc.finish || reply.Usage != want {
		t.Errorf("finish %q, usage %+v; want %q, %+v", reply.FinishReason, reply.Usage, tc.finish, want)
	}
	if stream && (shown.String() != reply.Content || thought.String() != reply.Reasoning) {
		t.Errorf("streamed %q and reasoning %q, not the reply's %q and %q", clip(shown.String()), clip(thought.String()), clip(reply.Content), clip(reply.Reasoning))
	}
}

// serveCapture writes body with the quirk.
func serveCapture(w http.ResponseWriter, r *http.Request, q quirk, status int, body []byte) {
	rc := http.NewResponseController(w)
	switch q {
	case gzipped:
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write(body)
		zw.Close()
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(status)
		w.Write(zb.Bytes())
	case gaps, stall:
		w.WriteHeader(status)
		for i, ev := range bytes.SplitAfter(body, []byte("\n\n")) {
			w.Write(ev)
			rc.Flush()
			pause := 20 * time.Millisecond
			if q == stall && i == 5 {
				pause = 5 * time.Second
			}
			select {
			case <-time.After(pause):
			case <-r.Context().Done():
				return
			}
		}
	case dropped:
		w.WriteHeader(status)
		w.Write(body)
		rc.Flush()
		panic(http.ErrAbortHandler)
	default:
		w.WriteHeader(status)
		w.Write(body)
	}
}

// matches says whether got is want, where "[…]" in want stands for any
// text (want is then the start and the end of got).
func matches(got, want string) bool {
	start, end, cut := strings.Cut(want, "[…]")
	if !cut {
		return got == want
	}
	return len(got) >= len(start)+len(end) && strings.HasPrefix(got, start) && strings.HasSuffix(got, end)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:40] + "…" + s[len(s)-40:]
	}
	return s
}

func TestMatches(t *testing.T) {
	for _, tc := range []struct {
		got, want string
		ok        bool
	}{
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"a long text", "a […]text", true},
		{"a long text", "a […]test", false},
		{"ab", "ab[…]b", false}, // start and end cannot overlap
	} {
		if matches(tc.got, tc.want) != tc.ok {
			t.Errorf("matches(%q, %q) = %v", tc.got, tc.want, !tc.ok)
		}
	}
}
