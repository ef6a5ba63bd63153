// Package runner is the resident process inside a sandbox container. It
// receives blocks over its stdin, runs each as a child with its output on
// private pipes, reports the outcome on its stdout in protocol frames, and
// after every block kills every other process in the container (init
// excepted) and checks that none is left.
//
// It is built as a static binary (cmd/agentteam-runner) and copied into the
// sandbox image; it imports nothing outside the standard library, x/sys and
// the protocol package.
package runner

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/agentteam/agentteam/sandbox/protocol"
)

// Workspace is where blocks run and where "# filename:" files are saved.
const Workspace = "/workspace"

// tmpSkel holds files the image wants in every sandbox's /tmp (caches that
// are slow to build, such as matplotlib's font list).
const tmpSkel = "/etc/agentteam/tmp-skel"

// interpreters maps a language to the command that runs a script path.
var interpreters = map[string]string{
	"python": "python3",
	"sh":     "sh",
	"bash":   "bash",
	// The main script is /dev/fd/3 unless the block names a file; node
	// would resolve that link to a memfd name it cannot open.
	"javascript": "node --preserve-symlinks-main",
}

// Serve runs the runner's loop until in ends. It returns nil on a clean end.
func Serve(in io.Reader, out io.Writer) error {
	// Non-dumpable: code of the same uid can then neither ptrace the runner
	// nor open its /proc/PID/fd (where the token-bearing stdio lives).
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("set non-dumpable: %w", err)
	}
	// Subreaper: orphans of a block become our children, so the sweep can
	// reap them and count what is left. (As the container's PID 1, the
	// runner gets them anyway; the flag keeps that true when it is not.)
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set child subreaper: %w", err)
	}
	// Catch every signal and do nothing with it: as PID 1 the kernel then
	// delivers a block's kill -TERM (or -SEGV, -QUIT...) to a handler that
	// shrugs, instead of Go's default of exiting. Caught signals go back to
	// their defaults in the blocks' processes when they exec; ignored ones
	// would not, so signal.Ignore is not used.
	shrug := make(chan os.Signal, 16)
	signal.Notify(shrug)
	go func() {
		for range shrug {
		}
	}()
	reserveThreads(reservedThreads)
	seedTmp(tmpSkel, "/tmp")
	br := bufio.NewReader(in)
	hello, err := protocol.Read(br, nil)
	if err != nil {
		return fmt.Errorf("read hello: %w", err)
	}
	if hello.Type != protocol.TypeHello {
		return fmt.Errorf("read hello: got frame type %d", hello.Type)
	}
	var h protocol.Hello
	if err := hello.Decode(&h); err != nil {
		return err
	}
	if h.Version != protocol.Version {
		return fmt.Errorf("read hello: protocol version %d, runner speaks %d", h.Version, protocol.Version)
	}
	if h.Egress != nil {
		if err := relayEgress(h.Egress.Listen, h.Egress.Socket); err != nil {
			return fmt.Errorf("relay egress: %w", err)
		}
	}
	s := &server{tok: hello.Token, out: out, guard: findMemoryGuard()}
	if s.guard == nil && kernel() == "gvisor" {
		s.guard = findGVisorGuard(h.MemoryLimit)
	}
	if err := s.send(protocol.TypeReady, s.confinement()); err != nil {
		return err
	}
	s.warm, _ = startWarmPython()

	frames := make(chan protocol.Frame)
	readErr := make(chan error, 1)
	go func() {
		for {
			f, err := protocol.Read(br, &s.tok)
			if err != nil {
				readErr <- err
				close(frames)
				return
			}
			frames <- f
		}
	}()
	for f := range frames {
		switch f.Type {
		case protocol.TypeReset:
			if err := s.send(protocol.TypeReady, s.reset()); err != nil {
				return err
			}
			continue
		case protocol.TypeWarm:
			if s.warm == nil && countOthers() == 0 {
				s.warm, _ = startWarmPython()
			}
			continue
		}
		if f.Type != protocol.TypeRun {
			continue // a cancel for a block that already ended
		}
		var req protocol.Run
		if err := f.Decode(&req); err != nil {
			return err
		}
		res := s.run(req, frames)
		if err := s.send(protocol.TypeResult, res); err != nil {
			return err
		}
		if s.warm == nil && res.Leftover == 0 && res.IPCLeft == 0 { // a saved block used none
			s.warm, _ = startWarmPython()
		}
	}
	if err := <-readErr; !errors.Is(err, io.EOF) {
		return fmt.Errorf("read frame: %w", err)
	}
	return nil
}

type server struct {
	tok   protocol.Token
	mu    sync.Mutex
	out   io.Writer
	warm  *warmProcess // the next python block's interpreter, when one is ready
	guard *memoryGuard // nil when the memory cgroup cannot be read
}

// startBlock starts the block's process with its output on fresh pipes: the
// warm interpreter for python when there is one, a new process otherwise.
func (s *server) startBlock(req protocol.Run, interp string) (*os.Process, *os.File, *os.File, func(), error) {
	w := s.warm
	s.warm = nil
	if w != nil && req.Language != "python" {
		w.discard() // only the block's own processes may run during a block
		w = nil
	}
	if w != nil {
		path := "<block>"
		if req.Filename != "" {
			if _, _, err := placeScript(req); err != nil {
				w.discard()
				return nil, nil, nil, nil, err
			}
			path = filepath.Join(Workspace, req.Filename)
		}
		w.feed(path, req.Code)
		return w.cmd.Process, w.stdoutR, w.stderrR, func() {}, nil
	}
	script, extra, err := placeScript(req)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	closeExtra := func() {
		if extra != nil {
			extra.Close()
		}
	}
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		closeExtra()
		return nil, nil, nil, nil, fmt.Errorf("create pipe: %v", err)
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		closeExtra()
		stdoutR.Close()
		stdoutW.Close()
		return nil, nil, nil, nil, fmt.Errorf("create pipe: %v", err)
	}
	argv := strings.Fields(interp)
	cmd := exec.Command(argv[0], append(argv[1:], script)...)
	cmd.Dir = Workspace
	cmd.SysProcAttr = blockAttr()
	cmd.Stdout = stdoutW
	cmd.Stderr = stderrW
	if extra != nil {
		cmd.ExtraFiles = []*os.File{extra}
	}
	err = cmd.Start()
	stdoutW.Close()
	stderrW.Close()
	if err != nil {
		closeExtra()
		stdoutR.Close()
		stderrR.Close()
		return nil, nil, nil, nil, fmt.Errorf("start %s: %v", interp, err)
	}
	setOOMVictim(cmd.Process.Pid)
	return cmd.Process, stdoutR, stderrR, closeExtra, nil
}

func (s *server) send(t protocol.Type, v any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return protocol.Write(s.out, s.tok, t, v)
}

// run runs one block and sweeps the container afterwards. Cancel frames for
// this block arrive on frames while it runs.
func (s *server) run(req protocol.Run, frames <-chan protocol.Frame) protocol.Result {
	start := time.Now()
	res := protocol.Result{ID: req.ID, ExitCode: -1}
	fail := func(format string, args ...any) protocol.Result {
		res.Error = fmt.Sprintf(format, args...)
		res.DurationNS = time.Since(start).Nanoseconds()
		return res
	}
	if req.SaveOnly {
		// Written as the sandbox user, like any file a block makes; the
		// host has checked the name is local.
		if req.Filename == "" {
			return fail("a block to save needs a file name")
		}
		if _, _, err := placeScript(req); err != nil {
			return fail("%v", err)
		}
		res.ExitCode = 0
		res.DurationNS = time.Since(start).Nanoseconds()
		return res
	}
	interp, ok := interpreters[req.Language]
	if !ok {
		return fail("unsupported language %q", req.Language)
	}
	oomBefore, _ := oomKills()

	proc, stdoutR, stderrR, cleanup, err := s.startBlock(req, interp)
	if err != nil {
		return fail("%v", err)
	}
	defer cleanup()
	killed := make(chan struct{}, 1)
	limit := &outputLimit{max: req.OutputLimit, onLimit: func() { killAll(); killed <- struct{}{} }}
	outCap := newCapture(req.MaxOutput, limit)
	errCap := newCapture(req.MaxOutput, limit)

	var outW, errW io.Writer = outCap, errCap
	var live *streamer
	if req.Stream {
		live = newStreamer(req.ID, req.MaxOutput, func(o protocol.Output) { s.send(protocol.TypeOutput, o) })
		outW, errW = io.MultiWriter(outCap, streamPart{live, 0}), io.MultiWriter(errCap, streamPart{live, 1})
	}

	var copies sync.WaitGroup
	copies.Add(2)
	go func() { defer copies.Done(); io.Copy(outW, stdoutR) }()
	go func() { defer copies.Done(); io.Copy(errW, stderrR) }()

	type exit struct {
		state *os.ProcessState
		err   error
	}
	exited := make(chan exit, 1)
	go func() {
		st, err := proc.Wait()
		exited <- exit{st, err}
	}()
	timeout := time.NewTimer(time.Duration(req.TimeoutMS) * time.Millisecond)
	defer timeout.Stop()
	// The memory guard samples on the loop's own goroutine: a block may
	// have taken every pid, and a goroutine of its own could need a thread.
	var guardTick <-chan time.Time
	var exhausted func() bool
	if s.guard != nil {
		tick := time.NewTicker(guardPoll)
		defer tick.Stop()
		guardTick, exhausted = tick.C, s.guard.newCheck()
	}

	var state *os.ProcessState
	for waiting := true; waiting; {
		select {
		case e := <-exited:
			state, waiting = e.state, false
		case <-timeout.C:
			res.TimedOut = true
			killAll()
		case <-guardTick:
			if exhausted() {
				guardTick = nil
				res.OOMKilled = true
				killAll()
			}
		case <-killed:
			res.OutputLimited = true
		case f, ok := <-frames:
			if !ok {
				frames = nil // host went away; finish and let Serve end
				res.Canceled = true
				killAll()
				continue
			}
			var c protocol.Cancel
			if f.Type == protocol.TypeCancel && f.Decode(&c) == nil && c.ID == req.ID {
				res.Canceled = true
				killAll()
			}
		}
	}
	res.Leftover = sweep()
	res.IPCLeft = sweepIPC()

	// Every writer of the pipes is dead now; the copies end at EOF. A
	// leftover process could still hold a pipe, so do not wait forever.
	done := make(chan struct{})
	go func() { copies.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
	stdoutR.Close()
	stderrR.Close()
	<-done
	if live != nil {
		live.close() // the rest of the output before the Result
	}

	res.DurationNS = time.Since(start).Nanoseconds()
	res.Stdout, res.StdoutBytes = outCap.bytes()
	res.Stderr, res.StderrBytes = errCap.bytes()
	if limit.hit() {
		res.OutputLimited = true
	}
	if state == nil {
		res.Error = "lost the block's exit status"
	} else if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		res.Signal = int(ws.Signal())
		res.ExitCode = 128 + res.Signal
	} else {
		res.ExitCode = state.ExitCode()
	}
	if oomAfter, ok := oomKills(); ok && oomAfter > oomBefore {
		res.OOMKilled = true
	}
	return res
}

// blockAttr puts a block in a process group of its own, so that its
// kill(0, ...) reaches its own processes and never the runner's group
// (gVisor, unlike Linux, lets SIGKILL reach a namespace's init).
func blockAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// placeScript returns the path to run. With a filename the code is saved in
// the workspace (the model asked for that file); otherwise it lives in a
// memfd passed as fd 3, so a full /tmp or workspace cannot stop a block.
func placeScript(req protocol.Run) (string, *os.File, error) {
	if req.Filename != "" {
		path := filepath.Join(Workspace, req.Filename)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", nil, fmt.Errorf("save %s: %v", req.Filename, err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW, 0o644)
		if err != nil {
			return "", nil, fmt.Errorf("save %s: %v", req.Filename, err)
		}
		_, err = f.Write(req.Code)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", nil, fmt.Errorf("save %s: %v", req.Filename, err)
		}
		return path, nil, nil
	}
	fd, err := unix.MemfdCreate("block", 0)
	if err != nil {
		return "", nil, fmt.Errorf("create memfd: %v", err)
	}
	f := os.NewFile(uintptr(fd), "block")
	if _, err := f.Write(req.Code); err != nil {
		f.Close()
		return "", nil, fmt.Errorf("write memfd: %v", err)
	}
	return "/dev/fd/3", f, nil
}

// reset makes the container as it was when it started, for another
// session: no process but the runner, no IPC object, empty /tmp (reseeded)
// and /dev/shm. It reports what it could not clear. It starts no
// interpreter: the host still has to move the last session's files out of
// the workspace, and says so with a Warm frame once it has checked that the
// workspace is empty.
func (s *server) reset() protocol.Ready {
	if s.warm != nil {
		s.warm.discard()
		s.warm = nil
	}
	leftover := sweep()
	ipc := sweepIPC()
	left := wipe("/tmp") + wipe("/dev/shm")
	seedTmp(tmpSkel, "/tmp")
	r := s.confinement()
	r.Leftover, r.TmpLeft, r.IPCLeft = leftover, left, ipc
	return r
}

// wipe removes everything in dir (making unreadable directories the block
// left readable first) and returns how many entries are left.
func wipe(dir string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0 // no such mount: nothing to clear
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if os.RemoveAll(p) != nil {
			filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
				if d != nil && d.IsDir() {
					os.Chmod(path, 0o700)
				}
				return nil
			})
			os.Chmod(p, 0o700)
			os.RemoveAll(p)
		}
	}
	left, _ := os.ReadDir(dir)
	return len(left)
}

// seedTmp copies the regular files and directories under skel into dst. It
// runs before any block, so nothing in dst can be a trap yet; errors only
// cost a cache.
func seedTmp(skel, dst string) {
	filepath.WalkDir(skel, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(skel, path)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			if data, err := os.ReadFile(path); err == nil {
				os.WriteFile(target, data, 0o644)
			}
		}
		return nil
	})
}

// killAll sends SIGKILL to every process this uid may signal in the
// container's PID namespace except init and the runner: kill(-1) is one
// kernel walk that a forking process cannot outrun.
func killAll() { _ = unix.Kill(-1, unix.SIGKILL) }

// sweep kills and reaps every other process until only init and the runner
// are left, and returns how many remain if that did not happen within 5 s
// (a killed process in the middle of memory reclaim can take a while).
func sweep() int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		killAll()
		for {
			pid, err := unix.Wait4(-1, nil, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
		n := countOthers()
		if n == 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(time.Millisecond)
	}
}

// countOthers counts the processes in /proc other than init and the runner.
func countOthers() int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return -1
	}
	self := os.Getpid()
	n := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == 1 || pid == self {
			continue
		}
		n++
	}
	return n
}

// oomKills reads the container cgroup's count of OOM kills (cgroup v2
// memory.events, or v1 memory.oom_control).
func oomKills() (int64, bool) {
	for _, p := range []string{"/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"} {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if n, ok := parseStat(string(data))["oom_kill"]; ok {
			return n, true
		}
	}
	return 0, false
}

// kernel names the kernel that serves the runner's system calls: gVisor
// says so in its release string ("4.19.0-gvisor").
func kernel() string {
	var u unix.Utsname
	if unix.Uname(&u) == nil && strings.Contains(unix.ByteSliceToString(u.Release[:]), "gvisor") {
		return "gvisor"
	}
	return "linux"
}

// confinement is readConfinement with what the runner itself watches.
func (s *server) confinement() protocol.Ready {
	r := readConfinement()
	if s.guard != nil {
		r.MemoryGuard = s.guard.version
	}
	return r
}

// readConfinement reports what the runner sees of its own confinement.
func readConfinement() protocol.Ready {
	r := protocol.Ready{Version: protocol.Version, PID: os.Getpid(), UID: os.Getuid(), GID: os.Getgid(), Seccomp: -1}
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "CapEff":
			r.CapEff = val
		case "CapBnd":
			r.CapBnd = val
		case "Seccomp":
			r.Seccomp, _ = strconv.Atoi(val)
		}
	}
	// prctl, not the status line: gVisor's /proc/self/status has none.
	nnp, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	r.NoNewPrivs = err == nil && nnp == 1
	r.Kernel = kernel()
	_, r.OOMCounter = oomKills()
	r.ShmRmidForced = shmRmidForced()
	r.RefusedSyscalls = refusedCalls()
	return r
}
