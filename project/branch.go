package project

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/agentteam/agentteam/workspace"
)

// ErrNotGit is returned for a branch of a project that is not a git work
// tree.
var ErrNotGit = errors.New("the project is not a git repository")

// CheckBranch refuses a branch name git would not take, or one that
// exists already: a branch is only ever created, never moved.
func CheckBranch(ctx context.Context, dir, name string) error {
	if strings.HasPrefix(name, "-") || name == "" {
		return fmt.Errorf("branch name %q is not valid", name)
	}
	if _, err := git(ctx, dir, nil, nil, "check-ref-format", "refs/heads/"+name); err != nil {
		return fmt.Errorf("branch name %q is not valid", name)
	}
	if _, err := git(ctx, dir, nil, nil, "rev-parse", "--verify", "-q", "refs/heads/"+name); err == nil {
		return fmt.Errorf("branch %q exists already", name)
	}
	return nil
}

// Branch commits the change set's applicable changes on top of the commit
// the project had at copy time, as a new branch name, and returns the
// commit. It leaves the work tree, the index and HEAD alone: the tree is
// built in a temporary index (GIT_INDEX_FILE) from blobs written with
// `git hash-object --no-filters` (no filter of .gitattributes runs), and
// the branch is created with `git update-ref`, which fails if it exists.
// Files the team changed are committed as it left them, so uncommitted
// edits of the user's that such a file held at copy time go with them;
// untracked files of the user's that the team did not touch do not.
func (c *Copy) Branch(ctx context.Context, cs *ChangeSet, name, message string) (string, error) {
	if !c.Git {
		return "", ErrNotGit
	}
	if err := CheckBranch(ctx, c.Dir, name); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "agentteam-index-")
	if err != nil {
		return "", fmt.Errorf("branch: %w", err)
	}
	defer os.RemoveAll(tmp)
	env := []string{"GIT_INDEX_FILE=" + filepath.Join(tmp, "index")}
	readTree := []string{"read-tree", "--empty"}
	if c.Head != "" {
		readTree = []string{"read-tree", c.Head}
	}
	if _, err := git(ctx, c.Dir, env, nil, readTree...); err != nil {
		return "", fmt.Errorf("branch: %w", err)
	}
	zero := strings.Repeat("0", 40)
	if f, err := git(ctx, c.Dir, nil, nil, "rev-parse", "--show-object-format"); err == nil && strings.TrimSpace(string(f)) == "sha256" {
		zero = strings.Repeat("0", 64)
	}
	ws, err := workspace.Open(c.Workspace)
	if err != nil {
		return "", fmt.Errorf("branch: %w", err)
	}
	defer ws.Close()
	var info strings.Builder
	for _, ch := range cs.Applicable() {
		full := c.Prefix + ch.Path
		if ch.Op == Deleted {
			fmt.Fprintf(&info, "0 %s\t%s\x00", zero, full)
			continue
		}
		data, err := c.readNew(ws, ch)
		if err != nil {
			return "", fmt.Errorf("branch: %w", err)
		}
		id, err := git(ctx, c.Dir, nil, data, "hash-object", "-w", "--no-filters", "--stdin")
		if err != nil {
			return "", fmt.Errorf("branch: %w", err)
		}
		fmt.Fprintf(&info, "%s %s\t%s\x00", ch.Mode, strings.TrimSpace(string(id)), full)
	}
	// --replace: a file that became a directory, or the other way round.
	if _, err := git(ctx, c.Dir, env, []byte(info.String()), "update-index", "-z", "--add", "--remove", "--replace", "--index-info"); err != nil {
		return "", fmt.Errorf("branch: %w", err)
	}
	tree, err := git(ctx, c.Dir, env, nil, "write-tree")
	if err != nil {
		return "", fmt.Errorf("branch: %w", err)
	}
	args := []string{"commit-tree", strings.TrimSpace(string(tree)), "-F", "-"}
	if c.Head != "" {
		args = append(args, "-p", c.Head)
	}
	var ident []string
	if _, err := git(ctx, c.Dir, nil, nil, "var", "GIT_COMMITTER_IDENT"); err != nil {
		// No identity configured: say who made it rather than fail.
		ident = []string{"GIT_AUTHOR_NAME=agentteam", "GIT_AUTHOR_EMAIL=agentteam@localhost",
			"GIT_COMMITTER_NAME=agentteam", "GIT_COMMITTER_EMAIL=agentteam@localhost"}
	}
	commit, err := git(ctx, c.Dir, ident, []byte(message), args...)
	if err != nil {
		return "", fmt.Errorf("branch: %w", err)
	}
	id := strings.TrimSpace(string(commit))
	if _, err := git(ctx, c.Dir, nil, nil, "update-ref", "-m", "agentteam: a team's changes", "refs/heads/"+name, id, ""); err != nil {
		return "", fmt.Errorf("branch: %w", err)
	}
	return id, nil
}
