package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentteam/agentteam/model/fakeserver"
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
