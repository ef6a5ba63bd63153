package project

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBranch: the change set becomes a commit on a new branch whose tree is
// the workspace's, while the work tree, the index, HEAD and the current
// branch stay byte for byte as they were.
func TestBranch(t *testing.T) {
	dir, _ := newProject(t)
	write(t, dir, "wip.txt", "the user's untracked work\n")
	c := copyOf(t, dir)
	teamWork(t, c.Workspace)
	cs, err := c.Changes(t.Context())
	must(t, err)
	before := tree(t, dir)
	head := run(t, dir, "git", "rev-parse", "HEAD")

	commit, err := c.Branch(t.Context(), cs, "team/fix-add", "Fix add\n\nby agentteam\n")
	must(t, err)
	after := tree(t, dir)
	for p, d := range before {
		// Git stores the new objects, reflog and ref; nothing else moves.
		if strings.HasPrefix(p, ".git/objects") || strings.HasPrefix(p, ".git/logs") || strings.HasPrefix(p, ".git/refs/heads") {
			continue
		}
		if after[p] != d {
			t.Errorf("%s changed: %q, was %q", p, after[p], d)
		}
	}
	if got := run(t, dir, "git", "rev-parse", "HEAD"); got != head {
		t.Errorf("HEAD moved to %s", got)
	}
	if got := strings.TrimSpace(run(t, dir, "git", "rev-parse", "team/fix-add")); got != commit {
		t.Errorf("branch at %s, Branch said %s", got, commit)
	}
	if got := run(t, dir, "git", "log", "-1", "--format=%s%n%P", "team/fix-add"); got != "Fix add\n"+head {
		t.Errorf("commit: %q", got)
	}
	// The branch's tree is the workspace's, less what was never copied.
	check := filepath.Join(t.TempDir(), "check")
	run(t, t.TempDir(), "git", "clone", "-q", "-b", "team/fix-add", dir, check)
	// The user's untracked file, which the team did not touch, is not
	// committed.
	want := withoutGit(tree(t, c.Workspace))
	delete(want, "wip.txt")
	sameTree(t, "the branch", want, withoutGit(tree(t, check)))

	if _, err := c.Branch(t.Context(), cs, "team/fix-add", "again"); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("an existing branch: %v", err)
	}
}

// TestBranchFromSubdirectory: paths go under the project's place in the
// repository.
func TestBranchFromSubdirectory(t *testing.T) {
	dir := newRepo(t, map[string]string{"top.txt": "top\n", "sub/a.py": "a\n"})
	c := copyOf(t, filepath.Join(dir, "sub"))
	write(t, c.Workspace, "a.py", "fixed\n")
	cs, err := c.Changes(t.Context())
	must(t, err)
	_, err = c.Branch(t.Context(), cs, "fix", "fix")
	must(t, err)
	if got := run(t, dir, "git", "show", "fix:sub/a.py"); got != "fixed\n" {
		t.Fatalf("sub/a.py on the branch: %q", got)
	}
	if got := run(t, dir, "git", "show", "fix:top.txt"); got != "top\n" {
		t.Fatalf("top.txt on the branch: %q", got)
	}
}

// TestBranchEmptyRepository: a repository with no commit yet gets a root
// commit.
func TestBranchEmptyRepository(t *testing.T) {
	gitEnv(t)
	dir := filepath.Join(t.TempDir(), "p")
	must(t, os.Mkdir(dir, 0o755))
	run(t, dir, "git", "init", "-q", "-b", "main")
	write(t, dir, "a.txt", "a\n")
	c := copyOf(t, dir)
	write(t, c.Workspace, "b.txt", "b\n")
	cs, err := c.Changes(t.Context())
	must(t, err)
	_, err = c.Branch(t.Context(), cs, "first", "first")
	must(t, err)
	if got := run(t, dir, "git", "ls-tree", "--name-only", "first"); got != "b.txt\n" {
		t.Fatalf("tree: %q", got)
	}
}

func TestCheckBranch(t *testing.T) {
	dir := newRepo(t, map[string]string{"a": "a\n"})
	for _, tc := range []struct{ name, err string }{
		{"team/fix", ""},
		{"main", "exists already"},
		{"-f", "not valid"},
		{"a..b", "not valid"},
		{"bad name", "not valid"},
		{"", "not valid"},
	} {
		err := CheckBranch(t.Context(), dir, tc.name)
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("CheckBranch(%q) = %v, want %q", tc.name, err, tc.err)
		}
	}
}

func TestBranchNotGit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p")
	write(t, dir, "a", "a\n")
	c := copyOf(t, dir)
	if _, err := c.Branch(t.Context(), &ChangeSet{}, "x", "x"); !errors.Is(err, ErrNotGit) {
		t.Fatalf("err %v", err)
	}
}
