package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/agentteam/agentteam/model/fakeserver"
	"github.com/agentteam/agentteam/sandbox/docker"
)

// TestMain lets this test binary be the agentteam program, so the scripts
// below run it as a user does: its own process, arguments, environment,
// standard streams and exit status. pty (pty_test.go) runs a program on
// a terminal, for the scripts that show what a person sees there.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"agentteam": main, "pty": ptyMain})
}

// fakeServerKey keeps a script's fake model server in its env.Values.
type fakeServerKey struct{}

// TestScripts runs testdata/script/*.txtar. A script's model.json, when it
// has one, is the fake model server's script (fakeserver.Script, the format
// of `agentteam fake-llm --script`), served for that script alone and
// reached through OPENAI_BASE_URL with no key. The coder model is "c" and
// the reviewer "r"; $REPO is the repository's root; [root] holds when the
// scripts run as root; [pty] when a pseudo-terminal can be opened (the
// `pty` program). AGENTTEAM_TEST_IMAGE, when set, is the sandbox image.
func TestScripts(t *testing.T) {
	requireDocker(t)
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Second)
	t.Cleanup(func() { assertNoOrphans(t, start) })
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("REPO", repo)
			env.Setenv("AGENTTEAM_CODER_MODEL", "c")
			env.Setenv("AGENTTEAM_REVIEWER_MODEL", "r")
			env.Setenv("AGENTTEAM_MODEL_RETRIES", "1")
			env.Setenv("OPENAI_API_KEY", "")
			// A work tree that changes the runner tests it in an image
			// of its own tag, as the sandbox's tests do.
			if image := os.Getenv("AGENTTEAM_TEST_IMAGE"); image != "" {
				env.Setenv("AGENTTEAM_IMAGE", image)
			}
			data, err := os.ReadFile(filepath.Join(env.WorkDir, "model.json"))
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			var script fakeserver.Script
			if err := json.Unmarshal(data, &script); err != nil {
				return fmt.Errorf("model.json: %w", err)
			}
			srv := fakeserver.New(script)
			env.Defer(srv.Close)
			env.Values[fakeServerKey{}] = srv
			env.Setenv("OPENAI_BASE_URL", srv.URL)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":    cmdExits,
			"requests": cmdRequests,
		},
		// [root]: agentteam runs as root, so the sandbox as a user of its own.
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "root":
				return os.Geteuid() == 0, nil
			case "pty":
				return ptyAvailable(), nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	})
}

// cmdExits runs a program and checks its exact exit status:
// exits STATUS PROGRAM [ARGS...]. (testscript's own `! exec` only says
// "not zero", and agentteam's statuses each mean something.)
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits STATUS PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad status %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// cmdRequests prints what the fake model server was asked for MODEL so
// far, one request a line: its messages as JSON, as they came over the
// wire (the transcript says what agentteam meant to send).
func cmdRequests(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: requests MODEL")
	}
	srv, ok := ts.Value(fakeServerKey{}).(*fakeserver.Server)
	if !ok {
		ts.Fatalf("requests: the script has no model.json")
	}
	for _, r := range srv.Requests() {
		if r.Model != args[0] {
			continue
		}
		data, err := json.Marshal(r.Messages)
		ts.Check(err)
		fmt.Fprintf(ts.Stdout(), "%s\n", data)
	}
}

// assertNoOrphans fails if a sandbox container created since start belongs
// to a process that has ended: the scripts' agentteam processes are all gone
// by now, so anything of theirs still there was left behind. (Other test
// binaries' containers belong to live processes.)
func assertNoOrphans(t *testing.T, start time.Time) {
	t.Helper()
	d, err := docker.New(context.Background(), docker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	waitNone(t, "sandbox containers outlived their agentteam process", func() []string {
		list, err := d.List(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		var orphans []string
		for _, c := range list {
			if c.Orphan && !c.Created.Before(start) {
				orphans = append(orphans, c.Name+" ("+c.State+")")
			}
		}
		return orphans
	})
}
