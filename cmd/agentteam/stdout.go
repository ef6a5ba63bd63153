package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// errStdoutClosed is the cause of a command's cancellation when the reader
// of its standard output went away (`agentteam run --json | head -1`).
var errStdoutClosed = errors.New("standard output was closed")

// stdoutGuard passes writes on to standard output until one fails with
// EPIPE. Then it cancels the command (closed), which stops as it does on
// Ctrl-C: the transcript gets its result, the container is removed, a
// batch keeps its finished tasks. Nothing is written to stdout after that.
// main catches SIGPIPE, so such a write returns EPIPE instead of killing
// the process before any of this can happen.
type stdoutGuard struct {
	w      io.Writer
	closed func()
	once   sync.Once
	broken atomic.Bool
}

func (g *stdoutGuard) Write(p []byte) (int, error) {
	if g.broken.Load() {
		return 0, errStdoutClosed
	}
	n, err := g.w.Write(p)
	if errors.Is(err, syscall.EPIPE) {
		g.trip()
		return n, fmt.Errorf("%w: %w", errStdoutClosed, err)
	}
	return n, err
}

// trip marks stdout as gone and cancels the command, once.
func (g *stdoutGuard) trip() {
	g.once.Do(func() {
		g.broken.Store(true)
		g.closed()
	})
}

// watchStdout trips the guard as soon as the reader of a pipe on stdout
// goes away, rather than at the next write: a team that prints nothing
// while a model thinks for a minute would otherwise go on paying for calls
// no one will read. It returns when ctx ends.
func watchStdout(ctx context.Context, f *os.File, g *stdoutGuard) {
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		return // a terminal or a file is never "closed" under us
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	fd := -1
	rc.Control(func(u uintptr) { fd = int(u) })
	for ctx.Err() == nil {
		// No events asked for: poll reports only POLLERR (a pipe without
		// readers, on Linux) and POLLHUP.
		fds := []unix.PollFd{{Fd: int32(fd)}}
		n, err := unix.Poll(fds, 500)
		switch {
		case errors.Is(err, unix.EINTR):
		case err != nil, n > 0 && fds[0].Revents&unix.POLLNVAL != 0:
			return
		case n > 0 && fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0:
			g.trip()
			return
		}
	}
}
