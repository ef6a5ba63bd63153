package project

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// gitEnv makes git in the tests independent of the machine's settings.
func gitEnv(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("these tests need git")
	}
	for k, v := range map[string]string{
		"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
		"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
		"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
	} {
		t.Setenv(k, v)
	}
}

func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// write creates dir/name with its parents; a name ending in "*" is made
// executable (the star is not part of it).
func write(t *testing.T, dir, name, content string) {
	t.Helper()
	mode := fs.FileMode(0o644)
	if n, ok := strings.CutSuffix(name, "*"); ok {
		name, mode = n, 0o755
	}
	p := filepath.Join(dir, name)
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, []byte(content), mode))
	must(t, os.Chmod(p, mode))
}

// newRepo makes a git repository with files committed, and returns it.
func newRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	gitEnv(t)
	dir := filepath.Join(t.TempDir(), "proj")
	must(t, os.Mkdir(dir, 0o755))
	run(t, dir, "git", "init", "-q", "-b", "main")
	for name, content := range files {
		write(t, dir, name, content)
	}
	run(t, dir, "git", "add", "-A")
	run(t, dir, "git", "commit", "-q", "-m", "start")
	return dir
}

// copyOf copies dir into a new workspace.
func copyOf(t *testing.T, dir string) *Copy {
	t.Helper()
	ws := filepath.Join(t.TempDir(), "ws")
	must(t, os.Mkdir(ws, 0o755))
	c, err := CopyIn(t.Context(), dir, ws, CopyOptions{UID: -1})
	must(t, err)
	return c
}

// tree describes every entry below dir, .git included: type, permission
// bits and a hash of the contents or the link target. Two equal trees are
// byte for byte the same.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		desc := fi.Mode().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(data)
			desc += " " + hex.EncodeToString(h[:8])
		}
		out[rel] = desc
		return nil
	}))
	return out
}

func sameTree(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for p, d := range after {
		if before[p] != d {
			t.Errorf("%s: %s is now %q, was %q", what, p, d, before[p])
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("%s: %s is gone", what, p)
		}
	}
}

func TestCopyInGit(t *testing.T) {
	dir := newRepo(t, map[string]string{
		"calc.py": "def add(a, b):\n    return a - b\n", "run.sh*": "#!/bin/sh\n", ".gitignore": "*.log\nbuild/\n",
		"pkg/mod.py": "x = 1\n", "README.md": "# Calc\n",
	})
	write(t, dir, "new.py", "untracked, not ignored\n")
	write(t, dir, "debug.log", "ignored\n")
	write(t, dir, "build/out.bin", "ignored\n")
	must(t, os.Symlink("calc.py", filepath.Join(dir, "link.py")))
	must(t, os.Remove(filepath.Join(dir, "pkg/mod.py"))) // tracked, deleted in the work tree
	must(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	write(t, dir, "nested/.git/HEAD", "a nested repository's\n") // not git's own: a decoy
	before := tree(t, dir)

	c := copyOf(t, dir)
	sameTree(t, "the project", before, tree(t, dir))
	var names []string
	for p := range c.Files {
		names = append(names, p)
	}
	slices.Sort(names)
	want := []string{".gitignore", "README.md", "calc.py", "link.py", "new.py", "run.sh"}
	if !slices.Equal(names, want) || !c.Git || c.Head == "" || c.Prefix != "" {
		t.Fatalf("copied %v (git %v, head %q), want %v", names, c.Git, c.Head, want)
	}
	got := tree(t, c.Workspace)
	for p, w := range map[string]string{"run.sh": "-rwxr-xr-x", "calc.py": "-rw-r--r--", "link.py": "Lrwxrwxrwx -> calc.py"} {
		if !strings.HasPrefix(got[p], w) {
			t.Errorf("%s copied as %q, want %q", p, got[p], w)
		}
	}
	for _, p := range []string{".git", "debug.log", "build", "fifo", "nested", "pkg"} {
		if _, ok := got[p]; ok {
			t.Errorf("%s was copied", p)
		}
	}
	if e := c.Files["calc.py"]; e.Hash != hashBytes([]byte("def add(a, b):\n    return a - b\n")) || e.Exec || e.Link {
		t.Errorf("calc.py's entry: %+v", e)
	}
	if !c.Files["run.sh"].Exec || !c.Files["link.py"].Link || c.Files["link.py"].Hash != hashBytes([]byte("calc.py")) {
		t.Errorf("entries: %+v", c.Files)
	}
}

// TestCopyInSubdirectory: a directory inside a repository copies only its
// own files, and knows its place in the repository for a branch.
func TestCopyInSubdirectory(t *testing.T) {
	dir := newRepo(t, map[string]string{"top.txt": "top\n", "sub/a.py": "a\n", "sub/deep/b.py": "b\n"})
	c := copyOf(t, filepath.Join(dir, "sub"))
	if len(c.Files) != 2 || c.Files["a.py"].Hash == "" || c.Files["deep/b.py"].Hash == "" || c.Prefix != "sub/" {
		t.Fatalf("files %v, prefix %q", c.Files, c.Prefix)
	}
}

func TestCopyInPlainDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "plain")
	write(t, dir, "a.txt", "a\n")
	write(t, dir, "src/.git", "gitdir: elsewhere\n") // a worktree's .git file
	write(t, dir, ".git/config", "[core]\n")
	write(t, dir, ".agentteam/runs/run-1/x", "a run's file\n")
	write(t, dir, "src/b.go", "package b\n")
	ws := filepath.Join(t.TempDir(), "ws")
	must(t, os.Mkdir(ws, 0o755))
	c, err := CopyIn(t.Context(), dir, ws, CopyOptions{UID: -1, Skip: []string{filepath.Join(dir, ".agentteam")}})
	must(t, err)
	if c.Git || len(c.Files) != 2 || c.Files["a.txt"].Hash == "" || c.Files["src/b.go"].Hash == "" {
		t.Fatalf("git %v, files %v", c.Git, c.Files)
	}
}

// TestCopyInWorkspaceInside: the runs directory inside the project (agentteam
// run from the project's own directory) is not copied into itself.
func TestCopyInWorkspaceInside(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "plain")
	write(t, dir, "a.txt", "a\n")
	ws := filepath.Join(dir, ".agentteam", "runs", "run-1")
	must(t, os.MkdirAll(ws, 0o755))
	c, err := CopyIn(t.Context(), dir, ws, CopyOptions{UID: -1})
	must(t, err)
	if len(c.Files) != 1 {
		t.Fatalf("files %v", c.Files)
	}
}

func TestCopyInCaps(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits Limits
		files  int
		size   int
		want   string
	}{
		{"files", Limits{MaxFiles: 3}, 4, 1, "more than 3 files"},
		{"bytes", Limits{MaxBytes: 2 << 20}, 3, 1 << 20, "more than 2 MiB"},
		{"fits", Limits{MaxFiles: 4, MaxBytes: 4 << 20}, 4, 1 << 20, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "p")
			for i := range tc.files {
				write(t, dir, fmt.Sprintf("f%d", i), strings.Repeat("x", tc.size))
			}
			ws := t.TempDir()
			_, err := CopyIn(t.Context(), dir, ws, CopyOptions{Limits: tc.limits, UID: -1})
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (!errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// TestCopyInOwner: the copy belongs to the sandbox's user, so that its code
// can change the files.
func TestCopyInOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files away")
	}
	dir := filepath.Join(t.TempDir(), "p")
	write(t, dir, "sub/a.txt", "a\n")
	must(t, os.Symlink("a.txt", filepath.Join(dir, "sub/l")))
	ws := t.TempDir()
	_, err := CopyIn(t.Context(), dir, ws, CopyOptions{UID: 10001, GID: 10002})
	must(t, err)
	for _, p := range []string{"", "sub", "sub/a.txt", "sub/l"} {
		fi, err := os.Lstat(filepath.Join(ws, p))
		must(t, err)
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 10001 || st.Gid != 10002 {
			t.Errorf("%q belongs to %d:%d", p, st.Uid, st.Gid)
		}
	}
}
