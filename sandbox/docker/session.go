package docker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/protocol"
	"github.com/agentteam/agentteam/workspace"
)

// hostGrace is how long past a block's timeout the host waits for the
// runner before it kills the container: the runner enforces the timeout
// (and may spend up to 5 s sweeping), the host only backs it up.
const hostGrace = 8 * time.Second

// cancelGrace is how long the host waits for the runner to report a
// cancelled block before it kills the container.
const cancelGrace = 2 * time.Second

type session struct {
	d    *Backend
	ws   *workspace.Workspace
	user string
	id   string

	mu     sync.Mutex // one block at a time
	box    *box       // nil until started, and after a container is discarded
	nextID uint64
	closed bool
}

func (s *session) start(ctx context.Context) error {
	b, err := s.d.startBox(ctx, s.id, s.user, s.ws.Dir())
	if err != nil {
		return err
	}
	s.box = b
	if s.d.copy {
		// The mirror as the container holds it (times to the precision
		// the engine keeps), so that the first block's changes are its own.
		if err := s.d.copyOut(ctx, b, s.ws); err != nil {
			s.discard()
			return err
		}
	}
	return nil
}

// discard removes the current container; the next block starts a new one.
func (s *session) discard() {
	s.d.remove(s.box)
	s.box = nil
}

// Close removes the container. It runs on a fresh context inside remove, so
// a cancelled caller still cleans up.
func (s *session) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.discard()
	return s.ws.Close()
}

// Run runs one block.
func (s *session) Run(ctx context.Context, code sandbox.Code) (sandbox.Result, error) {
	res := sandbox.Result{Language: code.Language, Filename: code.Filename, ExitCode: -1}
	if err := code.Validate(); err != nil {
		res.Error = err.Error()
		return res, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return res, errors.New("run block: session is closed")
	}
	if s.box == nil {
		if err := s.start(ctx); err != nil {
			return res, err
		}
	}
	cfg := s.d.cfg
	// The host's walks while the block runs end with the block's deadline
	// or the caller's context, whichever comes first.
	blockCtx, cancelBlock := context.WithTimeout(ctx, cfg.Timeout+hostGrace)
	defer cancelBlock()
	before, snapErr := s.ws.Snapshot(blockCtx, int(cfg.WorkspaceEntries))

	s.nextID++
	req := protocol.Run{
		ID:          s.nextID,
		Language:    code.Language,
		Code:        []byte(code.Source),
		Filename:    code.Filename,
		SaveOnly:    code.SaveOnly,
		TimeoutMS:   cfg.Timeout.Milliseconds(),
		MaxOutput:   cfg.MaxOutput,
		OutputLimit: cfg.OutputLimit,
		Stream:      code.Output != nil,
	}
	s.box.egress.take() // what an earlier block's leftovers did is not this block's
	start := time.Now()
	if err := s.box.send(protocol.TypeRun, req); err != nil {
		s.discard()
		res.Error = "the sandbox runner was gone before the block started; its container was replaced"
		return res, nil
	}
	// A copied workspace is capped by its tmpfs in the container: nothing
	// to watch here.
	full, stopWatch := (<-chan struct{})(nil), func() bool { return false }
	if !s.d.copy {
		full, stopWatch = s.watchWorkspace(blockCtx)
	}
	out, runErr := s.await(ctx, req.ID, full, live(code.Output, cfg.MaxOutput), &res)
	tooDeep := stopWatch()
	res.Duration = time.Since(start)
	if out != nil {
		s.fill(&res, out)
		res.Duration = time.Duration(out.DurationNS)
	}
	if s.box != nil {
		res.Egress = s.box.egress.take()
	}
	res.DurationMS = float64(res.Duration.Microseconds()) / 1000

	// What the host does once the block is over protects the user's
	// workspace, so it runs even if the caller gave up, within its own
	// budget.
	after, cancelAfter := context.WithTimeout(context.WithoutCancel(ctx), afterBlockBudget)
	defer cancelAfter()
	var copyErr error
	if s.d.copy && s.box != nil {
		if copyErr = s.d.copyOut(after, s.box, s.ws); copyErr != nil {
			s.d.log.Warn("copy workspace out", "err", copyErr)
			// The next block gets a new container, from the host's copy,
			// which checkWorkspace rolls back when the block went too far.
			s.discard()
			tooDeep = tooDeep || errors.Is(copyErr, workspace.ErrTooDeep)
			res.WorkspaceExceeded = res.WorkspaceExceeded || errors.Is(copyErr, workspace.ErrTooLarge)
		}
	}
	var now workspace.Snapshot // the workspace as the block left it, nil if unknown
	if snapErr == nil {
		now = s.checkWorkspace(after, before, &res, tooDeep)
	}
	if copyErr != nil {
		res.Error = joinError(res.Error, "the workspace could not be copied back from the sandbox, so its container was replaced")
	}
	s.sanitize(after, &res, now)
	return res, runErr
}

// afterBlockBudget bounds the host's walks of the workspace after a block
// (check, roll back, listing, sanitising), all together: they take well
// under a second for a workspace at its entry cap.
const afterBlockBudget = 30 * time.Second

// checkWorkspace lists what the block changed in res.Files and returns the
// workspace's snapshot after it (nil if it could not be taken). A block that
// went past the workspace cap (the watchdog saw it, tooDeep if by nesting
// too deep, or the block was quicker than the watchdog) is marked so and
// what it added is removed, so the next block has room and no later walk
// meets a tree it refuses.
func (s *session) checkWorkspace(ctx context.Context, before workspace.Snapshot, res *sandbox.Result, tooDeep bool) workspace.Snapshot {
	cfg := s.d.cfg
	after, err := s.ws.Snapshot(ctx, int(cfg.WorkspaceEntries)*2)
	tooDeep = tooDeep || errors.Is(err, workspace.ErrTooDeep)
	if !res.WorkspaceExceeded {
		var bytes int64
		for _, fi := range after {
			if fi.Mode.IsRegular() {
				bytes += fi.Size
			}
		}
		res.WorkspaceExceeded = tooDeep || errors.Is(err, workspace.ErrTooManyEntries) ||
			int64(len(after)) > cfg.WorkspaceEntries || bytes > cfg.WorkspaceBytes
	}
	if res.WorkspaceExceeded {
		n, rmErr := s.ws.RemoveNew(ctx, before, 0) // all of it, however many
		switch {
		case rmErr != nil:
			s.d.log.Warn("roll back workspace", "err", rmErr)
			res.Error = "the block exceeded the workspace cap, and removing what it created failed"
		case tooDeep:
			res.Error = fmt.Sprintf("the block made directories nested deeper than %d levels, past the workspace cap; the %d entries it created were removed",
				workspace.MaxDepth, n)
		default:
			res.Error = fmt.Sprintf("the block exceeded the workspace cap (%d bytes, %d entries); the %d entries it created were removed",
				cfg.WorkspaceBytes, cfg.WorkspaceEntries, n)
		}
		after, err = s.ws.Snapshot(ctx, int(cfg.WorkspaceEntries)*2)
	}
	if err != nil {
		return nil
	}
	res.Files = workspace.Diff(before, after)
	return after
}

// sanitize resets the permissions the block left in the workspace (setuid,
// setgid, sticky, world-write, and the workspace directory's own mode) and
// notes what it changed in res. The block's processes are gone, so the
// snapshot checkWorkspace just took (now) tells whether the tree needs a
// walk of its own; most blocks leave nothing to reset.
func (s *session) sanitize(ctx context.Context, res *sandbox.Result, now workspace.Snapshot) {
	done, err := s.ws.SanitizeAfter(ctx, s.ws.InitialMode(), now)
	res.Files.Sanitized, res.Files.SanitizedCount = done.Changed, done.ChangedCount
	if err != nil {
		s.d.log.Warn("sanitize workspace", "err", err)
		res.Error = joinError(res.Error, "the host could not check the permissions of every file the block left")
	}
}

// sanitizeMoved resets permissions in dir, a pooled session's workspace,
// once its files are moved back from the slot: each block's files were
// sanitised in the slot already, this catches anything changed since. dir
// itself was never mounted in the sandbox, so its own mode stays.
func (s *session) sanitizeMoved(ctx context.Context, dir string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), afterBlockBudget)
	defer cancel()
	ws, err := workspace.Open(dir)
	if err == nil {
		_, err = ws.Sanitize(ctx, ws.InitialMode())
		ws.Close()
	}
	if err != nil {
		s.d.log.Warn("sanitize workspace", "dir", dir, "err", err)
	}
}

// live passes the Output frames of a block on to output, at most maxPerStream
// bytes of each stream: the runner lives with the block, so its word on the
// cap is not taken. It reports false for a frame no runner sends (an unknown
// stream), which means the runner cannot be trusted.
func live(output func(string, []byte), maxPerStream int) func(protocol.Output) bool {
	left := map[string]int{sandbox.Stdout: maxPerStream, sandbox.Stderr: maxPerStream}
	return func(o protocol.Output) bool {
		n, ok := left[o.Stream]
		if !ok {
			return false
		}
		data := o.Data[:min(len(o.Data), n)]
		left[o.Stream] -= len(data)
		if output != nil && len(data) > 0 {
			output(o.Stream, data)
		}
		return true
	}
}

// await waits for block id's result, passing its output frames to output,
// enforcing the host-side deadline and the workspace cap, and discarding
// the container whenever the runner can no longer be trusted to have
// cleaned up.
func (s *session) await(ctx context.Context, id uint64, full <-chan struct{}, output func(protocol.Output) bool, res *sandbox.Result) (*protocol.Result, error) {
	b := s.box
	deadline := time.NewTimer(s.d.cfg.Timeout + hostGrace)
	defer deadline.Stop()
	var grace <-chan time.Time // set once a cancel was sent
	var ctxErr error
	// done is nil once ctx is done: a closed channel is always ready, and
	// selecting on it would spin until the runner answers or grace ends.
	done := ctx.Done()
	cancel := func() {
		if grace == nil {
			b.send(protocol.TypeCancel, protocol.Cancel{ID: id})
			grace = time.After(cancelGrace)
		}
	}
	for {
		select {
		case f, ok := <-b.frames:
			if !ok {
				// Was it the engine? Then say so: the session cannot go on
				// here (a batch moves the task to another engine).
				if err := s.d.Ping(context.WithoutCancel(ctx)); err != nil {
					s.discard()
					return nil, err
				}
				if err := b.streamErr(); errors.Is(err, protocol.ErrCorrupt) {
					res.Error = fmt.Sprintf("the sandbox's result stream was corrupted during the block (%v); its container was replaced", err)
				} else {
					res.Error = "the sandbox runner died during the block; its container was replaced"
					s.d.log.Warn("sandbox runner died", "err", err, "runner_stderr", b.stderr.String())
				}
				s.markOOM(b, res)
				s.discard()
				return nil, ctxErr
			}
			if f.Type == protocol.TypeOutput {
				var o protocol.Output
				if err := f.Decode(&o); err != nil || o.ID != id || !output(o) {
					res.Error = "the sandbox runner sent corrupt output; its container was replaced"
					s.discard()
					return nil, ctxErr
				}
				continue
			}
			if f.Type != protocol.TypeResult {
				continue
			}
			var out protocol.Result
			if err := f.Decode(&out); err != nil || out.ID != id {
				res.Error = "the sandbox runner sent a corrupt result; its container was replaced"
				s.discard()
				return nil, ctxErr
			}
			if out.Leftover != 0 || out.IPCLeft != 0 {
				s.d.log.Warn("sandbox not clean after block; replacing its container", "leftover", out.Leftover,
					"ipc_left", out.IPCLeft, "runner_stderr", b.stderr.String())
				s.discard()
			}
			return &out, ctxErr
		case <-full:
			full = nil
			res.WorkspaceExceeded = true
			cancel()
		case <-done:
			done = nil
			ctxErr = ctx.Err()
			res.Canceled = true
			cancel()
		case <-deadline.C:
			res.TimedOut = true
			res.Error = "the block outlived its timeout inside the sandbox; its container was killed and replaced"
			s.discard()
			return nil, ctxErr
		case <-grace:
			res.Error = "the sandbox did not stop the block when asked; its container was killed and replaced"
			s.discard()
			return nil, ctxErr
		}
	}
}

// fill copies the runner's report into res, keeping flags the host set.
func (s *session) fill(res *sandbox.Result, out *protocol.Result) {
	res.ExitCode = out.ExitCode
	res.Signal = out.Signal
	res.Stdout = string(out.Stdout)
	res.Stderr = string(out.Stderr)
	res.StdoutBytes = out.StdoutBytes
	res.StderrBytes = out.StderrBytes
	res.Truncated = out.StdoutBytes > int64(len(out.Stdout)) || out.StderrBytes > int64(len(out.Stderr)) ||
		len(out.Stdout) > s.d.cfg.MaxOutput+64 || len(out.Stderr) > s.d.cfg.MaxOutput+64
	// The runner is inside the sandbox: never trust it for more than the cap.
	if res.Truncated {
		res.Stdout = capString(res.Stdout, s.d.cfg.MaxOutput+64)
		res.Stderr = capString(res.Stderr, s.d.cfg.MaxOutput+64)
	}
	res.TimedOut = res.TimedOut || out.TimedOut
	res.OOMKilled = res.OOMKilled || out.OOMKilled
	res.OutputLimited = out.OutputLimited
	res.Canceled = res.Canceled || out.Canceled
	if out.Error != "" {
		res.Error = out.Error
	}
}

func capString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// markOOM asks the engine whether a dead container was OOM-killed.
func (s *session) markOOM(b *box, res *sandbox.Result) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got, err := s.d.cli.ContainerInspect(ctx, b.id); err == nil && got.State != nil && got.State.OOMKilled {
		res.OOMKilled = true
	}
}

// watchWorkspace polls the workspace's size while a block runs and signals
// once it passes the cap, or nests deeper than workspace.MaxDepth. The poll
// interval grows with the cost of a walk, so a large workspace does not keep
// a core busy, and each walk ends with ctx. stop reports whether the cap
// was passed by nesting.
func (s *session) watchWorkspace(ctx context.Context) (full <-chan struct{}, stop func() (tooDeep bool)) {
	fullc := make(chan struct{})
	stopc := make(chan struct{})
	done := make(chan struct{})
	cfg := s.d.cfg
	var deep bool
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(done)
		interval := 20 * time.Millisecond
		for {
			select {
			case <-stopc:
				return
			case <-time.After(interval):
			}
			t := time.Now()
			u, err := s.ws.Usage(ctx, cfg.WorkspaceBytes+1, cfg.WorkspaceEntries+1)
			if ctx.Err() != nil {
				return // the block's time is up: await sees to it
			}
			if deep = errors.Is(err, workspace.ErrTooDeep); deep || err == nil && (u.Bytes > cfg.WorkspaceBytes || u.Entries > cfg.WorkspaceEntries) {
				close(fullc)
				return
			}
			interval = max(20*time.Millisecond, 10*time.Since(t))
		}
	}()
	return fullc, func() bool { cancel(); close(stopc); <-done; return deep }
}

// joinError adds msg to a result's error text.
func joinError(text, msg string) string {
	if text == "" {
		return msg
	}
	return text + "; " + msg
}
