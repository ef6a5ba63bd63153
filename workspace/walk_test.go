//go:build linux

package workspace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// chain makes a chain of n directories named "d" below the directory
// first (created too) in the workspace, each made relative to its
// parent's fd as a block would with mkdir and chdir (the full path is far
// beyond PATH_MAX), and puts an empty file "bottom" in the last one.
func chain(t testing.TB, ws *Workspace, first string, n int) {
	t.Helper()
	fd, err := unix.Openat(ws.top, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	must(t, err)
	name := first
	for i := range n {
		if i > 0 {
			name = "d"
		}
		if err := unix.Mkdirat(fd, name, 0o755); err != nil && err != unix.EEXIST {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		must(t, err)
		unix.Close(fd)
		fd = next
	}
	f, err := unix.Openat(fd, "bottom", unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	must(t, err)
	unix.Close(f)
	unix.Close(fd)
}

// cpuTime is the CPU time this process has used so far. Tests bound the
// cost of a walk by it rather than by the wall clock, which on a slow disk
// is mostly spent waiting for the file system.
func cpuTime(t testing.TB) time.Duration {
	var ru unix.Rusage
	must(t, unix.Getrusage(unix.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// limitFiles lowers the open file limit for the rest of the test.
func limitFiles(t *testing.T, n uint64) {
	t.Helper()
	var old unix.Rlimit
	must(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &old))
	lim := old
	lim.Cur = n
	must(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &lim))
	t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &old) })
}

// TestTooDeep: a 3,000-deep chain (which cost 24 s per walk when every
// directory was opened by its full path) is refused at once by every walk
// that must see the whole tree.
func TestTooDeep(t *testing.T) {
	l := newLayout(t)
	l.write(t, "a.txt", "a")
	chain(t, l.ws, "deep", 3000)
	limitFiles(t, 256)

	start := cpuTime(t)
	if u, err := l.ws.Usage(t.Context(), 0, 0); !errors.Is(err, ErrTooDeep) {
		t.Errorf("Usage of a 3,000-deep tree = %+v, %v; want ErrTooDeep", u, err)
	}
	if _, err := l.ws.Snapshot(t.Context(), 0); !errors.Is(err, ErrTooDeep) {
		t.Errorf("Snapshot of a 3,000-deep tree: %v, want ErrTooDeep", err)
	}
	if _, err := l.ws.Sanitize(t.Context(), 0o755); !errors.Is(err, ErrTooDeep) {
		t.Errorf("Sanitize of a 3,000-deep tree: %v, want ErrTooDeep", err)
	}
	if took := cpuTime(t) - start; took > time.Second {
		t.Errorf("three walks of a 3,000-deep tree took %s of CPU", took)
	}
	if !strings.Contains(ErrTooDeep.Error(), fmt.Sprint(MaxDepth)) {
		t.Errorf("ErrTooDeep %q does not say the limit", ErrTooDeep)
	}
}

// TestDepthLimit: entries MaxDepth levels deep are fine, one more is not.
func TestDepthLimit(t *testing.T) {
	l := newLayout(t)
	chain(t, l.ws, "d", MaxDepth-1) // "bottom" is MaxDepth levels deep
	u, err := l.ws.Usage(t.Context(), 0, 0)
	if err != nil || u.Entries != MaxDepth {
		t.Fatalf("Usage of a tree exactly %d deep = %+v, %v; want %d entries", MaxDepth, u, err, MaxDepth)
	}
	chain(t, l.ws, "e", MaxDepth) // "bottom" is one level deeper
	if _, err := l.ws.Usage(t.Context(), 0, 0); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("Usage of a tree %d deep: %v, want ErrTooDeep", MaxDepth+1, err)
	}
}

// TestRemoveNewDeep: a block may build a 5,000-deep chain before it is
// stopped; the roll back removes all of it with a few hundred fds at most.
func TestRemoveNewDeep(t *testing.T) {
	l := newLayout(t)
	l.write(t, "old/keep.txt", "keep")
	before, err := l.ws.Snapshot(t.Context(), 0)
	must(t, err)
	chain(t, l.ws, "deep", 5000)
	chain(t, l.ws, "old", 3000) // a new chain inside an old directory
	limitFiles(t, 256)

	var n int
	start := cpuTime(t)
	n, err = l.ws.RemoveNew(t.Context(), before, 0)
	took := cpuTime(t) - start
	must(t, err)
	if want := 5000 + 1 + 2999 + 1; n != want {
		t.Errorf("RemoveNew removed %d entries, want %d", n, want)
	}
	if took > 3*time.Second {
		t.Errorf("RemoveNew of 8,000 nested directories took %s of CPU", took)
	}
	left, err := os.ReadDir(l.ws.Dir())
	must(t, err)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != "old" {
		t.Errorf("after RemoveNew the workspace holds %q, want only [old]", names)
	}
	now, err := l.ws.Snapshot(t.Context(), 0)
	must(t, err)
	if len(now) != len(before) {
		t.Errorf("after RemoveNew: %d entries, want the %d from before", len(now), len(before))
	}
}

// TestRemoveNewBelowDeepestOld: entries the block added inside an old
// directory MaxDepth levels deep are one level too deep for other walks,
// but new, so RemoveNew removes them rather than failing.
func TestRemoveNewBelowDeepestOld(t *testing.T) {
	l := newLayout(t)
	chain(t, l.ws, "d", MaxDepth) // d/.../d is MaxDepth deep, its "bottom" one more
	fd, err := unix.Openat(l.ws.top, "d", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	must(t, err)
	for range MaxDepth - 1 {
		next, err := unix.Openat(fd, "d", unix.O_RDONLY|unix.O_DIRECTORY, 0)
		must(t, err)
		unix.Close(fd)
		fd = next
	}
	must(t, unix.Unlinkat(fd, "bottom", 0))
	before, err := l.ws.Snapshot(t.Context(), 0)
	must(t, err)
	must(t, unix.Mkdirat(fd, "new", 0o755))
	f, err := unix.Openat(fd, "newfile", unix.O_CREAT|unix.O_WRONLY, 0o644)
	must(t, err)
	unix.Close(f)
	unix.Close(fd)

	n, err := l.ws.RemoveNew(t.Context(), before, 0)
	if err != nil || n != 2 {
		t.Fatalf("RemoveNew = %d, %v; want 2 removed, no error", n, err)
	}
	if _, err := l.ws.Snapshot(t.Context(), 0); err != nil {
		t.Fatalf("the workspace is not back within the depth limit: %v", err)
	}
}

// TestRemoveNewUnreadableDir: a block can chmod its directories 000; as a
// user other than root the roll back must still get through them.
func TestRemoveNewUnreadableDir(t *testing.T) {
	l := newLayout(t)
	before, err := l.ws.Snapshot(t.Context(), 0)
	must(t, err)
	l.write(t, "locked/inner/f", "x")
	must(t, os.Chmod(filepath.Join(l.ws.Dir(), "locked/inner"), 0))
	must(t, os.Chmod(filepath.Join(l.ws.Dir(), "locked"), 0))
	n, err := l.ws.RemoveNew(t.Context(), before, 0)
	if err != nil || n != 3 {
		t.Fatalf("RemoveNew = %d, %v; want 3 removed", n, err)
	}
}

// bigTree fills the workspace with dirs×files empty files.
func bigTree(t testing.TB, ws *Workspace, dirs, files int) {
	t.Helper()
	for d := range dirs {
		dir := filepath.Join(ws.Dir(), fmt.Sprintf("dir%03d", d))
		must(t, os.Mkdir(dir, 0o755))
		for f := range files {
			fh, err := os.Create(filepath.Join(dir, fmt.Sprintf("f%05d", f)))
			must(t, err)
			fh.Close()
		}
	}
}

// TestWalkCancelled: a done context stops every walk at once, and one
// cancelled during a walk stops it at the next entry.
func TestWalkCancelled(t *testing.T) {
	l := newLayout(t)
	bigTree(t, l.ws, 10, 2000)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if u, err := l.ws.Usage(ctx, 0, 0); !errors.Is(err, context.Canceled) || u.Entries != 0 {
		t.Errorf("Usage on a cancelled context = %+v, %v; want context.Canceled at once", u, err)
	}
	if _, err := l.ws.Snapshot(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Snapshot on a cancelled context: %v", err)
	}
	if n, err := l.ws.RemoveNew(ctx, Snapshot{}, 0); !errors.Is(err, context.Canceled) || n != 0 {
		t.Errorf("RemoveNew on a cancelled context = %d, %v; want nothing removed, context.Canceled", n, err)
	}
	if _, err := l.ws.Sanitize(ctx, 0o755); !errors.Is(err, context.Canceled) {
		t.Errorf("Sanitize on a cancelled context: %v", err)
	}

	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	calls := 0
	err := l.ws.walk(ctx, MaxDepth, func(*entry) error {
		calls++
		if calls == 100 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || calls != 100 {
		t.Errorf("walk cancelled at entry 100 went on to %d entries: %v", calls, err)
	}

	// A deadline mid-walk: a removal of a new tree that meets it stops too.
	ctx, cancel = context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	start := time.Now()
	n, err := l.ws.RemoveNew(ctx, Snapshot{}, 0)
	if !errors.Is(err, context.DeadlineExceeded) || n >= 20010 || time.Since(start) > time.Second {
		t.Errorf("RemoveNew past its deadline = %d, %v after %s; want it stopped early", n, err, time.Since(start))
	}
}

// BenchmarkWalkDeep walks chains of increasing depth: the time per entry
// stays flat, where opening each directory by its path made it grow with
// the depth (quadratic in all).
func BenchmarkWalkDeep(b *testing.B) {
	for _, depth := range []int{10, 30, MaxDepth - 1} {
		b.Run(fmt.Sprint(depth), func(b *testing.B) {
			ws, err := Open(b.TempDir())
			must(b, err)
			defer ws.Close()
			for i := range 20 {
				chain(b, ws, fmt.Sprintf("c%d", i), depth)
			}
			entries := 0
			for b.Loop() {
				u, err := ws.Usage(context.Background(), 0, 0)
				must(b, err)
				entries = int(u.Entries)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(entries), "ns/entry")
		})
	}
}

// BenchmarkWalkWide walks directories of increasing size: linear too.
func BenchmarkWalkWide(b *testing.B) {
	for _, files := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprint(files), func(b *testing.B) {
			ws, err := Open(b.TempDir())
			must(b, err)
			defer ws.Close()
			bigTree(b, ws, 4, files)
			entries := 0
			for b.Loop() {
				u, err := ws.Usage(context.Background(), 0, 0)
				must(b, err)
				entries = int(u.Entries)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(entries), "ns/entry")
		})
	}
}
