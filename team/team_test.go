package team

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/fake"
	"github.com/agentteam/agentteam/sandbox"
)

// scripted is an agent that answers from a list and sees the history.
type scripted struct {
	name    string
	replies []string
	seen    [][]agents.Message
	delay   time.Duration
	tokens  int
}

func (s *scripted) Name() string { return s.name }
func (s *scripted) Step(ctx context.Context, h []agents.Message) (agents.Message, error) {
	s.seen = append(s.seen, append([]agents.Message(nil), h...))
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return agents.Message{}, ctx.Err()
	}
	if len(s.replies) == 0 {
		return agents.Message{}, errors.New(s.name + ": out of replies")
	}
	r := s.replies[0]
	s.replies = s.replies[1:]
	return agents.Message{Agent: s.name, Content: r, Usage: model.Usage{TotalTokens: s.tokens, Known: s.tokens > 0}}, nil
}

func TestRun(t *testing.T) {
	cases := []struct {
		name     string
		coder    []string
		reviewer []string
		stop     Condition
		approved bool
		reason   string
		turns    int
	}{
		{"approved at once", []string{"code"}, []string{"Looks right.\nAPPROVE"}, AnyOf(Approval("reviewer", "APPROVE"), MaxTurns(9)), true, "reviewer said APPROVE", 3},
		{"approved on the second round", []string{"code", "fixed"}, []string{"broken", "**APPROVE**"}, AnyOf(Approval("reviewer", "APPROVE"), MaxTurns(9)), true, "reviewer said APPROVE", 6},
		{"APPROVE in a code block does not count", []string{"a", "b"}, []string{"```\nAPPROVE\n```", "> APPROVE"}, AnyOf(Approval("reviewer", "APPROVE"), MaxTurns(6)), false, "max turns (6) reached", 6},
		{"max turns", []string{"a", "b", "c"}, []string{"no", "no", "no"}, MaxTurns(4), false, "max turns (4) reached", 4},
		{"token budget", []string{"a", "b"}, []string{"no", "no"}, AnyOf(TokenBudget(25), MaxTurns(9)), false, "token budget (25) reached with 30 tokens", 4},
		{"all of", []string{"a", "b"}, []string{"APPROVE", "APPROVE"}, AllOf(Approval("reviewer", "APPROVE"), MaxTurns(6)), true, "reviewer said APPROVE and max turns (6) reached", 6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			coder := &scripted{name: "coder", replies: tc.coder, tokens: 10}
			exec := &scripted{name: "executor", replies: []string{"ran", "ran", "ran", "ran"}}
			reviewer := &scripted{name: "reviewer", replies: tc.reviewer, tokens: 10}
			var seen []string
			tm := &Team{Agents: []agents.Agent{coder, exec, reviewer}, Stop: tc.stop, OnMessage: func(m agents.Message) { seen = append(seen, m.Agent) }}
			res, err := tm.Run(context.Background(), "the task")
			if err != nil || res.Approved != tc.approved || res.StopReason != tc.reason || res.Turns != tc.turns {
				t.Fatalf("result %+v, err %v", res, err)
			}
			if len(seen) != tc.turns+1 || seen[0] != agents.UserName || seen[1] != "coder" || seen[2] != "executor" {
				t.Fatalf("messages seen in order %v", seen)
			}
			if got := reviewer.seen[0]; len(got) != 3 || got[0].Content != "the task" || got[2].Agent != "executor" {
				t.Fatalf("the reviewer saw %+v", got)
			}
			if res.Usage["coder"].TotalTokens == 0 || res.Usage["executor"].TotalTokens != 0 {
				t.Fatalf("usage per agent %+v", res.Usage)
			}
		})
	}
}

func TestRunStops(t *testing.T) {
	t.Run("timeout during a turn", func(t *testing.T) {
		slow := &scripted{name: "coder", replies: []string{"x"}, delay: 10 * time.Second}
		tm := &Team{Agents: []agents.Agent{slow}, Timeout: 200 * time.Millisecond}
		start := time.Now()
		res, err := tm.Run(context.Background(), "task")
		if err != nil || res.StopReason != "timeout (200ms) reached" || res.Approved || time.Since(start) > 5*time.Second {
			t.Fatalf("result %+v, err %v", res, err)
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		slow := &scripted{name: "coder", replies: []string{"x"}, delay: 10 * time.Second}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		res, err := (&Team{Agents: []agents.Agent{slow}}).Run(ctx, "task")
		if !errors.Is(err, context.Canceled) || res.StopReason != ReasonInterrupted || len(res.Messages) != 1 {
			t.Fatalf("result %+v, err %v", res, err)
		}
	})
	t.Run("an agent fails", func(t *testing.T) {
		broken := &scripted{name: "coder"}
		res, err := (&Team{Agents: []agents.Agent{broken}}).Run(context.Background(), "task")
		if err == nil || !strings.Contains(err.Error(), "out of replies") || res.StopReason != ReasonError {
			t.Fatalf("result %+v, err %v", res, err)
		}
	})
}

// TestLLMAgentsInATeam runs LLM agents on the scripted fake model and
// checks the prompts each model received.
func TestLLMAgentsInATeam(t *testing.T) {
	coderModel := fake.Replies("```python\nprint(1)\n```")
	reviewerModel := fake.Replies("It printed 1.\nAPPROVE")
	coder := agents.NewLLM("coder", "You write code.", coderModel, "c-model")
	reviewer := agents.NewLLM("reviewer", "You review.", reviewerModel, "r-model")
	exec := &scripted{name: "executor", replies: []string{"Execution report: all 1 block(s) ran and exited 0."}}
	res, err := (&Team{Agents: []agents.Agent{coder, exec, reviewer}, Stop: Approval("reviewer", "APPROVE")}).Run(context.Background(), "Print 1.")
	if err != nil || !res.Approved || res.Turns != 3 {
		t.Fatalf("result %+v, err %v", res, err)
	}
	rq := reviewerModel.Requests()[0]
	want := []model.Message{
		{Role: model.RoleSystem, Content: "You review."},
		{Role: model.RoleUser, Name: "user", Content: "Print 1."},
		{Role: model.RoleUser, Name: "coder", Content: "```python\nprint(1)\n```"},
		{Role: model.RoleUser, Name: "executor", Content: "Execution report: all 1 block(s) ran and exited 0."},
	}
	if rq.Model != "r-model" || len(rq.Messages) != len(want) {
		t.Fatalf("reviewer request %+v", rq)
	}
	for i := range want {
		if !reflect.DeepEqual(rq.Messages[i], want[i]) {
			t.Errorf("message %d = %+v, want %+v", i, rq.Messages[i], want[i])
		}
	}
	if cq := coderModel.Requests()[0]; cq.Messages[1].Role != model.RoleUser || cq.Model != "c-model" {
		t.Errorf("coder request %+v", cq)
	}
}

func TestMentionsOnOwnLine(t *testing.T) {
	cases := []struct {
		name string
		text string
		want bool
	}{
		{"alone", "APPROVE", true},
		{"spaces around", "All good.\n  APPROVE  \n", true},
		{"emphasis", "**APPROVE**", true},
		{"final period", "APPROVE.", true},
		{"inside a sentence", "I APPROVE of this", false},
		{"part of a word", "DISAPPROVE", false},
		{"backtick fence", "```\nAPPROVE\n```", false},
		{"tilde fence", "~~~\nAPPROVE\n~~~\n", false},
		{"quote", "> APPROVE", false},
		{"indented code", "    APPROVE", false},
		{"lower case", "approve", false},
		{"after a closed fence", "```python\nx\n```\nAPPROVE", true},
		{"4-backtick fence wraps a ``` line", "````markdown\n```\nAPPROVE\n```\n````\n", false},
		{"after a 4-backtick fence that wraps a ``` line", "````\n```\n````\nAPPROVE", true},
		{"4-tilde fence wraps a ~~~ line", "~~~~\n~~~\nAPPROVE\n~~~\n~~~~\n", false},
		{"tilde fence not closed by backticks", "~~~\n```\nAPPROVE\n~~~\n", false},
		{"after a tilde fence with backticks inside", "~~~\n```\n~~~\nAPPROVE", true},
		{"unclosed fence runs to the end", "Here:\n```sh\necho\n\nAPPROVE\n", false},
		{"fence line with text after does not close", "```\nx\n``` not a close\nAPPROVE", false},
		{"inline code at line start is not a fence", "```x``` is inline\nAPPROVE", true},
		{"CRLF after a closed fence", "```\r\nx\r\n```\r\nAPPROVE\r\n", true},
		{"CRLF inside a fence", "```\r\nAPPROVE\r\n```\r\n", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := MentionsOnOwnLine(tc.text, "APPROVE"); got != tc.want {
				t.Errorf("MentionsOnOwnLine(%q) = %v, want %v", tc.text, got, tc.want)
			}
		})
	}
}

// TestRunHistory: a continued conversation shows the agents the earlier
// messages before the follow-up, and neither reports them again nor counts
// them as turns.
func TestRunHistory(t *testing.T) {
	history := []agents.Message{{Agent: agents.UserName, Content: "task"}, {Agent: "coder", Content: "v1"}, {Agent: "reviewer", Content: "APPROVE"}}
	coder := &scripted{name: "coder", replies: []string{"v2"}}
	reviewer := &scripted{name: "reviewer", replies: []string{"APPROVE"}}
	var seen []string
	tm := &Team{Agents: []agents.Agent{coder, reviewer}, Stop: Approval("reviewer", "APPROVE"), History: history,
		OnMessage: func(m agents.Message) { seen = append(seen, m.Content) }}
	res, err := tm.Run(context.Background(), "follow-up")
	if err != nil || res.Turns != 2 || !res.Approved {
		t.Fatalf("res %+v, err %v", res, err)
	}
	var first []string
	for _, m := range coder.seen[0] {
		first = append(first, m.Content)
	}
	if got := strings.Join(first, "|"); got != "task|v1|APPROVE|follow-up" {
		t.Errorf("the coder saw %s", got)
	}
	if got := strings.Join(seen, "|"); got != "follow-up|v2|APPROVE" {
		t.Errorf("OnMessage saw %s", got)
	}
	if history[2].Content != "APPROVE" || len(history) != 3 {
		t.Errorf("the caller's history changed: %v", history)
	}
}

// TestApprovalAfterDecline: an APPROVE does not count while the user's
// latest say about code was to decline some of it: only a later turn that
// runs code makes it count again.
func TestApprovalAfterDecline(t *testing.T) {
	ran := agents.Message{Agent: "executor", Content: "ran", Results: make([]sandbox.Result, 1)}
	declined := agents.Message{Agent: "executor", Content: "declined", Declined: []int{1}}
	partly := agents.Message{Agent: "executor", Content: "one ran, one declined", Results: make([]sandbox.Result, 1), Declined: []int{2}}
	noCode := agents.Message{Agent: "executor", Content: "No code was run"}
	coder := agents.Message{Agent: "coder", Content: "code"}
	review := agents.Message{Agent: "reviewer", Content: "Not yet."}
	approve := agents.Message{Agent: "reviewer", Content: "APPROVE"}
	task := agents.Message{Agent: agents.UserName, Content: "task"}
	history := agents.Message{Agent: "executor", Content: "ran, read back from a transcript"} // no results
	for _, tc := range []struct {
		name     string
		messages []agents.Message
		approved bool
	}{
		{"code ran", []agents.Message{task, coder, ran, approve}, true},
		{"no code at all", []agents.Message{task, coder, noCode, approve}, true},
		{"all declined", []agents.Message{task, coder, declined, approve}, false},
		{"partly declined", []agents.Message{task, coder, partly, approve}, false},
		{"declined, then no code", []agents.Message{task, coder, declined, review, coder, noCode, approve}, false},
		{"declined, then code ran", []agents.Message{task, coder, declined, review, coder, ran, approve}, true},
		{"ran, then declined", []agents.Message{task, coder, ran, review, coder, declined, approve}, false},
		{"a decline in a continued conversation's history", []agents.Message{task, coder, declined, history, task, coder, noCode, approve}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := Approval("reviewer", "APPROVE").Check(State{Messages: tc.messages})
			if (st != nil) != tc.approved || (st != nil && (!st.Approved || st.Reason != "reviewer said APPROVE")) {
				t.Fatalf("stop %+v, want approved %v", st, tc.approved)
			}
		})
	}
}

// quitter is an executor whose person quits: its turn's message is kept
// and the run stops, not approved, without an error.
type quitter struct{}

func (quitter) Name() string { return "executor" }
func (quitter) Step(context.Context, []agents.Message) (agents.Message, error) {
	return agents.Message{Agent: "executor", Content: "the user stopped the run", Declined: []int{1}}, &agents.StopRun{Reason: agents.ReasonStoppedByUser}
}

func TestRunStoppedByUser(t *testing.T) {
	coder := &scripted{name: "coder", replies: []string{"code"}}
	reviewer := &scripted{name: "reviewer", replies: []string{"APPROVE"}}
	var seen []string
	tm := &Team{Agents: []agents.Agent{coder, quitter{}, reviewer}, Stop: AnyOf(Approval("reviewer", "APPROVE"), MaxTurns(9)),
		OnMessage: func(m agents.Message) { seen = append(seen, m.Agent) }}
	res, err := tm.Run(context.Background(), "task")
	if err != nil || res.Approved || res.StopReason != "stopped by the user" || res.Turns != 2 || len(reviewer.seen) != 0 {
		t.Fatalf("result %+v, err %v, the reviewer had %d turns", res, err, len(reviewer.seen))
	}
	if got := strings.Join(seen, " "); got != "user coder executor" {
		t.Fatalf("messages %s", got)
	}
}
