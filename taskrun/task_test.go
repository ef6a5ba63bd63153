package taskrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/fake"
	"github.com/agentteam/agentteam/sandbox"
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
