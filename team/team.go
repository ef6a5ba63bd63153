// Package team owns the conversation: a round-robin loop over any list of
// agents, and the conditions that end it (approval, turns, time, tokens,
// cancellation).
package team

import (
	"context"
	"errors"
	"time"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/model"
)

// Team is a list of agents that take turns, and when they stop.
type Team struct {
	Agents []agents.Agent
	Stop   Condition
	// Timeout bounds the whole conversation, the turn in progress included
	// (0: none).
	Timeout time.Duration
	// OnMessage sees each message as it is added, the task first.
	OnMessage func(m agents.Message)
	// History is an earlier conversation that this one continues: the
	// agents see it before the task, which is then the follow-up. It is
	// not passed to OnMessage (it was recorded when it happened) and
	// counts toward no turn or usage.
	History []agents.Message
}

// Result is how a conversation went.
type Result struct {
	Messages   []agents.Message       `json:"-"`
	StopReason string                 `json:"stop_reason"`
	Approved   bool                   `json:"approved"`
	Turns      int                    `json:"turns"`
	Usage      map[string]model.Usage `json:"usage"`
	Duration   time.Duration          `json:"-"`
}

// Warmer is an agent that can prepare ahead of its first turn (the
// executor starts its sandbox while the first model call runs).
type Warmer interface {
	Warm(ctx context.Context)
}

// Stop reasons that are not a condition's.
const (
	ReasonInterrupted = "interrupted"
	ReasonError       = "error"
)

// Run plays the agents in turn on task until a condition stops them, or
// an agent's turn ends with an agents.StopRun (its reason is then the stop
// reason, not approved, and no error). The error is for a turn that failed
// or a cancelled context; the Result then holds everything up to that
// point.
func (t *Team) Run(ctx context.Context, task string) (Result, error) {
	start := time.Now()
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, t.Timeout, errTimeout)
		defer cancel()
	}
	for _, a := range t.Agents {
		if w, ok := a.(Warmer); ok {
			w.Warm(ctx)
		}
	}
	res := Result{Usage: map[string]model.Usage{}, Messages: append([]agents.Message(nil), t.History...)}
	add := func(m agents.Message) {
		res.Messages = append(res.Messages, m)
		if m.Agent != agents.UserName && (m.Usage.Known || m.Usage.TotalTokens > 0) {
			res.Usage[m.Agent] = addUsage(res.Usage[m.Agent], m.Usage)
		}
		if t.OnMessage != nil {
			t.OnMessage(m)
		}
	}
	add(agents.Message{Agent: agents.UserName, Content: task})
	stop := t.Stop
	if stop == nil {
		stop = MaxTurns(len(t.Agents) * 4)
	}
	for i := 0; ; i = (i + 1) % len(t.Agents) {
		a := t.Agents[i]
		msg, err := a.Step(ctx, res.Messages)
		if msg.Agent != "" {
			res.Turns++
			add(msg)
		}
		res.Duration = time.Since(start)
		if err != nil {
			var stop *agents.StopRun
			switch {
			case errors.As(err, &stop): // a person chose to stop: not a failure
				res.StopReason = stop.Reason
				return res, nil
			case errors.Is(context.Cause(ctx), errTimeout):
				res.StopReason = "timeout (" + t.Timeout.String() + ") reached"
				return res, nil
			case ctx.Err() != nil:
				res.StopReason = ReasonInterrupted
				return res, ctx.Err()
			}
			res.StopReason = ReasonError
			return res, err
		}
		if st := stop.Check(State{Messages: res.Messages, Turns: res.Turns, Start: start, Tokens: tokens(res.Messages)}); st != nil {
			res.StopReason, res.Approved = st.Reason, st.Approved
			return res, nil
		}
	}
}

var errTimeout = errors.New("team timeout")

// addUsage sums usages; a message without a known usage adds nothing and
// leaves the total's Known as it was.
func addUsage(total, u model.Usage) model.Usage {
	known := total.Known || total.TotalTokens == 0
	s := total.Add(u)
	s.Known = known && u.Known
	return s
}
