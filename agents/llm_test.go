package agents

import (
	"context"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/agents/codeblock"
	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/fake"
	"github.com/agentteam/agentteam/sandbox"
)

// thinkingObserver records what an agent streams.
type thinkingObserver struct{ deltas, thoughts strings.Builder }

func (o *thinkingObserver) Delta(_, text string)                              { o.deltas.WriteString(text) }
func (o *thinkingObserver) Reasoning(_, text string)                          { o.thoughts.WriteString(text) }
func (o *thinkingObserver) BlockStart(string, codeblock.Block)                {}
func (o *thinkingObserver) BlockDone(string, codeblock.Block, sandbox.Result) {}

// TestLLMReasoning: the reasoning streams to an observer that wants it and
// is kept on the message, but no model ever gets it back.
func TestLLMReasoning(t *testing.T) {
	m := fake.New(
		fake.Step{Reply: model.Reply{Content: "print(4)", Reasoning: "SECRET-THOUGHT two and two", FinishReason: "stop"}},
		fake.Step{Reply: model.Reply{Content: "print(5)", FinishReason: "stop"}},
	)
	obs := &thinkingObserver{}
	coder := NewLLM("coder", "You code.", m, "c", WithObserver(obs))
	history := []Message{{Agent: UserName, Content: "add"}}
	msg, err := coder.Step(context.Background(), history)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Content != "print(4)" || msg.Reasoning != "SECRET-THOUGHT two and two" ||
		obs.thoughts.String() != msg.Reasoning || obs.deltas.String() != msg.Content {
		t.Fatalf("message %+v, streamed %q and reasoning %q", msg, obs.deltas.String(), obs.thoughts.String())
	}
	history = append(history, msg, Message{Agent: "reviewer", Content: "again"})
	if _, err := coder.Step(context.Background(), history); err != nil {
		t.Fatal(err)
	}
	for _, req := range m.Requests() {
		for _, rm := range req.Messages {
			if strings.Contains(rm.Content, "SECRET-THOUGHT") {
				t.Fatalf("the reasoning was sent back to the model: %+v", req.Messages)
			}
		}
	}
	if got := m.Requests()[1].Messages; len(got) != 4 || got[2].Role != model.RoleAssistant || got[2].Content != "print(4)" {
		t.Fatalf("second request %+v", got)
	}
}
