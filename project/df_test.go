package project

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPatchDirectoryFile: a directory that became a file and a file that
// became a directory patch and apply both ways.
func TestPatchDirectoryFile(t *testing.T) {
	dir := newRepo(t, map[string]string{"d/a.txt": "a\n", "f": "f\n", "z.txt": "z\n"})
	c := copyOf(t, dir)
	must(t, os.RemoveAll(filepath.Join(c.Workspace, "d")))
	write(t, c.Workspace, "d", "now a file\n")
	must(t, os.Remove(filepath.Join(c.Workspace, "f")))
	write(t, c.Workspace, "f/inner.txt", "now a directory\n")
	cs, err := c.Changes(t.Context())
	must(t, err)
	patch := filepath.Join(t.TempDir(), "p.patch")
	_, err = c.SavePatch(patch, cs)
	must(t, err)
	clone := filepath.Join(t.TempDir(), "clone")
	run(t, t.TempDir(), "git", "clone", "-q", dir, clone)
	run(t, clone, "git", "apply", patch)
	_, err = c.Apply(t.Context(), cs)
	must(t, err)
	want := withoutGit(tree(t, c.Workspace))
	sameTree(t, "the project", want, withoutGit(tree(t, dir)))
	sameTree(t, "the clone", want, withoutGit(tree(t, clone)))
	cs2, err := c.Changes(t.Context())
	must(t, err)
	commit, err := c.Branch(t.Context(), cs2, "df", "df")
	if err != nil || commit == "" {
		t.Fatal(err)
	}
}
