package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeLLMBuffer is a bytes.Buffer safe to write from the server goroutine
// while the test reads it.
type fakeLLMBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *fakeLLMBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *fakeLLMBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func fakeLLMScript(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "script.json")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var fakeLLMListening = regexp.MustCompile(`^fake-llm: listening on (http://127\.0\.0\.1:[0-9]+/v1)\n$`)

// startFakeLLM runs the command on a free port and returns its base URL,
// the cancel that stops it and the channel its result comes on.
func startFakeLLM(t *testing.T, script string) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	out := &fakeLLMBuffer{}
	opts := &FakeLLMOptions{IO: IO{In: strings.NewReader(""), Out: out, ErrOut: io.Discard}, Addr: "127.0.0.1:0", Script: fakeLLMScript(t, script)}
	done := make(chan error, 1)
	go func() { done <- runFakeLLM(ctx, opts) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if m := fakeLLMListening.FindStringSubmatch(out.String()); m != nil {
			return m[1], cancel, done
		}
		select {
		case err := <-done:
			t.Fatalf("fake-llm ended before listening: %v (output %q)", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line within 5s; output %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitFakeLLM(t *testing.T, done <-chan error, within time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("runFakeLLM returned %v, want nil", err)
		}
	case <-time.After(within):
		t.Fatalf("runFakeLLM did not return within %v of the cancel", within)
	}
}

func TestFakeLLMServesUntilCancelled(t *testing.T) {
	url, cancel, done := startFakeLLM(t, `{"api_key": "sk-test", "replies": [{"content": "hello from the script"}]}`)

	req, _ := http.NewRequest(http.MethodPost, url+"/chat/completions",
		strings.NewReader(`{"model": "m", "messages": [{"role": "user", "content": "hi"}]}`))
	req.Header.Set("Authorization", "Bearer sk-test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var reply struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	err = json.NewDecoder(resp.Body).Decode(&reply)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || len(reply.Choices) != 1 || reply.Choices[0].Message.Content != "hello from the script" {
		t.Fatalf("status %d, %v, %+v", resp.StatusCode, err, reply)
	}

	start := time.Now()
	cancel()
	waitFakeLLM(t, done, 5*time.Second)
	t.Logf("returned %v after the cancel", time.Since(start))
	if _, err := http.Get(url + "/models"); err == nil {
		t.Error("the server still answers after returning")
	}
}

func TestFakeLLMCancelDuringSlowRequest(t *testing.T) {
	url, cancel, done := startFakeLLM(t, `{"replies": [{"content": "too late", "delay_ms": 60000}]}`)
	reqDone := make(chan error, 1)
	go func() {
		resp, err := http.Post(url+"/chat/completions", "application/json", strings.NewReader(`{"model": "m", "messages": []}`))
		if err == nil {
			resp.Body.Close()
		}
		reqDone <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the request arrive
	cancel()
	waitFakeLLM(t, done, 10*time.Second)
	select {
	case <-reqDone:
	case <-time.After(5 * time.Second):
		t.Error("the slow request was left hanging")
	}
}

func TestFakeLLMUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"replies": [{"text": "x"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing script", []string{"fake-llm", "--script", "/nonexistent"}, "/nonexistent"},
		{"no script flag", []string{"fake-llm"}, "--script"},
		{"unknown field", []string{"fake-llm", "--script", bad}, `unknown field "text"`},
		{"extra argument", []string{"fake-llm", "--script", bad, "extra"}, "extra"},
		{"bad flag", []string{"fake-llm", "--port", "1"}, "--port"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(context.Background(), tc.args, IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
			if code != ExitUsage || !strings.Contains(errOut.String(), tc.want) || strings.Count(strings.TrimSpace(errOut.String()), "\n") != 0 || out.Len() != 0 {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and one line naming %q", code, out.String(), errOut.String(), ExitUsage, tc.want)
			}
		})
	}
}

func TestFakeLLMPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	script := fakeLLMScript(t, `{"replies": []}`)
	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{"fake-llm", "--addr", ln.Addr().String(), "--script", script}, IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	msg := strings.TrimSpace(errOut.String())
	if code != ExitFailure || out.Len() != 0 || strings.Contains(msg, "\n") || !strings.Contains(msg, ln.Addr().String()) || !strings.Contains(msg, "--addr 127.0.0.1:0") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
}
