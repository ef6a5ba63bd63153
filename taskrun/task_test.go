package taskrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/fake"
	"github.com/agentteam/agentteam/sandbox"
	sbfake "github.com/agentteam/agentteam/sandbox/fake"
	"github.com/agentteam/agentteam/transcript"
)

// noSandbox is an opener for a team whose coder writes no block: the
// session started ahead of need fails, and nothing asks for it.
type noSandbox struct{}

func (noSandbox) NewSession(context.Context, string) (sandbox.Session, error) {
	return nil, errors.New("no sandbox here")
}

// TestFinish: Finish sees the outcome once the team has stopped, and its
// events land in the transcript just before the result.
func TestFinish(t *testing.T) {
	dir := t.TempDir()
	ws := filepath.Join(dir, "ws")
	if err := os.Mkdir(ws, 0o755); err != nil {
		t.Fatal(err)
	}
	var seen Outcome
	task := Task{Text: "say hi", Dir: ws, Transcript: filepath.Join(dir, "t.jsonl"),
		Coder: fake.Replies("hi"), Reviewer: fake.Replies("APPROVE"),
		Finish: func(o Outcome) []transcript.Event {
			seen = o
			return []transcript.Event{{Type: "changes", Extra: map[string]any{"n": 1}}}
		}}
	out, err := Run(t.Context(), noSandbox{}, Team{MaxTurns: 5}, task)
	if err != nil || out.Status != Approved || seen.Status != Approved || seen.Turns == 0 || seen.Turns != out.Turns {
		t.Fatalf("outcome %+v, err %v, Finish saw %+v", out, err, seen)
	}
	events, err := transcript.ReadFile(task.Transcript)
	if err != nil {
		t.Fatal(err)
	}
	n := len(events)
	if n < 3 || events[n-2].Type != "changes" || events[n-2].Extra["n"] != 1.0 || events[n-1].Type != EventResult {
		t.Fatalf("events %+v", events)
	}
}

// TestExplain: an error the team stopped with is said in the words
// Team.Explain gives, with the team's models, in the outcome and in the
// transcript's result; its kind stays reachable.
func TestExplain(t *testing.T) {
	dir := t.TempDir()
	task := Task{Text: "say hi", Dir: dir, Transcript: filepath.Join(dir, "t.jsonl"),
		Coder: fake.New(fake.Step{Err: &model.Error{Kind: model.KindAuth, Message: "no"}}), Reviewer: fake.Replies()}
	team := Team{MaxTurns: 5, CoderModel: "c", ReviewerModel: "r", Explain: func(err error, coder, reviewer string) error {
		return fmt.Errorf("%s and %s: %w", coder, reviewer, err)
	}}
	out, err := Run(t.Context(), noSandbox{}, team, task)
	if err == nil || !strings.HasPrefix(err.Error(), "c and r: coder: ") || out.Err != err || model.KindOf(err) != model.KindAuth {
		t.Fatalf("outcome %+v, err %v", out, err)
	}
	events, _ := transcript.ReadFile(task.Transcript)
	if n := len(events); n == 0 || events[n-1].Type != EventResult || events[n-1].Error != err.Error() {
		t.Fatalf("events %+v", events)
	}
}

// TestReadTasksProject: "project" is read as a string, and anything else
// is an error naming the line.
func TestReadTasksProject(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jsonl")
	os.WriteFile(good, []byte(`{"id": 1, "task": "t", "project": "../p"}`+"\n"), 0o644)
	items, err := ReadTasks(good)
	if err != nil || len(items) != 1 || items[0].Project != "../p" {
		t.Fatalf("items %+v, err %v", items, err)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"id": 1, "task": "t", "project": 3}`+"\n"), 0o644)
	if _, err := ReadTasks(bad); err == nil || !strings.Contains(err.Error(), `line 1: "project" must be a string`) {
		t.Fatalf("err %v", err)
	}
}

// TestBlockEvents: each block's start and end are in the transcript, in
// order between the coder's message and the executor's, numbered from 1
// among all the message's blocks as the report numbers them, with the
// language, file, exit code, duration and flags.
func TestBlockEvents(t *testing.T) {
	dir := t.TempDir()
	ws := filepath.Join(dir, "ws")
	if err := os.Mkdir(ws, 0o755); err != nil {
		t.Fatal(err)
	}
	code := "```\nprose\n```\n```python\n# filename: a.py\nprint(1)\n```\n```sh\nsleep 9\n```"
	sb := sbfake.New(sbfake.Results(sandbox.Result{ExitCode: 0, DurationMS: 12.5}, sandbox.Result{ExitCode: 137, TimedOut: true, DurationMS: 1000}))
	task := Task{Text: "run", Dir: ws, Transcript: filepath.Join(dir, "t.jsonl"), Coder: fake.Replies(code), Reviewer: fake.Replies("APPROVE")}
	if _, err := Run(t.Context(), sb, Team{MaxTurns: 3}, task); err != nil {
		t.Fatal(err)
	}
	events, err := transcript.ReadFile(task.Transcript)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		switch e.Type {
		case EventMessage:
			got = append(got, e.Type+":"+e.Agent)
		case EventBlockStart, EventBlock:
			data, _ := json.Marshal(e.Extra)
			got = append(got, fmt.Sprintf("%s:%s %s %v", e.Type, e.Agent, data, e.DurationMS))
		}
	}
	want := []string{
		"message:coder",
		`block_start:executor {"filename":"a.py","index":2,"language":"python","line":4} 0`,
		`block:executor {"exit_code":0,"filename":"a.py","index":2,"language":"python","line":4} 12.5`,
		`block_start:executor {"index":3,"language":"sh","line":8} 0`,
		`block:executor {"exit_code":137,"flags":["timed out"],"index":3,"language":"sh","line":8} 1000`,
		"message:executor",
		"message:reviewer",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
