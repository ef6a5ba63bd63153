package docker

import (
	"fmt"
	"math"
	"time"

	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/egress"
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
	// Egress lists what blocks may reach (egress.ParsePolicy: HOST,
	// HOST:PORT, ADDRESS:PORT, presets such as pypi); none: no network at
	// all. It needs an engine on this machine: the proxy's socket is
	// mounted into the container.
	Egress []string
	// PipIndex is the package index pip uses inside the sandbox; its host
	// must be in Egress.
	PipIndex string
	// CopyWorkspace copies the workspace into the container when it
	// starts and back after every block, through the engine's API, instead
	// of bind-mounting it: in the container it is a tmpfs capped at
	// WorkspaceBytes and WorkspaceEntries (so counted in Memory). An
	// engine on another machine (tcp://, ssh://) cannot see this machine's
	// directories, so there it is always on.
	CopyWorkspace bool
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

// WithDefaults fills zero fields from Defaults and checks the result: an
// error wraps sandbox.ErrConfig and names the setting.
func (c Config) WithDefaults() (Config, error) {
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
		return c, fmt.Errorf("%w: memory %d bytes is below the 32 MiB a sandbox needs", sandbox.ErrConfig, c.Memory)
	case c.CPUs < 0.01 || math.IsNaN(c.CPUs) || c.CPUs > 1024:
		return c, fmt.Errorf("%w: cpus %g is out of range (0.01 to 1024)", sandbox.ErrConfig, c.CPUs)
	case c.Pids < 8:
		return c, fmt.Errorf("%w: pids %d is below the 8 a sandbox needs", sandbox.ErrConfig, c.Pids)
	case c.Timeout < 10*time.Millisecond:
		return c, fmt.Errorf("%w: timeout %s is below 10ms", sandbox.ErrConfig, c.Timeout)
	case c.WorkspaceBytes < 0 || c.WorkspaceEntries < 0 || c.TmpBytes < 1<<20 || c.FileSize < 1<<10 ||
		c.OpenFiles < 64 || c.MaxOutput < 256 || c.OutputLimit < int64(c.MaxOutput):
		return c, fmt.Errorf("%w: a size limit is out of range", sandbox.ErrConfig)
	case c.MaxOutput > 8<<20:
		return c, fmt.Errorf("%w: max output %d bytes is above 8 MiB", sandbox.ErrConfig, c.MaxOutput)
	}
	policy, err := egress.ParsePolicy(c.Egress)
	if err != nil {
		return c, fmt.Errorf("%w: %w", sandbox.ErrConfig, err)
	}
	if c.PipIndex != "" {
		if err := policy.AllowsURL(c.PipIndex); err != nil {
			return c, fmt.Errorf("%w: pip index: %w", sandbox.ErrConfig, err)
		}
	}
	return c, nil
}

// threads is the thread count that matches the CPU limit.
func (c Config) threads() int {
	return max(1, int(math.Ceil(c.CPUs)))
}
