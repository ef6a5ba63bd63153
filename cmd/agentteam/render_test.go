package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/agents"
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
			want: `{"agent":"coder","content":"4","duration_ms":0,"reasoning":"Two and two.","type":"message","usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,"known":false}}` + "\n"},
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
			if out.String() != tc.want {
				t.Fatalf("output %q\nwant   %q", out.String(), tc.want)
			}
		})
	}
}
