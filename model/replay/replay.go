// Package replay answers model calls from a recorded transcript, in order
// per agent, with no network, and says where a run diverges from the
// recording.
package replay

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/transcript"
)

// Replay holds the recorded model calls of a run, per agent. It is safe for
// concurrent use.
type Replay struct {
	mu        sync.Mutex
	calls     map[string][]transcript.Event // per agent, in recorded order
	next      map[string]int                // per agent, the next call to replay
	normalize func(string) string           // what a message is compared as
	anyImage  bool                          // images need only agree in number and type
}

// Option changes what a Replay tolerates.
type Option func(*Replay)

// IgnoreProgramOutput lets the program output that the executor's report
// fences (see Normalize) differ from the recording: a run whose code prints
// times, random numbers or addresses then replays. Everything outside the
// fences (exit codes, flags, the files a block touched, every other
// message) must still match. The images a reviewer with vision is shown
// are program output too: they need only agree in number and type.
func IgnoreProgramOutput() Option {
	return func(r *Replay) { r.normalize, r.anyImage = normalizeIgnoringOutput, true }
}

// New returns a Replay of events; only model_call events are used.
func New(events []transcript.Event, opts ...Option) *Replay {
	r := &Replay{calls: map[string][]transcript.Event{}, next: map[string]int{}, normalize: Normalize}
	for _, e := range events {
		if e.Type == transcript.TypeModelCall {
			r.calls[e.Agent] = append(r.calls[e.Agent], e)
		}
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Load returns a Replay of the transcript at path.
func Load(path string, opts ...Option) (*Replay, error) {
	events, err := transcript.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return New(events, opts...), nil
}

// Model returns a model that answers agent's calls in recorded order.
func (r *Replay) Model(agent string) model.Model {
	return &agentModel{r: r, agent: agent}
}

// Remaining returns, per agent, how many recorded calls have not been
// replayed; agents with none left are omitted.
func (r *Replay) Remaining() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for agent, calls := range r.calls {
		if n := len(calls) - r.next[agent]; n > 0 {
			out[agent] = n
		}
	}
	return out
}

type agentModel struct {
	r     *Replay
	agent string
}

// Complete answers with the agent's next recorded call, after checking that
// req asks what was recorded (see Normalize for the tolerance). A call that
// diverges is not consumed.
func (m *agentModel) Complete(ctx context.Context, req model.Request) (model.Reply, error) {
	if err := ctx.Err(); err != nil {
		return model.Reply{}, &model.Error{Kind: model.KindCanceled, Message: "replay: " + err.Error(), Err: err}
	}
	r := m.r
	r.mu.Lock()
	calls := r.calls[m.agent]
	i := r.next[m.agent]
	if i >= len(calls) {
		r.mu.Unlock()
		return model.Reply{}, &model.Error{
			Kind:    model.KindReplayExhausted,
			Message: fmt.Sprintf("the transcript has no recorded reply left for %s (it recorded %d call(s))", m.agent, len(calls)),
		}
	}
	e := calls[i]
	if msg := r.diverge(e.Messages, req.Messages); msg != "" {
		r.mu.Unlock()
		return model.Reply{}, &model.Error{
			Kind:    model.KindReplayDiverged,
			Message: fmt.Sprintf("%s call %d: %s (the run no longer asks what the transcript recorded)", m.agent, i+1, msg),
		}
	}
	r.next[m.agent] = i + 1
	r.mu.Unlock()

	if e.Error != "" || e.ErrorKind != "" {
		kind := model.Kind(e.ErrorKind)
		if kind == "" {
			kind = model.KindServer
		}
		return model.Reply{}, &model.Error{Kind: kind, Status: intExtra(e.Extra, transcript.ExtraStatus), Message: e.Error}
	}
	reply := model.Reply{Content: e.Content, Reasoning: e.Reasoning, FinishReason: e.FinishReason, Model: e.Model}
	if e.Usage != nil {
		reply.Usage = *e.Usage
	}
	if s, ok := e.Extra[transcript.ExtraReplyModel].(string); ok {
		reply.Model = s
	}
	if req.OnDelta != nil && req.OnReasoning != nil && reply.Reasoning != "" {
		req.OnReasoning(reply.Reasoning)
	}
	if req.OnDelta != nil {
		for _, piece := range strings.SplitAfter(reply.Content, "\n") {
			if piece != "" {
				req.OnDelta(piece)
			}
		}
	}
	return reply, nil
}

// intExtra returns extra[key] as an int: a number read back from JSON is a
// float64, one set in memory may be an int.
func intExtra(extra map[string]any, key string) int {
	switch v := extra[key].(type) {
	case float64:
		return int(v)
	case int:
		return v
	}
	return 0
}

// diverge returns where now differs from recorded, compared as r.normalize
// makes them, or "" when it does not.
func (r *Replay) diverge(recorded, now []model.Message) string {
	normalize := r.normalize
	for j := 0; j < min(len(recorded), len(now)); j++ {
		rec, cur := recorded[j], now[j]
		if rec.Role != cur.Role {
			return fmt.Sprintf("message %d is a %s message in the recording but a %s message now", j+1, rec.Role, cur.Role)
		}
		// Images first: a run with vision off differs in its text too, and
		// the missing images say why.
		if msg := r.imagesDiverge(rec.Images, cur.Images); msg != "" {
			return fmt.Sprintf("message %d (%s): %s", j+1, rec.Role, msg)
		}
		a, b := normalize(rec.Content), normalize(cur.Content)
		if a != b {
			ea, eb := excerpts(a, b)
			return fmt.Sprintf("message %d (%s) differs: recorded %q, now %q", j+1, rec.Role, ea, eb)
		}
	}
	switch {
	case len(now) > len(recorded):
		extra := now[len(recorded)]
		ex, _ := excerpts(normalize(extra.Content), "")
		return fmt.Sprintf("the recording has %d message(s) but the request has %d; message %d (%s) is new: %q",
			len(recorded), len(now), len(recorded)+1, extra.Role, ex)
	case len(now) < len(recorded):
		missing := recorded[len(now)]
		ex, _ := excerpts(normalize(missing.Content), "")
		return fmt.Sprintf("the recording has %d message(s) but the request has %d; message %d (%s) is missing: %q",
			len(recorded), len(now), len(now)+1, missing.Role, ex)
	}
	return ""
}

// imagesDiverge compares images by type and SHA-256 (a transcript holds no
// image bytes), or by type alone when any picture will do.
func (r *Replay) imagesDiverge(recorded, now []model.Image) string {
	if len(recorded) != len(now) {
		return fmt.Sprintf("the recording has %d image(s) but the request has %d (was vision on in one run and off in the other?)", len(recorded), len(now))
	}
	for i, rec := range recorded {
		cur := now[i]
		switch {
		case rec.MIME != cur.MIME:
			return fmt.Sprintf("image %d is %s in the recording but %s now", i+1, rec.MIME, cur.MIME)
		case !r.anyImage && rec.Digest() != cur.Digest():
			return fmt.Sprintf("image %d differs: recorded sha256 %.12s… (%d bytes), now %.12s… (%d bytes)",
				i+1, rec.Digest(), rec.Size, cur.Digest(), len(cur.Data))
		}
	}
	return ""
}

// Excerpt sizes, in runes: context kept before the first difference, and
// the most shown in all.
const (
	excerptBefore = 30
	excerptMax    = 80
)

// excerpts returns a window of a and of b around their first difference,
// each at most excerptMax runes plus "..." where cut.
func excerpts(a, b string) (string, string) {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	// Back up to the start of the rune holding the difference (the same
	// offset in both, as the bytes before i are equal).
	for i > 0 && ((i < len(a) && !utf8.RuneStart(a[i])) || (i < len(b) && !utf8.RuneStart(b[i]))) {
		i--
	}
	return window(a, i), window(b, i)
}

// window returns up to excerptMax runes of s starting excerptBefore runes
// before byte offset i (a rune start), marking cuts with "...".
func window(s string, i int) string {
	start := i
	for n := 0; n < excerptBefore && start > 0; n++ {
		_, size := utf8.DecodeLastRuneInString(s[:start])
		start -= size
	}
	end := start
	for n := 0; n < excerptMax && end < len(s); n++ {
		_, size := utf8.DecodeRuneInString(s[end:])
		end += size
	}
	out := s[start:end]
	if start > 0 {
		out = "..." + out
	}
	if end < len(s) {
		out += "..."
	}
	return out
}

var (
	// durationRE matches a number followed, after an optional space, by
	// "ms" or "s" as a whole word.
	durationRE = regexp.MustCompile(`\b\d+(?:\.\d+)? ?(?:ms|s)\b`)
	// runRE matches a run directory name.
	runRE = regexp.MustCompile(`run-\d{8}-\d{6}-[0-9a-fA-F]{6}\b`)
	// fenceRE matches the random nonce of the executor's output fences.
	fenceRE = regexp.MustCompile(`(<<<output |output )[0-9a-f]{8}( stdout| stderr|>>>)`)
	// fencedRE matches a fenced program output once Normalize has masked
	// the nonces: the opening line, the output, the closing marker.
	fencedRE = regexp.MustCompile(`(?s)(<<<output <nonce> (?:stdout|stderr)\n).*?(\n?output <nonce>>>>)`)
)

// normalizeIgnoringOutput is Normalize with the program output inside the
// executor's fences replaced by "<output>".
func normalizeIgnoringOutput(s string) string {
	return fencedRE.ReplaceAllString(Normalize(s), "${1}<output>${2}")
}

// Normalize returns s with the differences a replay tolerates removed, so
// that a message that differs from the recording only in them still
// matches:
//
//   - line endings: CRLF and a lone CR become LF;
//   - spaces and tabs at the end of each line are removed;
//   - blank lines at the start and end are removed;
//   - durations, a number (12, 1.5, 0.25) followed by an optional space and
//     "ms" or "s" as a whole word ("12 ms", "1.5s", "0.25 s", "340ms"),
//     become "<duration>" ("5 seconds", "12 msg" and a bare "12" do not);
//   - run directory names, run-YYYYMMDD-HHMMSS-xxxxxx with 6 hex digits,
//     become "<run>";
//   - the random nonce of the executor's output fences ("<<<output 1a2b3c4d
//     stdout", "output 1a2b3c4d>>>") becomes "<nonce>".
//
// Nothing else is masked: any other difference is a divergence.
func Normalize(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	for len(lines) > 0 && lines[0] == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	s = strings.Join(lines, "\n")
	s = runRE.ReplaceAllString(s, "<run>")
	s = fenceRE.ReplaceAllString(s, "${1}<nonce>${2}")
	return durationRE.ReplaceAllString(s, "<duration>")
}
