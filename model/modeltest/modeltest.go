// Package modeltest owns the conformance suite that every model.Model
// backend runs: the OpenAI-compatible client against the fake server, the
// scripted fake and the replay of a transcript must behave alike.
package modeltest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/model"
)

// Exchange is one call of the suite: the request it sends and the reply
// the backend under test must give.
type Exchange struct {
	Request model.Request
	Reply   model.Reply
}

// Factory returns the backend under test, primed to answer the exchanges
// in order.
type Factory func(t *testing.T, exchanges []Exchange) model.Model

func msgs(texts ...string) []model.Message {
	out := []model.Message{{Role: model.RoleSystem, Content: "You are a careful coder."}}
	for i, s := range texts {
		role := model.RoleUser
		if i%2 == 1 {
			role = model.RoleAssistant
		}
		out = append(out, model.Message{Role: role, Content: s})
	}
	return out
}

func known(p, c int) model.Usage {
	return model.Usage{PromptTokens: p, CompletionTokens: c, TotalTokens: p + c, Known: true}
}

// Run runs the suite against the backend newModel makes.
func Run(t *testing.T, newModel Factory) {
	long := strings.Repeat("print('héllo, 世界 ✓')\n", 5000)
	cases := []struct {
		name      string
		exchanges []Exchange
		stream    bool
	}{
		{name: "one reply", exchanges: []Exchange{{
			Request: model.Request{Model: "coder-model", Messages: msgs("Write hello world.")},
			Reply:   model.Reply{Content: "```python\nprint('hello')\n```", FinishReason: "stop", Usage: known(12, 9)},
		}}},
		{name: "streamed reply", stream: true, exchanges: []Exchange{{
			Request: model.Request{Model: "coder-model", Messages: msgs("Stream it.")},
			Reply:   model.Reply{Content: "Sure.\nHere it comes,\nline by line.\n", FinishReason: "stop", Usage: known(7, 11)},
		}}},
		{name: "replies in order", exchanges: []Exchange{
			{Request: model.Request{Model: "coder-model", Messages: msgs("one")}, Reply: model.Reply{Content: "first", FinishReason: "stop", Usage: known(3, 1)}},
			{Request: model.Request{Model: "coder-model", Messages: msgs("one", "first", "two")}, Reply: model.Reply{Content: "second", FinishReason: "stop", Usage: known(5, 1)}},
			{Request: model.Request{Model: "coder-model", Messages: msgs("one", "first", "two", "second", "three")}, Reply: model.Reply{Content: "third", FinishReason: "stop", Usage: known(7, 1)}},
		}},
		{name: "unknown usage", exchanges: []Exchange{{
			Request: model.Request{Model: "local-model", Messages: msgs("No usage, please.")},
			Reply:   model.Reply{Content: "ok", FinishReason: "stop"},
		}}},
		{name: "unknown usage streamed", stream: true, exchanges: []Exchange{{
			Request: model.Request{Model: "local-model", Messages: msgs("No usage, streamed.")},
			Reply:   model.Reply{Content: "still ok", FinishReason: "stop"},
		}}},
		{name: "cut by max tokens", exchanges: []Exchange{{
			Request: model.Request{Model: "coder-model", Messages: msgs("Go on and on."), MaxTokens: 5},
			Reply:   model.Reply{Content: "and on and", FinishReason: "length", Usage: known(4, 5)},
		}}},
		{name: "streamed reasoning", stream: true, exchanges: []Exchange{{
			Request: model.Request{Model: "reasoning-model", Messages: msgs("What is 2+2?")},
			Reply:   model.Reply{Content: "4", Reasoning: "Two and two make four.", FinishReason: "stop", Usage: known(6, 9)},
		}}},
		{name: "reasoning not streamed", exchanges: []Exchange{{
			Request: model.Request{Model: "reasoning-model", Messages: msgs("What is 3+3?")},
			Reply:   model.Reply{Content: "6", Reasoning: "Three and three make six.", FinishReason: "stop", Usage: known(6, 9)},
		}}},
		{name: "long unicode reply", stream: true, exchanges: []Exchange{{
			Request: model.Request{Model: "coder-model", Messages: msgs("Lots of text, ünïcödé.")},
			Reply:   model.Reply{Content: long, FinishReason: "stop", Usage: known(9, 40000)},
		}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newModel(t, tc.exchanges)
			for i, ex := range tc.exchanges {
				req := ex.Request
				var deltas, thoughts []string
				if tc.stream {
					req.OnDelta = func(d string) { deltas = append(deltas, d) }
					req.OnReasoning = func(d string) { thoughts = append(thoughts, d) }
				}
				got, err := m.Complete(context.Background(), req)
				if err != nil {
					t.Fatalf("call %d: %v", i+1, err)
				}
				if err := same(got, ex.Reply); err != nil {
					t.Fatalf("call %d: %v", i+1, err)
				}
				if tc.stream {
					if len(deltas) == 0 || strings.Join(deltas, "") != ex.Reply.Content {
						t.Fatalf("call %d: %d deltas joining to %d bytes, want the %d bytes of the reply", i+1, len(deltas), len(strings.Join(deltas, "")), len(ex.Reply.Content))
					}
					if strings.Join(thoughts, "") != ex.Reply.Reasoning {
						t.Fatalf("call %d: reasoning streamed as %q, want %q", i+1, thoughts, ex.Reply.Reasoning)
					}
				}
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		ex := Exchange{Request: model.Request{Model: "coder-model", Messages: msgs("never sent")}, Reply: model.Reply{Content: "x", FinishReason: "stop"}}
		m := newModel(t, []Exchange{ex})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := m.Complete(ctx, ex.Request)
		if model.KindOf(err) != model.KindCanceled {
			t.Fatalf("error %v of kind %q, want %q", err, model.KindOf(err), model.KindCanceled)
		}
	})
}

// same compares a reply with the expected one; usage only when known.
func same(got, want model.Reply) error {
	if got.Content != want.Content {
		return fmt.Errorf("content %q, want %q", clip(got.Content), clip(want.Content))
	}
	if got.Reasoning != want.Reasoning {
		return fmt.Errorf("reasoning %q, want %q", clip(got.Reasoning), clip(want.Reasoning))
	}
	if got.FinishReason != want.FinishReason {
		return fmt.Errorf("finish reason %q, want %q", got.FinishReason, want.FinishReason)
	}
	if got.Usage != want.Usage {
		return fmt.Errorf("usage %+v, want %+v", got.Usage, want.Usage)
	}
	return nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
