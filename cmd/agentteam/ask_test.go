package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
		if code != ExitFailure || !strings.Contains(errOut, "model model_not_found (HTTP 404): no model gpt-9") {
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
		{"no prompt", []string{"ask"}, "requires at least 1 arg"},
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
