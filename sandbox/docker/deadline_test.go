package docker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agentteam/agentteam/sandbox"
	cerrdefs "github.com/containerd/errdefs"
)

// frozenRunner starts a block that sleeps, then freezes the whole container
// from the host (the cgroup freezer, which no code inside can resist), so
// the runner can neither end the block nor answer. It returns the frozen
// container's id.
func frozenRunner(t *testing.T, s *session) string {
	t.Helper()
	id := s.box.id
	go func() {
		time.Sleep(500 * time.Millisecond)
		if err := s.d.cli.ContainerPause(context.Background(), id); err != nil {
			t.Errorf("pause: %v", err)
		}
	}()
	return id
}

func assertRemoved(t *testing.T, s *session, id string) {
	t.Helper()
	if _, err := s.d.cli.ContainerInspect(context.Background(), id); !cerrdefs.IsNotFound(err) {
		t.Fatalf("the frozen container %s is still there: %v", id[:12], err)
	}
}

// TestHostDeadline: a runner that stops answering cannot hold a session:
// the host ends the block at its timeout plus a grace period, removes the
// container and the next block runs in a new one.
func TestHostDeadline(t *testing.T) {
	cfg := testConfig()
	cfg.Timeout = time.Second
	s, _ := newTestSession(t, newTestDocker(t, cfg))
	id := frozenRunner(t, s)
	res := run(t, s, sandbox.Sh, "sleep 100")
	if !res.TimedOut || res.OK() || !strings.Contains(res.Error, "killed and replaced") {
		t.Fatalf("want a host-side timeout, got %+v", res)
	}
	if min := cfg.Timeout + hostGrace; res.Duration < min {
		t.Fatalf("the host gave up after %v, before the timeout plus grace (%v)", res.Duration, min)
	}
	assertRemoved(t, s, id)
	assertAlive(t, s)
}

// TestCancelUnanswered: a cancelled block whose runner does not confirm
// within the cancel grace ends with the container removed.
func TestCancelUnanswered(t *testing.T) {
	s, _ := newTestSession(t, newTestDocker(t, testConfig()))
	id := frozenRunner(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Second, cancel)
	res, err := s.Run(ctx, sandbox.Code{Language: sandbox.Sh, Source: "sleep 100"})
	if err == nil || !res.Canceled || !strings.Contains(res.Error, "did not stop the block when asked") {
		t.Fatalf("want a cancel the host had to enforce, got %v %+v", err, res)
	}
	assertRemoved(t, s, id)
	assertAlive(t, s)
}
