package agents

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/agentteam/agentteam/agents/codeblock"
	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/workspace"
)

// reportHeading starts every executor report (shorten finds them by it).
const reportHeading = "Execution report"

// Executor runs the code blocks of the latest message of another agent in
// one sandbox session for the whole conversation.
type Executor struct {
	name      string
	start     func(ctx context.Context) (sandbox.Session, error)
	approve   Approver
	observers []Observer

	once    sync.Once
	ready   chan struct{}
	session sandbox.Session
	err     error
}

// ExecutorOption configures an Executor.
type ExecutorOption func(*Executor)

// WithApprover asks approve before running any block.
func WithApprover(approve Approver) ExecutorOption { return func(e *Executor) { e.approve = approve } }

// WithExecObserver reports blocks as they start and end. Given more than
// once, every observer sees every block, in the order they were given (a
// view and a transcript, say).
func WithExecObserver(o Observer) ExecutorOption {
	return func(e *Executor) { e.observers = append(e.observers, o) }
}

// NewExecutor returns an executor that opens its sandbox session with start.
func NewExecutor(name string, start func(ctx context.Context) (sandbox.Session, error), opts ...ExecutorOption) *Executor {
	e := &Executor{name: name, start: start, ready: make(chan struct{})}
	for _, o := range opts {
		o(e)
	}
	return e
}

// Name is the agent's name.
func (e *Executor) Name() string { return e.name }

// Warm starts the sandbox session in the background, so that its start-up
// overlaps the first model call.
func (e *Executor) Warm(ctx context.Context) {
	e.once.Do(func() {
		go func() {
			defer close(e.ready)
			e.session, e.err = e.start(ctx)
		}()
	})
}

// Session waits for the sandbox session.
func (e *Executor) Session(ctx context.Context) (sandbox.Session, error) {
	e.Warm(ctx)
	select {
	case <-e.ready:
		return e.session, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Started returns the sandbox session if it has started, without waiting.
func (e *Executor) Started() sandbox.Session {
	select {
	case <-e.ready:
		return e.session
	default:
		return nil
	}
}

// Close removes the sandbox session, waiting for it if it is still
// starting. It runs on its own context: cleanup happens after Ctrl-C too.
func (e *Executor) Close(ctx context.Context) error {
	started := false
	e.once.Do(func() { close(e.ready) }) // never started: nothing to close
	select {
	case <-e.ready:
		started = e.session != nil
	case <-ctx.Done():
		return ctx.Err()
	}
	if !started {
		return nil
	}
	return e.session.Close(ctx)
}

// Step runs the blocks of the latest message that is not its own, in
// order until one fails, asking the Approver (if any) before each. Its
// message reports every block it ran or was told not to; after a Quit it
// returns that message with a *StopRun.
func (e *Executor) Step(ctx context.Context, history []Message) (Message, error) {
	start := time.Now()
	var last *Message
	for i := len(history) - 1; i >= 0; i-- {
		if history[i].Agent != e.name {
			last = &history[i]
			break
		}
	}
	if last == nil {
		return Message{Agent: e.name, Content: "There is no message with code to run yet."}, nil
	}
	blocks := codeblock.Extract(last.Content)
	todo := slices.DeleteFunc(slices.Clone(blocks), skipped)
	if len(todo) == 0 {
		return Message{Agent: e.name, Content: noCode(blocks), Duration: time.Since(start)}, nil
	}
	r := execReport{all: blocks, todo: len(todo)}
	msg := func() Message {
		return Message{Agent: e.name, Content: r.String(), Results: r.results(), Declined: r.declined(), Duration: time.Since(start)}
	}
	ask := e.approve != nil
	var sess sandbox.Session
	for i, b := range todo {
		if ask {
			d, err := e.approve(ctx, Ask{Block: b, Blocks: len(blocks), Left: len(todo) - i - 1})
			if err == nil {
				err = checkDecision(d)
			}
			if err != nil {
				if len(r.done) == 0 {
					return Message{}, fmt.Errorf("%s: ask for approval: %w", e.name, err)
				}
				r.stop(b, "the turn was interrupted")
				return msg(), fmt.Errorf("%s: ask for approval: %w", e.name, err)
			}
			switch d.Action {
			case Decline:
				r.done = append(r.done, blockOutcome{block: b, declined: true, note: d.Note})
				continue
			case Quit:
				r.stop(b, "the user stopped the run")
				return msg(), &StopRun{Reason: ReasonStoppedByUser}
			case RunRest:
				ask = false
			}
		}
		if sess == nil {
			var err error
			if sess, err = e.Session(ctx); err != nil {
				return Message{}, fmt.Errorf("%s: %w", e.name, err)
			}
		}
		for _, o := range e.observers {
			o.BlockStart(e.name, b)
		}
		code := SandboxCode(b)
		for _, o := range e.observers {
			if oo, ok := o.(OutputObserver); ok {
				prev := code.Output
				code.Output = func(stream string, chunk []byte) {
					if prev != nil {
						prev(stream, chunk)
					}
					oo.BlockOutput(e.name, b, stream, chunk)
				}
			}
		}
		res, err := sess.Run(ctx, code)
		for _, o := range e.observers {
			o.BlockDone(e.name, b, res)
		}
		r.done = append(r.done, blockOutcome{block: b, result: res})
		if err != nil {
			return msg(), fmt.Errorf("%s: %w", e.name, err)
		}
		if !res.OK() {
			break
		}
	}
	return msg(), nil
}

// SandboxCode is what the sandbox is given for a block to run or save: a
// SaveOnly block is saved under its filename, without the line naming it,
// and not run.
func SandboxCode(b codeblock.Block) sandbox.Code {
	if b.SaveOnly() {
		return sandbox.Code{Language: b.Language, Source: b.FileContents(), Filename: b.Filename, SaveOnly: true}
	}
	return sandbox.Code{Language: b.Language, Source: b.Code, Filename: b.Filename}
}

// skipped reports whether a block is neither run nor saved.
func skipped(b codeblock.Block) bool { return b.SkipReason() != "" }

// language names a block's language for a report: "untagged" when it has
// none, escaped since a tag is the model's text.
func language(b codeblock.Block) string {
	if b.Language == "" {
		return "untagged"
	}
	return safetext.Name(b.Language)
}

func noCode(blocks []codeblock.Block) string {
	var b strings.Builder
	b.WriteString("No code was run: the last message has no code block tagged python, sh, bash or javascript, and no block that names a file to save.")
	for _, bl := range blocks {
		fmt.Fprintf(&b, "\n- block %d was skipped: %s", bl.Index+1, bl.SkipReason())
	}
	b.WriteString("\nTo run code, put it in a fenced block tagged python, sh, bash or javascript. " +
		"To save a file of another kind (html, json, ...), make the block's first line a comment naming it, such as \"# filename: NAME\" or \"<!-- filename: NAME -->\".")
	return b.String()
}

// blockOutcome is what became of one block: run (or saved), or declined.
type blockOutcome struct {
	block    codeblock.Block
	result   sandbox.Result // when run
	declined bool
	note     string // the person's, with declined
}

// execReport is what the executor did with a message's blocks.
type execReport struct {
	all  []codeblock.Block // every fenced block of the message
	todo int               // those to run or save
	done []blockOutcome    // in order
	// stopAt is the block at which the turn stopped before a failure
	// could, and stopWhy why ("the user stopped the run"); nil when none.
	stopAt  *codeblock.Block
	stopWhy string
}

func (r *execReport) stop(at codeblock.Block, why string) { r.stopAt, r.stopWhy = &at, why }

// results are the results of the blocks run, in order.
func (r *execReport) results() []sandbox.Result {
	var out []sandbox.Result
	for _, o := range r.done {
		if !o.declined {
			out = append(out, o.result)
		}
	}
	return out
}

// declined are the numbers of the blocks declined (from 1, as reported).
func (r *execReport) declined() []int {
	var out []int
	for _, o := range r.done {
		if o.declined {
			out = append(out, o.block.Index+1)
		}
	}
	return out
}

// String describes what ran for a model, each block by its number in the
// message (from 1, as the views and the transcript number it). Program
// output is fenced between markers carrying a random nonce, so output
// cannot close the fence and pose as the executor's own words; control
// characters are escaped, and so is a person's note.
func (r *execReport) String() string {
	nonce := newNonce()
	var b strings.Builder
	var failed *codeblock.Block
	ran, saved, declined, notes := 0, 0, 0, 0
	for _, o := range r.done {
		switch {
		case o.declined:
			declined++
			if o.note != "" {
				notes++
			}
		case !o.result.OK() && failed == nil:
			failed = &o.block
			ran++
		default:
			ran++
			if o.block.SaveOnly() {
				saved++
			}
		}
	}
	switch {
	case failed != nil:
		fmt.Fprintf(&b, "%s: block %d of %d failed.\n", reportHeading, failed.Index+1, len(r.all))
	case r.stopAt != nil:
		fmt.Fprintf(&b, "%s: %s at block %d of %d.\n", reportHeading, r.stopWhy, r.stopAt.Index+1, len(r.all))
	case declined > 0 && ran == 0:
		fmt.Fprintf(&b, "%s: the user declined all %d block(s); nothing was run or saved.\n", reportHeading, declined)
	case declined > 0:
		fmt.Fprintf(&b, "%s: the user declined %d block(s); of the other %d, %s.\n", reportHeading, declined, ran, doneSummary(ran, saved))
	case saved == 0:
		fmt.Fprintf(&b, "%s: all %d block(s) ran and exited 0.\n", reportHeading, ran)
	case saved == ran:
		fmt.Fprintf(&b, "%s: all %d block(s) saved, none run.\n", reportHeading, saved)
	default:
		fmt.Fprintf(&b, "%s: all %d block(s) done: %d ran and exited 0, %d saved.\n", reportHeading, ran, ran-saved, saved)
	}
	var files fileReport
	for _, o := range r.done {
		blk, res := o.block, o.result
		fmt.Fprintf(&b, "\nBlock %d (%s", blk.Index+1, language(blk))
		if blk.Filename != "" {
			fmt.Fprintf(&b, ", saved as %s", safetext.Name(blk.Filename))
		}
		switch {
		case o.declined && blk.SaveOnly():
			b.WriteString("): declined by the user, not saved\n")
		case o.declined:
			b.WriteString("): declined by the user, not run\n")
		}
		if o.declined {
			if o.note != "" {
				fmt.Fprintf(&b, "Note from the user: \"%s\"\n", safetext.Line(truncate(o.note, maxNoteBytes)))
			}
			continue
		}
		switch {
		case blk.SaveOnly() && res.OK():
			b.WriteString("): saved, not run\n")
			files.add(res.Files)
			continue
		case blk.SaveOnly():
			b.WriteString("): not saved")
		default:
			fmt.Fprintf(&b, "): exit code %d", res.ExitCode)
		}
		flags := res.Flags()
		if len(flags) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(flags, ", "))
		}
		b.WriteString("\n")
		if res.Error != "" {
			fmt.Fprintf(&b, "sandbox: %s\n", safetext.Output(res.Error))
		}
		for _, s := range []struct{ name, text string }{{"stdout", res.Stdout}, {"stderr", res.Stderr}} {
			if s.text == "" {
				continue
			}
			fmt.Fprintf(&b, "<<<output %s %s\n%s\noutput %s>>>\n", nonce, s.name, strings.TrimRight(safetext.Output(s.text), "\n"), nonce)
		}
		if res.Stdout == "" && res.Stderr == "" && !blk.SaveOnly() {
			b.WriteString("(no output)\n")
		}
		writeEgress(&b, res.Egress)
		files.add(res.Files)
	}
	if left := r.todo - len(r.done); left > 0 {
		switch {
		case failed != nil:
			fmt.Fprintf(&b, "\nThe remaining %d block(s) were not run or saved because block %d failed.\n", left, failed.Index+1)
		case r.stopAt != nil:
			fmt.Fprintf(&b, "\nThe remaining %d block(s), from block %d on, were not run or saved: %s.\n", left, r.stopAt.Index+1, r.stopWhy)
		}
	}
	if declined > 0 {
		// For both models: the coder must change course, and the reviewer
		// has nothing to approve (team.Approval holds to it).
		b.WriteString("\nDeclined blocks did not run, so nothing in them is verified: an approval counts only once code has run again.")
		if notes > 0 {
			b.WriteString(" Follow the user's notes.")
		}
		b.WriteString("\n")
	}
	for _, bl := range r.all {
		if skipped(bl) {
			fmt.Fprintf(&b, "\nSkipped block (line %d): %s\n", bl.Line, bl.SkipReason())
		}
	}
	files.write(&b)
	return strings.TrimRight(b.String(), "\n")
}

// doneSummary says how ran blocks, saved of them, ended, none failing.
func doneSummary(ran, saved int) string {
	switch saved {
	case 0:
		return fmt.Sprintf("%d ran and exited 0", ran)
	case ran:
		return fmt.Sprintf("%d saved, none run", saved)
	}
	return fmt.Sprintf("%d ran and exited 0, %d saved", ran-saved, saved)
}

// truncate cuts s to at most n bytes, at a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// fileReport gathers the files the blocks changed, for the report.
type fileReport struct {
	created, modified, deleted []string
	links                      map[string]bool
	omitted                    int
	sanitized                  []string
	sanitizedCount             int
	sanitizedUnlisted          int // counted but not named by the workspace's caps
}

func (f *fileReport) add(c workspace.Changes) {
	f.created = append(f.created, visible(c.Created)...)
	f.modified = append(f.modified, visible(c.Modified)...)
	f.deleted = append(f.deleted, visible(c.Deleted)...)
	f.omitted += c.Omitted
	for _, l := range c.Links {
		if f.links == nil {
			f.links = map[string]bool{}
		}
		f.links[l] = true
	}
	f.sanitized = append(f.sanitized, c.Sanitized...)
	f.sanitizedCount += c.SanitizedCount
	f.sanitizedUnlisted += max(0, c.SanitizedCount-len(c.Sanitized))
}

// write lists the files, each name escaped to one line (a name is printed
// outside any fence, so a newline in it must never start a line of its
// own), within the workspace package's caps again since several blocks'
// lists add up.
func (f *fileReport) write(b *strings.Builder) {
	var left workspace.ListBudget
	more := f.omitted
	for _, l := range []struct {
		what  string
		names []string
	}{{"created", f.created}, {"modified", f.modified}, {"deleted", f.deleted}} {
		if len(l.names) == 0 {
			continue
		}
		shown, n := takeNames(&left, l.names, func(name string) string {
			if l.what != "deleted" && f.links[name] {
				return safetext.Name(name) + " (symlink)"
			}
			return safetext.Name(name)
		})
		more += n
		if len(shown) > 0 {
			fmt.Fprintf(b, "\nFiles %s in /workspace: %s\n", l.what, strings.Join(shown, ", "))
		}
	}
	if more > 0 {
		fmt.Fprintf(b, "… and %d more changed files in /workspace, not listed.\n", more)
	}
	if f.sanitizedCount > 0 {
		fmt.Fprintf(b, "\nPermissions reset on %d entries in /workspace (setuid, setgid, sticky and world-write bits removed)", f.sanitizedCount)
		// A budget of their own: these matter more than the file lists.
		var own workspace.ListBudget
		shown, dropped := takeNames(&own, slices.Compact(slices.Sorted(slices.Values(f.sanitized))), func(name string) string {
			if name == "." {
				return "/workspace itself"
			}
			return safetext.Name(name)
		})
		if len(shown) > 0 {
			fmt.Fprintf(b, ": %s", strings.Join(shown, ", "))
		}
		if n := f.sanitizedUnlisted + dropped; n > 0 && len(shown) > 0 {
			fmt.Fprintf(b, " … and %d more", n)
		}
		b.WriteString(".\n")
	}
}

// takeNames renders names with show while they fit budget, and returns
// the rendered ones and how many did not fit.
func takeNames(budget *workspace.ListBudget, names []string, show func(string) string) ([]string, int) {
	var out []string
	for i, n := range names {
		s := show(n)
		if !budget.Take(s) {
			return out, len(names) - i
		}
		out = append(out, s)
	}
	return out, 0
}

// visible leaves out tool litter (.pytest_cache, __pycache__) that would
// only distract a model.
func visible(paths []string) []string {
	var out []string
	for _, p := range paths {
		if !workspace.Hidden(p) {
			out = append(out, p)
		}
	}
	return out
}

func newNonce() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(errors.New("no randomness for the output fence"))
	}
	return hex.EncodeToString(b[:])
}

// maxEgressListed bounds the connections a report names for one block.
const maxEgressListed = 10

// writeEgress names the connections a block tried through the egress
// proxy: a model that sees "refused: not in the allowlist" stops retrying
// a host it cannot reach. Names come from the block, so they are escaped.
func writeEgress(b *strings.Builder, conns []sandbox.Connection) {
	if len(conns) == 0 {
		return
	}
	b.WriteString("network:")
	for i, c := range conns {
		if i == maxEgressListed {
			fmt.Fprintf(b, " … and %d more", len(conns)-i)
			break
		}
		where := safetext.Name(net.JoinHostPort(c.Host, strconv.Itoa(c.Port)))
		if c.Allowed {
			fmt.Fprintf(b, " %s allowed (%d bytes in)", where, c.BytesIn)
		} else {
			fmt.Fprintf(b, " %s refused (%s)", where, safetext.Name(c.Reason))
		}
		if i < len(conns)-1 && i < maxEgressListed-1 {
			b.WriteString(";")
		}
	}
	b.WriteString("\n")
}
