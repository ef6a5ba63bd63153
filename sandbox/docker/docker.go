// Package docker owns the Docker backend of the sandbox: a hardened
// container per session, checked before anything runs in it, with a
// resident runner that takes one block at a time; pools of reused
// containers, fleets over several engines, the engine's doctor checks, and
// the sweep that removes what a killed process left behind.
package docker

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/egress"
	"github.com/agentteam/agentteam/sandbox/protocol"
	"github.com/agentteam/agentteam/workspace"
)

// Backend runs sessions as containers on a Docker engine.
type Backend struct {
	cli  *client.Client
	cfg  Config
	log  *slog.Logger
	host string // the engine's address as the user gave it ("" : from the environment)

	imageOnce sync.Once
	imageEnv  []string
	imageErr  error

	egress egress.Policy // what blocks may reach; empty: nothing
	index  *egress.Index // the package index mirror of the pypi preset, shared by sessions

	// copy: the workspace travels through the engine's API (Config.CopyWorkspace).
	copy bool

	runtimeOnce sync.Once
	gvisor      bool // the runtime is gVisor's runsc (from its binary, not its registered name)
	runtimeErr  error
}

// Option configures a Backend.
type Option func(*Backend)

// New connects to the engine named by the environment (DOCKER_HOST and
// friends), negotiating the API version, and checks that it answers.
func New(ctx context.Context, cfg Config, opts ...Option) (*Backend, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	d := &Backend{cfg: cfg, log: slog.Default()}
	d.egress, _ = egress.ParsePolicy(cfg.Egress) // checked by WithDefaults
	if d.egress.Has("pypi") {
		d.index = egress.NewIndex(egress.DefaultCacheDir(), "https://pypi.org/simple/", nil)
	}
	for _, o := range opts {
		o(d)
	}
	// The engine named by WithHost, else DOCKER_HOST, else the default
	// socket. The TLS variables apply to tcp:// addresses alone: with two
	// engines, a unix socket beside a TLS port is still plain HTTP.
	host := cmp.Or(d.host, os.Getenv(client.EnvOverrideHost), client.DefaultDockerHost)
	hostOpts, err := hostOptions(host)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", sandbox.ErrConfig, err)
	}
	if !d.egress.Empty() && !strings.HasPrefix(host, "unix://") {
		// The proxy's socket is a file here, bind-mounted: an engine on
		// another machine would mount an empty directory of its own.
		return nil, fmt.Errorf("%w: egress needs an engine on this machine (unix://), not %s", sandbox.ErrConfig, host)
	}
	d.copy = cfg.CopyWorkspace || !strings.HasPrefix(host, "unix://")
	copts := append([]client.Opt{client.WithVersionFromEnv(), client.WithAPIVersionNegotiation()}, hostOpts...)
	if d.cli, err = client.NewClientWithOpts(copts...); err != nil {
		return nil, fmt.Errorf("%w: create docker client for %s: %v", sandbox.ErrEngineUnavailable, d.Host(), err)
	}
	if err := d.Ping(ctx); err != nil {
		d.cli.Close()
		return nil, err
	}
	return d, nil
}

// Host names the engine, for messages.
func (d *Backend) Host() string {
	if d.host != "" {
		return d.host
	}
	if d.cli != nil {
		return d.cli.DaemonHost()
	}
	return "the Docker engine"
}

// Ping checks that the engine answers within 10 seconds.
func (d *Backend) Ping(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := d.cli.Ping(pctx); err != nil {
		return d.engineError(err)
	}
	return nil
}

// Client returns the engine client, for checks such as doctor's.
func (d *Backend) Client() *client.Client { return d.cli }

// Config returns the effective configuration, defaults filled in.
func (d *Backend) Config() Config { return d.cfg }

// Close closes the engine connection.
func (d *Backend) Close() error { return d.cli.Close() }

func (d *Backend) engineError(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	// The client calls every failed request a failed connection; through
	// ssh, ssh's own words say why.
	if cmdErr, ok := errors.AsType[*commandError](err); ok {
		return fmt.Errorf("%w: cannot reach %s: %v", sandbox.ErrEngineUnavailable, d.Host(), cmdErr)
	}
	if client.IsErrConnectionFailed(err) {
		return fmt.Errorf("%w: nothing answers at %s; is it running? (try: sudo systemctl start docker)", sandbox.ErrEngineUnavailable, d.Host())
	}
	return fmt.Errorf("%w at %s: %v", sandbox.ErrEngineUnavailable, d.Host(), err)
}

// classify turns an engine error into one of the package's errors.
func (d *Backend) classify(verb string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", verb, err)
	case client.IsErrConnectionFailed(err):
		return d.engineError(err)
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("%w: no image %q on the engine", sandbox.ErrImageMissing, d.cfg.Image)
	}
	return fmt.Errorf("%s: %w", verb, err)
}

// image returns the image's environment, which Docker merges into every
// container's, once per backend.
func (d *Backend) image(ctx context.Context) ([]string, error) {
	d.imageOnce.Do(func() {
		img, err := d.cli.ImageInspect(ctx, d.cfg.Image)
		if err != nil {
			d.imageErr = d.classify("inspect image", err)
			return
		}
		if img.Config != nil {
			d.imageEnv = img.Config.Env
		}
	})
	return d.imageEnv, d.imageErr
}

// Check reports sandbox.ErrImageMissing when the sandbox image is not on the engine,
// sandbox.ErrRuntimeMissing when the configured runtime is not registered, and
// sandbox.ErrConfig for CPU or memory limits beyond the engine's, so a caller can
// say so before it prepares anything.
func (d *Backend) Check(ctx context.Context) error {
	if _, err := d.image(ctx); err != nil {
		return err
	}
	_, err := d.runtime(ctx)
	return err
}

// GVisor reports whether sessions run under gVisor, once Check or a session
// has asked the engine.
func (d *Backend) GVisor() bool { return d.gvisor }

// runtime finds the runtime sessions run under, once per backend, and
// whether it is gVisor: by the binary the engine runs (runsc), whatever
// name it was registered under. The runner confirms it from inside.
func (d *Backend) runtime(ctx context.Context) (bool, error) {
	d.runtimeOnce.Do(func() {
		info, err := d.cli.Info(ctx)
		if err != nil {
			d.runtimeErr = d.classify("read engine info", err)
			return
		}
		name := cmp.Or(d.cfg.Runtime, info.DefaultRuntime)
		rt, ok := info.Runtimes[name]
		if !ok && d.cfg.Runtime != "" {
			names := make([]string, 0, len(info.Runtimes))
			for n := range info.Runtimes {
				names = append(names, n)
			}
			slices.Sort(names)
			d.runtimeErr = fmt.Errorf("%w: the engine has no runtime %q (it has %s); register it in /etc/docker/daemon.json",
				sandbox.ErrRuntimeMissing, d.cfg.Runtime, strings.Join(names, ", "))
			return
		}
		d.gvisor = isGVisor(name, rt.Path)
		if d.gvisor && !d.egress.Empty() {
			// Measured with runsc 2025-09 and --network none: the sandbox
			// has no loopback address for the runner's relay to listen on.
			d.runtimeErr = fmt.Errorf("%w: egress does not work under gVisor yet (its sandbox without a network has no loopback address for the relay); run without egress, or under the default runtime",
				sandbox.ErrRuntimeMissing)
			return
		}
		// Limits the engine would refuse at create, said up front in the
		// settings' own terms.
		switch {
		case info.NCPU > 0 && d.cfg.CPUs > float64(info.NCPU):
			d.runtimeErr = fmt.Errorf("%w: cpus %g is more than the engine's %d CPUs", sandbox.ErrConfig, d.cfg.CPUs, info.NCPU)
		case info.MemTotal > 0 && d.cfg.Memory > info.MemTotal:
			d.runtimeErr = fmt.Errorf("%w: memory %d MiB is more than the engine's %d MiB", sandbox.ErrConfig, d.cfg.Memory>>20, info.MemTotal>>20)
		}
	})
	return d.gvisor, d.runtimeErr
}

// isGVisor tells gVisor's runsc by the runtime's binary (or, with no path,
// its name).
func isGVisor(name, path string) bool {
	if path == "" {
		path = name
	}
	return strings.HasPrefix(filepath.Base(path), "runsc")
}

// NewSession starts a hardened container for workspaceDir.
func (d *Backend) NewSession(ctx context.Context, workspaceDir string) (sandbox.Session, error) {
	ws, err := workspace.Open(workspaceDir)
	if err != nil {
		return nil, fmt.Errorf("open workspace: %w", err)
	}
	user, err := d.prepareOwnership(ws.Dir())
	if err != nil {
		ws.Close()
		return nil, err
	}
	var id [6]byte
	rand.Read(id[:])
	s := &session{d: d, ws: ws, user: user, id: hex.EncodeToString(id[:])}
	if err := s.start(ctx); err != nil {
		ws.Close()
		return nil, err
	}
	return s, nil
}

// prepareOwnership picks the container's user. As root on the host, the
// sandbox runs as the image's dedicated user and is given the workspace
// directory itself (not its contents); as another user, it runs with that
// user's ids, so the files the team makes belong to them. A copied
// workspace is never shared: the dedicated user, and dir is left as it is.
func (d *Backend) prepareOwnership(dir string) (string, error) {
	if d.copy {
		return fmt.Sprintf("%d:%d", sandboxUID, sandboxUID), nil
	}
	uid, gid := os.Geteuid(), os.Getegid()
	if uid != 0 {
		if gid == 0 {
			gid = uid
		}
		return fmt.Sprintf("%d:%d", uid, gid), nil
	}
	if err := os.Lchown(dir, sandboxUID, sandboxUID); err != nil {
		return "", fmt.Errorf("give workspace to the sandbox user: %w", err)
	}
	return fmt.Sprintf("%d:%d", sandboxUID, sandboxUID), nil
}

// box is one running container and its attached runner.
type box struct {
	id     string
	tok    protocol.Token
	conn   net.Conn
	wmu    sync.Mutex
	frames chan protocol.Frame // closed when the stream ends
	errMu  sync.Mutex
	err    error // why the stream ended
	stderr *tailBuffer
	ready  protocol.Ready
	egress *egressProxy // nil without egress
}

func (b *box) send(t protocol.Type, v any) error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return protocol.Write(b.conn, b.tok, t, v)
}

func (b *box) streamErr() error {
	b.errMu.Lock()
	defer b.errMu.Unlock()
	return b.err
}

// startBox creates, attaches, starts and verifies a container, and waits
// for its runner. On any failure nothing is left behind.
//
// A container is started right after it is created and attached, and
// verified after that: AutoRemove covers only containers that have started,
// so the time between create and start is the time in which a killed
// process leaves a container behind (the sweep of the next command removes
// it then). Starting first is safe: until it is greeted, the runner runs
// nothing but its own set-up, and the greeting is sent only once inspect
// shows every protection in effect, so no block can reach a container that
// was not verified.
func (d *Backend) startBox(ctx context.Context, sessionID, user, dir string) (_ *box, err error) {
	imageEnv, err := d.image(ctx)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{
		LabelManaged: "true",
		LabelSession: sessionID,
		LabelOwner:   ownerLabel(),
	}
	gvisor, err := d.runtime(ctx)
	if err != nil {
		return nil, err
	}
	if gvisor && d.copy {
		return nil, fmt.Errorf("%w: a copied workspace (an engine on another machine, %s) does not work under gVisor yet", sandbox.ErrConfig, d.Host())
	}
	tok, err := protocol.NewToken()
	if err != nil {
		return nil, err
	}
	var ep *egressProxy
	if !d.egress.Empty() {
		if ep, err = startEgress(d.egress, d.index); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil && ep != nil {
			ep.close()
		}
	}()
	mountDir := dir
	if d.copy {
		mountDir = "" // a tmpfs volume of the container's own
	}
	sp := newSpec(d.cfg, user, mountDir, ep.hostDir(), d.index != nil, labels, gvisor)
	// Create, attach and start on a context the caller cannot cancel: a
	// request cut off mid-way can leave a created container whose id we
	// never learn, or one that never starts and so never removes itself.
	// The caller's cancellation is looked at once it has started.
	startCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	created, err := d.cli.ContainerCreate(startCtx, sp.config, sp.host, nil, nil, "agentteam-"+sessionID+"-"+randHex(3))
	if err != nil {
		return nil, d.classify("create sandbox container", err)
	}
	b := &box{id: created.ID, tok: tok, egress: ep}
	defer func() { // b, not the named result, which a failing return sets to nil
		if err != nil {
			d.remove(b)
		}
	}()
	// Attach before start: the runner's stdin then closes when this process
	// dies, so it exits and the container removes itself; and no frame can
	// be written before anyone reads.
	hj, err := d.cli.ContainerAttach(startCtx, b.id, container.AttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		return nil, d.classify("attach sandbox container", err)
	}
	b.conn = hj.Conn
	b.stderr = newTailBuffer(4 << 10)
	b.frames = make(chan protocol.Frame, 4)
	go b.read(hj.Reader)
	if err := d.cli.ContainerStart(startCtx, b.id, container.StartOptions{}); err != nil {
		return nil, d.startError(err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start sandbox runner: %w", err)
	}
	got, err := d.cli.ContainerInspect(ctx, b.id)
	if err != nil {
		return nil, d.classify("inspect sandbox container", err)
	}
	if err := sp.verify(got, imageEnv); err != nil {
		return nil, err
	}
	hello := protocol.Hello{Version: protocol.Version, MemoryLimit: d.cfg.Memory}
	if ep != nil {
		hello.Egress = &protocol.Egress{Listen: egressListen, Socket: egressSocket}
	}
	if err := b.send(protocol.TypeHello, hello); err != nil {
		return nil, fmt.Errorf("greet sandbox runner: %w", err)
	}
	select {
	case f, ok := <-b.frames:
		if !ok {
			return nil, fmt.Errorf("start sandbox runner: %v (runner said: %q)", b.streamErr(), firstLine(b.stderr.String()))
		}
		if f.Type != protocol.TypeReady {
			return nil, fmt.Errorf("start sandbox runner: %w: first frame of type %d", protocol.ErrCorrupt, f.Type)
		}
		if err := f.Decode(&b.ready); err != nil {
			return nil, err
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("start sandbox runner: %w", ctx.Err())
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("start sandbox runner: no answer in 30s (runner said: %q)", firstLine(b.stderr.String()))
	}
	if err := verifyReady(b.ready, gvisor); err != nil {
		return nil, err
	}
	if d.copy {
		// Before the first block: the runner has run nothing yet.
		if err := d.copyIn(ctx, b, dir); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// startError explains a container that would not start. The engine's own
// words end with the runtime's, which say what is wrong: under a runtime
// of the user's choice, name it and say what usually fixes it.
func (d *Backend) startError(err error) error {
	err = d.classify("start sandbox container", err)
	if d.cfg.Runtime == "" || errors.Is(err, sandbox.ErrEngineUnavailable) || errors.Is(err, context.Canceled) {
		return err
	}
	hint := "check how it is registered with the engine"
	if d.gvisor {
		hint = "register a current runsc (runtimeArgs [\"--oci-seccomp\"])"
		if strings.Contains(err.Error(), "network enabled in root network namespace") {
			hint = "this runsc is too old for this kernel; register a current one instead"
		}
	}
	return fmt.Errorf("%w: the runtime %q cannot start the sandbox: %v; %s", sandbox.ErrRuntimeFailed, d.cfg.Runtime, err, hint)
}

// read demultiplexes the attach stream: stdout carries frames, stderr the
// runner's own complaints.
func (b *box) read(r *bufio.Reader) {
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, b.stderr, r)
		pw.CloseWithError(err)
	}()
	defer close(b.frames)
	for {
		f, err := protocol.Read(pr, &b.tok)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("sandbox runner exited")
			}
			b.errMu.Lock()
			b.err = err
			b.errMu.Unlock()
			pr.CloseWithError(err) // unblock StdCopy
			return
		}
		b.frames <- f
	}
}

// remove kills and removes a container on a fresh context, so that it also
// happens after the caller's context was cancelled.
func (d *Backend) remove(b *box) {
	if b == nil {
		return
	}
	if b.conn != nil {
		b.conn.Close()
	}
	defer b.egress.close() // after the container: nothing relays to it then
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := d.cli.ContainerRemove(ctx, b.id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if cerrdefs.IsConflict(err) {
		// AutoRemove got there first ("removal already in progress"): wait
		// for it, so that no container outlives the session's Close.
		err = d.waitRemoved(ctx, b.id)
	}
	if err != nil && !cerrdefs.IsNotFound(err) {
		d.log.Warn("remove sandbox container", "id", b.id[:12], "err", err)
	}
}

// waitRemoved waits until the engine no longer knows the container.
func (d *Backend) waitRemoved(ctx context.Context, id string) error {
	for {
		_, err := d.cli.ContainerInspect(ctx, id)
		switch {
		case cerrdefs.IsNotFound(err):
			return nil
		case err != nil:
			return fmt.Errorf("wait for removal: %w", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// tailBuffer keeps the last n bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	n   int
	buf []byte
}

func newTailBuffer(n int) *tailBuffer { return &tailBuffer{n: n} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.n {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.n:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// firstLine is the first non-blank line of what a dying runner printed, at
// most 200 bytes: the reason, not a Go stack trace of 4 KB.
func firstLine(s string) string {
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			if len(line) > 200 {
				line = line[:200] + "…"
			}
			return line
		}
	}
	return ""
}
