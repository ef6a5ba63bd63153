package docker

import (
	"context"
	"strings"
	"syscall"
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

// TestCancelWaitsIdle: while the host waits out the cancel grace for a
// runner that does not answer, it sleeps. A wait loop that kept selecting
// on the closed ctx.Done() would burn a core for the whole grace period.
func TestCancelWaitsIdle(t *testing.T) {
	s, _ := newTestSession(t, newTestDocker(t, testConfig()))
	frozenRunner(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	type mark struct {
		at  time.Time
		cpu time.Duration
	}
	cancelled := make(chan mark, 1)
	time.AfterFunc(time.Second, func() {
		cancelled <- mark{time.Now(), cpuTime(t)}
		cancel()
	})
	res, err := s.Run(ctx, sandbox.Code{Language: sandbox.Sh, Source: "sleep 100"})
	cpu := cpuTime(t)
	m := <-cancelled
	wall := time.Since(m.at)
	cpu -= m.cpu
	if err == nil || !res.Canceled || !strings.Contains(res.Error, "did not stop the block when asked") {
		t.Fatalf("want a cancel the host had to enforce, got %v %+v", err, res)
	}
	if wall < cancelGrace {
		t.Fatalf("Run returned %v after the cancel, before the cancel grace (%v)", wall, cancelGrace)
	}
	if cpu > wall/5 {
		t.Fatalf("the process used %v of CPU in the %v between the cancel and Run's return: the wait spins", cpu, wall)
	}
	t.Logf("%v of CPU in %v", cpu, wall)
}

// cpuTime is the user and system CPU time the test process has used.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Errorf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
