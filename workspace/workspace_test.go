//go:build unix

package workspace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const secret = "TOP-SECRET-HOST-CONTENT"

// layout is a workspace next to a directory outside it that holds a secret
// file and enough bulk to notice if it were walked.
type layout struct {
	ws      *Workspace
	outside string // a host directory outside the workspace
}

func newLayout(t *testing.T) layout {
	t.Helper()
	tmp := t.TempDir()
	outside := filepath.Join(tmp, "outside")
	must(t, os.Mkdir(outside, 0o755))
	must(t, os.WriteFile(filepath.Join(outside, "secret"), []byte(secret), 0o600))
	must(t, os.WriteFile(filepath.Join(outside, "big"), bytes.Repeat([]byte("x"), 1<<20), 0o644))
	ws, err := Open(filepath.Join(tmp, "ws"))
	must(t, err)
	t.Cleanup(func() { ws.Close() })
	return layout{ws, outside}
}

// write creates a file in the workspace, with its parent directories.
func (l layout) write(t *testing.T, name, content string) {
	t.Helper()
	p := filepath.Join(l.ws.Dir(), name)
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, []byte(content), 0o644))
}

func (l layout) symlink(t *testing.T, target, name string) {
	t.Helper()
	must(t, os.Symlink(target, filepath.Join(l.ws.Dir(), name)))
}

func (l layout) fifo(t *testing.T, name string) {
	t.Helper()
	must(t, syscall.Mkfifo(filepath.Join(l.ws.Dir(), name), 0o644))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// within fails the test if f does not return in time: a call that blocks
// on a FIFO must fail the test, not hang it.
func within(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("call did not return within 10s (blocked on a FIFO?)")
	}
}

func TestNew(t *testing.T) {
	base := filepath.Join(t.TempDir(), "runs", "nested") // does not exist yet
	pattern := regexp.MustCompile(`^run-\d{8}-\d{6}-[0-9a-f]{6}$`)
	seen := map[string]bool{}
	for range 5 {
		ws, err := New(base)
		must(t, err)
		defer ws.Close()
		dir := ws.Dir()
		if !filepath.IsAbs(dir) {
			t.Errorf("Dir() = %q, want an absolute path", dir)
		}
		if filepath.Dir(dir) != base {
			t.Errorf("Dir() = %q, want it directly under %q", dir, base)
		}
		if name := filepath.Base(dir); !pattern.MatchString(name) {
			t.Errorf("run directory name %q does not match %s", name, pattern)
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			t.Errorf("run directory %q was not created: %v", dir, err)
		}
		if seen[dir] {
			t.Errorf("New returned %q twice", dir)
		}
		seen[dir] = true
	}
}

func TestNewNamed(t *testing.T) {
	base := t.TempDir()
	tests := []struct {
		label string
		ok    bool
	}{
		{"write-a-prime-checker", true},
		{"exec-print-6-7", true},
		{"a", true},
		{"", false},
		{"-lead", false},
		{"trail-", false},
		{"dou--ble", false},
		{"Upper", false},
		{"../up", false},
		{"sl/ash", false},
		{strings.Repeat("a", 65), false},
	}
	for _, tt := range tests {
		ws, err := NewNamed(base, tt.label)
		if (err == nil) != tt.ok {
			t.Errorf("NewNamed(%q): err %v, want ok %v", tt.label, err, tt.ok)
			continue
		}
		if err != nil {
			continue
		}
		ws.Close()
		pattern := regexp.MustCompile(`^\d{8}-\d{6}-` + regexp.QuoteMeta(tt.label) + `-[0-9a-f]{6}$`)
		if name := filepath.Base(ws.Dir()); !pattern.MatchString(name) || filepath.Dir(ws.Dir()) != base {
			t.Errorf("NewNamed(%q) made %q", tt.label, ws.Dir())
		}
	}
}

func TestOpen(t *testing.T) {
	tmp := t.TempDir()

	missing := filepath.Join(tmp, "a", "b")
	ws, err := Open(missing)
	must(t, err)
	ws.Close()
	if fi, err := os.Stat(missing); err != nil || !fi.IsDir() {
		t.Errorf("Open did not create %q: %v", missing, err)
	}

	ws, err = Open(missing) // existing directory
	must(t, err)
	ws.Close()

	file := filepath.Join(tmp, "file")
	must(t, os.WriteFile(file, nil, 0o644))
	if ws, err := Open(file); err == nil {
		ws.Close()
		t.Errorf("Open(%q) on a regular file succeeded, want an error", file)
	}
}

func TestValidateName(t *testing.T) {
	for _, name := range []string{"main.py", "src/app.py", "a b.txt", "ünïcode.py", "./main.py", ".hidden", "a..b"} {
		if err := ValidateName(name); err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", name, err)
		}
	}
	long := strings.Repeat("a", 300)
	for _, tc := range []struct{ name, why string }{
		{"", "empty"},
		{"/etc/passwd", "absolute"},
		{"../x", `".."`},
		{"a/../../x", `".."`},
		{"a/..", `".."`},
		{"a\x00b", "control"},
		{"a\nb", "control"},
		{"a\x1b[2Jb", "control"},
		{".", "workspace itself"},
		{"..", `".."`},
		{"src/", "slash"},
		{"dir/" + long + "/x.py", "longer than 255"},
		{strings.Repeat("abcdefgh/", 120), "longer than 1024"},
		{"bad\xffutf8.py", "UTF-8"},
	} {
		err := ValidateName(tc.name)
		if err == nil {
			t.Errorf("ValidateName(%q) = nil, want an error", tc.name)
			continue
		}
		msg := err.Error()
		if quoted := fmt.Sprintf("%q", tc.name); !strings.Contains(msg, quoted) {
			t.Errorf("ValidateName(%q) error %q does not contain the quoted name %s", tc.name, msg, quoted)
		}
		if !strings.Contains(msg, tc.why) {
			t.Errorf("ValidateName(%q) error %q does not say %q", tc.name, msg, tc.why)
		}
		if strings.ContainsAny(msg, "\x00\n\x1b") {
			t.Errorf("ValidateName(%q) error %q contains raw control characters", tc.name, msg)
		}
	}
}

func TestReadFile(t *testing.T) {
	l := newLayout(t)
	l.write(t, "main.py", "print('hi')\n")
	l.write(t, "big.txt", strings.Repeat("0123456789", 10))
	l.write(t, "sub/inner.txt", "inner")
	l.write(t, "empty", "")
	l.symlink(t, filepath.Join(l.outside, "secret"), "link-out")
	l.symlink(t, "main.py", "link-in")
	l.symlink(t, l.outside, "dir-out")
	l.symlink(t, "/", "slash")
	l.fifo(t, "fifo")

	for _, tc := range []struct {
		name    string
		max     int64
		want    string
		cut     bool
		wantErr string // empty: no error
	}{
		{name: "main.py", max: 1000, want: "print('hi')\n"},
		{name: "sub/inner.txt", max: 1000, want: "inner"},
		{name: "empty", max: 10, want: ""},
		{name: "big.txt", max: 100, want: strings.Repeat("0123456789", 10)}, // exactly max: not cut
		{name: "big.txt", max: 15, want: "012345678901234", cut: true},
		{name: "big.txt", max: 0, want: "", cut: true},
		{name: "link-out", max: 1000, wantErr: "symlink"},
		{name: "link-in", max: 1000, wantErr: "symlink"},
		{name: "dir-out/secret", max: 1000, wantErr: "escapes"},
		{name: "slash/etc/passwd", max: 1000, wantErr: "escapes"},
		{name: "../outside/secret", max: 1000, wantErr: "escapes"},
		{name: filepath.Join(l.outside, "secret"), max: 1000, wantErr: "escapes"},
		{name: "fifo", max: 1000, wantErr: "named pipe"},
		{name: "sub", max: 1000, wantErr: "directory"},
		{name: ".", max: 1000, wantErr: "directory"},
		{name: "missing", max: 1000, wantErr: "missing"},
		{name: "main.py", max: -1, wantErr: "negative"},
	} {
		var (
			data []byte
			cut  bool
			err  error
		)
		within(t, func() { data, cut, err = l.ws.ReadFile(tc.name, tc.max) })
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("ReadFile(%q) returned content from outside the workspace", tc.name)
		}
		if tc.wantErr != "" {
			if err == nil {
				t.Errorf("ReadFile(%q, %d) = %q, want an error", tc.name, tc.max, data)
			} else if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ReadFile(%q, %d) error %q does not mention %q", tc.name, tc.max, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ReadFile(%q, %d) error: %v", tc.name, tc.max, err)
			continue
		}
		if string(data) != tc.want || cut != tc.cut {
			t.Errorf("ReadFile(%q, %d) = %q, cut=%v; want %q, cut=%v", tc.name, tc.max, data, cut, tc.want, tc.cut)
		}
	}
}

// TestWalkSkipsSwappedDirectory replays the race where the sandbox swaps a
// directory, after the walk listed it, for a FIFO or a symlink: the walk
// must neither block nor list what the swapped-in entry points to.
func TestWalkSkipsSwappedDirectory(t *testing.T) {
	l := newLayout(t)
	l.write(t, "other/inside.txt", "x")
	for _, swap := range []struct {
		name string
		do   func(path string) error
	}{
		{"fifo", func(p string) error { return syscall.Mkfifo(p, 0o644) }},
		{"symlink to outside", func(p string) error { return os.Symlink(l.outside, p) }},
		{"symlink to root", func(p string) error { return os.Symlink("/", p) }},
		{"symlink inside", func(p string) error { return os.Symlink("other", p) }},
	} {
		p := filepath.Join(l.ws.Dir(), "d")
		must(t, os.Mkdir(p, 0o755))
		var listed unix.Stat_t
		must(t, unix.Fstatat(l.ws.top, "d", &listed, unix.AT_SYMLINK_NOFOLLOW))
		must(t, os.Remove(p))
		must(t, swap.do(p))

		var (
			fd  int
			ok  bool
			err error
		)
		within(t, func() { fd, ok, err = openDir(l.ws.top, "d", &listed) })
		if ok {
			unix.Close(fd)
		}
		if err != nil || ok {
			t.Errorf("%s: openDir of the swapped directory = %v, %v; want it skipped, no error", swap.name, ok, err)
		}
		must(t, os.Remove(p))
	}
}

func TestReadFileNotExistIs(t *testing.T) {
	l := newLayout(t)
	_, _, err := l.ws.ReadFile("nope", 10)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: %v, want errors.Is(err, os.ErrNotExist)", err)
	}
}

func TestUsage(t *testing.T) {
	l := newLayout(t)
	l.write(t, "a.txt", strings.Repeat("a", 10))
	l.write(t, "sub/b.txt", strings.Repeat("b", 20))
	l.symlink(t, l.outside, "dir-out")                        // 1 MiB behind it must not count
	l.symlink(t, filepath.Join(l.outside, "big"), "file-out") // nor this
	l.fifo(t, "fifo")                                         // counted, never opened

	var u Usage
	var err error
	within(t, func() { u, err = l.ws.Usage(t.Context(), 0, 0) })
	must(t, err)
	// a.txt, sub, sub/b.txt, dir-out, file-out, fifo
	if want := (Usage{Bytes: 30, Entries: 6}); u != want {
		t.Errorf("Usage(0, 0) = %+v, want %+v", u, want)
	}
}

func TestUsageStopsAtLimits(t *testing.T) {
	l := newLayout(t)
	for i := range 100 {
		l.write(t, fmt.Sprintf("many/f%03d", i), "0123456789")
	}
	full, err := l.ws.Usage(t.Context(), 0, 0)
	must(t, err)
	if want := (Usage{Bytes: 1000, Entries: 101}); full != want {
		t.Fatalf("Usage(0, 0) = %+v, want %+v", full, want)
	}

	u, err := l.ws.Usage(t.Context(), 0, 10)
	must(t, err)
	if u.Entries != 11 {
		t.Errorf("Usage(0, 10).Entries = %d, want it to stop at 11", u.Entries)
	}

	u, err = l.ws.Usage(t.Context(), 25, 0)
	must(t, err)
	if u.Bytes != 30 || u.Entries >= full.Entries {
		t.Errorf("Usage(25, 0) = %+v, want it to stop at 30 bytes, before walking everything", u)
	}
}

func TestSnapshotDiff(t *testing.T) {
	l := newLayout(t)
	l.write(t, "keep.txt", "keep")
	l.write(t, "grow.txt", "a")
	l.write(t, "touch.txt", "same")
	l.write(t, "chmod.txt", "same")
	l.write(t, "gone.txt", "bye")
	l.write(t, "sub/gone.txt", "bye")
	l.symlink(t, "keep.txt", "link")
	l.symlink(t, l.outside, "dir-out")
	weird := "new\nline\xff.txt"
	l.write(t, weird, "weird") // kept as is, not escaped

	before, err := l.ws.Snapshot(t.Context(), 0)
	must(t, err)
	for p := range before {
		if strings.HasPrefix(p, "dir-out/") {
			t.Errorf("Snapshot walked through a symlink to outside: %q", p)
		}
	}
	if fi, ok := before["link"]; !ok || fi.Mode&os.ModeSymlink == 0 {
		t.Errorf("Snapshot[link] = %+v, %v; want a symlink entry", fi, ok)
	}
	if fi := before[weird]; fi.Path != weird || fi.Size != 5 {
		t.Errorf("Snapshot[%q] = %+v, want the name kept as is, size 5", weird, fi)
	}

	l.write(t, "grow.txt", "abc")
	old := time.Now().Add(-time.Hour)
	must(t, os.Chtimes(filepath.Join(l.ws.Dir(), "touch.txt"), old, old))
	must(t, os.Chmod(filepath.Join(l.ws.Dir(), "chmod.txt"), 0o600))
	must(t, os.Remove(filepath.Join(l.ws.Dir(), "gone.txt")))
	must(t, os.RemoveAll(filepath.Join(l.ws.Dir(), "sub")))
	must(t, os.Remove(filepath.Join(l.ws.Dir(), "link")))
	l.write(t, "link", "now a file") // symlink replaced by a file: modified
	l.write(t, "new.txt", "new")
	l.write(t, "newdir/deep/n.txt", "new")
	l.symlink(t, "/etc/passwd", "newlink")

	after, err := l.ws.Snapshot(t.Context(), 0)
	must(t, err)
	got := Diff(before, after)
	want := Changes{
		Created:  []string{"new.txt", "newdir/deep/n.txt", "newlink"},
		Modified: []string{"chmod.txt", "grow.txt", "link", "touch.txt"},
		Deleted:  []string{"gone.txt", "sub/gone.txt"},
	}
	if !slices.Equal(got.Created, want.Created) || !slices.Equal(got.Modified, want.Modified) || !slices.Equal(got.Deleted, want.Deleted) {
		t.Errorf("Diff = %+v\nwant   %+v", got, want)
	}
	if d := Diff(after, after); len(d.Created)+len(d.Modified)+len(d.Deleted) != 0 {
		t.Errorf("Diff of a snapshot with itself = %+v, want no changes", d)
	}
}

func TestSnapshotTooManyEntries(t *testing.T) {
	l := newLayout(t)
	for _, n := range []string{"a", "b", "c", "d/e", "d/f"} {
		l.write(t, n, n)
	}
	if _, err := l.ws.Snapshot(t.Context(), 6); err != nil { // a b c d d/e d/f
		t.Errorf("Snapshot(6) of 6 entries: %v", err)
	}
	if _, err := l.ws.Snapshot(t.Context(), 5); !errors.Is(err, ErrTooManyEntries) {
		t.Errorf("Snapshot(5) of 6 entries: %v, want ErrTooManyEntries", err)
	}
}

func TestRemoveNew(t *testing.T) {
	l := newLayout(t)
	l.write(t, "old.txt", "old")
	l.write(t, "olddir/old.txt", "old")
	must(t, os.Mkdir(filepath.Join(l.ws.Dir(), "emptyold"), 0o755))
	l.symlink(t, "old.txt", "oldlink")
	before, err := l.ws.Snapshot(t.Context(), 0)
	must(t, err)

	l.write(t, "new.txt", "new")
	l.write(t, "newdir/a/b.txt", "new")
	l.write(t, "olddir/new.txt", "new")
	l.write(t, "emptyold/new.txt", "new")
	l.symlink(t, filepath.Join(l.outside, "secret"), "newlink")
	l.symlink(t, l.outside, "newdirlink")
	l.symlink(t, l.outside, "olddir/dirlink")
	l.fifo(t, "newfifo")

	var n int
	within(t, func() { n, err = l.ws.RemoveNew(t.Context(), before, 0) })
	must(t, err)
	// new.txt newdir newdir/a newdir/a/b.txt olddir/new.txt emptyold/new.txt
	// newlink newdirlink olddir/dirlink newfifo
	if n != 10 {
		t.Errorf("RemoveNew removed %d entries, want 10", n)
	}
	now, err := l.ws.Snapshot(t.Context(), 0)
	must(t, err)
	if d := Diff(before, now); len(d.Created)+len(d.Modified)+len(d.Deleted) != 0 {
		t.Errorf("after RemoveNew, Diff from before = %+v, want none", d)
	}
	if len(now) != len(before) {
		t.Errorf("after RemoveNew the workspace has %d entries, want the %d from before", len(now), len(before))
	}
	for _, old := range []string{"old.txt", "olddir", "olddir/old.txt", "emptyold", "oldlink"} {
		if _, ok := now[old]; !ok {
			t.Errorf("RemoveNew removed old entry %q", old)
		}
	}
	// The targets of the removed links are untouched.
	if b, err := os.ReadFile(filepath.Join(l.outside, "secret")); err != nil || string(b) != secret {
		t.Errorf("outside file behind a removed symlink: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(l.outside, "big")); err != nil {
		t.Errorf("outside directory behind a removed symlink lost a file: %v", err)
	}
}

func TestRemoveNewTooManyEntries(t *testing.T) {
	l := newLayout(t)
	before, err := l.ws.Snapshot(t.Context(), 0)
	must(t, err)
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		l.write(t, n, n)
	}
	total := 0
	for range 5 {
		n, err := l.ws.RemoveNew(t.Context(), before, 2)
		total += n
		if err == nil {
			break
		}
		if !errors.Is(err, ErrTooManyEntries) {
			t.Fatalf("RemoveNew: %v, want ErrTooManyEntries or nil", err)
		}
		if n == 0 {
			t.Fatal("RemoveNew hit the limit without making progress")
		}
	}
	if total != 5 {
		t.Errorf("repeated RemoveNew removed %d entries, want 5", total)
	}
}

func TestChangesJSON(t *testing.T) {
	data, err := json.Marshal(Changes{Created: []string{"a"}})
	if err != nil || string(data) != `{"created":["a"],"modified":[],"deleted":[]}` {
		t.Fatalf("got %s, %v", data, err)
	}
}

func TestHidden(t *testing.T) {
	for path, want := range map[string]bool{
		"main.py": false, "src/app.py": false, ".pytest_cache/v/x": true, "pkg/__pycache__/m.pyc": true, ".env": true, "a.b/c": false,
	} {
		if Hidden(path) != want {
			t.Errorf("Hidden(%q) = %v, want %v", path, !want, want)
		}
	}
}

// TestReadlink: a link's target comes back as stored, wherever it points,
// and anything that is not a link is refused.
func TestReadlink(t *testing.T) {
	l := newLayout(t)
	l.symlink(t, "/etc/passwd", "abs")
	l.symlink(t, "../../x", "up")
	l.write(t, "sub/file", "x")
	l.fifo(t, "pipe")
	for _, tc := range []struct{ name, want, err string }{
		{"abs", "/etc/passwd", ""},
		{"up", "../../x", ""},
		{"sub/file", "", "not a symlink"},
		{"sub", "", "not a symlink"},
		{"pipe", "", "not a symlink"},
		{"missing", "", "no such file"},
	} {
		got, err := l.ws.Readlink(tc.name)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Readlink(%q) = %q, %v; want %q, %q", tc.name, got, err, tc.want, tc.err)
		}
	}
}
