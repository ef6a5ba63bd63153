// Package sandbox owns the contract for running untrusted code blocks: the
// block, its result, a session that runs blocks one after another, an
// opener that starts sessions, and the errors that mean no sandbox can run.
// It knows no engine; the Docker backend lives in sandbox/docker, a fake for
// tests in sandbox/fake, and sandboxtest holds the suite every backend passes.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/agentteam/agentteam/workspace"
)

// Languages the sandbox runs.
const (
	Python     = "python"
	Sh         = "sh"
	Bash       = "bash"
	JavaScript = "javascript" // run with Node.js
)

// Opener starts sessions.
type Opener interface {
	// NewSession starts a sandbox with workspaceDir mounted at /workspace.
	NewSession(ctx context.Context, workspaceDir string) (Session, error)
}

// Session runs blocks one after another in one sandbox; files written by
// one block are seen by the next.
type Session interface {
	// Run runs one block. A block's own failure (exit status, timeout, OOM,
	// refused filename, unsupported language) is a Result; the error is for
	// a sandbox that cannot run at all or a cancelled context.
	Run(ctx context.Context, code Code) (Result, error)
	// Close removes the sandbox (its container, for Docker). It is safe to
	// call twice.
	Close(ctx context.Context) error
}

// EngineNamer is what a session may also implement to say which engine it
// runs on, when a backend spreads sessions over several.
type EngineNamer interface {
	Engine() string
}

// Code is one block to run, or to save.
type Code struct {
	// Language is Python, Sh, Bash or JavaScript for a block to run; for a
	// block to save it is only echoed in the Result, whatever it says.
	Language string
	Source   string
	// Filename, when set, saves the block under this local name in the
	// workspace and runs it from there.
	Filename string
	// SaveOnly writes Source to Filename and runs nothing: a file a model
	// wrote in a language the sandbox does not run (html, json, ...). The
	// Result has exit code 0, no output, and the file among its Files.
	SaveOnly bool
	// Output, when set, is given the block's output while it runs: pieces
	// of Stdout or Stderr, in order, each stream's the first bytes of it
	// (up to the bytes a Result keeps of a stream, so a flood is not
	// passed on). It is called from Run's goroutine and never after Run
	// returns; it must not block long, since the block's deadline keeps
	// running. A chunk is the callee's to keep. Like a Result's output it
	// is untrusted bytes as the code wrote them: a chunk may end inside a
	// line or a UTF-8 sequence, and holds escape sequences and invalid
	// UTF-8 when the code printed them, so use safetext before showing it.
	// The Result still carries the output in full (head and tail).
	Output func(stream string, chunk []byte) `json:"-"`
}

// Streams of a block's output, as Code.Output names them.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// Validate reports why no backend runs or saves c: for a block to run, a
// language other than Python, Sh, Bash and JavaScript; for a block to
// save, no Filename; for either, a Filename that is not a local path
// inside the workspace. Run reports it as the Result's Error, not as its
// error.
func (c Code) Validate() error {
	switch {
	case c.SaveOnly:
		if c.Filename == "" {
			return errors.New("nothing to save: a block to save needs a filename")
		}
	case c.Language == Python, c.Language == Sh, c.Language == Bash, c.Language == JavaScript:
	default:
		return fmt.Errorf("unsupported language %q: the sandbox runs python, sh, bash and javascript", c.Language)
	}
	if c.Filename != "" {
		if err := workspace.ValidateName(c.Filename); err != nil {
			return fmt.Errorf("refused filename: %w", err)
		}
	}
	return nil
}

// Result is what came of one block. Stdout and Stderr are the kept bytes as
// the code wrote them (possibly invalid UTF-8, with control characters): use
// safetext.Output before showing them on a terminal. encoding/json escapes them.
type Result struct {
	Language          string            `json:"language"`
	Filename          string            `json:"filename,omitempty"`
	ExitCode          int               `json:"exit_code"`
	Signal            int               `json:"signal,omitempty"`
	Stdout            string            `json:"stdout"`
	Stderr            string            `json:"stderr"`
	StdoutBytes       int64             `json:"stdout_bytes"`
	StderrBytes       int64             `json:"stderr_bytes"`
	Truncated         bool              `json:"truncated"`
	TimedOut          bool              `json:"timed_out"`
	OOMKilled         bool              `json:"oom_killed"`
	OutputLimited     bool              `json:"output_limited,omitempty"`
	WorkspaceExceeded bool              `json:"workspace_exceeded,omitempty"`
	Canceled          bool              `json:"canceled,omitempty"`
	Duration          time.Duration     `json:"-"`
	DurationMS        float64           `json:"duration_ms"`
	Error             string            `json:"error,omitempty"`
	Files             workspace.Changes `json:"files"`
	// Egress lists the connections the block tried to make through an
	// allowed egress (none without one: the sandbox has no network).
	Egress []Connection `json:"egress,omitempty"`
}

// Connection is one attempt of a block to reach the network through the
// egress proxy, allowed or refused.
type Connection struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Method   string `json:"method"` // CONNECT for TLS, else the HTTP method
	Allowed  bool   `json:"allowed"`
	Reason   string `json:"reason,omitempty"` // why it was refused or cut
	BytesOut int64  `json:"bytes_out"`        // sent by the block
	BytesIn  int64  `json:"bytes_in"`         // received by the block
}

// OK reports whether the block ran and exited 0.
func (r Result) OK() bool {
	return r.ExitCode == 0 && r.Error == "" && !r.TimedOut && !r.OOMKilled &&
		!r.OutputLimited && !r.WorkspaceExceeded && !r.Canceled
}

// Flags names what happened to the block besides its exit status, in the
// words the reports use: "timed out", "out of memory", "output limit",
// "workspace full", "cancelled", "output truncated".
func (r Result) Flags() []string {
	var flags []string
	for _, f := range []struct {
		on   bool
		name string
	}{
		{r.TimedOut, "timed out"}, {r.OOMKilled, "out of memory"}, {r.OutputLimited, "output limit"},
		{r.WorkspaceExceeded, "workspace full"}, {r.Canceled, "cancelled"}, {r.Truncated, "output truncated"},
	} {
		if f.on {
			flags = append(flags, f.name)
		}
	}
	return flags
}

// Errors that mean the sandbox cannot run at all; each comes wrapped with a
// message that says what to do.
var (
	ErrEngineUnavailable = errors.New("docker engine unavailable")
	ErrImageMissing      = errors.New("sandbox image missing")
	ErrHardening         = errors.New("sandbox hardening not in effect")
	ErrRuntimeMissing    = errors.New("container runtime not registered")
	ErrRuntimeFailed     = errors.New("container runtime failed")
	ErrConfig            = errors.New("invalid sandbox configuration")
)
