package main

import (
	"context"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// brokenPipe takes its first ok writes, then fails every write with err,
// counting the writes that reached it.
type brokenPipe struct {
	ok     int
	err    error
	writes int
	got    strings.Builder
}

func (b *brokenPipe) Write(p []byte) (int, error) {
	b.writes++
	if b.writes > b.ok {
		return 0, b.err
	}
	return b.got.Write(p)
}

func TestStdoutGuard(t *testing.T) {
	epipe := &fs.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.EPIPE}
	for _, tc := range []struct {
		name   string
		err    error
		closed bool
	}{
		{"EPIPE", syscall.EPIPE, true},
		{"EPIPE from os.File", epipe, true},
		{"disk full", &fs.PathError{Op: "write", Path: "out", Err: syscall.ENOSPC}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			pipe := &brokenPipe{ok: 1, err: tc.err}
			g := &stdoutGuard{w: pipe, closed: func() { cancel(errStdoutClosed) }}
			for _, s := range []string{"one\n", "two\n", "three\n"} {
				g.Write([]byte(s))
			}
			if got := ctx.Err() != nil; got != tc.closed {
				t.Fatalf("cancelled %v, want %v", got, tc.closed)
			}
			code, msg := exitStatus(ctx, &exitError{code: ExitFailure})
			if !tc.closed {
				if code != ExitFailure || pipe.writes != 3 {
					t.Fatalf("exit %d, %d writes", code, pipe.writes)
				}
				return
			}
			if pipe.writes != 2 || pipe.got.String() != "one\n" {
				t.Errorf("%d writes reached stdout (%q), want 2: nothing after the first failure", pipe.writes, pipe.got.String())
			}
			if code != ExitStdoutClosed || msg != "stopped: standard output was closed" {
				t.Errorf("exit status %d %q", code, msg)
			}
		})
	}
}

// TestExecStdoutClosed: exec whose stdout breaks after its first line
// stops at once (the next block never runs to its end), exits 141 and
// leaves no container.
func TestExecStdoutClosed(t *testing.T) {
	requireDocker(t)
	pipe := &brokenPipe{ok: 1, err: syscall.EPIPE}
	var errOut strings.Builder
	start := time.Now()
	code := Main(context.Background(), []string{"exec", "-"}, IO{
		In:  strings.NewReader("```sh\necho one\n```\n```sh\nsleep 30\n```\n"),
		Out: pipe, ErrOut: &errOut, Dir: t.TempDir(), Getenv: os.Getenv,
	})
	if code != ExitStdoutClosed || !strings.Contains(errOut.String(), "standard output was closed") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("took %s", d)
	}
	if pipe.writes != 2 {
		t.Errorf("%d writes reached stdout, want 2", pipe.writes)
	}
	assertNoContainers(t, dockerClient(t))
}
