package agents

import (
	"context"
	"fmt"

	"github.com/agentteam/agentteam/agents/codeblock"
)

// Approver is asked before each block of a message runs or is saved
// (saving writes to the workspace too), so that a person can look at it
// first (agentteam run --approve). It is called from the executor's
// goroutine, one block at a time in the message's order, right before
// that block would run: it sees what the blocks before it did. It is never
// asked about a skipped block, nor about blocks left out after a failure.
// An error ends the executor's turn with it (a cancelled context, say).
type Approver func(ctx context.Context, ask Ask) (Decision, error)

// Ask is the block an Approver is asked about.
type Ask struct {
	Block codeblock.Block
	// Blocks counts the message's fenced blocks: Block is number
	// Block.Index+1 of Blocks, as the report numbers it.
	Blocks int
	// Left counts the blocks to run or save after this one, were they
	// all approved.
	Left int
}

// Action is what a person decided about a block.
type Action int

// The zero Action declines: a Decision left unset runs nothing.
const (
	Decline Action = iota // do not run this block; ask about the next one
	Run                   // run this block
	RunRest               // run this block and the rest of the message without asking
	Quit                  // run nothing more and end the conversation (StopRun)
)

// Decision is a person's answer about one block.
type Decision struct {
	Action Action
	// Note, with Decline, is the person's word to the coder: why not, or
	// what to do instead ("" for none). The report quotes it on one line,
	// escaped, as the user's words.
	Note string
}

// StopRun is the error of a turn that ends the conversation cleanly,
// without approval and without failing: a person chose to stop. The team
// records Reason as its stop reason; the turn's message, when it has one,
// is kept.
type StopRun struct{ Reason string }

func (s *StopRun) Error() string { return s.Reason }

// ReasonStoppedByUser is the stop reason of a person who quit at an
// Approver's question.
const ReasonStoppedByUser = "stopped by the user"

// maxNoteBytes bounds a person's note in a report: it is one line of
// advice, not a document.
const maxNoteBytes = 1000

// checkDecision rejects an Action the executor does not know, so that a
// mistaken Approver runs nothing by accident.
func checkDecision(d Decision) error {
	switch d.Action {
	case Decline, Run, RunRest, Quit:
		return nil
	}
	return fmt.Errorf("unknown approval action %d", d.Action)
}
