package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/openaicompat"
	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/docker"
)

// Factory holds what commands depend on besides their flags: where they
// read and write, the settings (read once per command), and constructors
// for the sandbox and the model backend. Tests replace the constructors
// with fakes, so flags, precedence and rendering are tested without an
// engine or a server.
type Factory struct {
	IO IO
	// OpenSandbox connects to the engines a request names, checks them
	// (image, runtime, hardening) and returns an opener.
	OpenSandbox func(ctx context.Context, req sandboxRequest) (*sandboxes, error)
	// NewModel makes the model backend.
	NewModel func(cfg openaicompat.Config, log *slog.Logger) (model.Model, error)
	// DialQueue connects to a NATS server (comma-separated URLs).
	// token is "" for a server without one.
	DialQueue func(urls, name string, auth queueAuth) (*nats.Conn, error)

	// line is the line redrawn in place on the terminal; logs go above it.
	line *statusLine

	settingsOnce sync.Once
	settings     settings
	settingsErr  error
}

// newFactory returns the factory of the real program.
func newFactory(s IO) *Factory {
	return &Factory{IO: s, OpenSandbox: openDocker, NewModel: newOpenAIModel, DialQueue: dialQueue}
}

// Settings reads .env once and resolves settings from the environment
// first, then .env.
func (f *Factory) Settings() (settings, error) {
	f.settingsOnce.Do(func() { f.settings, f.settingsErr = loadSettings(f.IO) })
	return f.settings, f.settingsErr
}

// sandboxRequest says which sandbox a command needs.
type sandboxRequest struct {
	Config docker.Config
	// Hosts are the engines to use; none: DefaultHost, which is what
	// DOCKER_HOST says (in the environment or .env), "" for the default.
	Hosts       []string
	DefaultHost string
	// PoolRoot and PoolSize, when PoolSize > 0, reuse up to PoolSize
	// containers an engine, each mounting a slot directory under PoolRoot
	// (a batch: the engine creates only a few containers a second).
	PoolRoot string
	PoolSize int
}

// sandboxes is an opener over one or more engines.
type sandboxes struct {
	sandbox.Opener
	Engines int        // how many engines sessions are spread over
	Up      func() int // how many of them still answer
	Close   func(ctx context.Context) error
	// Owner, when set, is who must own files put into a workspace before
	// its session starts (a project's copy) for the sandbox to change them.
	Owner func() (uid, gid int)
}

// openDocker opens the Docker backend: one engine, or a fleet of pools.
func openDocker(ctx context.Context, req sandboxRequest) (*sandboxes, error) {
	hosts := req.Hosts
	named := len(hosts) > 0
	if !named {
		hosts = []string{req.DefaultHost}
	}
	var backends []*docker.Backend
	closeAll := func() {
		for _, d := range backends {
			d.Close()
		}
	}
	for _, h := range hosts {
		var opts []docker.Option
		if h != "" {
			opts = append(opts, docker.WithHost(h))
		}
		d, err := docker.New(ctx, req.Config, opts...)
		if err == nil {
			if err = d.Check(ctx); err != nil {
				d.Close()
			}
		}
		if err != nil {
			closeAll()
			if named {
				return nil, fmt.Errorf("engine %s: %w", h, err)
			}
			return nil, err
		}
		d.StartSweep(ctx) // the containers of killed runs; never waited for
		backends = append(backends, d)
	}
	if req.PoolSize <= 0 {
		d := backends[0]
		return &sandboxes{Opener: d, Engines: 1, Up: func() int { return 1 },
			Close: func(context.Context) error { return d.Close() }, Owner: docker.WorkspaceOwner}, nil
	}
	var members []docker.FleetMember
	var slots []string
	for i, d := range backends {
		dir := filepath.Join(req.PoolRoot, fmt.Sprintf(".slots-%d", i))
		pool, err := d.NewPool(dir, req.PoolSize)
		if err != nil {
			closeAll()
			return nil, err
		}
		slots = append(slots, dir)
		members = append(members, docker.FleetMember{Name: d.Host(), Pool: pool, Capacity: req.PoolSize})
	}
	fleet := docker.NewFleet(slog.Default(), members...)
	return &sandboxes{Opener: fleet, Engines: len(backends), Up: fleet.Up, Owner: docker.WorkspaceOwner, Close: func(ctx context.Context) error {
		err := fleet.Close(ctx)
		closeAll()
		for _, dir := range slots {
			os.Remove(dir)
		}
		return err
	}}, nil
}

// newOpenAIModel makes the OpenAI-compatible backend.
func newOpenAIModel(cfg openaicompat.Config, log *slog.Logger) (model.Model, error) {
	return openaicompat.New(cfg, openaicompat.WithLogger(log))
}
