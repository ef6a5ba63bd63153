package workspace

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// MaxDepth is how deeply entries may nest below the workspace ("a/b/c" is
// three levels deep): a walk that meets a deeper entry fails with
// ErrTooDeep. A walk holds one open directory per level, so this also
// bounds the file descriptors it uses; no real project nests anywhere near
// this deep, while a block can build a chain of thousands of directories in
// a moment.
const MaxDepth = 100

// ErrTooDeep is returned by a walk of a workspace whose directories nest
// more than MaxDepth levels deep.
var ErrTooDeep = fmt.Errorf("workspace: directory tree deeper than %d levels", MaxDepth)

// errStop ends a walk early without being an error.
var errStop = errors.New("stop walk")

// errSkipDir, returned for a directory by a walk's callback, makes the
// walk go on without entering it.
var errSkipDir = errors.New("skip directory")

// readBatch is about how many directory entries are read at a time (the
// buffer holds that many short names, fewer long ones), so that a directory
// holding millions of entries is never loaded whole before a limit or a
// cancelled context can stop the walk.
const readBatch = 256

// entry is one directory entry met by a walk. Its fds are valid only
// during the callback.
type entry struct {
	top   int    // the workspace directory, for this walk
	dir   int    // the directory holding the entry
	name  string // its name in dir
	path  string // slash-separated, from the workspace
	depth int    // 1 for an entry of the workspace directory itself
	st    unix.Stat_t
}

func (e *entry) isDir() bool { return e.st.Mode&unix.S_IFMT == unix.S_IFDIR }

// frame is a directory a walk is reading.
type frame struct {
	fd   int
	path string // "" for the workspace itself
	dirReader
}

// dirReader reads a directory's entries a batch at a time from its fd.
type dirReader struct {
	buf      []byte
	pos, end int
	eof      bool
	names    []string
}

// next returns the next name in the directory (never "." or ".."), or
// false at its end. A directory removed while being read simply ends.
func (r *dirReader) next(fd int) (string, bool, error) {
	for {
		if r.pos < r.end {
			n, _, names := unix.ParseDirent(r.buf[r.pos:r.end], 1, r.names[:0])
			r.names = names
			r.pos += n
			if len(names) == 1 {
				return names[0], true, nil
			}
			continue // "." or "..", or a deleted entry
		}
		if r.eof {
			return "", false, nil
		}
		if r.buf == nil {
			r.buf = make([]byte, readBatch*32)
		}
		n, err := unix.Getdents(fd, r.buf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.ENOENT: // the directory was removed
			r.eof = true
			return "", false, nil
		case err != nil:
			return "", false, err
		case n <= 0:
			r.eof = true
			return "", false, nil
		}
		r.pos, r.end = 0, n
	}
}

// rewind makes the next call of next start again from the first entry.
func (r *dirReader) rewind(fd int) error {
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		return err
	}
	r.pos, r.end, r.eof = 0, 0, false
	return nil
}

// walk calls fn for every entry below the workspace (not the workspace
// itself), each directory before its contents, and enters every directory
// unless fn returns errSkipDir for it. Another error from fn ends the walk
// and is returned; an entry nested deeper than limit ends it with
// ErrTooDeep, and a done ctx with ctx.Err().
//
// Every directory is opened relative to its parent's open fd, so the cost
// of the walk is linear in the size of the tree however deep it is (opening
// by path through a Root resolves every component again, which made a
// 3,000-deep chain cost tens of seconds), and it holds one fd per level.
//
// It never follows a symlink: entries are described by fstatat without
// following, only entries that were directories when listed are entered,
// with O_NOFOLLOW, and only if what opened is that same directory
// (sameEntry), so one swapped for a symlink, a FIFO or anything else after
// listing is skipped, not followed. Entries that vanish or change during
// the walk are skipped likewise, since the sandbox may be deleting files
// while we read.
func (w *Workspace) walk(ctx context.Context, limit int, fn func(e *entry) error) error {
	// A fresh open file description: concurrent walks must not share a
	// directory offset.
	top, err := unix.Openat(w.top, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return pathError("walk", ".", err)
	}
	frames := []*frame{{fd: top}}
	defer func() {
		for _, f := range frames {
			unix.Close(f.fd)
		}
	}()
	done := ctx.Done()
	var e entry
	for len(frames) > 0 {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
		f := frames[len(frames)-1]
		name, ok, err := f.next(f.fd)
		if err != nil {
			return pathError("walk", orDot(f.path), err)
		}
		if !ok {
			unix.Close(f.fd)
			frames = frames[:len(frames)-1]
			continue
		}
		e = entry{top: top, dir: f.fd, name: name, path: join(f.path, name), depth: len(frames)}
		if err := unix.Fstatat(f.fd, name, &e.st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if err == unix.ENOENT {
				continue // removed since it was listed
			}
			return pathError("walk", e.path, err)
		}
		if e.depth > limit {
			return ErrTooDeep
		}
		switch err := fn(&e); {
		case err == errSkipDir:
			continue
		case err != nil:
			return err
		}
		if !e.isDir() {
			continue
		}
		fd, ok, err := openDir(f.fd, name, &e.st)
		if err != nil {
			return pathError("walk", e.path, err)
		}
		if ok {
			frames = append(frames, &frame{fd: fd, path: e.path})
		}
	}
	return nil
}

// openDir opens the directory name in the directory parent, which was
// listed as st. It reports false, and no error, if name is no longer that
// directory (removed, or swapped for a symlink, a FIFO or another
// directory): the sandbox's doing, to be skipped rather than followed.
func openDir(parent int, name string, st *unix.Stat_t) (int, bool, error) {
	// O_NOFOLLOW: never through a symlink. O_DIRECTORY refuses a FIFO
	// before opening it, O_NONBLOCK would keep it from blocking anyway.
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if changed(parent, name, st) {
			return -1, false, nil
		}
		return -1, false, err
	}
	var opened unix.Stat_t
	if err := unix.Fstat(fd, &opened); err != nil || !sameEntry(st, &opened) {
		unix.Close(fd)
		return -1, false, nil
	}
	return fd, true, nil
}

// changed reports whether name in parent is no longer the entry described
// by was, which makes a failure to open it the sandbox's doing rather than
// ours.
func changed(parent int, name string, was *unix.Stat_t) bool {
	var now unix.Stat_t
	err := unix.Fstatat(parent, name, &now, unix.AT_SYMLINK_NOFOLLOW)
	if err == unix.ENOENT || err == unix.ENOTDIR {
		return true
	}
	return err == nil && !sameEntry(was, &now)
}

// sameEntry reports whether a and b describe the same file. The type is
// compared as well because a deleted file's inode number is often reused
// at once by whatever the sandbox creates in its place.
func sameEntry(a, b *unix.Stat_t) bool {
	return a.Dev == b.Dev && a.Ino == b.Ino && a.Mode&unix.S_IFMT == b.Mode&unix.S_IFMT
}

// fileMode converts a stat mode to an fs.FileMode, as os.Lstat would.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// unixMode converts the permission and setuid, setgid and sticky bits of
// an fs.FileMode to a chmod mode.
func unixMode(m fs.FileMode) uint32 {
	mode := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= unix.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		mode |= unix.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		mode |= unix.S_ISVTX
	}
	return mode
}

func (e *entry) mode() fs.FileMode { return fileMode(e.st.Mode) }

func (e *entry) modTime() time.Time { return time.Unix(e.st.Mtim.Unix()) }

// chmodFd sets the mode of the file that fd, opened with O_PATH, refers
// to. An O_PATH fd opens nothing (no FIFO to block on, no read permission
// needed), but fchmod refuses it, so this uses fchmodat2 on the fd itself,
// or on kernels before 6.6 its /proc/self/fd link, which the kernel
// resolves to that very file, not by any path the sandbox controls.
func chmodFd(fd int, mode uint32) error {
	err := unix.Fchmodat(fd, "", mode, unix.AT_EMPTY_PATH)
	if err == unix.EOPNOTSUPP || err == unix.ENOSYS {
		err = unix.Fchmodat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), mode, 0)
	}
	return err
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

func orDot(p string) string {
	if p == "" {
		return "."
	}
	return p
}
