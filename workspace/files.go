package workspace

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrTooManyEntries is returned when a walk of the workspace meets more
// entries than the caller allowed.
var ErrTooManyEntries = errors.New("workspace: too many entries")

// Usage is the disk use of a workspace.
type Usage struct {
	Bytes   int64 // apparent size of the regular files
	Entries int64 // files, directories, symlinks and others, not the workspace itself
}

// Usage walks the workspace without following symlinks and adds up the
// apparent size of its regular files and the number of its entries.
//
// It stops as soon as Bytes exceeds maxBytes or Entries exceeds maxEntries
// (0 means no limit), so a hostile tree cannot keep it walking; the counts
// returned then exceed the limit, which is how the caller tells. A tree
// nested deeper than MaxDepth is ErrTooDeep, and a done ctx stops the walk
// with ctx.Err(). Entries vanishing or being swapped during the walk are
// not errors; a directory that cannot be read (say the sandbox made it
// unreadable) is, and since the sandbox can cause it the caller should
// treat it as suspect.
func (w *Workspace) Usage(ctx context.Context, maxBytes, maxEntries int64) (Usage, error) {
	var u Usage
	err := w.walk(ctx, MaxDepth, func(e *entry) error {
		u.Entries++
		if e.st.Mode&unix.S_IFMT == unix.S_IFREG {
			// Saturate: sparse files can claim sizes that would overflow.
			u.Bytes += min(max(e.st.Size, 0), math.MaxInt64-u.Bytes)
		}
		if maxBytes > 0 && u.Bytes > maxBytes || maxEntries > 0 && u.Entries > maxEntries {
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return u, err
}

// FileInfo describes one entry of a Snapshot.
type FileInfo struct {
	// Path is relative to the workspace and slash-separated, exactly as on
	// disk: it may contain newlines, control characters or invalid UTF-8,
	// so escape it before display.
	Path    string
	Size    int64
	Mode    fs.FileMode // from lstat: a symlink has fs.ModeSymlink set
	ModTime time.Time
}

// Snapshot is the state of a workspace at one moment, keyed by Path.
type Snapshot map[string]FileInfo

// Snapshot records every entry of the workspace: regular files and
// symlinks, which Diff compares, and also directories and other files, so
// that RemoveNew can tell which of them already existed. The walk does not
// follow symlinks. It fails with ErrTooManyEntries if the workspace holds
// more than maxEntries entries (0 means no limit), with ErrTooDeep if it
// nests deeper than MaxDepth, and with ctx.Err() once ctx is done.
func (w *Workspace) Snapshot(ctx context.Context, maxEntries int) (Snapshot, error) {
	snap := make(Snapshot)
	err := w.walk(ctx, MaxDepth, func(e *entry) error {
		if maxEntries > 0 && len(snap) >= maxEntries {
			return ErrTooManyEntries
		}
		snap[e.path] = FileInfo{Path: e.path, Size: e.st.Size, Mode: e.mode(), ModTime: e.modTime()}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return snap, nil
}

// Files lists the regular files below the workspace, sorted, leaving out
// hidden ones (see Hidden; hidden directories are not entered), for a
// person to see what a run left. It looks at no more than maxEntries
// entries and descends at most maxDepth levels, so it ends quickly on any
// tree; complete says whether it saw every entry within that depth.
func (w *Workspace) Files(ctx context.Context, maxEntries, maxDepth int) (files []string, complete bool, err error) {
	seen := 0
	err = w.walk(ctx, MaxDepth, func(e *entry) error {
		if seen++; seen > maxEntries {
			return ErrTooManyEntries
		}
		switch {
		case Hidden(e.path):
			return errSkipDir
		case e.isDir() && e.depth > maxDepth:
			return errSkipDir
		case e.st.Mode&unix.S_IFMT == unix.S_IFREG:
			files = append(files, e.path)
		}
		return nil
	})
	slices.Sort(files)
	if errors.Is(err, ErrTooManyEntries) {
		return files, false, nil
	}
	return files, err == nil, err
}

// Caps on the names a Changes (and a Sanitized) lists: a block can create
// tens of thousands of files with names of kilobytes, and every listed name
// ends up in a model's prompt and in the results. Names beyond the caps are
// counted, not listed, so a report can say "and K more".
const (
	MaxListed      = 200      // names listed in all
	MaxListedBytes = 16 << 10 // bytes of names listed in all
)

// Changes lists what differs between two snapshots, each list sorted and
// all of them together within MaxListed names and MaxListedBytes bytes.
type Changes struct {
	Created  []string `json:"created"`
	Modified []string `json:"modified"`
	Deleted  []string `json:"deleted"`
	// Omitted counts the created, modified and deleted names left out to
	// stay within the caps.
	Omitted int `json:"omitted,omitempty"`
	// Links names which of the listed created and modified entries are
	// symlinks: a report should say so, since a name alone does not tell.
	Links []string `json:"links,omitempty"`
	// Sanitized names entries whose permissions the host reset after the
	// block (see Workspace.Sanitize), within the same caps; SanitizedCount
	// counts them all. Diff leaves both empty: the sandbox session fills
	// them in.
	Sanitized      []string `json:"sanitized,omitempty"`
	SanitizedCount int      `json:"sanitized_count,omitempty"`
}

// MarshalJSON writes empty lists, never null, so consumers need no check.
func (c Changes) MarshalJSON() ([]byte, error) {
	type plain Changes
	orEmpty := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	p := plain(c)
	p.Created, p.Modified, p.Deleted = orEmpty(c.Created), orEmpty(c.Modified), orEmpty(c.Deleted)
	return json.Marshal(p)
}

// Diff compares two snapshots. An entry is modified if its size, mode
// (including its type) or modification time differ. Directories are left
// out: their mtime changes with every file written in them, and the files
// themselves are listed.
//
// Each list keeps its first names in sorted order. The lists take turns,
// one name at a time, until MaxListed names or MaxListedBytes bytes are
// listed, so that one deleted file still shows among thousands created; a
// list stops at its first name that no longer fits. The rest are counted
// in Omitted.
func Diff(before, after Snapshot) Changes {
	var created, modified, deleted []string
	for p, a := range after {
		if a.Mode.IsDir() {
			continue
		}
		b, ok := before[p]
		switch {
		case !ok || b.Mode.IsDir():
			created = append(created, p)
		case a.Size != b.Size || a.Mode != b.Mode || !a.ModTime.Equal(b.ModTime):
			modified = append(modified, p)
		}
	}
	for p, b := range before {
		if b.Mode.IsDir() {
			continue
		}
		if a, ok := after[p]; !ok || a.Mode.IsDir() {
			deleted = append(deleted, p)
		}
	}
	all := [][]string{created, modified, deleted}
	kept := make([][]string, len(all))
	total := 0
	for _, l := range all {
		slices.Sort(l)
		total += len(l)
	}
	var budget ListBudget
	for open := len(all); open > 0; {
		open = 0
		for i, l := range all {
			n := len(kept[i])
			if n == len(l) || !budget.Take(l[n]) {
				continue
			}
			kept[i] = append(kept[i], l[n])
			open++
		}
	}
	c := Changes{Created: kept[0], Modified: kept[1], Deleted: kept[2]}
	c.Omitted = total - len(c.Created) - len(c.Modified) - len(c.Deleted)
	for _, l := range [][]string{c.Created, c.Modified} {
		for _, p := range l {
			if after[p].Mode&fs.ModeSymlink != 0 {
				c.Links = append(c.Links, p)
			}
		}
	}
	slices.Sort(c.Links)
	return c
}

// ListBudget counts the names a list of sandbox-made names may hold against
// MaxListed and MaxListedBytes; its zero value is a full budget.
type ListBudget struct{ names, bytes int }

// Take reports whether name fits, and counts it if so.
func (b *ListBudget) Take(name string) bool {
	if b.names >= MaxListed || b.bytes+len(name) > MaxListedBytes {
		return false
	}
	b.names++
	b.bytes += len(name)
	return true
}

// RemoveNew removes every entry of the workspace that is not in before (a
// snapshot taken earlier), or is there with another type, and returns how
// many it removed. A symlink is removed, never its target, and no
// directory is entered through one. It is meant to roll back a block that
// filled the disk; stop the sandbox first, or it may add entries as fast
// as they go.
//
// A new directory is removed with everything in it however deep it nests:
// past MaxDepth levels, its deeper part is first moved up to the workspace
// under a hidden name (.agentteam-rm-…), which makes it shallower, so no
// more than about 2×MaxDepth directories are open at once.
//
// If the walk meets more than maxEntries entries (0 means no limit; old
// entries count too), or ctx is done, it stops there with ErrTooManyEntries
// or ctx.Err(); what it removed stays removed, and calling again makes
// further progress as long as the old entries are fewer than maxEntries
// (what was moved up is new, so it goes too).
func (w *Workspace) RemoveNew(ctx context.Context, before Snapshot, maxEntries int) (int, error) {
	r := remover{ctx: ctx, max: maxEntries}
	var errs []error
	// Entries one level below MaxDepth can only be new (before came from a
	// walk that stops at MaxDepth), so they are met and removed, not an
	// error.
	walkErr := w.walk(ctx, MaxDepth+1, func(e *entry) error {
		if err := r.count(); err != nil {
			return err
		}
		if old, ok := before[e.path]; ok && old.Mode.Type() == e.mode().Type() {
			return nil
		}
		if !e.isDir() {
			if err := r.unlink(e.dir, e.name, 0); err != nil {
				errs = append(errs, pathError("remove", e.path, err))
			}
			return nil
		}
		r.top = e.top
		if err := r.removeTree(e.dir, e.name, e.path, &e.st); err != nil {
			return err
		}
		return errSkipDir
	})
	return r.removed, errors.Join(append([]error{walkErr}, errs...)...)
}

// remover removes new directory trees for RemoveNew.
type remover struct {
	ctx     context.Context
	max     int // entries it may meet, 0 for no limit
	seen    int
	removed int
	top     int      // the workspace directory
	moved   []string // directories moved up to top, still to remove
}

// count counts one more entry met against the limit.
func (r *remover) count() error {
	r.seen++
	if r.max > 0 && r.seen > r.max {
		return ErrTooManyEntries
	}
	return nil
}

// unlink removes name from dir; one already gone is not an error.
func (r *remover) unlink(dir int, name string, flags int) error {
	err := unix.Unlinkat(dir, name, flags)
	switch {
	case err == nil:
		r.removed++
	case err == unix.ENOENT:
		err = nil
	}
	return err
}

// removeTree removes the directory name in parent, listed as st, with its
// whole subtree, and then any directories it had to move up to the
// workspace. path names it in errors.
func (r *remover) removeTree(parent int, name, path string, st *unix.Stat_t) error {
	if err := r.removeOne(parent, name, path, st); err != nil {
		return err
	}
	for len(r.moved) > 0 {
		name := r.moved[len(r.moved)-1]
		r.moved = r.moved[:len(r.moved)-1]
		var st unix.Stat_t
		if err := unix.Fstatat(r.top, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if err == unix.ENOENT {
				continue
			}
			return pathError("remove", name, err)
		}
		if err := r.removeOne(r.top, name, name, &st); err != nil {
			return err
		}
	}
	return nil
}

// removeOne removes one directory tree, holding at most MaxDepth of its
// directories open: a deeper one is moved up to the workspace and left in
// r.moved.
func (r *remover) removeOne(parent int, name, path string, st *unix.Stat_t) error {
	type rmFrame struct {
		fd, parent int
		name, path string
		passes     int
		dirReader
	}
	fd, ok, err := r.openDir(parent, name, st)
	if err != nil {
		return pathError("remove", path, err)
	}
	if !ok {
		return nil // gone or swapped: not what was listed
	}
	frames := []*rmFrame{{fd: fd, parent: parent, name: name, path: path}}
	defer func() {
		for _, f := range frames {
			unix.Close(f.fd)
		}
	}()
	done := r.ctx.Done()
	for len(frames) > 0 {
		select {
		case <-done:
			return r.ctx.Err()
		default:
		}
		f := frames[len(frames)-1]
		child, ok, err := f.next(f.fd)
		if err != nil {
			return pathError("remove", f.path, err)
		}
		if !ok {
			err := unix.Unlinkat(f.parent, f.name, unix.AT_REMOVEDIR)
			if err == unix.ENOTEMPTY && f.passes < 3 {
				// Entries added behind the reading position: read again.
				f.passes++
				if err := f.rewind(f.fd); err != nil {
					return pathError("remove", f.path, err)
				}
				continue
			}
			unix.Close(f.fd)
			frames = frames[:len(frames)-1]
			switch {
			case err == nil:
				r.removed++
			case err != unix.ENOENT:
				return pathError("remove", f.path, err)
			}
			continue
		}
		if err := r.count(); err != nil {
			return err
		}
		childPath := f.path + "/" + child
		var cst unix.Stat_t
		if err := unix.Fstatat(f.fd, child, &cst, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if err == unix.ENOENT {
				continue
			}
			return pathError("remove", childPath, err)
		}
		if cst.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := r.unlink(f.fd, child, 0); err != nil {
				return pathError("remove", childPath, err)
			}
			continue
		}
		if len(frames) >= MaxDepth {
			moved, err := r.moveUp(f.fd, child)
			if err != nil {
				return pathError("remove", childPath, err)
			}
			if moved != "" {
				r.moved = append(r.moved, moved)
			}
			continue
		}
		cfd, ok, err := r.openDir(f.fd, child, &cst)
		if err != nil {
			return pathError("remove", childPath, err)
		}
		if ok {
			frames = append(frames, &rmFrame{fd: cfd, parent: f.fd, name: child, path: childPath})
		}
	}
	return nil
}

// openDir is openDir for a directory about to be removed: one its owner
// cannot read or enter (a block can chmod 000 its directories) is given
// u+rwx first, since nothing of it will be left anyway.
func (r *remover) openDir(parent int, name string, st *unix.Stat_t) (int, bool, error) {
	fd, ok, err := openDir(parent, name, st)
	if err != unix.EACCES {
		return fd, ok, err
	}
	pfd, perr := unix.Openat(parent, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if perr != nil {
		return -1, false, err
	}
	var now unix.Stat_t
	if unix.Fstat(pfd, &now) == nil && sameEntry(st, &now) {
		chmodFd(pfd, now.Mode&0o7777|0o700)
	}
	unix.Close(pfd)
	return openDir(parent, name, st)
}

// moveUp renames the directory name in dir to a fresh hidden name in the
// workspace directory and returns that name ("" if name was gone).
func (r *remover) moveUp(dir int, name string) (string, error) {
	for range 10 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		fresh := ".agentteam-rm-" + hex.EncodeToString(b[:])
		err := unix.Renameat2(dir, name, r.top, fresh, unix.RENAME_NOREPLACE)
		if err == unix.EINVAL || err == unix.ENOSYS {
			// A file system without RENAME_NOREPLACE; the random name
			// makes a clash all but impossible.
			err = unix.Renameat(dir, name, r.top, fresh)
		}
		switch err {
		case nil:
			return fresh, nil
		case unix.ENOENT:
			return "", nil
		case unix.EEXIST:
			continue
		default:
			return "", err
		}
	}
	return "", errors.New("no free name to move a directory up to")
}

// Hidden reports whether a workspace path is tool litter a person or a
// model need not see listed: anything under a dot-directory or
// __pycache__, and dot-files.
func Hidden(path string) bool {
	for _, part := range strings.Split(path, "/") {
		if strings.HasPrefix(part, ".") || part == "__pycache__" {
			return true
		}
	}
	return false
}

// MoveContents moves every entry of src into dst by rename (no copy: both
// must be on one file system), leaving src empty. An entry of the same name
// in dst is an error, and what was already moved stays moved.
func MoveContents(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("move workspace: %w", err)
	}
	for _, e := range entries {
		to := filepath.Join(dst, e.Name())
		if _, err := os.Lstat(to); err == nil {
			return fmt.Errorf("move workspace: %q exists in %s", e.Name(), dst)
		}
		if err := os.Rename(filepath.Join(src, e.Name()), to); err != nil {
			return fmt.Errorf("move workspace: %w", err)
		}
	}
	return nil
}
