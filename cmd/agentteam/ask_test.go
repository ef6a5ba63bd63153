package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/fakeserver"
)

// serveModels starts a fake model server with script and points the model
// settings at it through the environment, as a user would.
func serveModels(t *testing.T, script fakeserver.Script) *fakeserver.Server {
	t.Helper()
	srv := fakeserver.New(script)
	t.Cleanup(srv.Close)
	t.Setenv("OPENAI_BASE_URL", srv.URL)
	t.Setenv("OPENAI_API_KEY", "")
	t.Setenv("AGENTTEAM_PROVIDER", "")
	t.Setenv("AGENTTEAM_MODEL_RETRIES", "1")
	return srv
}

// askEnv serves the steps to any model.
func askEnv(t *testing.T, steps ...fakeserver.Step) *fakeserver.Server {
	t.Helper()
	return serveModels(t, fakeserver.Script{Replies: steps})
}

func TestAsk(t *testing.T) {
	srv := askEnv(t, fakeserver.Step{Content: "Hello \x1b]52;c;ZXZpbA==\x07there"})
	code, out, errOut := cliIn(t, "ask", "--model", "local-llama", "--system", "be brief", "say", "hello")
	if code != 0 || out != `Hello \x1b]52;c;ZXZpbA==\x07there`+"\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	r := srv.Requests()[0]
	if r.Model != "local-llama" || len(r.Messages) != 2 || r.Messages[0].Content != "be brief" || r.Messages[1].Content != "say hello" || !r.Stream || r.Authorization != "" {
		t.Fatalf("request %+v", r)
	}
}

func TestAskJSONAndSettings(t *testing.T) {
	srv := askEnv(t, fakeserver.Step{Content: "42", FinishReason: "length"})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".env"), []byte("AGENTTEAM_CODER_MODEL=from-dotenv\nAGENTTEAM_MAX_TOKENS=7\nAGENTTEAM_TEMPERATURE=0.2\n"), 0o600)
	code, out, errOut := cli(t, context.Background(), dir, "what is six times seven?", "ask", "--json", "-")
	var res AskResult
	if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil {
		t.Fatalf("exit %d, %v, stdout %q stderr %q", code, err, out, errOut)
	}
	r := srv.Requests()[0]
	if res.Content != "42" || res.FinishReason != "length" || !res.Usage.Known || res.Model != "from-dotenv" ||
		r.Model != "from-dotenv" || r.MaxTokens != 7 || r.Temperature == nil || *r.Temperature != 0.2 || r.Stream {
		t.Fatalf("result %+v, request %+v", res, r)
	}
}

func TestAskErrors(t *testing.T) {
	t.Run("no key for openai", func(t *testing.T) {
		t.Setenv("OPENAI_API_KEY", "")
		t.Setenv("OPENAI_BASE_URL", "")
		t.Setenv("AGENTTEAM_PROVIDER", "")
		t.Setenv("AZURE_OPENAI_ENDPOINT", "")
		code, _, errOut := cliIn(t, "ask", "hi")
		if code != ExitFailure || !strings.Contains(errOut, "no API key for openai: set OPENAI_API_KEY") || strings.Count(errOut, "\n") != 1 {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})
	t.Run("server error", func(t *testing.T) {
		askEnv(t, fakeserver.Step{Fault: &fakeserver.Fault{Status: 404, Code: "model_not_found", Message: "no model gpt-9"}})
		code, _, errOut := cliIn(t, "ask", "--model", "gpt-9", "hi")
		if code != ExitFailure || !regexp.MustCompile(`^agentteam: model "gpt-9" \(the server at http://127\.0\.0\.1:\d+/v1\): no such model \(HTTP 404\): no model gpt-9; check --model or AGENTTEAM_CODER_MODEL\n$`).MatchString(errOut) {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown provider", []string{"ask", "--provider", "skynet", "hi"}, `unknown provider "skynet"`},
		{"temperature out of range", []string{"ask", "--temperature", "3", "hi"}, "outside 0 to 2"},
		{"no prompt", []string{"ask"}, "no prompt: give it as arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			askEnv(t)
			code, _, errOut := cliIn(t, tc.args...)
			if code != ExitUsage || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
		})
	}
}

// TestAskServerQuirks: what a user sees from the answers real servers give
// when something goes wrong, streamed, with --no-stream and with --json.
func TestAskServerQuirks(t *testing.T) {
	cases := []struct {
		name   string
		step   fakeserver.Step
		args   []string
		code   int
		stdout string
		stderr string // in the one line of stderr
	}{
		{name: "error frame after an event line", args: []string{"ask", "hi"}, code: ExitFailure, stdout: "maybe\n",
			step: fakeserver.Step{Content: "maybe", Error: &fakeserver.StreamError{Message: "Tool choice is required, but model did not call a tool",
				Type: "invalid_request_error", Code: "tool_use_failed", StatusCode: 400, Event: true}},
			stderr: ": the server refused the request: Tool choice is required, but model did not call a tool"},
		{name: "bare error line", args: []string{"ask", "hi"}, code: ExitFailure, stdout: "Hi\n",
			step:   fakeserver.Step{Content: "Hi", Error: &fakeserver.StreamError{Message: "an error was encountered while running the model: unexpected EOF", Type: "api_error", Raw: true}},
			stderr: "): the server failed: an error was encountered while running the model: unexpected EOF"},
		{name: "string error", args: []string{"ask", "--no-stream", "hi"}, code: ExitFailure,
			step:   fakeserver.Step{Fault: &fakeserver.Fault{Status: 500, Message: "llama runner process has terminated: signal: killed", Shape: "string"}},
			stderr: "): the server failed (HTTP 500): llama runner process has terminated: signal: killed"},
		{name: "context error from vLLM in a stream", args: []string{"ask", "hi"}, code: ExitFailure,
			step: fakeserver.Step{Error: &fakeserver.StreamError{Message: "The decoder prompt (length 9000) is longer than the maximum model length of 8192.",
				Type: "BadRequestError", Code: "400"}},
			stderr: "): the conversation is longer than the model takes: The decoder prompt (length 9000) is longer than the maximum model length of 8192.; shorten the prompt"},
		{name: "finish reason error", args: []string{"ask", "hi"}, code: ExitFailure, stdout: "Half an ans\n",
			step:   fakeserver.Step{Content: "Half an ans", Error: &fakeserver.StreamError{Message: "Provider disconnected unexpectedly", Code: "server_error", Shape: "in_chunk"}},
			stderr: "): the server failed: Provider disconnected unexpectedly"},
		{name: "content filter mid-answer", args: []string{"ask", "hi"}, code: ExitFailure, stdout: "Here is how\n",
			step:   fakeserver.Step{Content: "Here is how", FinishReason: "content_filter"},
			stderr: "): blocked by the content filter: the server's content filter stopped the reply after 11 characters"},
		{name: "content filter, not streamed", args: []string{"ask", "--json", "hi"}, code: ExitFailure,
			step:   fakeserver.Step{Content: "Here is how", FinishReason: "content_filter"},
			stderr: "): blocked by the content filter: the server's content filter stopped the reply after 11 characters"},
		{name: "only reasoning", args: []string{"ask", "hi"}, code: ExitFailure,
			step:   fakeserver.Step{Reasoning: "The user wants a greeting."},
			stderr: "): an empty reply: the reply has no text, only reasoning (26 characters), and no answer after it"},
		{name: "only a tool call", args: []string{"ask", "--no-stream", "hi"}, code: ExitFailure,
			step:   fakeserver.Step{ToolCall: "get_capital"},
			stderr: "): an empty reply: the reply has no text, only a call of the tool get_capital, and no tools were offered"},
		{name: "cut at the token limit", args: []string{"ask", "--max-tokens", "1", "hi"}, code: ExitOK, stdout: "Hello\n",
			step:   fakeserver.Step{Content: "Hello", FinishReason: "length"},
			stderr: "agentteam: the reply was cut at the token limit; raise --max-tokens"},
		{name: "reasoning is not the answer", args: []string{"ask", "hi"}, code: ExitOK, stdout: "4\n",
			step: fakeserver.Step{Content: "4", Reasoning: "Two and two.", ReasoningField: "think"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			askEnv(t, tc.step)
			code, out, errOut := cliIn(t, tc.args...)
			if code != tc.code || (tc.stdout != "" && out != tc.stdout) || !strings.Contains(errOut, tc.stderr) ||
				(tc.stderr != "" && strings.Count(errOut, "\n") != 1) || (tc.stderr == "" && errOut != "") {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr saying %q", code, out, errOut, tc.code, tc.stdout, tc.stderr)
			}
			// An error names the model and the server, in words, never a kind.
			if code == ExitFailure && (!strings.HasPrefix(errOut, `agentteam: model "gpt-4o-mini" (the server at http://127.0.0.1:`) || leaksKind(errOut)) {
				t.Fatalf("stderr %q: want the model and the server named, and no kind", errOut)
			}
		})
	}
}

func TestAskReasoning(t *testing.T) {
	step := fakeserver.Step{Content: "4", Reasoning: "Two and two make four.", ReasoningField: "reasoning",
		Usage: &fakeserver.Usage{PromptTokens: 5, CompletionTokens: 9, TotalTokens: 14}, UsageField: "x_groq"}
	t.Run("json", func(t *testing.T) {
		askEnv(t, step)
		code, out, errOut := cliIn(t, "ask", "--json", "2+2?")
		var res AskResult
		if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil || res.Content != "4" || res.Reasoning != "Two and two make four." ||
			res.Usage.TotalTokens != 14 || !res.Usage.Known {
			t.Fatalf("exit %d, %v, result %+v, stderr %q", code, err, res, errOut)
		}
	})
	for _, tc := range []struct {
		name    string
		noColor string
		args    []string
		stdout  string
	}{
		{"dimmed on a colour terminal", "", []string{"ask", "2+2?"}, "\x1b[2;3mthinking…\x1b[0m \x1b[2mTwo and two make four.\x1b[0m\n\n4\n"},
		{"a thinking line without colour", "1", []string{"ask", "2+2?"}, "thinking…\n4\n"},
		{"dimmed before a reply not streamed", "", []string{"ask", "--no-stream", "2+2?"}, "\x1b[2;3mthinking…\x1b[0m \x1b[2mTwo and two make four.\x1b[0m\n\n4\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			askEnv(t, step)
			t.Setenv("NO_COLOR", tc.noColor)
			t.Setenv("TERM", "xterm-256color")
			var out, errOut bytes.Buffer
			code := Main(context.Background(), tc.args, IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, OutIsTTY: true, Dir: t.TempDir()})
			if code != 0 || out.String() != tc.stdout {
				t.Fatalf("exit %d, stdout %q, stderr %q; want stdout %q", code, out.String(), errOut.String(), tc.stdout)
			}
		})
	}
}

// TestAskKeyEchoed: a proxy that echoes the request puts the key in the
// reply; it is never printed.
func TestAskKeyEchoed(t *testing.T) {
	const key = "sk-proxy-echo-0123456789abcdef"
	echo := "debug: your header was Bearer " + key
	for _, args := range [][]string{{"ask", "hi"}, {"ask", "--no-stream", "hi"}, {"ask", "--json", "hi"}} {
		serveModels(t, fakeserver.Script{APIKey: key, Replies: []fakeserver.Step{{Content: echo, Chunks: []string{echo[:40], echo[40:]}}}})
		t.Setenv("OPENAI_API_KEY", key)
		code, out, errOut := cliIn(t, args...)
		if code != 0 || strings.Contains(out+errOut, key) || strings.Contains(out+errOut, "echo-0123") || !strings.Contains(out, "Bearer [redacted]") {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
}

// leaksKind reports whether text names a model error's kind as the model
// package spells it ("model server_error"), which people should never see.
func leaksKind(text string) bool {
	for _, k := range []model.Kind{model.KindAuth, model.KindModelNotFound, model.KindRateLimited, model.KindQuota, model.KindContextTooLong,
		model.KindBadRequest, model.KindServer, model.KindNetwork, model.KindBadReply, model.KindEmptyReply, model.KindContentFilter} {
		if strings.Contains(text, "model "+string(k)) {
			return true
		}
	}
	return false
}
