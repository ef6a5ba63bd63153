package agents

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/agents/codeblock"
	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/fake"
)

// outputObserver records the executor's events in order, live output
// included.
type outputObserver struct {
	NopObserver
	events []string
}

func (o *outputObserver) BlockStart(agent string, b codeblock.Block) {
	o.events = append(o.events, fmt.Sprintf("start %s %d", agent, b.Index))
}

func (o *outputObserver) BlockOutput(agent string, b codeblock.Block, stream string, chunk []byte) {
	o.events = append(o.events, fmt.Sprintf("output %s %d %s %q", agent, b.Index, stream, chunk))
}

func (o *outputObserver) BlockDone(agent string, b codeblock.Block, res sandbox.Result) {
	o.events = append(o.events, fmt.Sprintf("done %s %d exit %d", agent, b.Index, res.ExitCode))
}

// TestExecutorPassesOutput: an observer that wants live output gets each
// block's chunks between its start and its end, named by block; the
// sandbox is asked for live output only for such an observer.
func TestExecutorPassesOutput(t *testing.T) {
	script := fake.Results(sandbox.Result{Stdout: "one\n"}, sandbox.Result{Stdout: "two", Stderr: "\x1b[31mwarn\n"})
	msg := history("```sh\necho one\n```\n```python\nprint('two')\n```")

	obs := &outputObserver{}
	if _, err := newExec(fake.New(script), WithExecObserver(obs)).Step(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"start executor 0", `output executor 0 stdout "one\n"`, "done executor 0 exit 0",
		"start executor 1", `output executor 1 stdout "two"`, `output executor 1 stderr "\x1b[31mwarn\n"`, "done executor 1 exit 0",
	}
	if strings.Join(obs.events, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(obs.events, "\n"), strings.Join(want, "\n"))
	}

	o := fake.New(fake.Results(sandbox.Result{Stdout: "one\n"}))
	if _, err := newExec(o, WithExecObserver(NopObserver{})).Step(context.Background(), history("```sh\necho one\n```")); err != nil {
		t.Fatal(err)
	}
	if codes := ran(o); len(codes) != 1 || codes[0].Output != nil {
		t.Fatalf("an observer without BlockOutput: the sandbox was asked for live output (%d blocks)", len(codes))
	}
}
