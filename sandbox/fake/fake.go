// Package fake owns a scripted sandbox for tests that must run without
// Docker. It runs no code and saves no file: each block, to run or to save,
// is answered from a script, and every block a session is given is
// recorded. Otherwise it keeps the contract as
// the Docker backend does: it refuses what sandbox.Code.Validate refuses as
// a Result, runs one block at a time, ends a block when its context does,
// and a closed session runs nothing.
package fake

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/agentteam/agentteam/sandbox"
)

// ErrUnscripted is Run's error for a block the script has no answer for.
var ErrUnscripted = errors.New("fake sandbox: no scripted answer for the block")

// Step is how the fake answers one block: with Err if set, else with
// Result, whose Language and Filename are the block's; after Delay, the
// time the block "runs", unless its context ends first. A block with an
// Output function is given the Result's Stdout, then its Stderr, through
// it as the block starts, so that the output is seen during the Delay, as
// a real block's would be.
type Step struct {
	Result sandbox.Result
	Err    error
	Delay  time.Duration
}

// Script picks the Step for a block. It is called for each block that is
// not refused, by one session at a time: a script shared by several
// sessions must be safe for concurrent use, as those below are. A func
// literal that ignores code is a default answer.
type Script func(code sandbox.Code) Step

// Steps answers blocks with steps, in the order the blocks arrive (across
// sessions), and any block past the last with ErrUnscripted.
func Steps(steps ...Step) Script {
	steps = append([]Step(nil), steps...)
	var mu sync.Mutex
	return func(sandbox.Code) Step {
		mu.Lock()
		defer mu.Unlock()
		if len(steps) == 0 {
			return Step{Err: ErrUnscripted}
		}
		s := steps[0]
		steps = steps[1:]
		return s
	}
}

// Results is Steps with a step for each result.
func Results(results ...sandbox.Result) Script {
	steps := make([]Step, len(results))
	for i, r := range results {
		steps[i] = Step{Result: r}
	}
	return Steps(steps...)
}

// BySource answers each block with the step for its Source, as often as it
// comes, and a block with another source with ErrUnscripted.
func BySource(steps map[string]Step) Script {
	bySource := make(map[string]Step, len(steps)) // the caller's map may change
	for src, s := range steps {
		bySource[src] = s
	}
	return func(code sandbox.Code) Step {
		if s, ok := bySource[code.Source]; ok {
			return s
		}
		return Step{Err: fmt.Errorf("%w: %q", ErrUnscripted, code.Source)}
	}
}

// Opener opens sessions that all answer from one script. It implements
// sandbox.Opener.
type Opener struct {
	script   Script
	mu       sync.Mutex
	sessions []*Session
}

// New returns an opener whose sessions answer from script.
func New(script Script) *Opener { return &Opener{script: script} }

// NewSession opens a session; workspaceDir is only recorded. It fails only
// when ctx is done.
func (o *Opener) NewSession(ctx context.Context, workspaceDir string) (sandbox.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open fake sandbox session: %w", err)
	}
	s := &Session{script: o.script, dir: workspaceDir}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sessions = append(o.sessions, s)
	return s, nil
}

// Sessions returns the sessions opened so far, in order.
func (o *Opener) Sessions() []*Session {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*Session(nil), o.sessions...)
}

// Session is one fake sandbox session. It implements sandbox.Session.
type Session struct {
	script Script
	dir    string
	run    sync.Mutex // one block at a time, as in a real sandbox

	mu     sync.Mutex // guards codes and closed
	codes  []sandbox.Code
	closed bool
}

// Run records code and answers it: a refused block or one run with ctx
// done as the Docker backend does, any other from the script.
func (s *Session) Run(ctx context.Context, code sandbox.Code) (sandbox.Result, error) {
	s.mu.Lock()
	s.codes = append(s.codes, code)
	s.mu.Unlock()

	res := sandbox.Result{Language: code.Language, Filename: code.Filename, ExitCode: -1}
	if err := code.Validate(); err != nil {
		res.Error = err.Error()
		return res, nil
	}
	s.run.Lock()
	defer s.run.Unlock()
	if s.Closed() {
		return res, errors.New("run block: session is closed")
	}
	if err := ctx.Err(); err != nil {
		res.Canceled = true
		return res, fmt.Errorf("run block: %w", err)
	}
	step := s.script(code)
	if code.Output != nil && step.Err == nil {
		for _, o := range []struct{ stream, text string }{{sandbox.Stdout, step.Result.Stdout}, {sandbox.Stderr, step.Result.Stderr}} {
			if o.text != "" {
				code.Output(o.stream, []byte(o.text))
			}
		}
	}
	if step.Delay > 0 {
		t := time.NewTimer(step.Delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			res.Canceled = true
			return res, fmt.Errorf("run block: %w", ctx.Err())
		}
	}
	if step.Err != nil {
		return res, step.Err
	}
	out := step.Result
	out.Language, out.Filename = code.Language, code.Filename
	return out, nil
}

// Close marks the session closed; it is safe to call twice.
func (s *Session) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// Codes returns every block Run was given, in order, refused ones too.
func (s *Session) Codes() []sandbox.Code {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sandbox.Code(nil), s.codes...)
}

// Closed reports whether Close was called.
func (s *Session) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Dir returns the workspace directory the session was opened with.
func (s *Session) Dir() string { return s.dir }
