package main

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/docker"
	"github.com/agentteam/agentteam/taskrun"
)

// TestFixes: the CLI adds to an error the libraries report in their own
// terms which of its settings to change.
func TestFixes(t *testing.T) {
	cases := []struct {
		err  error
		code int
		want string
	}{
		{fmt.Errorf("coder: %w", &model.Error{Kind: model.KindAuth, Status: 401, Message: "Incorrect API key provided"}), ExitFailure,
			"coder: model authentication (HTTP 401): Incorrect API key provided (check OPENAI_API_KEY or AZURE_OPENAI_API_KEY)"},
		{&model.Error{Kind: model.KindNetwork, Message: "cannot reach http://127.0.0.1:9/v1"}, ExitFailure,
			"model network: cannot reach http://127.0.0.1:9/v1 (is the server running and reachable?); check OPENAI_BASE_URL or --base-url"},
		{&model.Error{Kind: model.KindQuota, Message: "You exceeded your current quota"}, ExitFailure,
			"model quota: You exceeded your current quota (the account's quota or credit is used up)"},
		{fmt.Errorf("engine unix:///a.sock: %w", fmt.Errorf("%w: no image %q on the engine", sandbox.ErrImageMissing, "x:1")), ExitSandbox,
			`engine unix:///a.sock: sandbox image missing: no image "x:1" on the engine; build it with 'make image' (or set AGENTTEAM_IMAGE)`},
		{fmt.Errorf("%w: the engine has no runtime %q (it has runc); register it in /etc/docker/daemon.json", sandbox.ErrRuntimeMissing, "kata"), ExitSandbox,
			`container runtime not registered: the engine has no runtime "kata" (it has runc); register it in /etc/docker/daemon.json or drop --runtime`},
		{fmt.Errorf("%w: the runtime %q cannot start the sandbox: boom; register a current runsc", sandbox.ErrRuntimeFailed, "runsc"), ExitSandbox,
			`container runtime failed: the runtime "runsc" cannot start the sandbox: boom; register a current runsc; 'make runsc' builds a current one`},
		// A batch stopped by a task's error as recorded, which says what to
		// change already: not said twice.
		{&taskrun.StoppedError{Failed: 3, NotStarted: 2, Err: recordedText{"coder: model \"c\" (the server at http://h/v1): the key was refused (HTTP 401): no; check OPENAI_API_KEY or AZURE_OPENAI_API_KEY", model.KindAuth}}, ExitFailure,
			`stopped starting tasks: 3 in a row failed alike, 2 not started (fix it and run the same command again): coder: model "c" (the server at http://h/v1): the key was refused (HTTP 401): no; check OPENAI_API_KEY or AZURE_OPENAI_API_KEY`},
	}
	for _, tc := range cases {
		if code, msg := exitStatus(context.Background(), tc.err); code != tc.code || msg != tc.want {
			t.Errorf("exitStatus(%v) = %d, %q; want %d, %q", tc.err, code, msg, tc.code, tc.want)
		}
	}
}

// recordedText is an error as a batch's results file keeps it: its text
// and its kind.
type recordedText struct {
	text string
	kind model.Kind
}

func (e recordedText) Error() string { return e.text }
func (e recordedText) Unwrap() error { return &model.Error{Kind: e.kind, Message: e.text} }

// TestDoctorFixes: doctor's fixes name the CLI's settings, make targets and
// commands; the sandbox package's own name none.
func TestDoctorFixes(t *testing.T) {
	cases := []struct{ in, want docker.Check }{
		{docker.Check{Name: "sandbox image", Fix: "build it, or configure another image"},
			docker.Check{Name: "sandbox image", Fix: "build it: make image (offline, from Debian packages), or set AGENTTEAM_IMAGE"}},
		{docker.Check{Name: "docker engine", Fix: "start it (sudo systemctl start docker), or install it (Debian: apt-get install docker.io)"},
			docker.Check{Name: "docker engine", Fix: "start it (sudo systemctl start docker), or install it (Debian: apt-get install docker.io); check DOCKER_HOST"}},
		{docker.Check{Name: "runtimes", Fix: "register it in /etc/docker/daemon.json and restart the engine, or configure no runtime"},
			docker.Check{Name: "runtimes", Fix: "register it in /etc/docker/daemon.json and restart the engine, or unset AGENTTEAM_RUNTIME"}},
		{docker.Check{Name: "runtimes", OK: true, Detail: "runc, runsc (default runc); " + docker.RunscAvailable},
			docker.Check{Name: "runtimes", OK: true, Detail: "runc, runsc (default runc); runsc (gVisor) is available: --runtime runsc"}},
		{docker.Check{Name: "hardening", Fix: "check the configured runtime against 'docker info'"},
			docker.Check{Name: "hardening", Fix: "check --runtime / AGENTTEAM_RUNTIME against 'docker info'"}},
		{docker.Check{Name: "leftovers", Detail: "2 sandbox container(s) of dead runs", Fix: "remove them"},
			docker.Check{Name: "leftovers", Detail: "2 sandbox container(s) of dead runs", Fix: "agentteam cleanup"}},
		{docker.Check{Name: "configuration", Fix: "correct the setting it names"},
			docker.Check{Name: "configuration", Fix: "correct the flag or AGENTTEAM_* variable it names"}},
		{docker.Check{Name: "leftovers", OK: true, Detail: "0 sandbox container(s) of dead runs"},
			docker.Check{Name: "leftovers", OK: true, Detail: "0 sandbox container(s) of dead runs"}},
	}
	for _, tc := range cases {
		if got := doctorFix(tc.in); got != tc.want {
			t.Errorf("doctorFix(%+v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// TestLibrariesNameNoCLISetting: the model and sandbox libraries take
// typed configurations and say what is wrong in their own terms; the
// CLI's variables, make targets and commands appear only in the CLI.
func TestLibrariesNameNoCLISetting(t *testing.T) {
	banned := []string{"AGENTTEAM_", "OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_", "DOCKER_HOST", "make image", "make runsc", "agentteam cleanup"}
	for _, dir := range []string{"../../model", "../../sandbox/docker"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					for _, b := range banned {
						if strings.Contains(lit.Value, b) {
							t.Errorf("%s: %s names %q, a setting of the CLI's", path, lit.Value, b)
						}
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestExplainModelError(t *testing.T) {
	models := map[string]string{"coder": "c", "reviewer": "r"}
	const at = "the server at http://127.0.0.1:9/v1"
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"network", fmt.Errorf("reviewer: %w", &model.Error{Kind: model.KindNetwork, Message: "cannot reach " + at + ": connection refused"}),
			`reviewer: model "r" (` + at + `): cannot reach the server: connection refused; check OPENAI_BASE_URL or --base-url`},
		{"not found", fmt.Errorf("reviewer: %w", &model.Error{Kind: model.KindModelNotFound, Status: 404, Message: "no model r"}),
			`reviewer: model "r" (` + at + `): no such model (HTTP 404): no model r; check --reviewer-model or AGENTTEAM_REVIEWER_MODEL`},
		{"no agent", &model.Error{Kind: model.KindQuota, Status: 429, Message: "out of credit"},
			`model (` + at + `): the account's quota or credit is used up (HTTP 429): out of credit`},
		{"replay", fmt.Errorf("coder: %w", &model.Error{Kind: model.KindReplayDiverged, Message: "coder call 2"}),
			"coder: model replay_diverged: coder call 2"},
		{"not a model error", errors.New("disk full"), "disk full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := explainModelError(tc.err, models, at)
			if got.Error() != tc.want {
				t.Fatalf("got  %q\nwant %q", got.Error(), tc.want)
			}
			if model.KindOf(got) != model.KindOf(tc.err) {
				t.Fatalf("kind %q, want %q", model.KindOf(got), model.KindOf(tc.err))
			}
		})
	}
}

// TestModelCallWords: run, batch and ask say a model error alike: one
// plain line naming the model and the endpoint, with what to change in
// that command's terms, and never a kind's name.
func TestModelCallWords(t *testing.T) {
	const at = "ollama at http://localhost:11434/v1"
	notFound := &model.Error{Kind: model.KindModelNotFound, Status: 404, Message: `model "qwen" not found, try pulling it first`}
	tooLong := &model.Error{Kind: model.KindContextTooLong, Status: 400, Message: "too long"}
	limited := &model.Error{Kind: model.KindRateLimited, Status: 429, Message: "slow down"}
	ask := modelCall{model: "qwen", endpoint: at, setting: "--model or AGENTTEAM_CODER_MODEL", fixes: askFixes()}
	for _, tc := range []struct {
		name string
		got  error
		want string
	}{
		{"run's reviewer", explainModelError(fmt.Errorf("reviewer: %w", notFound), map[string]string{"coder": "c", "reviewer": "qwen"}, at),
			`reviewer: model "qwen" (` + at + `): no such model (HTTP 404): model "qwen" not found, try pulling it first; check --reviewer-model or AGENTTEAM_REVIEWER_MODEL`},
		{"run's coder, too long", explainModelError(fmt.Errorf("coder: %w", tooLong), map[string]string{"coder": "qwen", "reviewer": "r"}, at),
			`coder: model "qwen" (` + at + `): the conversation is longer than the model takes (HTTP 400): too long; lower --history-budget or --max-turns`},
		{"batch's task, rate limited", explainModelError(fmt.Errorf("coder: %w", limited), map[string]string{"coder": "qwen", "reviewer": "r"}, at),
			`coder: model "qwen" (` + at + `): too many requests (HTTP 429): slow down; try fewer at once (--jobs) or later`},
		{"ask, not found", ask.explain(notFound),
			`model "qwen" (` + at + `): no such model (HTTP 404): model "qwen" not found, try pulling it first; check --model or AGENTTEAM_CODER_MODEL`},
		{"ask, too long", ask.explain(tooLong), `model "qwen" (` + at + `): the conversation is longer than the model takes (HTTP 400): too long; shorten the prompt`},
		{"ask, rate limited", ask.explain(limited), `model "qwen" (` + at + `): too many requests (HTTP 429): slow down; try again later`},
		{"explained once", ask.explain(ask.explain(limited)), `model "qwen" (` + at + `): too many requests (HTTP 429): slow down; try again later`},
		{"a replay's own words", ask.explain(&model.Error{Kind: model.KindReplayExhausted, Message: "coder call 3 was not recorded"}),
			"model replay_exhausted: coder call 3 was not recorded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got.Error() != tc.want {
				t.Fatalf("got  %q\nwant %q", tc.got.Error(), tc.want)
			}
			if model.KindOf(tc.got) == model.KindReplayExhausted {
				return // replay kinds are the replay's own words
			}
			if leaksKind(tc.got.Error()) || strings.Count(tc.got.Error(), "\n") > 0 {
				t.Fatalf("%q names a kind or spans lines", tc.got.Error())
			}
		})
	}
}
