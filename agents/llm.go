package agents

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/agentteam/agentteam/model"
)

// LLM is an agent that answers with a model: the coder, the reviewer.
type LLM struct {
	name        string
	system      string
	model       model.Model
	modelName   string
	temperature *float32
	maxTokens   int
	budget      int // estimated tokens of history before old executor output is shortened
	observer    Observer
	visionDir   string // the workspace whose images the agent sees; "" for none (see WithVision)
}

// LLMOption configures an LLM agent.
type LLMOption func(*LLM)

// WithSampling sets the temperature (nil: the server's) and the longest reply (0: the server's).
func WithSampling(temperature *float32, maxTokens int) LLMOption {
	return func(a *LLM) { a.temperature, a.maxTokens = temperature, maxTokens }
}

// WithHistoryBudget sets the estimated token count (bytes/4) of the history
// above which old executor reports are shortened, oldest first.
func WithHistoryBudget(tokens int) LLMOption { return func(a *LLM) { a.budget = tokens } }

// WithObserver streams the agent's replies to o.
func WithObserver(o Observer) LLMOption { return func(a *LLM) { a.observer = o } }

// NewLLM returns an agent named name that answers with modelName on m.
func NewLLM(name, system string, m model.Model, modelName string, opts ...LLMOption) *LLM {
	a := &LLM{name: name, system: system, model: m, modelName: modelName, budget: 24000, observer: NopObserver{}}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Name is the agent's name.
func (a *LLM) Name() string { return a.name }

// Step asks the model for the agent's next message.
func (a *LLM) Step(ctx context.Context, history []Message) (Message, error) {
	start := time.Now()
	req := model.Request{
		Model:       a.modelName,
		Messages:    a.messages(history),
		Temperature: a.temperature,
		MaxTokens:   a.maxTokens,
		OnDelta:     func(d string) { a.observer.Delta(a.name, d) },
	}
	if ro, ok := a.observer.(ReasoningObserver); ok {
		req.OnReasoning = func(d string) { ro.Reasoning(a.name, d) }
	}
	reply, err := a.model.Complete(ctx, req)
	if err != nil {
		return Message{}, fmt.Errorf("%s: %w", a.name, err)
	}
	return Message{Agent: a.name, Content: reply.Content, Reasoning: reply.Reasoning, Usage: reply.Usage, Duration: time.Since(start)}, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// messages turns the history into chat messages: the agent's own turns are
// the assistant's, everyone else's are user turns under their name. Only
// contents are sent: reasoning stays out, as the servers that return it
// ask, and so that one agent never reads another's thinking.
func (a *LLM) messages(history []Message) []model.Message {
	history = shorten(history, a.budget)
	// Only the latest report gets its images: it is the one under review,
	// and older pictures would cost tokens on every turn.
	seen := -1
	if a.visionDir != "" {
		for i, m := range history {
			if len(m.Results) > 0 && m.Agent != a.name {
				seen = i
			}
		}
	}
	out := []model.Message{{Role: model.RoleSystem, Content: a.system}}
	for i, m := range history {
		if m.Agent == a.name {
			out = append(out, model.Message{Role: model.RoleAssistant, Content: m.Content})
			continue
		}
		msg := model.Message{Role: model.RoleUser, Name: unsafeName.ReplaceAllString(m.Agent, "_"), Content: m.Content}
		if i == seen {
			images, note := visionOf(a.visionDir, m.Results)
			msg.Content += note
			msg.Images = images
		}
		out = append(out, msg)
	}
	return out
}

// shorten bounds the history's size: while its estimate passes the budget,
// the oldest executor report not yet shortened keeps only its first and last
// lines. The latest report is never shortened: it is what the next turn is
// about.
func shorten(history []Message, budget int) []Message {
	size := 0
	for _, m := range history {
		size += len(m.Content) / 4
	}
	if budget <= 0 || size <= budget {
		return history
	}
	out := append([]Message(nil), history...)
	last := -1
	for i, m := range out {
		if len(m.Results) > 0 || strings.HasPrefix(m.Content, reportHeading) {
			last = i
		}
	}
	for i := range out {
		if size <= budget || i >= last {
			break
		}
		m := out[i]
		if !strings.HasPrefix(m.Content, reportHeading) || strings.Contains(m.Content, shortenedNote) {
			continue
		}
		before := len(m.Content) / 4
		out[i].Content = headTail(m.Content, 8, 8)
		size -= before - len(out[i].Content)/4
	}
	return out
}

const shortenedNote = "[... this old report was shortened to save space ...]"

func headTail(s string, head, tail int) string {
	lines := strings.Split(s, "\n")
	if len(lines) <= head+tail {
		if len(s) > 2000 {
			return s[:1000] + "\n" + shortenedNote + "\n" + s[len(s)-1000:]
		}
		return s
	}
	return strings.Join(lines[:head], "\n") + "\n" + shortenedNote + "\n" + strings.Join(lines[len(lines)-tail:], "\n")
}
