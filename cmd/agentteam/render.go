package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/agents/codeblock"
	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/transcript"
)

// runView shows a team run: live on a terminal (names in colour, replies
// as they stream, a spinner and the block's output while code runs), plain
// otherwise, one JSON object per event with --json, or only the summary
// with --quiet. Every text that came from a model or a program goes
// through safetext before it reaches a terminal.
type runView struct {
	mu       sync.Mutex
	w        io.Writer
	json     bool
	quiet    bool
	color    bool
	tty      bool
	current  string // agent whose reply is streaming
	streamed bool   // some of the current agent's reply was shown
	thinking bool   // the current agent's reasoning is being shown
	spin     chan struct{}
	spinWG   sync.WaitGroup
	spinText string      // the spinner's line as drawn; "" when none is
	live     *liveOutput // the running block's output shown so far (terminal only)
	carry    utf8Carry   // --json: a rune cut by the chunking, until its end comes
	line     *statusLine // the "waiting for …" line; nil: none shown
	waiting  *struct{}   // the wait being shown, nil for none
}

func newRunView(s IO, json, quiet bool) *runView {
	return &runView{w: s.Out, json: json, quiet: quiet, color: s.color(), tty: s.OutIsTTY}
}

var agentColor = map[string]string{"task": "1;37", "coder": "1;36", "executor": "1;33", "reviewer": "1;35"}

func (v *runView) paint(code, s string) string {
	if !v.color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (v *runView) header(agent string) {
	fmt.Fprintf(v.w, "\n%s\n", v.paint(agentColor[agent], "── "+agent+" "+strings.Repeat("─", max(3, 40-len(agent)))))
}

// turnOf starts agent's section unless it is already the current one.
func (v *runView) turnOf(agent string) {
	if v.current != agent {
		v.header(agent)
		v.current, v.streamed = agent, false
	}
}

// watch wraps an agent's model so that, on a terminal, the view shows
// "waiting for coder… 3.2s" from the request until the first token: a
// slow local model must not look hung.
func (v *runView) watch(agent string, m model.Model) model.Model {
	if !v.tty || v.json || v.quiet || v.line == nil {
		return m
	}
	return watchedModel{Model: m, agent: agent, v: v}
}

type watchedModel struct {
	model.Model
	agent string
	v     *runView
}

func (w watchedModel) Complete(ctx context.Context, req model.Request) (model.Reply, error) {
	w.v.startWaiting(w.agent)
	defer func() {
		w.v.mu.Lock()
		w.v.stopWaiting()
		w.v.mu.Unlock()
	}()
	return w.Model.Complete(ctx, req)
}

// startWaiting shows agent's header and a ticking line until stopWaiting.
func (v *runView) startWaiting(agent string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.stopWaiting()
	v.turnOf(agent)
	wait := &struct{}{}
	v.waiting = wait
	go func() {
		frames := []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
		start := time.Now()
		for i := 0; ; i++ {
			v.mu.Lock()
			if v.waiting != wait { // stopped: the line is already cleared
				v.mu.Unlock()
				return
			}
			v.line.set(fmt.Sprintf("%s waiting for %s… %.1fs", frames[i%len(frames)], agent, time.Since(start).Seconds()))
			v.mu.Unlock()
			time.Sleep(100 * time.Millisecond)
		}
	}()
}

// stopWaiting ends the wait shown, if any; v.mu is held.
func (v *runView) stopWaiting() {
	if v.waiting != nil {
		v.waiting = nil
		v.line.clear()
	}
}

// emit writes one JSON event line, stamped with the time as the
// transcript writes it.
func (v *runView) emit(ev map[string]any) {
	if _, ok := ev["time"]; !ok {
		ev["time"] = transcript.FormatTime(time.Now())
	}
	data, err := json.Marshal(ev)
	if err == nil {
		v.w.Write(append(data, '\n'))
	}
}

// Delta streams a piece of a model's reply.
func (v *runView) Delta(agent, text string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.json || v.quiet {
		return
	}
	v.stopWaiting()
	v.turnOf(agent)
	v.endThinking()
	v.streamed = true
	fmt.Fprint(v.w, safetext.Output(text))
}

// Reasoning streams a piece of a model's reasoning: dimmed in colour, else
// one "thinking…" line, so that it is never taken for the reply.
func (v *runView) Reasoning(agent, text string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.json || v.quiet {
		return
	}
	v.stopWaiting()
	v.turnOf(agent)
	switch {
	case v.color:
		if !v.thinking {
			fmt.Fprint(v.w, v.paint("2;3", "thinking…")+" \x1b[2m")
		}
		fmt.Fprint(v.w, safetext.Output(text))
	case !v.thinking:
		fmt.Fprintln(v.w, "thinking…")
	}
	v.thinking = true
}

// endThinking ends the reasoning shown, before the reply or an error.
func (v *runView) endThinking() {
	if v.thinking && v.color {
		fmt.Fprint(v.w, "\x1b[0m\n\n")
	}
	v.thinking = false
}

// Message ends a turn.
func (v *runView) Message(m agents.Message) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.json {
		ev := map[string]any{"type": "message", "agent": m.Agent, "content": m.Content, "usage": m.Usage,
			"duration_ms": m.Duration.Milliseconds()}
		if m.Reasoning != "" {
			ev["reasoning"] = m.Reasoning
		}
		if len(m.Declined) > 0 {
			ev["declined"] = m.Declined
		}
		v.emit(ev)
		return
	}
	if v.quiet {
		return
	}
	switch {
	case m.Agent == agents.UserName:
		v.header("task")
		fmt.Fprintln(v.w, safetext.Output(m.Content))
	case v.current == m.Agent && (v.streamed || len(m.Results) > 0): // shown already
		v.endThinking()
		fmt.Fprintln(v.w)
	case v.current == m.Agent: // its header is shown, its reply was not streamed
		v.endThinking()
		fmt.Fprintln(v.w, safetext.Output(m.Content))
	case len(m.Results) == 0: // not streamed (replay, or an executor with nothing to run)
		v.header(m.Agent)
		fmt.Fprintln(v.w, safetext.Output(m.Content))
	}
	v.current = ""
}

// BlockStart shows that a block runs.
func (v *runView) BlockStart(agent string, b codeblock.Block) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.json {
		// As the transcript's block_start: a consumer sees which block
		// the output events that follow belong to, and when it began.
		ev := map[string]any{"type": "block_start", "agent": agent, "index": b.Index + 1, "line": b.Line, "language": b.Language}
		if b.Filename != "" {
			ev["filename"] = b.Filename
		}
		v.emit(ev)
		return
	}
	if v.quiet {
		return
	}
	v.turnOf(agent)
	label := blockLabel(b)
	if !v.tty {
		fmt.Fprintf(v.w, "running %s\n", label)
		return
	}
	v.live = &liveOutput{}
	v.spin = make(chan struct{})
	v.spinWG.Add(1)
	go v.spinner(label, v.spin)
}

func (v *runView) spinner(label string, stop chan struct{}) {
	defer v.spinWG.Done()
	frames := []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
	start := time.Now()
	for i := 0; ; i++ {
		v.mu.Lock()
		v.printLive(v.live.due(time.Now(), false)) // a line without its end, shown once it waited
		v.spinText = fmt.Sprintf("%s running %s (%.1fs)", frames[i%len(frames)], label, time.Since(start).Seconds())
		fmt.Fprint(v.w, "\r"+v.spinText)
		v.mu.Unlock()
		select {
		case <-stop:
			v.mu.Lock()
			fmt.Fprint(v.w, "\r\x1b[2K")
			v.spinText = ""
			v.mu.Unlock()
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// BlockOutput shows a piece of a running block's output: on a terminal
// its whole lines above the spinner, escaped; with --json an "output"
// event. Plain text gets the output after the block, with its result.
func (v *runView) BlockOutput(agent string, b codeblock.Block, stream string, chunk []byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case v.json:
		v.emitOutput(agent, b, stream, v.carry.take(stream, chunk))
	case v.quiet || v.live == nil:
	default:
		v.printLive(v.live.add(stream, chunk, time.Now()))
	}
}

// emitOutput writes an "output" event; text is whole UTF-8 (encoding/json
// escapes its control characters).
func (v *runView) emitOutput(agent string, b codeblock.Block, stream, text string) {
	if text != "" {
		v.emit(map[string]any{"type": "output", "agent": agent, "index": b.Index + 1, "stream": stream, "text": text}) // as the block event
	}
}

// printLive prints lines of a running block above its spinner; v.mu is
// held.
func (v *runView) printLive(lines []liveLine) {
	if len(lines) == 0 {
		return
	}
	if v.spinText != "" {
		fmt.Fprint(v.w, "\r\x1b[2K")
	}
	for _, l := range lines {
		fmt.Fprintln(v.w, l.render(v.color))
	}
	if v.spinText != "" {
		fmt.Fprint(v.w, v.spinText)
	}
}

// BlockDone shows a block's result: what of its output was not shown
// live, then its status line, or, when nothing came live (plain text, or
// a sandbox that streams nothing), the status line, then its output.
func (v *runView) BlockDone(agent string, b codeblock.Block, r sandbox.Result) {
	if v.spin != nil {
		close(v.spin)
		v.spinWG.Wait()
		v.spin = nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	live := v.live
	v.live = nil
	if v.json {
		for _, stream := range []string{sandbox.Stdout, sandbox.Stderr} {
			v.emitOutput(agent, b, stream, v.carry.rest(stream))
		}
		v.emit(map[string]any{"type": "block", "agent": agent, "index": b.Index + 1, "result": r}) // numbered from 1, as on the screen
		return
	}
	if v.quiet {
		return
	}
	status := v.paint("32", "✓")
	if !r.OK() {
		status = v.paint("31", "✗")
	}
	label := blockLabel(b)
	if b.SaveOnly() && r.OK() {
		fmt.Fprintf(v.w, "%s %s · saved, not run\n", status, label)
		return
	}
	streams := []struct {
		name, text string
		total      int64
	}{{sandbox.Stdout, r.Stdout, r.StdoutBytes}, {sandbox.Stderr, r.Stderr, r.StderrBytes}}
	if live != nil {
		v.printLive(live.due(time.Now(), true))
		for _, s := range streams {
			if live.streamed(s.name) {
				for _, l := range live.restOf(s.name, s.text, s.total, v.color) {
					fmt.Fprintln(v.w, l)
				}
			}
		}
	}
	fmt.Fprintf(v.w, "%s %s · exit %d · %s", status, label, r.ExitCode, fmtMS(r.DurationMS))
	for _, f := range r.Flags() {
		fmt.Fprint(v.w, " · "+f)
	}
	fmt.Fprintln(v.w)
	for _, s := range streams {
		if s.text == "" || live != nil && live.streamed(s.name) {
			continue
		}
		lines := strings.Split(strings.TrimRight(safetext.Output(s.text), "\n"), "\n")
		if len(lines) > 20 {
			lines = append(append(lines[:10:10], v.paint("2", fmt.Sprintf("  [... %d lines ...]", len(lines)-20))), lines[len(lines)-10:]...)
		}
		fmt.Fprintln(v.w, v.paint("2", s.name+":"))
		for _, l := range lines {
			fmt.Fprintln(v.w, "  "+l)
		}
	}
	if r.Error != "" {
		fmt.Fprintln(v.w, v.paint("31", "sandbox: ")+safetext.Output(r.Error))
	}
}

// RunSummary is the last thing a run prints; with --json it is the
// "result" event.
type RunSummary struct {
	Type       string                 `json:"type"`
	Time       string                 `json:"time"` // transcript.TimeFormat; set when printed
	Approved   bool                   `json:"approved"`
	StopReason string                 `json:"stop_reason"`
	Turns      int                    `json:"turns"`
	Usage      map[string]model.Usage `json:"usage"`
	DurationMS int64                  `json:"duration_ms"`
	Workspace  string                 `json:"workspace"`
	Transcript string                 `json:"transcript"`
	Files      []string               `json:"files"` // sorted, at most maxFilesListed
	// FilesOmitted counts the files found beyond those in Files.
	FilesOmitted int `json:"files_omitted,omitempty"`
	// In a workspace that existed before the run (a reused --workspace, a
	// run continued), Files are those the team created or changed; it
	// deleted FilesDeleted and left FilesExisting as they were.
	FilesDeleted  []string `json:"files_deleted,omitempty"`
	FilesExisting int      `json:"files_existing,omitempty"`
	// LastExitCode is the exit code of the last block that ran, if any.
	LastExitCode *int   `json:"last_exit_code"`
	Engine       string `json:"engine,omitempty"` // batch: the engine the sandbox ran on
	Error        string `json:"error,omitempty"`
	ExitCode     int    `json:"exit_code"`
}

func (v *runView) Summary(s RunSummary) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.json {
		if s.Time == "" {
			s.Time = transcript.FormatTime(time.Now())
		}
		data, _ := json.Marshal(s)
		v.w.Write(append(data, '\n'))
		return
	}
	v.endThinking() // a model error may have cut the reasoning short
	fmt.Fprintln(v.w)
	switch {
	case s.Approved:
		fmt.Fprintln(v.w, v.paint("1;32", "✓ approved")+" · "+s.StopReason)
	case s.Error != "":
		fmt.Fprintln(v.w, v.paint("1;31", "✗ stopped by an error")+" · "+safetext.Output(s.Error))
	default:
		fmt.Fprintln(v.w, v.paint("1;33", "✗ not approved")+" · "+s.StopReason)
	}
	var tok []string
	for _, a := range []string{"coder", "reviewer"} {
		if u, ok := s.Usage[a]; ok {
			t := fmt.Sprintf("%s %d", a, u.TotalTokens)
			if !u.Known {
				t += " (partly unknown)"
			}
			tok = append(tok, t)
		}
	}
	if len(tok) == 0 {
		tok = append(tok, "none reported")
	}
	fmt.Fprintf(v.w, "%d turns · %s · tokens: %s\n", s.Turns, fmtMS(float64(s.DurationMS)), strings.Join(tok, ", "))
	if s.Workspace != "" { // "": removed, as the run never started
		fmt.Fprintf(v.w, "workspace %s", safetext.Name(s.Workspace))
		if names, more := shownNames(s.Files); len(names) > 0 {
			fmt.Fprintf(v.w, ": %s", strings.Join(names, ", "))
			if more += s.FilesOmitted; more > 0 {
				fmt.Fprintf(v.w, ", … and %d more", more)
			}
		}
		fmt.Fprintln(v.w, workspaceNote(s.FilesDeleted, s.FilesExisting))
	}
	fmt.Fprintf(v.w, "transcript %s\n", safetext.Name(s.Transcript))
}
