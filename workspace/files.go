package workspace

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// ErrTooManyEntries is returned when a walk of the workspace meets more
// entries than the caller allowed.
var ErrTooManyEntries = errors.New("workspace: too many entries")

// errStop ends a walk early without being an error.
var errStop = errors.New("stop walk")

// readBatch is how many directory entries are read at a time, so that a
// directory holding millions of entries is never loaded whole before a
// limit can stop the walk.
const readBatch = 256

// walk calls fn for every entry below the workspace (not the workspace
// itself) with its slash-separated path and its Lstat information, each
// directory before its contents. An error from fn ends the walk and is
// returned.
//
// It never follows a symlink: only entries that were directories when
// listed are entered, and a directory is read only if what opens is that
// same directory (sameEntry), so one swapped for a symlink, a FIFO or
// anything else after listing is skipped, not followed. Entries that vanish
// or change during the walk are skipped likewise, since the sandbox may be
// deleting files while we read. Only one directory is held open at a time.
//
// This is fs.WalkDir(root.FS(), ...) in spirit, but fs.WalkDir reads each
// directory whole and opens directories without these checks.
func (w *Workspace) walk(fn func(name string, info fs.FileInfo) error) error {
	top, err := w.root.Stat(".")
	if err != nil {
		return pathError("walk", ".", err)
	}
	type dir struct {
		name string
		info fs.FileInfo
	}
	pending := []dir{{".", top}}
	for len(pending) > 0 {
		d := pending[len(pending)-1]
		pending = pending[:len(pending)-1]
		err := w.readDir(d.name, d.info, func(name string, info fs.FileInfo) error {
			if err := fn(name, info); err != nil {
				return err
			}
			if info.IsDir() {
				pending = append(pending, dir{name, info})
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// readDir calls fn for each entry of the directory name, which was listed
// with info.
func (w *Workspace) readDir(name string, info fs.FileInfo, fn func(name string, info fs.FileInfo) error) error {
	// O_NONBLOCK: the directory may have been swapped for a FIFO.
	f, err := w.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if w.changed(name, info) {
			return nil
		}
		return pathError("walk", name, err)
	}
	defer f.Close()
	if opened, err := f.Stat(); err != nil || !sameEntry(info, opened) {
		return nil // swapped for something else since it was listed
	}
	for {
		entries, err := f.ReadDir(readBatch)
		for _, e := range entries {
			// Files opened through a Root carry their Lstat information
			// already (os skips entries that vanished), so this does not
			// touch the disk again and cannot follow a link.
			ei, ierr := e.Info()
			if ierr != nil {
				continue
			}
			if err := fn(path.Join(name, e.Name()), ei); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if w.changed(name, info) {
				return nil
			}
			return pathError("walk", name, err)
		}
	}
}

// changed reports whether name is no longer the entry described by was,
// which makes a failure to read it the sandbox's doing rather than ours.
func (w *Workspace) changed(name string, was fs.FileInfo) bool {
	now, err := w.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return true
	}
	return err == nil && !sameEntry(was, now)
}

// sameEntry reports whether a and b describe the same file. The type is
// compared as well because a deleted file's inode number is often reused
// at once by whatever the sandbox creates in its place.
func sameEntry(a, b fs.FileInfo) bool {
	return a.Mode().Type() == b.Mode().Type() && os.SameFile(a, b)
}

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
// returned then exceed the limit, which is how the caller tells. Entries
// vanishing or being swapped during the walk are not errors; a directory
// that cannot be read (say the sandbox made it unreadable) is, and since
// the sandbox can cause it the caller should treat it as suspect.
func (w *Workspace) Usage(maxBytes, maxEntries int64) (Usage, error) {
	var u Usage
	err := w.walk(func(_ string, info fs.FileInfo) error {
		u.Entries++
		if info.Mode().IsRegular() {
			// Saturate: sparse files can claim sizes that would overflow.
			u.Bytes += min(info.Size(), math.MaxInt64-u.Bytes)
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
	Mode    fs.FileMode // from Lstat: a symlink has fs.ModeSymlink set
	ModTime time.Time
}

// Snapshot is the state of a workspace at one moment, keyed by Path.
type Snapshot map[string]FileInfo

// Snapshot records every entry of the workspace: regular files and
// symlinks, which Diff compares, and also directories and other files, so
// that RemoveNew can tell which of them already existed. The walk does not
// follow symlinks. It fails with ErrTooManyEntries if the workspace holds
// more than maxEntries entries (0 means no limit).
func (w *Workspace) Snapshot(maxEntries int) (Snapshot, error) {
	snap := make(Snapshot)
	err := w.walk(func(name string, info fs.FileInfo) error {
		if maxEntries > 0 && len(snap) >= maxEntries {
			return ErrTooManyEntries
		}
		snap[name] = FileInfo{Path: name, Size: info.Size(), Mode: info.Mode(), ModTime: info.ModTime()}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return snap, nil
}

// Changes lists what differs between two snapshots, each list sorted.
type Changes struct {
	Created  []string `json:"created"`
	Modified []string `json:"modified"`
	Deleted  []string `json:"deleted"`
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
	return json.Marshal(plain{Created: orEmpty(c.Created), Modified: orEmpty(c.Modified), Deleted: orEmpty(c.Deleted)})
}

// Diff compares two snapshots. An entry is modified if its size, mode
// (including its type) or modification time differ. Directories are left
// out: their mtime changes with every file written in them, and the files
// themselves are listed.
func Diff(before, after Snapshot) Changes {
	var c Changes
	for p, a := range after {
		if a.Mode.IsDir() {
			continue
		}
		b, ok := before[p]
		switch {
		case !ok || b.Mode.IsDir():
			c.Created = append(c.Created, p)
		case a.Size != b.Size || a.Mode != b.Mode || !a.ModTime.Equal(b.ModTime):
			c.Modified = append(c.Modified, p)
		}
	}
	for p, b := range before {
		if b.Mode.IsDir() {
			continue
		}
		if a, ok := after[p]; !ok || a.Mode.IsDir() {
			c.Deleted = append(c.Deleted, p)
		}
	}
	slices.Sort(c.Created)
	slices.Sort(c.Modified)
	slices.Sort(c.Deleted)
	return c
}

// RemoveNew removes every entry of the workspace that is not in before (a
// snapshot taken earlier), or is there with another type, deepest first,
// and returns how many it removed. A symlink is removed, never its target.
// It is meant to roll back a block that filled the disk; stop the sandbox
// first, or it may add entries as fast as they go.
//
// If the walk meets more than maxEntries entries (0 means no limit), the
// new entries found so far are still removed and the error wraps
// ErrTooManyEntries: calling again makes further progress.
func (w *Workspace) RemoveNew(before Snapshot, maxEntries int) (int, error) {
	var fresh []string
	seen := 0
	walkErr := w.walk(func(name string, info fs.FileInfo) error {
		seen++
		if maxEntries > 0 && seen > maxEntries {
			return ErrTooManyEntries
		}
		if old, ok := before[name]; ok && old.Mode.Type() == info.Mode().Type() {
			return nil
		}
		fresh = append(fresh, name)
		return nil
	})
	// Deepest first, so each directory is empty by the time its turn comes.
	slices.SortFunc(fresh, func(a, b string) int {
		return cmp.Or(cmp.Compare(strings.Count(b, "/"), strings.Count(a, "/")), strings.Compare(a, b))
	})
	removed := 0
	errs := []error{walkErr}
	for _, name := range fresh {
		// Root.Remove unlinks the entry itself; it does not follow a
		// symlink in the last component.
		err := w.root.Remove(name)
		switch {
		case err == nil:
			removed++
		case !errors.Is(err, fs.ErrNotExist):
			errs = append(errs, pathError("remove", name, err))
		}
	}
	return removed, errors.Join(errs...)
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
