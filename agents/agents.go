// Package agents owns the members of a team: LLM agents (the coder and the
// reviewer: a system prompt and a model) and the executor, which runs the
// code blocks of the coder's latest message in the sandbox and reports the
// results in a form a model can read and cannot be fooled by. Subpackage
// codeblock reads those blocks out of a Markdown message.
package agents

import (
	"context"
	"time"

	"github.com/agentteam/agentteam/agents/codeblock"
	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/sandbox"
)

// UserName is the author of the task message.
const UserName = "user"

// Message is one turn of a conversation.
type Message struct {
	Agent   string `json:"agent"`
	Content string `json:"content"`
	// Reasoning is what the agent's model thought before it answered: for
	// people to read, never sent back to a model.
	Reasoning string           `json:"reasoning,omitempty"`
	Usage     model.Usage      `json:"usage"`
	Results   []sandbox.Result `json:"results,omitempty"` // the executor's blocks
	// Declined numbers the blocks (from 1 in the message, as reported) the
	// user declined to run: the executor's turn verified nothing of them.
	Declined []int         `json:"declined,omitempty"`
	Duration time.Duration `json:"-"`
}

// Agent takes a turn: given the conversation so far, it answers.
type Agent interface {
	Name() string
	Step(ctx context.Context, history []Message) (Message, error)
}

// Observer sees an agent's work as it happens; the CLI renders it. Its
// methods are called from the agent's goroutine and must not block long.
type Observer interface {
	Delta(agent, text string)
	BlockStart(agent string, block codeblock.Block)
	BlockDone(agent string, block codeblock.Block, res sandbox.Result)
}

// ReasoningObserver is an Observer that also sees a model's reasoning as
// it streams. It is apart so that an Observer need not care for it.
type ReasoningObserver interface {
	Reasoning(agent, text string)
}

// OutputObserver is an Observer that also sees a block's output while it
// runs: chunks of stream ("stdout" or "stderr") as the sandbox passes them
// on (see sandbox.Code.Output: untrusted bytes, cut anywhere, the first
// bytes of each stream only), all before the block's BlockDone. It is apart
// so that an Observer need not care for it.
type OutputObserver interface {
	BlockOutput(agent string, block codeblock.Block, stream string, chunk []byte)
}

// NopObserver ignores everything.
type NopObserver struct{}

func (NopObserver) Delta(string, string)                              {}
func (NopObserver) BlockStart(string, codeblock.Block)                {}
func (NopObserver) BlockDone(string, codeblock.Block, sandbox.Result) {}
