package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/fake"
)

// lockedBuffer is a buffer that the CLI writes while a test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// talkingSandbox answers every block after a pause, its output (an OSC 52
// clipboard write among it) given live as the block starts, as a real
// block's would be while it runs.
func talkingSandbox(pause time.Duration) *fakeSandboxes {
	const out = "tick 1\n\x1b]52;c;cHduZWQ=\x07pwned\nno newline"
	return &fakeSandboxes{opener: fake.New(func(c sandbox.Code) fake.Step {
		return fake.Step{Delay: pause, Result: sandbox.Result{Language: c.Language, Stdout: out, StdoutBytes: int64(len(out)),
			Stderr: "warn\n", StderrBytes: 5}}
	})}
}

// cliBackground runs the CLI on fakes in the background, stdout a terminal
// without colour when tty is set; done gets its exit status.
func cliBackground(t *testing.T, fs *fakeSandboxes, fm *fakeModels, tty bool, stdin string, args ...string) (out *lockedBuffer, done <-chan int) {
	t.Helper()
	env := map[string]string{"OPENAI_API_KEY": "sk-test", "NO_COLOR": "1"}
	out = &lockedBuffer{}
	f := newFactory(IO{In: strings.NewReader(stdin), Out: out, ErrOut: io.Discard, OutIsTTY: tty, Dir: t.TempDir(),
		Getenv: func(k string) string { return env[k] }})
	f.OpenSandbox, f.NewModel = fs.OpenSandbox, fm.NewModel
	exit := make(chan int, 1)
	go func() { exit <- mainWith(context.Background(), args, f) }()
	return out, exit
}

// waitFor returns the output once it contains want, failing after a while.
func waitFor(t *testing.T, out *lockedBuffer, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if s := out.String(); strings.Contains(s, want) {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %q in the output:\n%s", want, out.String())
	return ""
}

const approvedReply = "```sh\necho tick\n```\n\nAPPROVE"

// TestLiveOutputOnATerminal: `run` and `exec` on a terminal show a
// block's output while it runs, escaped (the OSC 52 write as text, never
// the ESC byte), stderr marked, a line without its end when the block
// ends; and after the block only its status line, not the output again.
func TestLiveOutputOnATerminal(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		stdin  string
		status string // the block's status line begins so
	}{
		{"run", []string{"run", "--max-turns", "3", "task"}, "", "✓ block 1 · sh · exit 0"},
		{"exec", []string{"exec", "-"}, approvedReply, "✓ passed  exit 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, done := cliBackground(t, talkingSandbox(1500*time.Millisecond), &fakeModels{reply: approvedReply}, true, tc.stdin, tc.args...)
			waitFor(t, out, "  tick 1\n")
			during := waitFor(t, out, "pwned\n") // the second line may come a moment later
			if strings.Contains(during, tc.status) {
				t.Fatalf("the status line came with the first output: the output was not live:\n%s", during)
			}
			if !strings.Contains(during, `  \x1b]52;c;cHduZWQ=\x07pwned`+"\n") || !strings.Contains(during, "  ! warn\n") {
				t.Fatalf("output during the block, not escaped or not marked:\n%q", during)
			}
			if code := <-done; code != ExitOK {
				t.Fatalf("exit %d:\n%s", code, out.String())
			}
			all := out.String()
			if strings.Contains(all, "\x1b]52") || strings.Contains(all, "\x07") {
				t.Fatalf("a raw escape reached the terminal:\n%q", all)
			}
			for _, once := range []string{"tick 1", "pwned", "warn", "no newline"} {
				if n := strings.Count(all, once); n != 1 {
					t.Errorf("%q shown %d times:\n%s", once, n, all)
				}
			}
			end := strings.Index(all, "  no newline\n")
			if end < 0 || end > strings.Index(all, tc.status) || strings.Contains(all, "stdout:") {
				t.Fatalf("the line without its end is not shown before the status line, or the output is shown again:\n%s", all)
			}
		})
	}
}

// TestLiveOutputEvents: with --json a block's output comes as "output"
// events before its "block" event, whole UTF-8 with escapes JSON's; plain
// text and --quiet get nothing live, and plain text shows the output once,
// after the block, as it always did.
func TestLiveOutputEvents(t *testing.T) {
	out, done := cliBackground(t, talkingSandbox(0), &fakeModels{reply: approvedReply}, false, "", "run", "--json", "--max-turns", "3", "task")
	if code := <-done; code != ExitOK {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var ev struct {
			Type, Agent, Stream, Text string
			Index                     *int
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		switch ev.Type {
		case "output":
			got = append(got, ev.Agent+" "+ev.Stream+" "+ev.Text)
			if ev.Index == nil || *ev.Index != 1 {
				t.Errorf("output event without the block.s index (numbered from 1): %s", line)
			}
		case "block":
			got = append(got, "block")
		}
	}
	want := []string{"executor stdout tick 1\n\x1b]52;c;cHduZWQ=\x07pwned\nno newline", "executor stderr warn\n", "block"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("events %q, want %q", got, want)
	}
	if !strings.Contains(out.String(), `"text":"tick 1\n\u001b]52;c;cHduZWQ=\u0007pwned\nno newline"`) {
		t.Fatalf("the text is not JSON-escaped:\n%s", out.String())
	}

	for _, args := range [][]string{{"run", "--max-turns", "3", "task"}, {"run", "--quiet", "--max-turns", "3", "task"}} {
		out, done := cliBackground(t, talkingSandbox(0), &fakeModels{reply: approvedReply}, false, "", args...)
		if code := <-done; code != ExitOK {
			t.Fatalf("%q: exit %d:\n%s", args, code, out.String())
		}
		all := out.String()
		quiet := args[1] == "--quiet"
		if n := strings.Count(all, "tick 1"); quiet && n != 0 || !quiet && n != 1 {
			t.Fatalf("%q: the output shown %d times:\n%s", args, n, all)
		}
		if !quiet && strings.Index(all, "stdout:\n  tick 1") < strings.Index(all, "✓ block 1") {
			t.Fatalf("%q: plain text does not show the output after the block's status:\n%s", args, all)
		}
	}
}
