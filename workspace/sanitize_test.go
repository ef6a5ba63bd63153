//go:build linux

package workspace

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	must(t, err)
	return fi.Mode()
}

func TestSanitize(t *testing.T) {
	l := newLayout(t)
	dir := l.ws.Dir()
	p := func(name string) string { return filepath.Join(dir, name) }
	l.write(t, "suid", "#!/bin/sh\n")
	must(t, os.Chmod(p("suid"), 0o755|fs.ModeSetuid|fs.ModeSetgid))
	l.write(t, "sub/world", "x")
	must(t, os.Chmod(p("sub/world"), 0o666))
	l.write(t, "unreadable", "x")
	must(t, os.Chmod(p("unreadable"), 0o002|fs.ModeSetuid)) // O_RDONLY would fail for its owner
	must(t, os.Mkdir(p("wdir"), 0o755))
	must(t, os.Chmod(p("wdir"), 0o777|fs.ModeSticky))
	l.write(t, "fine.txt", "x")
	must(t, os.Chmod(p("fine.txt"), 0o640))
	must(t, os.Chmod(filepath.Join(l.outside, "secret"), 0o666|fs.ModeSetuid))
	l.symlink(t, filepath.Join(l.outside, "secret"), "link-out")
	l.symlink(t, l.outside, "dir-out")
	l.fifo(t, "fifo")
	must(t, os.Chmod(p("fifo"), 0o666))
	must(t, os.Chmod(dir, 0o777))

	var s Sanitized
	var err error
	within(t, func() { s, err = l.ws.Sanitize(t.Context(), 0o755) })
	must(t, err)

	for name, want := range map[string]fs.FileMode{
		".":          fs.ModeDir | 0o755,
		"suid":       0o755,
		"sub":        fs.ModeDir | 0o755,
		"sub/world":  0o664,
		"unreadable": 0,
		"wdir":       fs.ModeDir | 0o775,
		"fine.txt":   0o640,
		"fifo":       fs.ModeNamedPipe | 0o664,
	} {
		if got := mode(t, p(name)); got != want {
			t.Errorf("mode of %s after Sanitize = %v, want %v", name, got, want)
		}
	}
	// Neither the symlinks nor what they point to changed.
	if got := mode(t, filepath.Join(l.outside, "secret")); got != 0o666|fs.ModeSetuid {
		t.Errorf("the target of a symlink changed mode to %v", got)
	}
	if got := mode(t, l.outside); got != fs.ModeDir|0o755 {
		t.Errorf("the directory a symlink points to changed mode to %v", got)
	}
	wantChanged := []string{".", "fifo", "sub/world", "suid", "unreadable", "wdir"}
	if !slices.Equal(s.Changed, wantChanged) || s.ChangedCount != len(wantChanged) {
		t.Errorf("Changed = %q (%d), want %q", s.Changed, s.ChangedCount, wantChanged)
	}
	if !slices.Equal(s.Links, []string{"dir-out", "link-out"}) || s.LinkCount != 2 {
		t.Errorf("Links = %q (%d), want [dir-out link-out]", s.Links, s.LinkCount)
	}

	// Nothing left to do: a second pass changes nothing.
	s, err = l.ws.Sanitize(t.Context(), 0o755)
	if err != nil || s.ChangedCount != 0 || len(s.Changed) != 0 {
		t.Errorf("second Sanitize = %+v, %v; want no change", s, err)
	}
}

// TestSanitizeRestoresDirMode: the workspace directory gets exactly the
// mode asked for, and InitialMode is the one it was opened with.
func TestSanitizeRestoresDirMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ws")
	must(t, os.Mkdir(dir, 0o700))
	ws, err := Open(dir)
	must(t, err)
	defer ws.Close()
	if ws.InitialMode() != 0o700 {
		t.Errorf("InitialMode = %v, want 0700", ws.InitialMode())
	}
	must(t, os.Chmod(dir, 0o777|fs.ModeSetgid))
	s, err := ws.Sanitize(t.Context(), ws.InitialMode())
	must(t, err)
	if got := mode(t, dir); got != fs.ModeDir|0o700 || !slices.Equal(s.Changed, []string{"."}) {
		t.Errorf("workspace mode %v after Sanitize (changed %q), want 0700", got, s.Changed)
	}
}

// TestSanitizeUnreadableDir: a directory its owner cannot read is opened
// up for its owner so that what is inside it is checked too.
func TestSanitizeUnreadableDir(t *testing.T) {
	l := newLayout(t)
	l.write(t, "locked/suid", "x")
	must(t, os.Chmod(filepath.Join(l.ws.Dir(), "locked/suid"), 0o755|fs.ModeSetuid))
	must(t, os.Chmod(filepath.Join(l.ws.Dir(), "locked"), 0o022))
	t.Cleanup(func() { os.Chmod(filepath.Join(l.ws.Dir(), "locked"), 0o755) })
	s, err := l.ws.Sanitize(t.Context(), l.ws.InitialMode())
	must(t, err)
	if got := mode(t, filepath.Join(l.ws.Dir(), "locked")); got != fs.ModeDir|0o520 {
		t.Errorf("locked is %v, want d-r-x-w----", got)
	}
	if got := mode(t, filepath.Join(l.ws.Dir(), "locked/suid")); got != 0o755 {
		t.Errorf("the setuid file inside an unreadable directory is %v, want 0755", got)
	}
	if !slices.Equal(s.Changed, []string{"locked", "locked/suid"}) {
		t.Errorf("Changed = %q", s.Changed)
	}
}

// TestSanitizeAfter: after a snapshot that shows nothing to reset, only the
// workspace directory's mode is restored and the tree is not walked again
// (a bit set since the snapshot, which cannot happen when the block's
// processes are gone, shows that); a snapshot that shows one, or none at
// all, means a full walk.
func TestSanitizeAfter(t *testing.T) {
	l := newLayout(t)
	dir := l.ws.Dir()
	l.write(t, "ok.txt", "x")
	clean, err := l.ws.Snapshot(t.Context(), 0)
	must(t, err)
	must(t, os.Chmod(filepath.Join(dir, "ok.txt"), 0o666))
	must(t, os.Chmod(dir, 0o777))
	s, err := l.ws.SanitizeAfter(t.Context(), 0o755, clean)
	must(t, err)
	if !slices.Equal(s.Changed, []string{"."}) || mode(t, dir) != fs.ModeDir|0o755 || mode(t, filepath.Join(dir, "ok.txt")) != 0o666 {
		t.Fatalf("after a clean snapshot: changed %q, workspace %v, file %v", s.Changed, mode(t, dir), mode(t, filepath.Join(dir, "ok.txt")))
	}
	for _, tc := range []struct {
		name string
		snap func() Snapshot
	}{
		{"a snapshot showing the bit", func() Snapshot {
			snap, err := l.ws.Snapshot(t.Context(), 0)
			must(t, err)
			return snap
		}},
		{"no snapshot", func() Snapshot { return nil }},
	} {
		must(t, os.Chmod(filepath.Join(dir, "ok.txt"), 0o666))
		s, err := l.ws.SanitizeAfter(t.Context(), 0o755, tc.snap())
		must(t, err)
		if !slices.Equal(s.Changed, []string{"ok.txt"}) || mode(t, filepath.Join(dir, "ok.txt")) != 0o664 {
			t.Errorf("%s: changed %q, file %v", tc.name, s.Changed, mode(t, filepath.Join(dir, "ok.txt")))
		}
	}
}
