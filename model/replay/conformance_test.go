package replay

import (
	"testing"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/modeltest"
	"github.com/agentteam/agentteam/transcript"
)

func TestConformance(t *testing.T) {
	modeltest.Run(t, func(t *testing.T, exchanges []modeltest.Exchange) model.Model {
		var events []transcript.Event
		for _, ex := range exchanges {
			ev := transcript.Event{Type: transcript.TypeModelCall, Agent: "coder", Model: ex.Request.Model,
				Messages: ex.Request.Messages, Content: ex.Reply.Content, Reasoning: ex.Reply.Reasoning, FinishReason: ex.Reply.FinishReason}
			if ex.Reply.Usage.Known {
				u := ex.Reply.Usage
				ev.Usage = &u
			}
			events = append(events, ev)
		}
		return New(events).Model("coder")
	})
}
