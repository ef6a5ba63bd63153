package workspace

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A workspace goes through Archive and Extract as it was, but for what
// must not cross: setuid and world-write bits, FIFOs; links stay links.
func TestArchiveRoundTrip(t *testing.T) {
	src := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "a", "b"), 0o755))
	must(os.WriteFile(filepath.Join(src, "a", "b", "data.txt"), []byte("hello"), 0o644))
	must(os.WriteFile(filepath.Join(src, "run.sh"), []byte("#!/bin/sh\n"), 0o755))
	must(os.WriteFile(filepath.Join(src, "suid"), []byte("x"), 0o755))
	must(os.Chmod(filepath.Join(src, "suid"), 0o4777))
	must(os.Symlink("/etc/passwd", filepath.Join(src, "link")))
	must(unix.Mkfifo(filepath.Join(src, "fifo"), 0o644))
	must(os.WriteFile(filepath.Join(src, "odd\nname"), nil, 0o644))

	ws, err := Open(src)
	must(err)
	defer ws.Close()
	var tarball bytes.Buffer
	must(ws.Archive(context.Background(), &tarball, ArchiveOptions{}))

	dst := t.TempDir()
	x, err := Extract(context.Background(), dst, &tarball, Limits{})
	must(err)
	if x.Entries != 7 || x.Bytes != int64(len("hello")+len("#!/bin/sh\n")+1) {
		t.Errorf("extracted %+v", x)
	}
	if got, _ := os.ReadFile(filepath.Join(dst, "a", "b", "data.txt")); string(got) != "hello" {
		t.Errorf("data.txt = %q", got)
	}
	if target, err := os.Readlink(filepath.Join(dst, "link")); err != nil || target != "/etc/passwd" {
		t.Errorf("link: %q %v", target, err)
	}
	for name, want := range map[string]os.FileMode{"run.sh": 0o755, "suid": 0o775, "odd\nname": 0o644} {
		st, err := os.Lstat(filepath.Join(dst, name))
		if err != nil || st.Mode() != want {
			t.Errorf("%q: mode %v, want %v (%v)", name, st.Mode(), want, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(dst, "fifo")); !os.IsNotExist(err) {
		t.Errorf("a FIFO crossed: %v", err)
	}
}

type tarEntry struct {
	hdr  tar.Header
	body string
}

func tarOf(t *testing.T, entries ...tarEntry) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := e.hdr
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		h.Size = int64(len(e.body))
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return &b
}

// A hostile stream writes nothing outside the directory, whatever its
// names, links or sizes.
func TestExtractHostile(t *testing.T) {
	outside := t.TempDir()
	cases := []struct {
		name    string
		entries []tarEntry
		lim     Limits
		wantErr string // "" for none
		check   func(t *testing.T, dst string)
	}{
		{name: "dot-dot", entries: []tarEntry{{hdr: tar.Header{Name: "../escaped"}, body: "x"}}, wantErr: "outside the workspace"},
		{name: "dot-dot inside", entries: []tarEntry{{hdr: tar.Header{Name: "a/../../escaped"}, body: "x"}}, wantErr: "outside the workspace"},
		{name: "absolute", entries: []tarEntry{{hdr: tar.Header{Name: filepath.Join(outside, "abs")}, body: "x"}}, wantErr: "outside the workspace"},
		{name: "through a symlink it made", entries: []tarEntry{
			{hdr: tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: outside}},
			{hdr: tar.Header{Name: "l/pwned"}, body: "x"}}, wantErr: "escapes"},
		{name: "over a symlink it made", entries: []tarEntry{
			{hdr: tar.Header{Name: "f", Typeflag: tar.TypeSymlink, Linkname: filepath.Join(outside, "target")}},
			{hdr: tar.Header{Name: "f"}, body: "replaced"}},
			check: func(t *testing.T, dst string) {
				if st, err := os.Lstat(filepath.Join(dst, "f")); err != nil || !st.Mode().IsRegular() {
					t.Errorf("f is not a plain file: %v", err)
				}
			}},
		{name: "hard link and device skipped", entries: []tarEntry{
			{hdr: tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "/etc/shadow"}},
			{hdr: tar.Header{Name: "null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}},
			{hdr: tar.Header{Name: "p", Typeflag: tar.TypeFifo}}},
			check: func(t *testing.T, dst string) {
				if entries, _ := os.ReadDir(dst); len(entries) != 0 {
					t.Errorf("wrote %d entries", len(entries))
				}
			}},
		{name: "setuid and world-write stripped", entries: []tarEntry{
			{hdr: tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o1777}},
			{hdr: tar.Header{Name: "d/s", Mode: 0o6777}, body: "x"}},
			check: func(t *testing.T, dst string) {
				for name, want := range map[string]os.FileMode{"d": os.ModeDir | 0o775, "d/s": 0o775} {
					if st, err := os.Lstat(filepath.Join(dst, name)); err != nil || st.Mode() != want {
						t.Errorf("%s: %v, want %v (%v)", name, st.Mode(), want, err)
					}
				}
			}},
		{name: "too many entries", lim: Limits{Entries: 2}, entries: []tarEntry{
			{hdr: tar.Header{Name: "a"}}, {hdr: tar.Header{Name: "b"}}, {hdr: tar.Header{Name: "c"}}}, wantErr: "more than 2 entries"},
		{name: "too many bytes", lim: Limits{Bytes: 10}, entries: []tarEntry{
			{hdr: tar.Header{Name: "a"}, body: "123456"}, {hdr: tar.Header{Name: "b"}, body: "123456"}}, wantErr: "more than 10 bytes"},
		{name: "too deep", entries: []tarEntry{{hdr: tar.Header{Name: strings.Repeat("d/", MaxDepth) + "f"}}}, wantErr: "deeper than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := t.TempDir()
			_, err := Extract(context.Background(), dst, tarOf(t, c.entries...), c.lim)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("Extract: %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("Extract: %v, want an error saying %q", err, c.wantErr)
			}
			if c.lim != (Limits{}) && !errors.Is(err, ErrTooLarge) {
				t.Errorf("not ErrTooLarge: %v", err)
			}
			if left, _ := os.ReadDir(outside); len(left) != 0 {
				t.Errorf("wrote outside: %v", left)
			}
			if c.check != nil {
				c.check(t, dst)
			}
		})
	}
}

// Archive stops at its limits.
func TestArchiveLimits(t *testing.T) {
	src := t.TempDir()
	for _, n := range []string{"a", "b", "c"} {
		os.WriteFile(filepath.Join(src, n), []byte("12345"), 0o644)
	}
	ws, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	for _, lim := range []Limits{{Entries: 2}, {Bytes: 12}} {
		if err := ws.Archive(context.Background(), &bytes.Buffer{}, ArchiveOptions{Limits: lim}); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%+v: %v, want ErrTooLarge", lim, err)
		}
	}
	if err := ws.Archive(context.Background(), &bytes.Buffer{}, ArchiveOptions{Limits: Limits{Entries: 3, Bytes: 15}}); err != nil {
		t.Errorf("at the limits: %v", err)
	}
}
