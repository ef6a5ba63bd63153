package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/agentteam/agentteam/sandbox"
)

// Fleet spreads sessions over several engines, each with its own pool:
// a session goes to the engine with the most free room, and an engine that
// fails is taken out of rotation until it answers again (a worker lives
// longer than an engine's restart).
type Fleet struct {
	log     *slog.Logger
	mu      sync.Mutex
	members []*member
	// rejoin is how long a down engine rests before it is asked again.
	rejoin time.Duration
}

type member struct {
	name    string
	pool    *Pool
	ping    func(context.Context) error
	free    int
	down    error
	downAt  time.Time
	probing bool
}

// FleetMember is one engine of a fleet.
type FleetMember struct {
	Name     string // for messages and results, e.g. unix:///var/run/docker.sock
	Pool     *Pool
	Capacity int // its containers at once
	// Ping asks the engine whether it answers; nil: the pool's engine's.
	Ping func(context.Context) error
}

// NewFleet returns a fleet of the given engines.
func NewFleet(log *slog.Logger, members ...FleetMember) *Fleet {
	f := &Fleet{log: log, rejoin: 10 * time.Second}
	for _, m := range members {
		ping := m.Ping
		if ping == nil && m.Pool != nil {
			ping = m.Pool.d.Ping
		}
		f.members = append(f.members, &member{name: m.Name, pool: m.Pool, ping: ping, free: m.Capacity})
	}
	return f
}

// probeDown asks each engine that has been down for f.rejoin whether it
// answers again, in the background; one that does is back in rotation.
// Called with f.mu held.
func (f *Fleet) probeDown() {
	for _, m := range f.members {
		if m.down == nil || m.probing || m.ping == nil || time.Since(m.downAt) < f.rejoin {
			continue
		}
		m.probing = true
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := m.ping(ctx)
			cancel()
			f.mu.Lock()
			defer f.mu.Unlock()
			m.probing, m.downAt = false, time.Now()
			if err == nil && m.down != nil {
				m.down = nil
				f.log.Info("engine back in rotation", "engine", m.name)
			}
		}()
	}
}

// NewSession opens a session on the engine with the most free room,
// moving on to the next when an engine turns out to be unavailable.
func (f *Fleet) NewSession(ctx context.Context, dir string) (sandbox.Session, error) {
	for {
		m, err := f.pick()
		if err != nil {
			return nil, err
		}
		sess, err := m.pool.NewSession(ctx, dir)
		if err == nil {
			return &fleetSession{Session: sess, fleet: f, m: m}, nil
		}
		f.release(m)
		if !errors.Is(err, sandbox.ErrEngineUnavailable) {
			return nil, err
		}
		f.markDown(m, err)
	}
}

// Up counts the engines still in rotation.
func (f *Fleet) Up() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.probeDown()
	n := 0
	for _, m := range f.members {
		if m.down == nil {
			n++
		}
	}
	return n
}

// Close closes every engine's pool.
func (f *Fleet) Close(ctx context.Context) error {
	for _, m := range f.members {
		m.pool.Close(ctx)
	}
	return nil
}

func (f *Fleet) pick() (*member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.probeDown()
	var best *member
	var why []string
	for _, m := range f.members {
		if m.down != nil {
			why = append(why, m.down.Error())
			continue
		}
		if best == nil || m.free > best.free {
			best = m
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w: every engine is out of rotation (%s)", sandbox.ErrEngineUnavailable, strings.Join(why, "; "))
	}
	best.free-- // may go below 0: the pool then makes the session wait
	return best, nil
}

func (f *Fleet) release(m *member) {
	f.mu.Lock()
	m.free++
	f.mu.Unlock()
}

func (f *Fleet) markDown(m *member, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m.down == nil {
		m.down, m.downAt = err, time.Now()
		f.log.Warn("engine taken out of rotation", "engine", m.name, "err", err)
	}
}

// fleetSession takes its engine out of rotation when it fails, and gives
// its room back when closed.
type fleetSession struct {
	sandbox.Session
	fleet *Fleet
	m     *member
	once  sync.Once
}

func (s *fleetSession) Run(ctx context.Context, code sandbox.Code) (sandbox.Result, error) {
	res, err := s.Session.Run(ctx, code)
	if errors.Is(err, sandbox.ErrEngineUnavailable) {
		s.fleet.markDown(s.m, err)
	}
	return res, err
}

func (s *fleetSession) Close(ctx context.Context) error {
	err := s.Session.Close(ctx)
	s.once.Do(func() { s.fleet.release(s.m) })
	return err
}

// Engine names the member engine the session runs on (sandbox.EngineNamer).
func (s *fleetSession) Engine() string { return s.m.name }
