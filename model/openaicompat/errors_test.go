package openaicompat

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/model"
)

// TestErrorShapes: every shape of error a server may send, over HTTP or
// inside a 200, gives its class and its own message.
func TestErrorShapes(t *testing.T) {
	cases := []struct {
		name   string
		status int // the HTTP status; 200: the error came in a 200 body
		body   string
		kind   model.Kind
		says   string
	}{
		{"openai", 400, `{"error":{"message":"bad value","type":"invalid_request_error","param":null,"code":null}}`, model.KindBadRequest, "bad value"},
		{"string", 500, `{"error":"runner crashed"}`, model.KindServer, "runner crashed"},
		{"string in a 200", 200, `{"error":"runner crashed"}`, model.KindServer, "runner crashed"},
		{"top level", 400, `{"object":"error","message":"top level","type":"BadRequestError","param":null,"code":400}`, model.KindBadRequest, "top level"},
		{"detail", 422, `{"detail":"Field required: messages"}`, model.KindBadRequest, "Field required: messages"},
		{"list of messages", 400, `{"error":{"message":["one","two"],"type":"invalid_request_error"}}`, model.KindBadRequest, "one, two"},
		{"no message", 400, `{"error":{"message":"","type":"invalid_request_error","code":"odd_code"}}`, model.KindBadRequest, "odd_code invalid_request_error"},
		{"status inside a 200", 200, `{"error":{"message":"slow down","code":"429"}}`, model.KindRateLimited, "slow down"},
		{"status_code inside a 200", 200, `{"error":{"message":"no such thing","status_code":404}}`, model.KindModelNotFound, "no such thing"},
		{"no credits", 402, `{"error":{"message":"Insufficient credits","code":402}}`, model.KindQuota, "Insufficient credits"},
		{"model not found in a 400", 400, `{"error":{"message":"The model 'x' does not exist","type":"invalid_request_error"}}`, model.KindModelNotFound, "does not exist"},
		{"wrong path", 404, `{"error":{"message":"Invalid URL (POST /v1/chat/completion)","type":"invalid_request_error"}}`, model.KindBadRequest, "Invalid URL"},
		{"ollama context", 400, `{"error":{"message":"the input length exceeds the context length","type":"api_error"}}`, model.KindContextTooLong, "context length"},
		{"openrouter raw object", 502, `{"error":{"code":502,"message":"Provider returned error","metadata":{"provider_name":"X","raw":{"why":"down"}}}}`,
			model.KindServer, `Provider returned error (X: {"why":"down"})`},
		{"html 404", 404, `<html><body><h1>404 Not Found</h1></body></html>`, model.KindBadRequest, "check the base URL"},
		{"html 503", 503, `<html><body>Service Unavailable: model rate limit</body></html>`, model.KindServer, "Service Unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer ts.Close()
			c, err := New(Config{Provider: "vllm", BaseURL: ts.URL + "/v1", Retry: RetryPolicy{MaxAttempts: 1}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Complete(context.Background(), ask("x"))
			me, ok := err.(*model.Error)
			wantStatus := tc.status
			if tc.status == 200 {
				wantStatus = 0
			}
			if !ok || me.Kind != tc.kind || me.Status != wantStatus || !strings.Contains(me.Message, tc.says) {
				t.Fatalf("error %v; want kind %s, status %d, saying %q", err, tc.kind, wantStatus, tc.says)
			}
		})
	}
}

// TestStreamShapes: what a stream's lines mean, beyond the captures.
func TestStreamShapes(t *testing.T) {
	chunk := func(content, finish string) string {
		f := "null"
		if finish != "" {
			f = `"` + finish + `"`
		}
		return `data: {"model":"m","choices":[{"index":0,"delta":{"content":"` + content + `"},"finish_reason":` + f + "}]}\n\n"
	}
	cases := []struct {
		name, body string
		content    string     // a reply
		kind       model.Kind // or an error
		says       string
		logs       string
		total      int // the usage's total, when it matters
	}{
		{name: "no space after data:", body: strings.ReplaceAll(chunk("hi", "stop"), "data: ", "data:"), content: "hi"},
		{name: "no blank line between events", body: strings.ReplaceAll(chunk("a", "")+chunk("b", "stop"), "\n\n", "\n"), content: "ab"},
		{name: "an error after a whole reply is only logged", body: chunk("done", "stop") + `data: {"error":{"message":"late trouble"}}` + "\n\n",
			content: "done", logs: "late trouble"},
		{name: "an error event whose data is not JSON", body: chunk("a", "") + "event: error\ndata: upstream timeout\n\n",
			kind: model.KindServer, says: "upstream timeout"},
		{name: "a data line that is not JSON", body: "data: {not json}\n\n", kind: model.KindBadReply, says: "not a chat chunk"},
		{name: "an empty body", body: "", kind: model.KindBadReply, says: "empty body"},
		{name: "a refusal is the answer", body: `data: {"choices":[{"index":0,"delta":{"content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}]}` + "\n\n",
			content: "I can't help with that."},
		{name: "content as a list of parts", body: `data: {"choices":[{"index":0,"delta":{"content":[{"type":"text","text":"in parts"}]},"finish_reason":"stop"}]}` + "\n\n",
			content: "in parts"},
		{name: "finish_reason error without an error object", body: chunk("half", "error"), kind: model.KindServer, says: `finish_reason "error"`},
		{name: "usage without total", body: chunk("x", "stop") + `data: {"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":3}}` + "\n\n", content: "x", total: 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.Write([]byte(tc.body))
			}))
			defer ts.Close()
			var logs strings.Builder
			c, err := New(Config{Provider: "vllm", BaseURL: ts.URL + "/v1", Retry: RetryPolicy{MaxAttempts: 1}},
				WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			if err != nil {
				t.Fatal(err)
			}
			req := ask("x")
			req.OnDelta = func(string) {}
			reply, err := c.Complete(context.Background(), req)
			if tc.kind != "" {
				if model.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.says) {
					t.Fatalf("error %v; want kind %s saying %q", err, tc.kind, tc.says)
				}
				return
			}
			if err != nil || reply.Content != tc.content || !strings.Contains(logs.String(), tc.logs) {
				t.Fatalf("reply %q, error %v, logs %q; want %q", reply.Content, err, logs.String(), tc.content)
			}
			if tc.total != 0 && reply.Usage.TotalTokens != tc.total {
				t.Errorf("usage %+v, want a total of %d", reply.Usage, tc.total)
			}
		})
	}
}
