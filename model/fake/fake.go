// Package fake owns a scripted model for unit tests: it answers from a list
// and records every request it was sent.
package fake

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/agentteam/agentteam/model"
)

// Step is one scripted answer: Err if set, else Reply, after Delay.
type Step struct {
	Reply model.Reply
	Err   error
	Delay time.Duration
}

// Model answers each call with the next Step. It is safe for concurrent use
// and implements model.Model.
type Model struct {
	mu       sync.Mutex
	steps    []Step
	next     int
	requests []model.Request
	estimate bool // Replies: fill in the usage from the request
}

// New returns a model that answers with steps, in order.
func New(steps ...Step) *Model {
	return &Model{steps: append([]Step(nil), steps...)}
}

// Replies returns a model that answers with contents, in order, each with
// FinishReason "stop", the requested model's name, and a known usage
// estimated at 4 bytes a token: prompt tokens from the total bytes of the
// request's message contents, completion tokens from the content's, each
// at least 1.
func Replies(contents ...string) *Model {
	m := &Model{estimate: true}
	for _, c := range contents {
		m.steps = append(m.steps, Step{Reply: model.Reply{Content: c, FinishReason: "stop"}})
	}
	return m
}

// Requests returns copies of every request received, in the order they
// arrived (Messages deep-copied, OnDelta nil).
func (m *Model) Requests() []model.Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]model.Request, len(m.requests))
	for i, r := range m.requests {
		out[i] = copyRequest(r)
	}
	return out
}

// Remaining returns how many scripted steps are left.
func (m *Model) Remaining() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.steps) - m.next
}

// Complete records req, then takes the next step (a call cancelled while
// it waits has still used its step), waits its Delay unless ctx is done
// first, and answers with it. With no step left it returns a
// model.KindReplayExhausted error; with ctx done, a model.KindCanceled one.
// A request with OnDelta gets the content in pieces split after each space,
// after the reasoning in the same way when it has OnReasoning.
func (m *Model) Complete(ctx context.Context, req model.Request) (model.Reply, error) {
	m.mu.Lock()
	m.requests = append(m.requests, copyRequest(req))
	if m.next >= len(m.steps) {
		m.mu.Unlock()
		return model.Reply{}, &model.Error{Kind: model.KindReplayExhausted, Message: "fake model: no scripted reply left"}
	}
	step := m.steps[m.next]
	m.next++
	estimate := m.estimate
	m.mu.Unlock()

	if step.Delay > 0 {
		t := time.NewTimer(step.Delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if err := ctx.Err(); err != nil {
		return model.Reply{}, &model.Error{Kind: model.KindCanceled, Message: "fake model: " + err.Error(), Err: err}
	}
	if step.Err != nil {
		return model.Reply{}, step.Err
	}
	reply := step.Reply
	if estimate {
		prompt := 0
		for _, msg := range req.Messages {
			prompt += len(msg.Content)
		}
		reply.Usage = model.Usage{
			PromptTokens:     max(prompt/4, 1),
			CompletionTokens: max(len(reply.Content)/4, 1),
			Known:            true,
		}
		reply.Usage.TotalTokens = reply.Usage.PromptTokens + reply.Usage.CompletionTokens
		if reply.Model == "" {
			reply.Model = req.Model
		}
	}
	if req.OnDelta != nil && req.OnReasoning != nil {
		for _, piece := range strings.SplitAfter(reply.Reasoning, " ") {
			if piece != "" {
				req.OnReasoning(piece)
			}
		}
	}
	if req.OnDelta != nil {
		for _, piece := range strings.SplitAfter(reply.Content, " ") {
			if piece != "" {
				req.OnDelta(piece)
			}
		}
	}
	return reply, nil
}

func copyRequest(r model.Request) model.Request {
	r.Messages = append([]model.Message(nil), r.Messages...)
	if r.Temperature != nil {
		t := *r.Temperature
		r.Temperature = &t
	}
	r.OnDelta, r.OnReasoning = nil, nil
	return r
}
