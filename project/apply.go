package project

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/workspace"
)

// ConflictError names the files of the project that changed since the
// copy, which applying the change set would overwrite.
type ConflictError struct {
	Dir   string
	Paths []string // sorted
}

func (e *ConflictError) Error() string {
	shown := e.Paths[:min(len(e.Paths), 20)]
	names := make([]string, len(shown))
	for i, p := range shown {
		names[i] = safetext.Name(p)
	}
	more := ""
	if n := len(e.Paths) - len(shown); n > 0 {
		more = fmt.Sprintf(" and %d more", n)
	}
	return fmt.Sprintf("%d file(s) changed in %s since the copy: %s%s", len(e.Paths), safetext.Name(e.Dir),
		strings.Join(names, ", "), more)
}

// Applied is what Apply did.
type Applied struct {
	Written int `json:"written"` // files and symlinks created or replaced
	Deleted int `json:"deleted"`
	Modes   int `json:"modes"` // files whose execute bits alone changed
}

// Conflicts names the paths the change set would write that changed in
// the project since the copy: a file modified or deleted there whose
// contents, type or execute bit are no longer what was copied, or a path
// created both there and by the team.
func (c *Copy) Conflicts(cs *ChangeSet) ([]string, error) {
	root, err := os.OpenRoot(c.Dir)
	if err != nil {
		return nil, fmt.Errorf("check project: %w", err)
	}
	defer root.Close()
	var paths []string
	emptied := map[string]bool{} // directories whose copied files the change set deletes
	for _, ch := range cs.Applicable() {
		if ch.Op == Deleted {
			for dir := path.Dir(ch.Path); dir != "."; dir = path.Dir(dir) {
				emptied[dir] = true
			}
		}
	}
	for _, ch := range cs.Applicable() {
		if old, ok := c.Files[ch.Path]; ok {
			if !c.unchanged(root, ch.Path, old) {
				paths = append(paths, ch.Path)
			}
			continue
		}
		// New to the project: it must not have appeared there since, but
		// for a directory the team turned into a file. An error other
		// than a plain "exists" (a parent that is now a file or a symlink)
		// is for the write to refuse.
		if fi, err := root.Lstat(ch.Path); err == nil && !(fi.IsDir() && emptied[ch.Path]) {
			paths = append(paths, ch.Path)
		}
	}
	slices.Sort(paths)
	return slices.Compact(paths), nil
}

// unchanged reports whether the project's entry p is still old.
func (c *Copy) unchanged(root *os.Root, p string, old Entry) bool {
	fi, err := root.Lstat(p)
	if err != nil || old.Link != (fi.Mode()&fs.ModeSymlink != 0) || !old.Link && (!fi.Mode().IsRegular() || old.Exec != (fi.Mode()&0o100 != 0)) {
		return false
	}
	data, err := readEntry(root, p, max(c.limits.MaxFileBytes, old.Size))
	return err == nil && hashBytes(data) == old.Hash
}

// readEntry reads the regular file p below root, or the target of the
// symlink p, never following a symlink and never waiting on a FIFO; more
// than limit bytes is an error.
func readEntry(root *os.Root, p string, limit int64) ([]byte, error) {
	fi, err := root.Lstat(p)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := root.Readlink(p)
		return []byte(target), err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	f, err := root.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("%s is larger than %d bytes", p, limit)
	}
	return data, err
}

// readNew reads the new contents (or target) of a change from the
// workspace and checks that they are what the change set was made from.
func (c *Copy) readNew(ws *workspace.Workspace, ch Change) ([]byte, error) {
	var data []byte
	if ch.Mode == modeLink {
		target, err := ws.Readlink(ch.Path)
		if err != nil {
			return nil, err
		}
		data = []byte(target)
	} else {
		var cut bool
		var err error
		data, cut, err = ws.ReadFile(ch.Path, max(c.limits.MaxFileBytes, ch.Size))
		if err != nil {
			return nil, err
		}
		if cut {
			return nil, fmt.Errorf("%s grew in the workspace since the change set was made", safetext.Name(ch.Path))
		}
	}
	if hashBytes(data) != ch.hash {
		return nil, fmt.Errorf("%s changed in the workspace since the change set was made", safetext.Name(ch.Path))
	}
	return data, nil
}

// Apply writes the change set's applicable changes into the project. It
// refuses with a *ConflictError, writing nothing, if any file it would
// write changed in the project since the copy, and with an error if the
// workspace changed since the change set was made. It writes only what it
// checked: files with mode 0644 or 0755 (a modified file keeps its own
// permissions), symlinks pointing inside the project and not into .git,
// never anything under .git or through a symlink of the project, each
// file by a rename of a complete temporary file. A failure part way
// leaves what was done so far, and says where it stopped.
func (c *Copy) Apply(ctx context.Context, cs *ChangeSet) (Applied, error) {
	var done Applied
	conflicts, err := c.Conflicts(cs)
	if err != nil {
		return done, err
	}
	if len(conflicts) > 0 {
		return done, &ConflictError{Dir: c.Dir, Paths: conflicts}
	}
	ws, err := workspace.Open(c.Workspace)
	if err != nil {
		return done, fmt.Errorf("apply: %w", err)
	}
	defer ws.Close()
	changes := cs.Applicable()
	// Every new version is checked before anything is written.
	for _, ch := range changes {
		if ch.Op != Deleted {
			if _, err := c.readNew(ws, ch); err != nil {
				return done, fmt.Errorf("apply: %w", err)
			}
		}
	}
	root, err := os.OpenRoot(c.Dir)
	if err != nil {
		return done, fmt.Errorf("apply: %w", err)
	}
	defer root.Close()
	for _, ch := range changes {
		if ch.Op != Deleted {
			continue
		}
		if err := ctx.Err(); err != nil {
			return done, err
		}
		if err := checkPath(ch.Path); err != nil {
			return done, err
		}
		if err := root.Remove(ch.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return done, fmt.Errorf("apply: delete %s: %w", safetext.Name(ch.Path), err)
		}
		done.Deleted++
		c.pruneDirs(root, ch.Path)
	}
	for _, ch := range changes {
		if ch.Op == Deleted {
			continue
		}
		if err := ctx.Err(); err != nil {
			return done, err
		}
		if err := c.write(root, ws, ch, &done); err != nil {
			return done, fmt.Errorf("apply %s: %w", safetext.Name(ch.Path), err)
		}
	}
	return done, nil
}

// checkPath refuses a path no change may write: not local, or in .git.
func checkPath(p string) error {
	if !fs.ValidPath(p) || p == "." || inGit(p) {
		return fmt.Errorf("apply: refusing to write %s", safetext.Name(p))
	}
	return nil
}

// pruneDirs removes the directories above p that deleting it left empty,
// unless the workspace still has them.
func (c *Copy) pruneDirs(root *os.Root, p string) {
	for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
		if fi, err := os.Lstat(c.Workspace + "/" + dir); err == nil && fi.IsDir() {
			return
		}
		if root.Remove(dir) != nil { // not empty, or not a directory
			return
		}
	}
}

// write creates or replaces the file or symlink of one change.
func (c *Copy) write(root *os.Root, ws *workspace.Workspace, ch Change, done *Applied) error {
	if err := checkPath(ch.Path); err != nil {
		return err
	}
	if err := makeParents(root, ch.Path); err != nil {
		return err
	}
	data, err := c.readNew(ws, ch)
	if err != nil {
		return err
	}
	if ch.Mode == modeLink {
		target := string(data)
		if why := linkProblem(ch.Path, target); why != "" {
			return errors.New(why)
		}
		if err := throughLink(root, path.Join(path.Dir(ch.Path), target)); err != nil {
			return err
		}
		if ch.Op == Modified {
			if err := root.Remove(ch.Path); err != nil {
				return err
			}
		}
		if err := root.Symlink(target, ch.Path); err != nil {
			return err
		}
		done.Written++
		return nil
	}
	exec := ch.Mode == modeExec
	mode := perm(exec)
	var owner *syscall.Stat_t
	if ch.Op == Modified {
		fi, err := root.Lstat(ch.Path)
		if err != nil {
			return err
		}
		// Keep the file's own permissions (less any setuid, setgid or
		// sticky bit: Perm has none), and its owner when we can.
		mode = fi.Mode().Perm()
		if ch.OldMode != "" {
			if exec {
				mode |= (mode & 0o444) >> 2
			} else {
				mode &^= 0o111
			}
		}
		owner, _ = fi.Sys().(*syscall.Stat_t)
		if ch.hash == ch.oldHash { // the execute bits alone
			if err := root.Chmod(ch.Path, mode); err != nil {
				return err
			}
			done.Modes++
			return nil
		}
	}
	tmp, err := writeTemp(root, path.Dir(ch.Path), data, mode)
	if err != nil {
		return err
	}
	if owner != nil && os.Geteuid() == 0 {
		root.Lchown(tmp, int(owner.Uid), int(owner.Gid))
	}
	if err := root.Rename(tmp, ch.Path); err != nil {
		root.Remove(tmp)
		return err
	}
	done.Written++
	return nil
}

// makeParents creates the directories above p that are missing, and
// refuses a parent that is a symlink or not a directory: nothing is
// written through a link, even one that stays inside the project.
func makeParents(root *os.Root, p string) error {
	parts := strings.Split(p, "/")
	for i := 1; i < len(parts); i++ {
		dir := strings.Join(parts[:i], "/")
		fi, err := root.Lstat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := root.Mkdir(dir, 0o755); err != nil {
				return err
			}
		case err != nil:
			return err
		case !fi.IsDir():
			return fmt.Errorf("%s in the project is not a directory (a symlink or a file): nothing is written through it", safetext.Name(dir))
		}
	}
	return nil
}

// throughLink refuses a symlink target whose existing part in the project
// is or passes through a symlink: lexically inside, it could still lead
// out.
func throughLink(root *os.Root, target string) error {
	parts := strings.Split(target, "/")
	for i := 1; i <= len(parts); i++ {
		fi, err := root.Lstat(strings.Join(parts[:i], "/"))
		if err != nil {
			return nil // not there (yet): nothing to pass through
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("symlink target %s is or passes through a symlink of the project", safetext.Name(target))
		}
	}
	return nil
}

// writeTemp writes data to a new hidden file in dir and returns its name.
func writeTemp(root *os.Root, dir string, data []byte, mode fs.FileMode) (string, error) {
	for range 10 {
		var b [6]byte
		rand.Read(b[:])
		name := path.Join(dir, ".agentteam-apply-"+hex.EncodeToString(b[:]))
		f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		_, err = f.Write(data)
		if err == nil {
			err = f.Chmod(mode) // whatever the umask
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			root.Remove(name)
			return "", err
		}
		return name, nil
	}
	return "", errors.New("no free temporary name")
}
