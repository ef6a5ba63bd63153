package team

import (
	"fmt"
	"strings"
	"time"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/agents/codeblock"
)

// State is what a condition looks at after each turn.
type State struct {
	Messages []agents.Message // the task first
	Turns    int              // agent turns taken
	Start    time.Time
	Tokens   int // total tokens reported so far (unknown usage counts 0)
}

// Stop says why a conversation ends.
type Stop struct {
	Reason   string
	Approved bool
}

// Condition decides after each turn whether the conversation ends.
type Condition interface {
	Check(s State) *Stop
}

// ConditionFunc adapts a function to a Condition.
type ConditionFunc func(s State) *Stop

func (f ConditionFunc) Check(s State) *Stop { return f(s) }

// AnyOf stops when any of the conditions does, with the first one's reason.
func AnyOf(cs ...Condition) Condition {
	return ConditionFunc(func(s State) *Stop {
		for _, c := range cs {
			if st := c.Check(s); st != nil {
				return st
			}
		}
		return nil
	})
}

// AllOf stops when every condition does; the reasons are joined, and it is
// an approval if any of them is.
func AllOf(cs ...Condition) Condition {
	return ConditionFunc(func(s State) *Stop {
		var reasons []string
		approved := false
		for _, c := range cs {
			st := c.Check(s)
			if st == nil {
				return nil
			}
			reasons = append(reasons, st.Reason)
			approved = approved || st.Approved
		}
		return &Stop{Reason: strings.Join(reasons, " and "), Approved: approved}
	})
}

// MaxTurns stops after n agent turns.
func MaxTurns(n int) Condition {
	return ConditionFunc(func(s State) *Stop {
		if s.Turns >= n {
			return &Stop{Reason: fmt.Sprintf("max turns (%d) reached", n)}
		}
		return nil
	})
}

// TokenBudget stops once the reported tokens reach n.
func TokenBudget(n int) Condition {
	return ConditionFunc(func(s State) *Stop {
		if s.Tokens >= n {
			return &Stop{Reason: fmt.Sprintf("token budget (%d) reached with %d tokens", n, s.Tokens)}
		}
		return nil
	})
}

// Approval stops, approved, when agent's latest message has word alone on
// a line outside code blocks and quotes, unless the user declined a block
// since code last ran: the turn that declined verified nothing of what it
// declined, and a user who said no expects the run to go on (the coder
// then sees the note) rather than end "approved" on code nobody ran. The
// word counts again once a later turn has run code.
func Approval(agent, word string) Condition {
	return ConditionFunc(func(s State) *Stop {
		if len(s.Messages) == 0 {
			return nil
		}
		last := s.Messages[len(s.Messages)-1]
		if last.Agent == agent && MentionsOnOwnLine(last.Content, word) && !declinedSinceRun(s.Messages) {
			return &Stop{Reason: fmt.Sprintf("%s said %s", agent, word), Approved: true}
		}
		return nil
	})
}

// declinedSinceRun reports whether a turn declined a block after the last
// turn that ran code (one with results and nothing declined). Messages
// read back from a transcript carry no results, so a decline in an earlier
// part of a continued conversation holds until code runs in this one: the
// safe side.
func declinedSinceRun(msgs []agents.Message) bool {
	for i := len(msgs) - 1; i >= 0; i-- {
		switch m := msgs[i]; {
		case len(m.Declined) > 0:
			return true
		case len(m.Results) > 0:
			return false
		}
	}
	return false
}

// MentionsOnOwnLine reports whether word stands alone on a line of text
// (surrounding spaces, Markdown emphasis and a final period allowed), not
// inside a fenced code block, an indented code line or a quote. Fences are
// read by codeblock, so a word the sandbox would treat as code (e.g. inside
// a ```` fence that shows a ``` line) never counts as said.
func MentionsOnOwnLine(text, word string) bool {
	for _, line := range codeblock.ProseLines(text) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(line, "    ") || strings.HasPrefix(line, "\t") || strings.HasPrefix(trimmed, ">") {
			continue
		}
		if strings.Trim(trimmed, "*_`.!") == word {
			return true
		}
	}
	return false
}

// tokens sums the tokens the messages' model calls reported.
func tokens(msgs []agents.Message) int {
	n := 0
	for _, m := range msgs {
		n += m.Usage.TotalTokens
	}
	return n
}
