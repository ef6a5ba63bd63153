// Package sandbox owns running untrusted code blocks: a Docker container per
// session, hardened before anything runs in it, with a resident runner that
// takes one block at a time, and the sweep that removes what a killed process
// left behind.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/agentteam/agentteam/workspace"
)

// Languages the sandbox runs.
const (
	Python = "python"
	Sh     = "sh"
	Bash   = "bash"
)

// Executor opens sessions.
type Executor interface {
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
	// Close removes the sandbox's container. It is safe to call twice.
	Close(ctx context.Context) error
}

// Code is one block to run.
type Code struct {
	Language string // Python, Sh or Bash
	Source   string
	// Filename, when set, saves the block under this local name in the
	// workspace and runs it from there.
	Filename string
}

// Result is what came of one block. Stdout and Stderr are the kept bytes as
// the code wrote them (possibly invalid UTF-8, with control characters): use
// Printable before showing them on a terminal. encoding/json escapes them.
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

// Config sets a sandbox's image and limits. The zero value of a field means
// its default (see Defaults); hardening itself has no switch.
type Config struct {
	Image            string
	Memory           int64   // bytes; swap is set equal, so no swap
	CPUs             float64 // CPU time share, e.g. 1.5
	Pids             int64   // processes and threads alive at once
	Timeout          time.Duration
	WorkspaceBytes   int64 // cap on the workspace's size, enforced by the host
	WorkspaceEntries int64 // cap on its number of files and directories
	TmpBytes         int64 // size of the /tmp tmpfs (and of /dev/shm)
	FileSize         int64 // RLIMIT_FSIZE: the largest file a block may write
	OpenFiles        int64 // RLIMIT_NOFILE
	MaxOutput        int   // bytes kept of each of stdout and stderr
	OutputLimit      int64 // a block is stopped past this much output
	Runtime          string
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{
		Image:            "agentteam-sandbox:latest",
		Memory:           512 << 20,
		CPUs:             1,
		Pids:             256,
		Timeout:          60 * time.Second,
		WorkspaceBytes:   1 << 30,
		WorkspaceEntries: 100_000,
		TmpBytes:         64 << 20,
		FileSize:         256 << 20,
		OpenFiles:        1024,
		MaxOutput:        64 << 10,
		OutputLimit:      64 << 20,
	}
}

// withDefaults fills zero fields from Defaults and checks the result.
func (c Config) withDefaults() (Config, error) {
	d := Defaults()
	if c.Image == "" {
		c.Image = d.Image
	}
	fill := func(v *int64, def int64) {
		if *v == 0 {
			*v = def
		}
	}
	fill(&c.Memory, d.Memory)
	fill(&c.Pids, d.Pids)
	fill(&c.WorkspaceBytes, d.WorkspaceBytes)
	fill(&c.WorkspaceEntries, d.WorkspaceEntries)
	fill(&c.TmpBytes, d.TmpBytes)
	fill(&c.FileSize, d.FileSize)
	fill(&c.OpenFiles, d.OpenFiles)
	fill(&c.OutputLimit, d.OutputLimit)
	if c.CPUs == 0 {
		c.CPUs = d.CPUs
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.MaxOutput == 0 {
		c.MaxOutput = d.MaxOutput
	}
	switch {
	case c.Memory < 32<<20:
		return c, fmt.Errorf("%w: memory %d bytes is below the 32 MiB a sandbox needs", ErrConfig, c.Memory)
	case c.CPUs < 0.01 || math.IsNaN(c.CPUs) || c.CPUs > 1024:
		return c, fmt.Errorf("%w: cpus %g is out of range (0.01 to 1024)", ErrConfig, c.CPUs)
	case c.Pids < 8:
		return c, fmt.Errorf("%w: pids %d is below the 8 a sandbox needs", ErrConfig, c.Pids)
	case c.Timeout < 10*time.Millisecond:
		return c, fmt.Errorf("%w: timeout %s is below 10ms", ErrConfig, c.Timeout)
	case c.WorkspaceBytes < 0 || c.WorkspaceEntries < 0 || c.TmpBytes < 1<<20 || c.FileSize < 1<<10 ||
		c.OpenFiles < 64 || c.MaxOutput < 256 || c.OutputLimit < int64(c.MaxOutput):
		return c, fmt.Errorf("%w: a size limit is out of range", ErrConfig)
	case c.MaxOutput > 8<<20:
		return c, fmt.Errorf("%w: max output %d bytes is above 8 MiB", ErrConfig, c.MaxOutput)
	}
	return c, nil
}

// threads is the thread count that matches the CPU limit.
func (c Config) threads() int {
	return max(1, int(math.Ceil(c.CPUs)))
}
