package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentteam/agentteam/model/fakeserver"
	"github.com/agentteam/agentteam/model/openaicompat"
)

// TestSettingsPrecedence: for every command that opens a sandbox, a flag
// beats the environment, which beats .env, which beats the default; and
// DOCKER_HOST is read from .env like every other .env.example entry.
func TestSettingsPrecedence(t *testing.T) {
	const msg = "```sh\ntrue\n```\n"
	cases := []struct {
		name    string
		dotenv  string
		env     map[string]string
		args    []string
		memory  int64
		timeout time.Duration
		host    string
	}{
		{name: "defaults", memory: 512 << 20, timeout: time.Minute},
		{name: "from .env", dotenv: "AGENTTEAM_TIMEOUT=1s\nAGENTTEAM_MEMORY=300m\nDOCKER_HOST=unix:///from/dotenv.sock\n",
			memory: 300 << 20, timeout: time.Second, host: "unix:///from/dotenv.sock"},
		{name: "env beats .env", dotenv: "AGENTTEAM_TIMEOUT=1s\nAGENTTEAM_MEMORY=300m\nDOCKER_HOST=unix:///from/dotenv.sock\n",
			env:    map[string]string{"AGENTTEAM_TIMEOUT": "6s", "DOCKER_HOST": "unix:///from/env.sock"},
			memory: 300 << 20, timeout: 6 * time.Second, host: "unix:///from/env.sock"},
		{name: "flag beats env", dotenv: "AGENTTEAM_MEMORY=300m\n", env: map[string]string{"AGENTTEAM_TIMEOUT": "6s", "AGENTTEAM_MEMORY": "400m"},
			args: []string{"--memory", "200m"}, memory: 200 << 20, timeout: 6 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"AGENTTEAM_TIMEOUT", "AGENTTEAM_MEMORY", "DOCKER_HOST"} {
				t.Setenv(k, tc.env[k])
			}
			dir := t.TempDir()
			if tc.dotenv != "" {
				writeFile(t, dir, ".env", tc.dotenv)
			}
			// exec names the block timeout --timeout, run --exec-timeout.
			for _, cmd := range [][]string{{"exec", "-"}, {"run", "--coder-model", "c", "--reviewer-model", "r", "--max-turns", "1", "task"}} {
				if cmd[0] == "run" {
					teamServer(t, say("no code"), nil)
				}
				fs := &fakeSandboxes{}
				code, _, errOut := cliFake(t, context.Background(), fs, dir, msg, append(cmd, tc.args...)...)
				if code != ExitOK && code != ExitNotApproved {
					t.Fatalf("%s: exit %d: %s", cmd[0], code, errOut)
				}
				req := fs.lastRequest(t)
				if req.Config.Memory != tc.memory || req.Config.Timeout != tc.timeout || req.DefaultHost != tc.host || len(req.Hosts) != 0 {
					t.Errorf("%s: memory %d, timeout %s, host %q, hosts %q; want %d, %s, %q", cmd[0],
						req.Config.Memory, req.Config.Timeout, req.DefaultHost, req.Hosts, tc.memory, tc.timeout, tc.host)
				}
			}
		})
	}
}

// TestBatchDockerHostReplacesTheEnvironments: with --docker-host, batch
// asks for those engines only, in a pool, never for the environment's.
func TestBatchDockerHostReplacesTheEnvironments(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent.sock")
	serveModels(t, fakeserver.Script{Models: map[string][]fakeserver.Step{"c": say("no code", "no code"), "r": say("APPROVE", "APPROVE")}})
	dir := t.TempDir()
	tasks := writeFile(t, dir, "tasks.jsonl", `{"id": 1, "task": "x"}`+"\n"+`{"id": 2, "task": "y"}`+"\n")
	fs := &fakeSandboxes{}
	code, out, errOut := cliFake(t, context.Background(), fs, dir, "", "batch", "--coder-model", "c", "--reviewer-model", "r",
		"--docker-host", "unix:///a.sock", "--docker-host", "ssh://b", "--max-containers", "3", tasks)
	if code != ExitOK {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	if len(fs.requests) != 1 {
		t.Fatalf("%d sandboxes opened, want 1", len(fs.requests))
	}
	req := fs.requests[0]
	if strings.Join(req.Hosts, " ") != "unix:///a.sock ssh://b" || req.PoolSize != 3 ||
		req.PoolRoot != filepath.Join(dir, defaultRunsDir, "batch-tasks") {
		t.Fatalf("request %+v", req)
	}
}

// TestModelSettings: the model backend's configuration as the CLI reads it
// from flags, the environment and .env, and the one line a bad one gives,
// naming the variable or flag to change.
func TestModelSettings(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		code    int
		wantErr []string
		check   func(t *testing.T, c openaicompat.Config)
	}{
		{name: "openai needs a key", code: ExitFailure,
			wantErr: []string{"no API key for openai: set OPENAI_API_KEY, or use a local server (--provider llamacpp|lmstudio|ollama|vllm, or OPENAI_BASE_URL)\n"}},
		{name: "an Azure endpoint in the base URL", env: map[string]string{"AGENTTEAM_PROVIDER": "azure", "OPENAI_BASE_URL": "x.openai.azure.com", "AZURE_OPENAI_API_KEY": "k"},
			code: ExitUsage, wantErr: []string{"not an http(s) URL; set AZURE_OPENAI_ENDPOINT"}},
		{name: "azure needs an endpoint", env: map[string]string{"AGENTTEAM_PROVIDER": "azure", "AZURE_OPENAI_API_KEY": "k"},
			code: ExitUsage, wantErr: []string{"azure needs an endpoint (https://NAME.openai.azure.com); set AZURE_OPENAI_ENDPOINT"}},
		{name: "azure needs its key", env: map[string]string{"AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com"},
			code: ExitFailure, wantErr: []string{"no API key for azure: set AZURE_OPENAI_API_KEY"}},
		{name: "unknown provider", env: map[string]string{"AGENTTEAM_PROVIDER": "skynet"}, code: ExitUsage, wantErr: []string{`unknown provider "skynet"`, "--provider or AGENTTEAM_PROVIDER"}},
		{name: "bad deployments", env: map[string]string{"AZURE_OPENAI_DEPLOYMENTS": "gpt-4o"},
			code: ExitUsage, wantErr: []string{`invalid Azure deployments "gpt-4o" (AZURE_OPENAI_DEPLOYMENTS): "gpt-4o" is not model=deployment`}},
		{name: "bad base url", env: map[string]string{"OPENAI_BASE_URL": "localhost:8000"}, code: ExitUsage, wantErr: []string{"not an http(s) URL; check --base-url or OPENAI_BASE_URL"}},
		{name: "credentials in the url are not shown", env: map[string]string{"OPENAI_BASE_URL": "ftp://user:hunter2@host/v1"},
			code: ExitUsage, wantErr: []string{"[redacted]"}},
		{name: "bad max tokens field", env: map[string]string{"AGENTTEAM_MAX_TOKENS_FIELD": "n_predict"},
			code: ExitUsage, wantErr: []string{`invalid max tokens field "n_predict" (AGENTTEAM_MAX_TOKENS_FIELD): not auto, max_tokens or max_completion_tokens`}},
		{name: "bad retries", env: map[string]string{"AGENTTEAM_MODEL_RETRIES": "0"},
			code: ExitUsage, wantErr: []string{`invalid model retries "0" (AGENTTEAM_MODEL_RETRIES): not a count from 1 to 20`}},
		{name: "bad timeouts, all of them", env: map[string]string{"AGENTTEAM_MODEL_HEADER_TIMEOUT": "soon", "AGENTTEAM_MODEL_IDLE_TIMEOUT": "-1s"},
			code: ExitUsage, wantErr: []string{`"soon" (AGENTTEAM_MODEL_HEADER_TIMEOUT): not a positive duration`, `"-1s" (AGENTTEAM_MODEL_IDLE_TIMEOUT)`}},
		{name: "bad temperature", env: map[string]string{"AGENTTEAM_TEMPERATURE": "x"},
			code: ExitUsage, wantErr: []string{`invalid temperature "x" (AGENTTEAM_TEMPERATURE): not a number`}},
		{name: "temperature out of range", args: []string{"--temperature", "3"}, code: ExitUsage, wantErr: []string{`invalid temperature "3" (--temperature): outside 0 to 2`}},
		{name: "bad max tokens", env: map[string]string{"AGENTTEAM_MAX_TOKENS": "-1"}, code: ExitUsage, wantErr: []string{`(AGENTTEAM_MAX_TOKENS): negative`}},
		{name: "ollama needs no key", env: map[string]string{"AGENTTEAM_PROVIDER": " Ollama "},
			check: func(t *testing.T, c openaicompat.Config) {
				if c.Provider != "ollama" || c.APIKey != "" {
					t.Errorf("config %+v", c)
				}
			}},
		{name: "own server needs no key", env: map[string]string{"OPENAI_BASE_URL": "http://gpu-box:8000/v1"},
			check: func(t *testing.T, c openaicompat.Config) {
				if c.Provider != "" || c.BaseURL != "http://gpu-box:8000/v1" {
					t.Errorf("config %+v", c)
				}
			}},
		{name: "azure from its endpoint", env: map[string]string{"AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com", "AZURE_OPENAI_API_KEY": "az",
			"OPENAI_API_KEY": "oa", "AZURE_OPENAI_DEPLOYMENTS": "gpt-4o=prod-4o, mini = m"},
			check: func(t *testing.T, c openaicompat.Config) {
				if c.Provider != "azure" || c.APIKey != "az" || c.Deployments["mini"] != "m" || c.Deployments["gpt-4o"] != "prod-4o" {
					t.Errorf("config %+v", c)
				}
			}},
		{name: "--provider azure takes the Azure key", env: map[string]string{"AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com",
			"AZURE_OPENAI_API_KEY": "az", "OPENAI_API_KEY": "oa", "AGENTTEAM_PROVIDER": "openai"}, args: []string{"--provider", "azure"},
			check: func(t *testing.T, c openaicompat.Config) {
				if c.Provider != "azure" || c.APIKey != "az" {
					t.Errorf("config %+v", c)
				}
			}},
		{name: "the OpenAI key serves Azure when it has none of its own", env: map[string]string{"AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com", "OPENAI_API_KEY": "oa"},
			check: func(t *testing.T, c openaicompat.Config) {
				if c.Provider != "azure" || c.APIKey != "oa" {
					t.Errorf("config %+v", c)
				}
			}},
		{name: "max tokens field", env: map[string]string{"OPENAI_API_KEY": "k", "AGENTTEAM_MAX_TOKENS_FIELD": "Max_Completion_Tokens"},
			check: func(t *testing.T, c openaicompat.Config) {
				if c.MaxTokensField != openaicompat.MaxCompletionTokens {
					t.Errorf("max tokens field %q", c.MaxTokensField)
				}
			}},
		{name: "max tokens field auto", env: map[string]string{"OPENAI_API_KEY": "k", "AGENTTEAM_MAX_TOKENS_FIELD": "auto"},
			check: func(t *testing.T, c openaicompat.Config) {
				if c.MaxTokensField != openaicompat.MaxTokensAuto {
					t.Errorf("max tokens field %q", c.MaxTokensField)
				}
			}},
		{name: "retry and timeouts", env: map[string]string{"OPENAI_API_KEY": "k", "AGENTTEAM_MODEL_RETRIES": "2", "AGENTTEAM_MODEL_IDLE_TIMEOUT": "30s"},
			check: func(t *testing.T, c openaicompat.Config) {
				if c.Retry.MaxAttempts != 2 || c.IdleTimeout != 30*time.Second || c.HeaderTimeout != 0 {
					t.Errorf("config %+v", c)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fm := &fakeModels{}
			code, _, errOut := cliWith(t, &fakeSandboxes{}, fm, tc.env, t.TempDir(), "", append(append([]string{"ask"}, tc.args...), "hi")...)
			if code != tc.code || strings.Count(errOut, "\n") > 1 || strings.Contains(errOut, "hunter2") {
				t.Fatalf("exit %d, stderr %q; want exit %d", code, errOut, tc.code)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr %q lacks %q", errOut, want)
				}
			}
			if tc.check != nil {
				tc.check(t, fm.lastConfig(t))
			}
		})
	}
}
