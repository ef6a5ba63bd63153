package openaicompat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/fakeserver"
	"github.com/agentteam/agentteam/model/modeltest"
	"github.com/agentteam/agentteam/transcript"
)

const secret = "sk-test-5ecr3t-Canary-0123456789"

// clock records the waits the retries ask for instead of sleeping.
type clock struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (c *clock) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *clock) got() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// setup starts a fake server with the steps and a client on it with no
// key (a local server), its retries on a recorded clock.
func setup(t *testing.T, cfg Config, steps ...fakeserver.Step) (*Client, *fakeserver.Server, *clock, *bytes.Buffer) {
	t.Helper()
	srv := fakeserver.New(fakeserver.Script{APIKey: cfg.APIKey, Replies: steps})
	t.Cleanup(srv.Close)
	if cfg.Provider == "" {
		cfg.Provider = "vllm"
	}
	if cfg.BaseURL == "" && cfg.Provider != "azure" {
		cfg.BaseURL = srv.URL
	}
	if cfg.Provider == "azure" {
		cfg.AzureEndpoint = strings.TrimSuffix(srv.URL, "/v1")
	}
	clk := &clock{}
	if cfg.Retry.Sleep == nil {
		cfg.Retry.Sleep = clk.sleep
	}
	logs := &bytes.Buffer{}
	c, err := New(cfg, WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	return c, srv, clk, logs
}

func ask(text string) model.Request {
	return model.Request{Model: "coder-model", Messages: []model.Message{{Role: model.RoleUser, Content: text}}}
}

func TestConformance(t *testing.T) {
	modeltest.Run(t, func(t *testing.T, exchanges []modeltest.Exchange) model.Model {
		var steps []fakeserver.Step
		for _, ex := range exchanges {
			st := fakeserver.Step{Content: ex.Reply.Content, Reasoning: ex.Reply.Reasoning, FinishReason: ex.Reply.FinishReason, NoUsage: !ex.Reply.Usage.Known}
			if u := ex.Reply.Usage; u.Known {
				st.Usage = &fakeserver.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
			}
			steps = append(steps, st)
		}
		c, srv, _, _ := setup(t, Config{}, steps...)
		t.Cleanup(func() {
			// What went over the wire is what the suite asked.
			for i, r := range srv.Requests() {
				if i < len(exchanges) && (r.Model != exchanges[i].Request.Model || len(r.Messages) != len(exchanges[i].Request.Messages)) {
					t.Errorf("request %d: model %q with %d messages, want %q with %d", i+1, r.Model, len(r.Messages),
						exchanges[i].Request.Model, len(exchanges[i].Request.Messages))
				}
			}
		})
		return c
	})
}

func TestRequestOnTheWire(t *testing.T) {
	zero, warm := float32(0), float32(0.7)
	cases := []struct {
		name     string
		cfg      Config
		req      model.Request
		wantAuth string
		check    func(t *testing.T, r fakeserver.Recorded)
	}{
		{name: "local server sends no key", req: ask("hi"), wantAuth: "",
			check: func(t *testing.T, r fakeserver.Recorded) {
				if r.Temperature != nil || r.MaxTokens != 0 {
					t.Errorf("defaults sent: temperature %v, max tokens %d", r.Temperature, r.MaxTokens)
				}
			}},
		{name: "key as bearer", cfg: Config{APIKey: secret}, req: ask("hi"), wantAuth: "Bearer " + secret},
		{name: "temperature zero is sent", req: model.Request{Model: "m", Messages: ask("x").Messages, Temperature: &zero, MaxTokens: 64},
			check: func(t *testing.T, r fakeserver.Recorded) {
				if r.Temperature == nil || *r.Temperature > 1e-6 || r.MaxTokens != 64 {
					t.Errorf("temperature %v, max tokens %d", r.Temperature, r.MaxTokens)
				}
			}},
		{name: "temperature", req: model.Request{Model: "m", Messages: ask("x").Messages, Temperature: &warm},
			check: func(t *testing.T, r fakeserver.Recorded) {
				if r.Temperature == nil || *r.Temperature != 0.7 {
					t.Errorf("temperature %v", r.Temperature)
				}
			}},
		{name: "azure", cfg: Config{Provider: "azure", APIKey: secret, AzureAPIVersion: "2024-10-21", Deployments: map[string]string{"coder-model": "my-coder"}},
			req: ask("hi"),
			check: func(t *testing.T, r fakeserver.Recorded) {
				if r.Path != "/openai/deployments/my-coder/chat/completions" || !strings.Contains(r.Query, "api-version=2024-10-21") ||
					r.APIKeyHeader != secret || r.Authorization != "" {
					t.Errorf("azure request: path %s query %s api-key set %v authorization %q", r.Path, r.Query, r.APIKeyHeader != "", r.Authorization)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, srv, _, _ := setup(t, tc.cfg, fakeserver.Step{Content: "ok"})
			if _, err := c.Complete(context.Background(), tc.req); err != nil {
				t.Fatal(err)
			}
			reqs := srv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			if tc.cfg.Provider != "azure" && reqs[0].Authorization != tc.wantAuth {
				t.Errorf("Authorization %q, want %q", reqs[0].Authorization, tc.wantAuth)
			}
			if tc.check != nil {
				tc.check(t, reqs[0])
			}
		})
	}
}

// TestMaxTokensFieldOnTheWire reads the raw JSON body the fake server got:
// the recorded MaxTokens cannot tell max_tokens from max_completion_tokens.
func TestMaxTokensFieldOnTheWire(t *testing.T) {
	cases := []struct {
		name   string
		cfg    Config
		req    model.Request
		stream bool
		want   []string // the token-limit fields present in the body
	}{
		{name: "own server: max_tokens, which every compatible server reads",
			req: model.Request{Model: "m", Messages: ask("x").Messages, MaxTokens: 64}, want: []string{"max_tokens"}},
		{name: "azure: max_completion_tokens", cfg: Config{Provider: "azure", APIKey: secret},
			req: model.Request{Model: "m", Messages: ask("x").Messages, MaxTokens: 64}, want: []string{"max_completion_tokens"}},
		{name: "azure streaming: max_completion_tokens", cfg: Config{Provider: "azure", APIKey: secret}, stream: true,
			req: model.Request{Model: "m", Messages: ask("x").Messages, MaxTokens: 64}, want: []string{"max_completion_tokens"}},
		{name: "own server told max_completion_tokens", cfg: Config{MaxTokensField: MaxCompletionTokens},
			req: model.Request{Model: "m", Messages: ask("x").Messages, MaxTokens: 64}, want: []string{"max_completion_tokens"}},
		{name: "azure told max_tokens", cfg: Config{Provider: "azure", APIKey: secret, MaxTokensField: MaxTokensLegacy},
			req: model.Request{Model: "m", Messages: ask("x").Messages, MaxTokens: 64}, want: []string{"max_tokens"}},
		{name: "own server, a model go-openai refuses max_tokens for",
			req: model.Request{Model: "o3-mini", Messages: ask("x").Messages, MaxTokens: 64}, want: []string{"max_completion_tokens"}},
		{name: "no limit, no field", cfg: Config{Provider: "azure", APIKey: secret},
			req: model.Request{Model: "m", Messages: ask("x").Messages}, want: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var bodies [][]byte
			fake := fakeserver.NewHandler(fakeserver.Script{APIKey: tc.cfg.APIKey, Replies: []fakeserver.Step{{Content: "ok"}}})
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, err := io.ReadAll(r.Body)
				if err != nil {
					t.Errorf("read body: %v", err)
				}
				mu.Lock()
				bodies = append(bodies, body)
				mu.Unlock()
				r.Body = io.NopCloser(bytes.NewReader(body))
				fake.ServeHTTP(w, r)
			}))
			t.Cleanup(ts.Close)
			cfg := tc.cfg
			if cfg.Provider == "" {
				cfg.Provider = "vllm"
			}
			if cfg.Provider == "azure" {
				cfg.AzureEndpoint = ts.URL
			} else {
				cfg.BaseURL = ts.URL + "/v1"
			}
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			req := tc.req
			if tc.stream {
				req.OnDelta = func(string) {}
			}
			if _, err := c.Complete(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(bodies) != 1 {
				t.Fatalf("%d requests, want 1", len(bodies))
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(bodies[0], &fields); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range []string{"max_tokens", "max_completion_tokens"} {
				if _, ok := fields[f]; ok {
					got = append(got, f)
					if string(fields[f]) != "64" {
						t.Errorf("%s = %s, want 64", f, fields[f])
					}
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("token-limit fields sent %q, want %q; body %s", got, tc.want, bodies[0])
			}
		})
	}
}

func TestMaxTokensFieldInvalid(t *testing.T) {
	_, err := New(Config{Provider: "ollama", MaxTokensField: "n_predict"})
	if err == nil || !strings.Contains(err.Error(), `max tokens field "n_predict"`) {
		t.Fatalf("error %v, want one naming the field", err)
	}
}

func TestRetries(t *testing.T) {
	rate := func(after string) fakeserver.Step {
		return fakeserver.Step{Fault: &fakeserver.Fault{Status: 429, RetryAfter: after, Code: "rate_limit_exceeded"}}
	}
	fail := fakeserver.Step{Fault: &fakeserver.Fault{Status: 500}}
	ok := fakeserver.Step{Content: "done"}
	cases := []struct {
		name     string
		policy   RetryPolicy
		stream   bool
		steps    []fakeserver.Step
		requests int
		kind     model.Kind // "" for success
		waits    func([]time.Duration) bool
	}{
		{name: "429 with Retry-After then success", steps: []fakeserver.Step{rate("1"), ok}, requests: 2,
			waits: func(w []time.Duration) bool { return len(w) == 1 && w[0] == time.Second }},
		{name: "insufficient quota is not retried", steps: []fakeserver.Step{{Fault: &fakeserver.Fault{Status: 429, Code: "insufficient_quota",
			Message: "You exceeded your current quota"}}, ok}, requests: 1, kind: model.KindQuota},
		{name: "500 three times then success", steps: []fakeserver.Step{fail, fail, fail, ok}, requests: 4,
			waits: func(w []time.Duration) bool {
				// Exponential with jitter: each in [base/2, base] * 2^i.
				return len(w) == 3 && w[0] >= 250*time.Millisecond && w[0] <= 500*time.Millisecond &&
					w[1] >= 500*time.Millisecond && w[1] <= time.Second && w[2] >= time.Second && w[2] <= 2*time.Second
			}},
		{name: "500 past the attempts", policy: RetryPolicy{MaxAttempts: 3}, steps: []fakeserver.Step{fail, fail, fail, ok}, requests: 3, kind: model.KindServer},
		{name: "Retry-After longer than we wait", policy: RetryPolicy{MaxDelay: 5 * time.Second}, steps: []fakeserver.Step{rate("60"), ok}, requests: 1, kind: model.KindRateLimited},
		{name: "Retry-After as a date", steps: []fakeserver.Step{rate(time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)), ok}, requests: 2,
			waits: func(w []time.Duration) bool { return len(w) == 1 && w[0] > time.Second && w[0] <= 3*time.Second }},
		{name: "503 and 408 and 409 are retried", steps: []fakeserver.Step{{Fault: &fakeserver.Fault{Status: 503}}, {Fault: &fakeserver.Fault{Status: 408}}, {Fault: &fakeserver.Fault{Status: 409}}, ok}, requests: 4},
		{name: "400 is not retried", steps: []fakeserver.Step{{Fault: &fakeserver.Fault{Status: 400, Message: "bad"}}, ok}, requests: 1, kind: model.KindBadRequest},
		{name: "stream: 429 before content is retried", stream: true, steps: []fakeserver.Step{rate("0"), ok}, requests: 2},
		{name: "stream: cut after content is not retried", stream: true, steps: []fakeserver.Step{{Content: "half of it", Chunks: []string{"half ", "of it"}, CutAfter: 1}, ok}, requests: 1, kind: model.KindNetwork},
		{name: "HTML error page", policy: RetryPolicy{MaxAttempts: 1}, steps: []fakeserver.Step{{Fault: &fakeserver.Fault{Status: 502, ContentType: "text/html",
			Body: "<html><body><h1>502 Bad Gateway</h1></body></html>"}}}, requests: 1, kind: model.KindServer},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, srv, clk, _ := setup(t, Config{Retry: tc.policy}, tc.steps...)
			req := ask("please")
			if tc.stream {
				req.OnDelta = func(string) {}
			}
			reply, err := c.Complete(context.Background(), req)
			if got := len(srv.Requests()); got != tc.requests {
				t.Errorf("%d requests, want %d", got, tc.requests)
			}
			if tc.kind == "" {
				if err != nil || reply.Content != "done" {
					t.Fatalf("reply %q, err %v", reply.Content, err)
				}
			} else if model.KindOf(err) != tc.kind {
				t.Fatalf("error %v of kind %q, want %q", err, model.KindOf(err), tc.kind)
			}
			if tc.waits != nil && !tc.waits(clk.got()) {
				t.Errorf("waits %v", clk.got())
			}
		})
	}
}

// TestRetryAfterRealClock: a 429 with Retry-After: 1 then success takes
// about a second on the real clock, and succeeds.
func TestRetryAfterRealClock(t *testing.T) {
	srv := fakeserver.New(fakeserver.Script{Replies: []fakeserver.Step{{Fault: &fakeserver.Fault{Status: 429, RetryAfter: "1"}}, {Content: "done"}}})
	defer srv.Close()
	c, err := New(Config{Provider: "vllm", BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	reply, err := c.Complete(context.Background(), ask("x"))
	if err != nil || reply.Content != "done" {
		t.Fatalf("reply %q, err %v", reply.Content, err)
	}
	if d := time.Since(start); d < 950*time.Millisecond || d > 10*time.Second {
		t.Fatalf("took %s, want about a second", d)
	}
}

func TestStreaming(t *testing.T) {
	cases := []struct {
		name  string
		step  fakeserver.Step
		usage bool
	}{
		{"usage in a final chunk", fakeserver.Step{Content: "a b c", Chunks: []string{"a ", "b ", "c"}}, true},
		{"no usage", fakeserver.Step{Content: "a b c", NoUsage: true}, false},
		{"keep-alive lines first", fakeserver.Step{Content: "late", KeepAlive: 5}, true},
	}
	t.Run("stream_options refused", func(t *testing.T) {
		c, srv, _, _ := setup(t, Config{}, fakeserver.Step{Fault: &fakeserver.Fault{Status: 400, Message: "Unrecognized request argument supplied: stream_options"}},
			fakeserver.Step{Content: "fine", NoUsage: true})
		req := ask("x")
		req.OnDelta = func(string) {}
		reply, err := c.Complete(context.Background(), req)
		reqs := srv.Requests()
		if err != nil || reply.Content != "fine" || len(reqs) != 2 || !reqs[0].IncludeUsage || reqs[1].IncludeUsage {
			t.Fatalf("reply %+v, error %v, requests %+v", reply, err, reqs)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, srv, _, _ := setup(t, Config{}, tc.step)
			var got []string
			req := ask("x")
			req.OnDelta = func(d string) { got = append(got, d) }
			reply, err := c.Complete(context.Background(), req)
			if err != nil || strings.Join(got, "") != tc.step.Content || reply.Content != tc.step.Content || reply.Usage.Known != tc.usage {
				t.Fatalf("reply %+v deltas %q err %v", reply, got, err)
			}
			if r := srv.Requests()[0]; !r.Stream || !r.IncludeUsage {
				t.Errorf("stream %v include_usage %v", r.Stream, r.IncludeUsage)
			}
		})
	}
}

func TestErrorKinds(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		step fakeserver.Step
		kind model.Kind
		says string
	}{
		{"wrong key", Config{APIKey: secret}, fakeserver.Step{Fault: &fakeserver.Fault{Status: 401, Code: "invalid_api_key",
			Message: "Incorrect API key provided: " + secret + "."}}, model.KindAuth, "Incorrect API key provided"},
		{"unknown model", Config{}, fakeserver.Step{Fault: &fakeserver.Fault{Status: 404, Code: "model_not_found", Message: "The model `gpt-9` does not exist"}},
			model.KindModelNotFound, "gpt-9"},
		{"context too long", Config{}, fakeserver.Step{Fault: &fakeserver.Fault{Status: 400, Code: "context_length_exceeded",
			Message: "This model's maximum context length is 8192 tokens"}}, model.KindContextTooLong, "8192"},
		{"quota", Config{}, fakeserver.Step{Fault: &fakeserver.Fault{Status: 429, Code: "insufficient_quota", Message: "You exceeded your current quota"}},
			model.KindQuota, "quota"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _, _, _ := setup(t, tc.cfg, tc.step)
			_, err := c.Complete(context.Background(), ask("x"))
			if model.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.says) || strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q of kind %q, want %q saying %q and no key", err, model.KindOf(err), tc.kind, tc.says)
			}
		})
	}
}

func TestNetworkErrors(t *testing.T) {
	t.Run("nothing listening", func(t *testing.T) {
		ts := httptest.NewServer(http.NotFoundHandler())
		url := ts.URL + "/v1"
		ts.Close()
		c, err := New(Config{Provider: "vllm", BaseURL: url, Retry: RetryPolicy{MaxAttempts: 2, Sleep: (&clock{}).sleep}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Complete(context.Background(), ask("x"))
		if model.KindOf(err) != model.KindNetwork || !strings.Contains(err.Error(), "cannot reach") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("slow first byte", func(t *testing.T) {
		c, _, _, _ := setup(t, Config{HeaderTimeout: 200 * time.Millisecond, Retry: RetryPolicy{MaxAttempts: 1}}, fakeserver.Step{Content: "late", DelayMS: 3000})
		_, err := c.Complete(context.Background(), ask("x"))
		if model.KindOf(err) != model.KindNetwork {
			t.Fatalf("error %v of kind %q", err, model.KindOf(err))
		}
	})
	t.Run("stalled stream", func(t *testing.T) {
		c, _, _, _ := setup(t, Config{IdleTimeout: 200 * time.Millisecond}, fakeserver.Step{Content: "a b c d", Chunks: []string{"a ", "b ", "c ", "d"}, ChunkDelayMS: 2000})
		req := ask("x")
		req.OnDelta = func(string) {}
		start := time.Now()
		_, err := c.Complete(context.Background(), req)
		if model.KindOf(err) != model.KindNetwork || !strings.Contains(err.Error(), "no data from the server for 200ms") || time.Since(start) > 5*time.Second {
			t.Fatalf("error %v after %s", err, time.Since(start))
		}
	})
	t.Run("long stream that keeps coming is not cut", func(t *testing.T) {
		chunks := strings.Split(strings.Repeat("x ", 8), " ")[:8]
		c, _, _, _ := setup(t, Config{IdleTimeout: 300 * time.Millisecond}, fakeserver.Step{Content: strings.Join(chunks, ""), Chunks: chunks, ChunkDelayMS: 100})
		req := ask("x")
		req.OnDelta = func(string) {}
		if _, err := c.Complete(context.Background(), req); err != nil {
			t.Fatalf("a reply whose pieces keep coming was cut: %v", err)
		}
	})
	t.Run("cancelled mid-call", func(t *testing.T) {
		c, _, _, _ := setup(t, Config{}, fakeserver.Step{Content: "late", DelayMS: 5000})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := c.Complete(ctx, ask("x"))
		if model.KindOf(err) != model.KindCanceled || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v of kind %q", err, model.KindOf(err))
		}
	})
}

// TestKeyNeverShown runs failing calls with a key and looks for it in the
// logs, the errors and the transcript.
func TestKeyNeverShown(t *testing.T) {
	steps := []fakeserver.Step{
		{Fault: &fakeserver.Fault{Status: 500, Message: "upstream said: bad key " + secret}},
		{Fault: &fakeserver.Fault{Status: 401, Code: "invalid_api_key", Message: "Incorrect API key provided: " + secret}},
		{Fault: &fakeserver.Fault{Status: 502, ContentType: "text/html", Body: "<p>key=" + secret + "</p>"}},
	}
	c, _, _, logs := setup(t, Config{APIKey: secret, Retry: RetryPolicy{MaxAttempts: 2}}, steps...)
	// A proxy that echoes the request puts the key in the content, cut
	// anywhere between two pieces of the stream.
	echo := "your header was Bearer " + secret + " ok"
	var echoes []fakeserver.Step
	for _, at := range []int{len("your header was Bearer "), len("your header was Bearer sk-te"), len(echo) - len("89 ok")} {
		echoes = append(echoes, fakeserver.Step{Content: echo, Chunks: []string{echo[:at], echo[at:]}})
	}
	echoing, _, _, _ := setup(t, Config{APIKey: secret}, echoes...)
	path := filepath.Join(t.TempDir(), "transcript.jsonl")
	w, err := transcript.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	recorded := transcript.Record(c, "coder", w)
	var errs []string
	for range 2 {
		_, err := recorded.Complete(context.Background(), ask("x"))
		if err == nil {
			t.Fatal("a failing call succeeded")
		}
		errs = append(errs, err.Error())
	}
	var shown strings.Builder
	for range 3 {
		req := ask("x")
		req.OnDelta = func(d string) { shown.WriteString(d) }
		reply, err := transcript.Record(echoing, "coder", w).Complete(context.Background(), req)
		if err != nil || reply.Content != "your header was Bearer [redacted] ok" {
			t.Fatalf("reply %q, error %v", reply.Content, err)
		}
	}
	w.Close()
	data, _ := os.ReadFile(path)
	for where, text := range map[string]string{"errors": strings.Join(errs, "\n"), "logs": logs.String(), "transcript": string(data), "stream": shown.String()} {
		if strings.Contains(text, secret) || strings.Contains(text, "5ecr3t") {
			t.Errorf("the key shows in the %s:\n%s", where, text)
		}
	}
	if !strings.Contains(logs.String(), "trying again") || !strings.Contains(string(data), "model_call") {
		t.Fatalf("nothing was logged or recorded: logs %q transcript %q", logs.String(), data)
	}
}

// TestMalformedReplies: a 200 that is not a chat completion is a bad_reply
// error with one clear line, streamed or not.
func TestMalformedReplies(t *testing.T) {
	cases := []struct {
		name, body, ctype string
		stream            bool
	}{
		{"not JSON", "<html>hello</html>", "text/html", false},
		{"no choices", `{"id":"x","object":"chat.completion","choices":[]}`, "application/json", false},
		{"stream of garbage", "data: {not json}\n\n", "text/event-stream", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				w.Write([]byte(tc.body))
			}))
			defer ts.Close()
			c, err := New(Config{Provider: "vllm", BaseURL: ts.URL + "/v1", Retry: RetryPolicy{MaxAttempts: 1}})
			if err != nil {
				t.Fatal(err)
			}
			req := ask("x")
			if tc.stream {
				req.OnDelta = func(string) {}
			}
			_, err = c.Complete(context.Background(), req)
			if model.KindOf(err) != model.KindBadReply || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q of kind %q", err, model.KindOf(err))
			}
		})
	}
}

// TestFakeServerShapes runs the backend on the fake server's renditions of
// real servers' quirks, streamed and not.
func TestFakeServerShapes(t *testing.T) {
	cases := []struct {
		name      string
		step      fakeserver.Step
		content   string
		reasoning string
		usage     int        // the total tokens
		kind      model.Kind // or an error
		says      string
	}{
		{name: "reasoning_content", step: fakeserver.Step{Content: "4", Reasoning: "Two and two."}, content: "4", reasoning: "Two and two."},
		{name: "reasoning field", step: fakeserver.Step{Content: "4", Reasoning: "Two and two.", ReasoningField: "reasoning"}, content: "4", reasoning: "Two and two."},
		{name: "think tags", step: fakeserver.Step{Content: "4", Reasoning: "Two and two.", ReasoningField: "think"}, content: "4", reasoning: "Two and two.\n"},
		{name: "usage under x_groq", step: fakeserver.Step{Content: "hi", Usage: &fakeserver.Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}, UsageField: "x_groq"},
			content: "hi", usage: 3},
		{name: "only reasoning", step: fakeserver.Step{Reasoning: "Hmm."}, kind: model.KindEmptyReply, says: "only reasoning"},
		{name: "only a tool call", step: fakeserver.Step{ToolCall: "get_capital"}, kind: model.KindEmptyReply, says: "get_capital"},
		{name: "content filter", step: fakeserver.Step{Content: "Here is", FinishReason: "content_filter"}, kind: model.KindContentFilter, says: "after 7 characters"},
		{name: "cut at the limit before any answer", step: fakeserver.Step{Reasoning: "Let me think", FinishReason: "length"}, kind: model.KindEmptyReply, says: "token limit"},
		{name: "error frame after an event line", step: fakeserver.Step{Content: "maybe", Error: &fakeserver.StreamError{
			Message: "Tool choice is required", Type: "invalid_request_error", Code: "tool_use_failed", StatusCode: 400, Event: true}},
			kind: model.KindBadRequest, says: "Tool choice is required"},
		{name: "bare error line", step: fakeserver.Step{Content: "Hi", Error: &fakeserver.StreamError{Message: "unexpected EOF", Type: "api_error", Raw: true}},
			kind: model.KindServer, says: "unexpected EOF"},
		{name: "string error", step: fakeserver.Step{Error: &fakeserver.StreamError{Message: "llama runner process has terminated", Shape: "string"}},
			kind: model.KindServer, says: "llama runner process has terminated"},
		{name: "top-level context error", step: fakeserver.Step{Error: &fakeserver.StreamError{Message: "longer than the maximum model length of 8192", Type: "BadRequestError", Code: "400", Shape: "top_level"}},
			kind: model.KindContextTooLong, says: "maximum model length"},
		{name: "error in a chunk", step: fakeserver.Step{Content: "Half", Error: &fakeserver.StreamError{Message: "Provider disconnected", Code: "server_error", Shape: "in_chunk"}},
			kind: model.KindServer, says: "Provider disconnected"},
		{name: "string error over HTTP", step: fakeserver.Step{Fault: &fakeserver.Fault{Status: 500, Message: "runner crashed", Shape: "string"}},
			kind: model.KindServer, says: "(HTTP 500): runner crashed"},
		{name: "top-level error over HTTP", step: fakeserver.Step{Fault: &fakeserver.Fault{Status: 404, Message: "The model `qwen` does not exist.", Shape: "top_level"}},
			kind: model.KindModelNotFound, says: "(HTTP 404): The model `qwen` does not exist."},
	}
	for _, tc := range cases {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", tc.name, stream), func(t *testing.T) {
				c, _, _, _ := setup(t, Config{Retry: RetryPolicy{MaxAttempts: 1}}, tc.step)
				req := ask("x")
				var thought strings.Builder
				if stream {
					req.OnDelta = func(string) {}
					req.OnReasoning = func(d string) { thought.WriteString(d) }
				}
				reply, err := c.Complete(context.Background(), req)
				if tc.kind != "" {
					if model.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.says) {
						t.Fatalf("reply %q, error %v; want kind %s saying %q", reply.Content, err, tc.kind, tc.says)
					}
					return
				}
				if err != nil || reply.Content != tc.content || reply.Reasoning != tc.reasoning || (tc.usage != 0 && reply.Usage.TotalTokens != tc.usage) {
					t.Fatalf("reply %+v, error %v; want %q, reasoning %q", reply, err, tc.content, tc.reasoning)
				}
				if stream && thought.String() != tc.reasoning {
					t.Errorf("reasoning streamed %q", thought.String())
				}
			})
		}
	}
}

func TestModels(t *testing.T) {
	t.Run("listed", func(t *testing.T) {
		srv := fakeserver.New(fakeserver.Script{Models: map[string][]fakeserver.Step{"coder-model": nil}})
		defer srv.Close()
		c, err := New(Config{Provider: "vllm", BaseURL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		names, err := c.Models(context.Background())
		if err != nil || !slices.Equal(names, []string{"coder-model", "fake-model"}) {
			t.Fatalf("models %q, error %v", names, err)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		srv := fakeserver.New(fakeserver.Script{APIKey: "right-key-0123456789"})
		defer srv.Close()
		c, err := New(Config{Provider: "vllm", BaseURL: srv.URL, APIKey: secret})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Models(context.Background())
		if model.KindOf(err) != model.KindAuth || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "HTTP 401") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("not an API", func(t *testing.T) {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>hello</html>")) }))
		defer ts.Close()
		c, err := New(Config{Provider: "vllm", BaseURL: ts.URL + "/v1"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Models(context.Background())
		if model.KindOf(err) != model.KindBadReply || !strings.Contains(err.Error(), "not a list of models") {
			t.Fatalf("error %v", err)
		}
	})
}

// TestImagesAsDataURIParts: a message with images goes out as a text part
// and one image_url part per image, each a base64 data URI, which the fake
// server reads back byte for byte; a message without images stays a string.
func TestImagesAsDataURIParts(t *testing.T) {
	c, srv, _, _ := setup(t, Config{}, fakeserver.Step{Content: "looks fine"})
	png := []byte("\x89PNG\r\n\x1a\nfake-png")
	jpeg := []byte("\xff\xd8\xff\xe0fake-jpeg")
	req := model.Request{Model: "reviewer-model", Messages: []model.Message{
		{Role: model.RoleSystem, Content: "You review."},
		{Role: model.RoleUser, Name: "executor", Content: "Block 1 made plot.png (image 1).",
			Images: []model.Image{model.NewImage("image/png", png), model.NewImage("image/jpeg", jpeg)}},
	}}
	if _, err := c.Complete(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	got := srv.Requests()[0].Messages
	if len(got[0].Images) != 0 || got[0].Content != "You review." {
		t.Errorf("system message %+v", got[0])
	}
	m := got[1]
	if m.Content != "Block 1 made plot.png (image 1)." || m.Name != "executor" || len(m.Images) != 2 {
		t.Fatalf("user message %+v", m)
	}
	for i, want := range []struct {
		mime string
		data []byte
	}{{"image/png", png}, {"image/jpeg", jpeg}} {
		if img := m.Images[i]; img.MIME != want.mime || !bytes.Equal(img.Data, want.data) {
			t.Errorf("image %d: %s %q, want %s %q", i+1, img.MIME, img.Data, want.mime, want.data)
		}
	}
}
