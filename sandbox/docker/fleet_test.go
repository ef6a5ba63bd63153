package docker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentteam/agentteam/sandbox"
)

// An engine taken out of rotation is asked again after a rest, and is back
// once it answers; until then it stays out, and pick says why.
func TestFleetEngineRejoins(t *testing.T) {
	var answers atomic.Bool
	var pings atomic.Int32
	f := NewFleet(slog.New(slog.NewTextHandler(io.Discard, nil)), FleetMember{Name: "e", Capacity: 2, Ping: func(context.Context) error {
		pings.Add(1)
		if answers.Load() {
			return nil
		}
		return errors.New("connection refused")
	}})
	f.rejoin = 50 * time.Millisecond
	f.markDown(f.members[0], errors.New("engine lost"))
	if f.Up() != 0 {
		t.Fatal("a lost engine counted as up")
	}
	if _, err := f.pick(); !errors.Is(err, sandbox.ErrEngineUnavailable) {
		t.Fatalf("pick with every engine down: %v", err)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s in 5s", what)
			}
		}
	}
	waitFor("probe", func() bool { f.Up(); return pings.Load() >= 2 })
	if f.Up() != 0 {
		t.Fatal("an engine that does not answer was put back")
	}
	answers.Store(true)
	waitFor("rejoin", func() bool { return f.Up() == 1 })
	if _, err := f.pick(); err != nil {
		t.Fatalf("pick after the rejoin: %v", err)
	}
}
