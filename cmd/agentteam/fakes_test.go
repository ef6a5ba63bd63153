package main

import (
	"bytes"
	"cmp"
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/openaicompat"
	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/fake"
)

// fakeSandboxes stands in for the Docker backend in tests of flags,
// settings and rendering: it records what each command asked for and opens
// sessions of a sandbox/fake opener that runs nothing (default answer:
// exit 0, "ok").
type fakeSandboxes struct {
	mu       sync.Mutex
	requests []sandboxRequest
	open     error                 // returned by OpenSandbox when set
	opener   *fake.Opener          // nil: every block answers exit 0, "ok"
	up       func() int            // the engines in rotation; nil: always 1
	owner    func() (uid, gid int) // who the sandbox runs as; nil: agentteam's own user
}

func (f *fakeSandboxes) OpenSandbox(_ context.Context, req sandboxRequest) (*sandboxes, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, req)
	if f.open != nil {
		return nil, f.open
	}
	if f.opener == nil {
		f.opener = fake.New(func(c sandbox.Code) fake.Step {
			return fake.Step{Result: sandbox.Result{Language: c.Language, Stdout: "ok\n"}}
		})
	}
	up := f.up
	if up == nil {
		up = func() int { return 1 }
	}
	return &sandboxes{Opener: f.opener, Engines: max(1, len(req.Hosts)), Up: up, Owner: f.owner,
		Close: func(context.Context) error { return nil }}, nil
}

// lastRequest is the request of the last OpenSandbox call.
func (f *fakeSandboxes) lastRequest(t *testing.T) sandboxRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		t.Fatal("no sandbox was opened")
	}
	return f.requests[len(f.requests)-1]
}

// cliFake is cli with fs in place of the Docker backend.
func cliFake(t *testing.T, ctx context.Context, fs *fakeSandboxes, dir, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	f := newFactory(IO{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut, Dir: dir, Getenv: os.Getenv})
	f.OpenSandbox = fs.OpenSandbox
	code := mainWith(ctx, args, f)
	return code, out.String(), errOut.String()
}

// fakeModels stands in for the model backend: it records the configuration
// the CLI built, refuses what openaicompat.New refuses, and answers every
// request with reply (default "no code"), recording it.
type fakeModels struct {
	mu       sync.Mutex
	configs  []openaicompat.Config
	requests []model.Request
	reply    string
}

func (f *fakeModels) NewModel(cfg openaicompat.Config, log *slog.Logger) (model.Model, error) {
	f.mu.Lock()
	f.configs = append(f.configs, cfg)
	f.mu.Unlock()
	if _, err := openaicompat.New(cfg, openaicompat.WithLogger(log)); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *fakeModels) Complete(ctx context.Context, req model.Request) (model.Reply, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, req)
	return model.Reply{Content: cmp.Or(f.reply, "no code"), FinishReason: "stop"}, ctx.Err()
}

// lastConfig is the configuration of the last backend made.
func (f *fakeModels) lastConfig(t *testing.T) openaicompat.Config {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.configs) == 0 {
		t.Fatal("no model backend was made")
	}
	return f.configs[len(f.configs)-1]
}

// cliWith runs the CLI on fakes in dir with env as the whole environment,
// so that the tester's own variables play no part.
func cliWith(t *testing.T, fs *fakeSandboxes, fm *fakeModels, env map[string]string, dir, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	f := newFactory(IO{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut, Dir: dir, Getenv: func(k string) string { return env[k] }})
	f.OpenSandbox, f.NewModel = fs.OpenSandbox, fm.NewModel
	code := mainWith(context.Background(), args, f)
	return code, out.String(), errOut.String()
}
