// Package project owns working on a user's own directory without touching
// it: copying the project into a run's workspace (for a git repository its
// tracked files and the untracked ones it does not ignore, never .git; with
// caps on files and bytes) while recording a hash of every file, turning
// what the team left in the workspace into a change set (created,
// modified, deleted, mode changes, symlinks, binary files, and what runs
// code on the user's machine), writing it as a patch that git apply
// takes, and applying it to the project, or committing it to a new branch,
// only as the user asked.
//
// The workspace is written by untrusted code, so the change set is hostile
// input: it is read through package workspace (no symlink followed, no
// FIFO opened), and nothing of it is ever written into .git, with setuid,
// setgid, sticky or world-write bits, as a symlink pointing out of the
// project or into .git, or at a path that is not local. Applying refuses,
// naming them, files that changed in the project since the copy. Git runs
// only in the user's project, never in the workspace, whose .git, hooks
// and config the sandbox could have written.
package project

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
)

// Default caps of a copy.
const (
	DefaultMaxFiles     = 20000     // files and symlinks copied
	DefaultMaxBytes     = 256 << 20 // bytes of file contents copied
	DefaultMaxFileBytes = 64 << 20  // bytes of one changed file read back
)

// Limits bound what a copy takes in and what a change set reads back.
// Zero fields take the defaults.
type Limits struct {
	MaxFiles     int
	MaxBytes     int64
	MaxFileBytes int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultMaxFiles
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = DefaultMaxFileBytes
	}
	return l
}

// Entry is one file of the project as copied.
type Entry struct {
	Link bool // a symlink; else a regular file
	Exec bool // a regular file with its owner's execute bit
	Size int64
	// Hash is the SHA-256 of the contents, or of a symlink's target.
	Hash string
}

// Git modes, as a patch and a tree write them.
const (
	modeFile = "100644"
	modeExec = "100755"
	modeLink = "120000"
)

func (e Entry) gitMode() string {
	switch {
	case e.Link:
		return modeLink
	case e.Exec:
		return modeExec
	}
	return modeFile
}

// Copy is a project copied into a workspace, as it was at copy time: what
// a change set is computed against and what applying checks the project
// against.
type Copy struct {
	Dir       string // the project, absolute
	Workspace string // the copy, absolute
	// Git says the project is a git work tree; Head is its commit at copy
	// time ("" before the first commit) and Prefix the project's path in
	// the repository ("" at its top, else ending in "/").
	Git    bool
	Head   string
	Prefix string
	// Files are the copied files and symlinks by slash-separated path.
	Files map[string]Entry
	Bytes int64 // of the files' contents
	// Skipped counts what was not copied: special files, submodules,
	// nested repositories.
	Skipped int
	// submodules are the paths of submodules: nothing below them is a
	// change of this project.
	submodules []string
	limits     Limits
}

// hashBytes is the hex SHA-256 of data.
func hashBytes(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// git runs git in dir (the user's project, never a workspace) and returns
// its standard output. stdin may be nil. Optional locks are off so that
// reading commands leave the index alone: the project must not change.
func git(ctx context.Context, dir string, env []string, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
	cmd.Env = append(cmd.Env, env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		if msg != "" {
			return out, fmt.Errorf("git %s: %w: %s", args[0], err, msg)
		}
		return out, fmt.Errorf("git %s: %w", args[0], err)
	}
	return out, nil
}

// splitZ splits NUL-terminated records.
func splitZ(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			out = append(out, string(b))
			break
		}
		out = append(out, string(b[:i]))
		b = b[i+1:]
	}
	return out
}

// isGitName reports whether a path component names a git directory: a
// case-insensitive file system would take .GIT for .git.
func isGitName(part string) bool { return strings.EqualFold(part, ".git") }

// inGit reports whether a slash path has a .git component.
func inGit(p string) bool {
	for part := range strings.SplitSeq(p, "/") {
		if isGitName(part) {
			return true
		}
	}
	return false
}

// under reports whether p is dir or below it.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// perm is the mode a regular file of the project is written with: git's
// two, so that no setuid, setgid, sticky or world-write bit ever comes
// through.
func perm(exec bool) fs.FileMode {
	if exec {
		return 0o755
	}
	return 0o644
}
