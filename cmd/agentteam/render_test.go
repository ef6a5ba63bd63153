package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/agents/codeblock"
	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/sandbox"
)

// TestRunViewReasoning: reasoning is shown dimmed in colour, as one
// "thinking…" line otherwise, in its own field with --json, and never as
// part of the reply.
func TestRunViewReasoning(t *testing.T) {
	rule := "── coder " + strings.Repeat("─", 35)
	cases := []struct {
		name        string
		color, json bool
		want        string
	}{
		{name: "colour", color: true,
			want: "\n\x1b[1;36m" + rule + "\x1b[0m\n\x1b[2;3mthinking…\x1b[0m \x1b[2mTwo and two.\x1b[0m\n\n4\n"},
		{name: "plain", want: "\n" + rule + "\nthinking…\n4\n"},
		{name: "json", json: true,
			want: `{"agent":"coder","content":"4","duration_ms":0,"reasoning":"Two and two.","time":"T","type":"message","usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,"known":false}}` + "\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			v := newRunView(IO{Out: &out}, tc.json, false)
			v.color, v.tty = tc.color, tc.color
			v.Reasoning("coder", "Two and ")
			v.Reasoning("coder", "two.")
			v.Delta("coder", "4")
			v.Message(agents.Message{Agent: "coder", Content: "4", Reasoning: "Two and two."})
			got := stamp.ReplaceAllString(out.String(), `"time":"T"`)
			if got != tc.want {
				t.Fatalf("output %q\nwant   %q", got, tc.want)
			}
		})
	}
}

// stamp matches an event's time, as a view writes it.
var stamp = regexp.MustCompile(`"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"`)

// slowModel answers after a pause, without streaming.
type slowModel struct{ pause time.Duration }

func (m slowModel) Complete(ctx context.Context, _ model.Request) (model.Reply, error) {
	time.Sleep(m.pause)
	return model.Reply{Content: "42"}, nil
}

// TestRunViewWaiting: on a terminal, the agent's header and a ticking
// "waiting for coder…" line show from the request until the reply, which
// is shown even though it was not streamed; off a terminal nothing ticks.
func TestRunViewWaiting(t *testing.T) {
	for _, tty := range []bool{true, false} {
		var out bytes.Buffer
		v := newRunView(IO{Out: &out}, false, false)
		v.tty, v.line = tty, &statusLine{w: &out}
		m := v.watch("coder", slowModel{pause: 350 * time.Millisecond})
		if _, err := m.Complete(context.Background(), model.Request{}); err != nil {
			t.Fatal(err)
		}
		v.Message(agents.Message{Agent: "coder", Content: "42"})
		got := out.String()
		if !tty {
			if _, wrapped := m.(watchedModel); wrapped || strings.Contains(got, "waiting") {
				t.Fatalf("off a terminal: %q", got)
			}
			continue
		}
		rule := "── coder " + strings.Repeat("─", 35)
		if !strings.HasPrefix(got, "\n"+rule+"\n\r⠋ waiting for coder… 0.0s\x1b[K") ||
			strings.Count(got, "waiting for coder…") < 2 /* it ticks */ || !strings.HasSuffix(got, "\r\x1b[2K42\n") {
			t.Fatalf("output %q", got)
		}
	}
}

// TestRunViewLiveOutputAboveTheSpinner: on a terminal a chunk's lines
// replace the spinner's line and the spinner is drawn again below them, so
// neither garbles the other; stderr is dimmed in colour.
func TestRunViewLiveOutputAboveTheSpinner(t *testing.T) {
	out := &lockedBuffer{}
	v := newRunView(IO{Out: out}, false, false)
	v.tty, v.color = true, true
	b := codeblock.Block{Language: "sh"}
	v.BlockStart("executor", b)
	waitFor(t, out, "running block 1 · sh (")
	v.BlockOutput("executor", b, "stdout", []byte("tick\n"))
	v.BlockOutput("executor", b, "stderr", []byte("warn\n"))
	got := out.String()
	spin := `. running block 1 · sh \([0-9.]+s\)(\r. running block 1 · sh \([0-9.]+s\))*` // it may tick meanwhile
	above := regexp.MustCompile(`\r\x1b\[2K  tick\n` + spin + `\r\x1b\[2K\x1b\[2m  warn\x1b\[0m\n` + spin + `$`)
	if !above.MatchString(got) {
		t.Fatalf("output %q", got)
	}
	v.BlockDone("executor", b, sandbox.Result{Language: "sh", Stdout: "tick\n", StdoutBytes: 5, Stderr: "warn\n", StderrBytes: 5})
	after := strings.TrimPrefix(out.String(), got)
	if !regexp.MustCompile(`^(\r` + spin + `)?\r\x1b\[2K\x1b\[32m✓\x1b\[0m block 1 · sh · exit 0 · 0 ms\n$`).MatchString(after) {
		t.Fatalf("after the block %q", after)
	}
}
