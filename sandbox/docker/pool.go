package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/protocol"
	"github.com/agentteam/agentteam/workspace"
	"golang.org/x/sys/unix"
)

// Pool lends started containers to sessions and takes them back after a
// complete, verified reset, so that many short sessions (a batch) do not
// each pay for a container's creation and removal, which the engine does
// only a few times a second.
//
// Each container has its own slot directory, mounted at /workspace: a
// session moves its workspace's files into the slot, and back out when it
// closes (renames, so the slots live on the workspaces' file system). First
// the runner kills every process, removes every IPC object, empties /tmp
// and /dev/shm and reports what it could not clear, and starts nothing;
// then the files move out; the host checks the runner's report, its
// confinement and that the slot is empty, and only then tells the runner to
// start the next block's interpreter. A container that fails any of it is
// removed, never lent again. So the next task starts from the state of a
// fresh container: nothing of the last task runs, or waits to run, in it.
type Pool struct {
	d    *Backend
	root string
	// tokens bounds the containers alive at once, lent or idle.
	tokens chan struct{}

	mu     sync.Mutex
	idle   []*pooled
	closed bool
}

type pooled struct {
	b    *box
	slot string
	lock *os.File // the slot's, held while it lives: see sweepSlots
	user string
	id   string
}

// NewPool returns a pool of at most size containers whose slot directories
// live under root (on the same file system as the workspaces).
func (d *Backend) NewPool(root string, size int) (*Pool, error) {
	if size < 1 {
		return nil, fmt.Errorf("%w: a pool needs at least one container", sandbox.ErrConfig)
	}
	// Slots are bind-mounted, and the engine takes only absolute paths.
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("create pool directory: %w", err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("create pool directory: %w", err)
	}
	sweepSlots(root, d.log)
	return &Pool{d: d, root: root, tokens: make(chan struct{}, size)}, nil
}

const slotPrefix = ".slot-"

// sweepSlots removes the slots under root that no live pool holds: a
// batch killed outright leaves its containers' slots, with the files of
// the tasks it did not finish (which run again, in new workspaces). A
// live pool holds a lock on each of its slots (lockSlot), so another
// process's are left alone.
func sweepSlots(root string, log *slog.Logger) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), slotPrefix) {
			continue
		}
		dir := filepath.Join(root, e.Name())
		lock, err := lockSlot(dir)
		if err != nil {
			continue // a live pool's
		}
		if err := os.RemoveAll(dir); err != nil {
			log.Warn("remove a dead batch's workspace slot", "slot", dir, "err", err)
		} else {
			log.Debug("removed a dead batch's workspace slot", "slot", dir)
		}
		lock.Close()
	}
}

// lockSlot takes the slot's lock, or fails at once if a live pool holds
// it; the kernel drops it with its holder, however that ends.
func lockSlot(dir string) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// NewSession lends a container for workspaceDir, starting one if none is
// idle and the pool has room, or waiting for one.
func (p *Pool) NewSession(ctx context.Context, workspaceDir string) (sandbox.Session, error) {
	if p.d.copy {
		return p.unpooled(ctx, workspaceDir)
	}
	ws, err := workspace.Open(workspaceDir)
	if err != nil {
		return nil, fmt.Errorf("open workspace: %w", err)
	}
	target := ws.Dir()
	ws.Close()
	c, err := p.take(ctx)
	if err != nil {
		return nil, err
	}
	if err := workspace.MoveContents(target, c.slot); err != nil {
		// Another file system, most likely: this workspace cannot use a
		// slot. Give the container back untouched and start a plain one.
		p.put(c)
		return p.d.NewSession(ctx, target)
	}
	slotWS, err := workspace.Open(c.slot)
	if err != nil {
		workspace.MoveContents(c.slot, target)
		p.discard(c)
		return nil, fmt.Errorf("open workspace slot: %w", err)
	}
	s := &session{d: p.d, ws: slotWS, user: c.user, id: c.id, box: c.b}
	return &pooledSession{session: s, pool: p, slot: c.slot, lock: c.lock, target: target}, nil
}

// take returns an idle container, or starts one when there is room.
func (p *Pool) take(ctx context.Context) (*pooled, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, errors.New("sandbox pool is closed")
		}
		if n := len(p.idle); n > 0 {
			c := p.idle[n-1]
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			return c, nil
		}
		p.mu.Unlock()
		select {
		case p.tokens <- struct{}{}:
			c, err := p.start(ctx)
			if err != nil {
				<-p.tokens
				return nil, err
			}
			return c, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond): // an idle one may be back
		}
	}
}

func (p *Pool) start(ctx context.Context) (*pooled, error) {
	slot, err := os.MkdirTemp(p.root, slotPrefix)
	if err != nil {
		return nil, fmt.Errorf("create workspace slot: %w", err)
	}
	lock, err := lockSlot(slot)
	if err != nil {
		os.Remove(slot)
		return nil, fmt.Errorf("lock workspace slot: %w", err)
	}
	user, err := p.d.prepareOwnership(slot)
	if err != nil {
		os.Remove(slot)
		lock.Close()
		return nil, err
	}
	var id [6]byte
	rand.Read(id[:])
	c := &pooled{slot: slot, lock: lock, user: user, id: hex.EncodeToString(id[:])}
	if c.b, err = p.d.startBox(ctx, c.id, user, slot); err != nil {
		os.Remove(slot)
		lock.Close()
		return nil, err
	}
	return c, nil
}

// put returns a clean container to the idle list.
func (p *Pool) put(c *pooled) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		go p.discard(c)
		return
	}
	p.idle = append(p.idle, c)
}

// discard removes a container and its slot and frees its place.
func (p *Pool) discard(c *pooled) {
	if c.b != nil {
		p.d.remove(c.b)
	}
	os.RemoveAll(c.slot)
	if c.lock != nil {
		c.lock.Close()
	}
	<-p.tokens
}

// Close removes the idle containers; lent ones are removed as their
// sessions close.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		p.discard(c)
	}
	return nil
}

// reset asks the runner to make the container as new and checks its word.
func (p *Pool) reset(b *box) error {
	if err := b.send(protocol.TypeReset, struct{}{}); err != nil {
		return err
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-b.frames:
			if !ok {
				return fmt.Errorf("runner gone during reset: %v", b.streamErr())
			}
			if f.Type != protocol.TypeReady {
				continue // a late result of a cancelled block
			}
			var r protocol.Ready
			if err := f.Decode(&r); err != nil {
				return err
			}
			if r.Leftover != 0 || r.TmpLeft != 0 || r.IPCLeft != 0 {
				return fmt.Errorf("not clean after reset: %d process(es), %d entries in /tmp and /dev/shm, %d IPC object(s)",
					r.Leftover, r.TmpLeft, r.IPCLeft)
			}
			return verifyReady(r, p.d.gvisor)
		case <-deadline:
			return errors.New("no answer to reset in 10s")
		}
	}
}

// pooledSession gives its container back to the pool when it closes.
type pooledSession struct {
	*session
	pool   *Pool
	slot   string
	lock   *os.File
	target string
}

// Close moves the workspace back, resets the container and returns it to
// the pool, or removes it if anything is amiss. Like session.Close it is
// safe to call twice and works on a cancelled context.
func (ps *pooledSession) Close(ctx context.Context) error {
	s := ps.session
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	defer s.ws.Close()
	c := &pooled{b: s.box, slot: ps.slot, lock: ps.lock, user: s.user, id: s.id}
	s.box = nil
	// The container first: no block may write into the slot while its
	// files move out.
	// gVisor lists no message queue (no /proc/sysvipc, no /dev/mqueue), so
	// the runner cannot show that none is left: never lend such a container
	// again.
	clean := c.b != nil && !ps.pool.d.gvisor && ps.pool.reset(c.b) == nil
	moveErr := workspace.MoveContents(ps.slot, ps.target)
	s.sanitizeMoved(ctx, ps.target)
	if clean && moveErr == nil {
		u, err := s.ws.Usage(context.WithoutCancel(ctx), 1, 1)
		clean = err == nil && u.Entries == 0
	}
	// Only now, with the slot checked empty, may the next block's
	// interpreter start in the container.
	if clean && moveErr == nil {
		clean = c.b.send(protocol.TypeWarm, struct{}{}) == nil
	}
	if !clean || moveErr != nil {
		if moveErr != nil {
			p := ps.pool.d.log
			// Renamed out of the slots' name, so that no sweep takes
			// the files kept there for the user.
			kept := filepath.Join(filepath.Dir(ps.slot), ".kept-"+strings.TrimPrefix(filepath.Base(ps.slot), slotPrefix))
			if os.Rename(ps.slot, kept) != nil {
				kept = ps.slot
			}
			p.Warn("move workspace out of its slot", "err", moveErr, "files kept in", kept)
			c.slot = "" // keep the files where they are for the user; never reuse the slot
		}
		ps.pool.discardKeeping(c)
		return moveErr
	}
	ps.pool.put(c)
	return nil
}

// unpooled is a session of its own container, within the pool's count: a
// copied workspace has no slot to move (it travels through the engine),
// so its container is not lent again.
func (p *Pool) unpooled(ctx context.Context, workspaceDir string) (sandbox.Session, error) {
	select {
	case p.tokens <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s, err := p.d.NewSession(ctx, workspaceDir)
	if err != nil {
		<-p.tokens
		return nil, err
	}
	return &countedSession{Session: s, release: sync.OnceFunc(func() { <-p.tokens })}, nil
}

// countedSession frees its place in the pool when it closes.
type countedSession struct {
	sandbox.Session
	release func()
}

func (c *countedSession) Close(ctx context.Context) error {
	defer c.release()
	return c.Session.Close(ctx)
}

// discardKeeping is discard that leaves a slot with the user's files.
func (p *Pool) discardKeeping(c *pooled) {
	if c.slot == "" {
		if c.b != nil {
			p.d.remove(c.b)
		}
		if c.lock != nil {
			c.lock.Close()
		}
		<-p.tokens
		return
	}
	p.discard(c)
}
