package project

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/agentteam/agentteam/workspace"
)

// Op is what a change does to its path.
type Op string

const (
	Created  Op = "created"
	Modified Op = "modified"
	Deleted  Op = "deleted"
)

// Change is one entry of a change set. A path whose type changed (a file
// that became a symlink) is a deletion followed by a creation.
type Change struct {
	Path string `json:"path"`
	Op   Op     `json:"op"`
	// Mode is the git mode the path ends with (100644, 100755, 120000);
	// OldMode the one it had, when the path is deleted or its mode changed.
	Mode    string `json:"mode,omitempty"`
	OldMode string `json:"old_mode,omitempty"`
	Target  string `json:"target,omitempty"` // a symlink's target
	Binary  bool   `json:"binary,omitempty"`
	Size    int64  `json:"size,omitempty"` // of the new contents
	// RunsCode says why this change runs code on the user's machine when
	// they next build, test or open the project; "" if it does not.
	RunsCode string `json:"runs_code,omitempty"`
	// Refused says why this change is never applied; "" if it may be.
	Refused string `json:"refused,omitempty"`
	// Note says what applying leaves out, such as a setuid bit.
	Note string `json:"note,omitempty"`

	hash    string // of the new contents or target
	oldHash string // of the old, from the copy
}

// ChangeSet is what a team changed in its copy of a project.
type ChangeSet struct {
	// Changes are sorted by path, a deletion before a creation of the same
	// path.
	Changes []Change `json:"changes"`
	// Ignored counts created files left out: ignored by the project's git
	// rules, or tool caches (__pycache__, .pytest_cache, ...).
	Ignored int `json:"ignored,omitempty"`
}

// Applicable are the changes that applying writes.
func (s *ChangeSet) Applicable() []Change {
	return slices.DeleteFunc(slices.Clone(s.Changes), func(c Change) bool { return c.Refused != "" })
}

// RunningCode are the applicable changes that run code on the user's
// machine: what a person must read before saying yes.
func (s *ChangeSet) RunningCode() []Change {
	return slices.DeleteFunc(s.Applicable(), func(c Change) bool { return c.RunsCode == "" })
}

// maxWalk bounds the entries a change set's walk of the workspace looks at:
// the sandbox's own cap on a workspace (--workspace-cap) is 100,000.
const maxWalk = 200_000

// Changes compares the workspace with the copy and returns what changed.
// Call it once nothing runs in the workspace any more. Every entry is read
// without following a symlink and checked: anything under .git, below a
// submodule, a special file, a name that is not a local path of valid
// UTF-8 without control characters, a symlink that points out of the
// project or into .git, or a file over MaxFileBytes is listed as refused.
// Created files the project's git rules ignore, and tool caches, are left
// out and counted.
func (c *Copy) Changes(ctx context.Context) (*ChangeSet, error) {
	ws, err := workspace.Open(c.Workspace)
	if err != nil {
		return nil, fmt.Errorf("read changes: %w", err)
	}
	defer ws.Close()
	snap, err := ws.Snapshot(ctx, maxWalk)
	if err != nil {
		return nil, fmt.Errorf("read changes: %w", err)
	}
	cs := &ChangeSet{}
	gitDirs := map[string]int{} // a .git the team made → entries in it
	var created []int           // indexes of creations to check against the ignore rules
	for _, p := range slices.Sorted(maps.Keys(snap)) {
		fi := snap[p]
		if fi.Mode.IsDir() {
			continue
		}
		old, had := c.Files[p]
		switch {
		case inGit(p):
			gitDirs[gitRoot(p)]++
			continue
		case !had && isCache(p):
			cs.Ignored++
			continue
		case slices.ContainsFunc(c.submodules, func(s string) bool { return under(p, s) }):
			cs.Changes = append(cs.Changes, Change{Path: p, Op: Created, Refused: "inside a submodule"})
			continue
		}
		limit := c.limits.MaxFileBytes
		if had {
			limit = max(limit, old.Size) // an unchanged big file is no change
		}
		ch, err := read(ws, p, fi, limit)
		if err != nil {
			return nil, fmt.Errorf("read changes: %w", err)
		}
		switch {
		case !had:
		case ch.Mode == "" || old.Link != (ch.Mode == modeLink):
			// Another type of entry: the old one goes, the new one comes.
			cs.Changes = append(cs.Changes, Change{Path: p, Op: Deleted, OldMode: old.gitMode(), oldHash: old.Hash})
		case ch.hash == old.Hash && ch.Mode == old.gitMode():
			continue // the same
		default:
			ch.Op, ch.oldHash = Modified, old.Hash
			if ch.Mode != old.gitMode() {
				ch.OldMode = old.gitMode()
			}
		}
		if ch.Op == Created && ch.Refused == "" {
			if err := workspace.ValidateName(p); err != nil {
				ch.Refused = "its name is not allowed: " + strings.TrimPrefix(err.Error(), fmt.Sprintf("file name %q ", p))
			}
		}
		if ch.Op == Created && ch.Refused == "" {
			created = append(created, len(cs.Changes))
		}
		cs.Changes = append(cs.Changes, ch)
	}
	for p, old := range c.Files {
		if fi, ok := snap[p]; !ok || fi.Mode.IsDir() {
			cs.Changes = append(cs.Changes, Change{Path: p, Op: Deleted, OldMode: old.gitMode(), oldHash: old.Hash})
		}
	}
	for root, n := range gitDirs {
		entries := fmt.Sprintf("%d entries", n)
		if n == 1 {
			entries = "1 entry"
		}
		cs.Changes = append(cs.Changes, Change{Path: root, Op: Created,
			Refused: "inside .git (" + entries + "): git's own files are never written"})
	}
	if err := c.dropIgnored(ctx, cs, created); err != nil {
		return nil, err
	}
	for i := range cs.Changes {
		ch := &cs.Changes[i]
		if ch.Op != Deleted && ch.Refused == "" {
			ch.RunsCode = c.runsCode(*ch)
		}
	}
	slices.SortStableFunc(cs.Changes, func(a, b Change) int {
		if n := strings.Compare(a.Path, b.Path); n != 0 {
			return n
		}
		return boolInt(a.Op != Deleted) - boolInt(b.Op != Deleted)
	})
	return cs, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// read describes the workspace entry p as a creation, reading at most limit
// bytes of it; Changes turns it into a modification where the copy had p.
func read(ws *workspace.Workspace, p string, fi workspace.FileInfo, limit int64) (Change, error) {
	ch := Change{Path: p, Op: Created}
	switch {
	case fi.Mode&fs.ModeSymlink != 0:
		target, err := ws.Readlink(p)
		if err != nil {
			return ch, err
		}
		ch.Mode, ch.Target, ch.Size, ch.hash = modeLink, target, int64(len(target)), hashBytes([]byte(target))
		ch.Refused = linkProblem(p, target)
	case fi.Mode.IsRegular():
		data, cut, err := ws.ReadFile(p, limit)
		if err != nil {
			return ch, err
		}
		if cut {
			ch.Mode, ch.Size = modeFile, fi.Size
			ch.Refused = fmt.Sprintf("larger than %d MiB", limit>>20)
			return ch, nil
		}
		ch.Mode, ch.Size, ch.hash, ch.Binary = modeFile, int64(len(data)), hashBytes(data), isBinary(data)
		if fi.Mode&0o100 != 0 {
			ch.Mode = modeExec
		}
		var dropped []string
		for _, b := range []struct {
			bit  bool
			name string
		}{{fi.Mode&fs.ModeSetuid != 0, "setuid"}, {fi.Mode&fs.ModeSetgid != 0, "setgid"},
			{fi.Mode&fs.ModeSticky != 0, "sticky"}, {fi.Mode&0o002 != 0, "world-write"}} {
			if b.bit {
				dropped = append(dropped, b.name)
			}
		}
		if len(dropped) > 0 {
			ch.Note = strings.Join(dropped, ", ") + " bit left out"
		}
	default:
		ch.Refused = "a special file (" + kind(fi.Mode) + ")"
	}
	return ch, nil
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "not a file"
}

// gitRoot is p up to and including its first .git component.
func gitRoot(p string) string {
	parts := strings.Split(p, "/")
	for i, part := range parts {
		if isGitName(part) {
			return strings.Join(parts[:i+1], "/")
		}
	}
	return p
}

// caches are directories of tool caches, never part of a change.
var caches = []string{"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"}

func isCache(p string) bool {
	for part := range strings.SplitSeq(p, "/") {
		if slices.Contains(caches, part) {
			return true
		}
	}
	return false
}

// linkProblem says why a symlink the team made must not be written into the
// project, or "": its target must be relative, stay inside the project
// from where the link is, and not lead into .git.
func linkProblem(p, target string) string {
	switch {
	case target == "":
		return "a symlink with an empty target"
	case !utf8.ValidString(target) || strings.IndexFunc(target, unicode.IsControl) >= 0:
		return "a symlink whose target has control characters or invalid UTF-8"
	case strings.HasPrefix(target, "/"):
		return "a symlink pointing outside the project (an absolute path)"
	}
	resolved := path.Join(path.Dir(p), target)
	switch {
	case !filepath.IsLocal(resolved) && resolved != ".":
		return "a symlink pointing outside the project"
	case inGit(resolved):
		return "a symlink pointing into .git"
	}
	return ""
}

// isBinary says whether data is not text, as git decides: a NUL byte in
// its first 8000 bytes.
func isBinary(data []byte) bool {
	return bytes.IndexByte(data[:min(len(data), 8000)], 0) >= 0
}

// dropIgnored removes from cs the creations (at the indexes given) that
// the project's git rules ignore, and counts them. Git reads the rules of
// the user's project, never the workspace's copy of them.
func (c *Copy) dropIgnored(ctx context.Context, cs *ChangeSet, created []int) error {
	if !c.Git || len(created) == 0 {
		return nil
	}
	var in bytes.Buffer
	for _, i := range created {
		in.WriteString(cs.Changes[i].Path)
		in.WriteByte(0)
	}
	out, err := git(ctx, c.Dir, nil, in.Bytes(), "check-ignore", "-z", "--stdin")
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.ExitCode() == 1: // none is ignored
		return nil
	case err != nil:
		// A path git will not judge (one below a symlink of the project):
		// keep every change, which shows more rather than less.
		return nil
	}
	ignored := map[string]bool{}
	for _, p := range splitZ(out) {
		ignored[p] = true
	}
	cs.Changes = slices.DeleteFunc(cs.Changes, func(ch Change) bool {
		if ch.Op == Created && ch.Refused == "" && ignored[ch.Path] {
			cs.Ignored++
			return true
		}
		return false
	})
	return nil
}

// runsCode says why a created or modified entry runs code on the user's
// machine, or "".
func (c *Copy) runsCode(ch Change) string {
	p := ch.Path
	base := path.Base(p)
	lower := strings.ToLower(base)
	dir := path.Dir(p) + "/"
	switch {
	case slices.Contains([]string{"makefile", "gnumakefile"}, lower) || strings.HasSuffix(lower, ".mk"):
		return "make runs it"
	case strings.HasPrefix(dir, ".github/workflows/"), strings.HasPrefix(dir, ".github/actions/"),
		strings.HasPrefix(dir, ".circleci/"), strings.HasPrefix(dir, ".buildkite/"),
		slices.Contains([]string{".gitlab-ci.yml", ".travis.yml", "azure-pipelines.yml", "bitbucket-pipelines.yml",
			"jenkinsfile", ".drone.yml"}, lower):
		return "CI runs it"
	case lower == ".envrc":
		return "direnv runs it when you enter the directory"
	case strings.HasPrefix(dir, ".vscode/"), strings.HasPrefix(dir, ".idea/"), strings.HasPrefix(dir, ".devcontainer/"),
		strings.HasSuffix(lower, ".code-workspace"):
		return "your editor may run what it names when you open the project"
	case slices.Contains([]string{".gitattributes", ".gitmodules", ".pre-commit-config.yaml", "lefthook.yml", ".lefthook.yml"}, lower),
		strings.HasPrefix(dir, ".githooks/"), strings.HasPrefix(dir, ".husky/"):
		return "git or a hook manager runs what it names"
	case slices.Contains([]string{"setup.py", "build.rs", "justfile", "rakefile", "cmakelists.txt", "meson.build",
		"build.gradle", "build.gradle.kts", "taskfile.yml"}, lower):
		return "your build runs it"
	case lower == "package.json" && c.scriptsChanged(ch):
		return "npm runs its scripts"
	case ch.Mode == modeExec && (ch.OldMode != "" || ch.Op == Created || ch.hash != ch.oldHash):
		return "executable"
	}
	return ""
}

// scriptsChanged says whether a package.json's "scripts" differ from the
// copy's; one that cannot be read or parsed counts as changed.
func (c *Copy) scriptsChanged(ch Change) bool {
	scripts := func(data []byte) (string, bool) {
		var pkg struct {
			Scripts json.RawMessage `json:"scripts"`
		}
		if err := json.Unmarshal(data, &pkg); err != nil {
			return "", false
		}
		var v any
		if len(pkg.Scripts) > 0 && json.Unmarshal(pkg.Scripts, &v) == nil {
			norm, _ := json.Marshal(v)
			return string(norm), true
		}
		return "", true
	}
	ws, err := workspace.Open(c.Workspace)
	if err != nil {
		return true
	}
	defer ws.Close()
	now, _, err := ws.ReadFile(ch.Path, c.limits.MaxFileBytes)
	if err != nil {
		return true
	}
	after, ok := scripts(now)
	if !ok {
		return true
	}
	if ch.Op == Created {
		return after != ""
	}
	old, err := c.readOld(ch.Path, ch.oldHash)
	if err != nil {
		return true
	}
	before, ok := scripts(old)
	return !ok || before != after
}

// readOld reads the project's file p as the copy saw it: an error if it
// changed since (its hash is no longer hash).
func (c *Copy) readOld(p, hash string) ([]byte, error) {
	root, err := os.OpenRoot(c.Dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	data, err := readEntry(root, p, c.limits.MaxBytes)
	if err != nil {
		return nil, err
	}
	if hashBytes(data) != hash {
		return nil, fmt.Errorf("%s changed in %s since the copy", p, c.Dir)
	}
	return data, nil
}
