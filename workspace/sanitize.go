package workspace

import (
	"context"
	"io/fs"
	"slices"

	"golang.org/x/sys/unix"
)

// unsafeBits are the mode bits Sanitize removes: setuid and setgid (a
// program the sandbox left would run with the owner's rights for anyone
// who starts it), sticky, and write for others (anyone on the host could
// change what the next block or the user runs).
const unsafeBits = unix.S_ISUID | unix.S_ISGID | unix.S_ISVTX | unix.S_IWOTH

// Sanitized is what Sanitize did and met.
type Sanitized struct {
	// Changed names the entries whose mode Sanitize reset, "." for the
	// workspace directory itself: the first ones it met, sorted, within
	// MaxListed names and MaxListedBytes bytes. ChangedCount counts all.
	Changed      []string `json:"changed,omitempty"`
	ChangedCount int      `json:"changed_count,omitempty"`
	// Links names the symlinks it met (and left alone), within the same
	// caps; LinkCount counts all.
	Links     []string `json:"links,omitempty"`
	LinkCount int      `json:"link_count,omitempty"`
}

// Sanitize resets the permissions a block may have left to harm the host:
// it removes the setuid, setgid, sticky and world-write bits from every
// entry below the workspace, gives a directory its owner cannot list or
// enter u+rx (so what is inside it can be checked, now and by later
// walks), and sets the workspace directory's own mode to dirMode (pass
// InitialMode, or what the host created it with).
//
// Each entry is opened relative to its parent's fd with O_PATH|O_NOFOLLOW,
// which opens nothing (a FIFO cannot block it, an unreadable file is no
// obstacle) and never a symlink's target, and is changed only if it is the
// very entry that was listed. Symlinks are never changed or followed, only
// reported. Like the other walks it fails with ErrTooDeep past MaxDepth and
// with ctx.Err() once ctx is done, having fixed what it met until then.
func (w *Workspace) Sanitize(ctx context.Context, dirMode fs.FileMode) (Sanitized, error) {
	return w.sanitize(ctx, dirMode, true)
}

// SanitizeAfter is Sanitize for a workspace that nothing has written to
// since snap was taken (a block's processes are all gone): it walks the
// tree only if snap shows an entry Sanitize would change, and otherwise
// only restores the workspace directory's own mode, which a snapshot does
// not record. A nil snap (it could not be taken) means a full Sanitize.
// Links are then reported only when the tree is walked.
func (w *Workspace) SanitizeAfter(ctx context.Context, dirMode fs.FileMode, snap Snapshot) (Sanitized, error) {
	return w.sanitize(ctx, dirMode, snap == nil || snap.needsSanitize())
}

// needsSanitize reports whether an entry of the snapshot has a bit
// Sanitize removes, or is a directory its owner cannot list or enter.
func (s Snapshot) needsSanitize() bool {
	for _, fi := range s {
		m := fi.Mode
		switch {
		case m&fs.ModeSymlink != 0:
		case m&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0, m.Perm()&0o002 != 0:
			return true
		case m.IsDir() && m.Perm()&0o500 != 0o500:
			return true
		}
	}
	return false
}

func (w *Workspace) sanitize(ctx context.Context, dirMode fs.FileMode, walk bool) (Sanitized, error) {
	var s Sanitized
	var changed, links ListBudget
	note := func(list *[]string, count *int, b *ListBudget, name string) {
		*count++
		if b.Take(name) {
			*list = append(*list, name)
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(w.top, &st); err != nil {
		return s, pathError("sanitize", ".", err)
	}
	if want := unixMode(dirMode); st.Mode&0o7777 != want {
		if err := unix.Fchmod(w.top, want); err != nil {
			return s, pathError("sanitize", ".", err)
		}
		note(&s.Changed, &s.ChangedCount, &changed, ".")
	}
	if !walk {
		return s, nil
	}
	err := w.walk(ctx, MaxDepth, func(e *entry) error {
		typ := e.st.Mode & unix.S_IFMT
		if typ == unix.S_IFLNK {
			note(&s.Links, &s.LinkCount, &links, e.path)
			return nil
		}
		want := e.st.Mode & 0o7777 &^ unsafeBits
		if typ == unix.S_IFDIR {
			want |= 0o500
		}
		if want == e.st.Mode&0o7777 {
			return nil
		}
		fixed, err := chmodEntry(e.dir, e.name, &e.st, want)
		if err != nil {
			return pathError("sanitize", e.path, err)
		}
		if fixed {
			e.st.Mode = e.st.Mode&unix.S_IFMT | want
			note(&s.Changed, &s.ChangedCount, &changed, e.path)
		}
		return nil
	})
	slices.Sort(s.Changed)
	slices.Sort(s.Links)
	return s, err
}

// chmodEntry sets the mode of name in dir if it is still the entry listed
// as st, and reports whether it did.
func chmodEntry(dir int, name string, st *unix.Stat_t, mode uint32) (bool, error) {
	fd, err := unix.Openat(dir, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if changed(dir, name, st) {
			return false, nil
		}
		return false, err
	}
	defer unix.Close(fd)
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil || !sameEntry(st, &now) {
		return false, nil // swapped since it was listed
	}
	if err := chmodFd(fd, mode); err != nil {
		return false, err
	}
	return true, nil
}
