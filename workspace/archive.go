package workspace

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Limits bound an archive written or read: its files' bytes and its
// entries. Zero means no bound on that count.
type Limits struct {
	Bytes   int64
	Entries int
}

// ArchiveOptions shape an archive: its Limits, and the owner written in
// every entry (0:0 unless set: who unpacks it decides).
type ArchiveOptions struct {
	Limits
	UID, GID int
}

// ErrTooLarge is an archive past its Limits.
var ErrTooLarge = errors.New("workspace: archive past its limits")

// safePerm is what an archived or extracted entry keeps of its mode: the
// permission bits without setuid, setgid, sticky or world-write.
func safePerm(m fs.FileMode) fs.FileMode { return m.Perm() &^ 0o002 }

// Archive writes the workspace as a tar stream to out: directories,
// regular files and symlinks (as links, never followed), each directory
// before its contents; FIFOs, sockets and devices are left out. Modes keep
// only safe permission bits. A workspace past opts' limits, or deeper than
// MaxDepth, ends with ErrTooLarge or ErrTooDeep, having written part of it.
func (w *Workspace) Archive(ctx context.Context, out io.Writer, opts ArchiveOptions) error {
	lim := opts.Limits
	tw := tar.NewWriter(out)
	var bytes int64
	var entries int
	buf := make([]byte, 32<<10)
	err := w.walk(ctx, MaxDepth, func(e *entry) error {
		hdr := &tar.Header{Name: e.path, Mode: int64(safePerm(e.mode())), ModTime: e.modTime(), Format: tar.FormatPAX,
			Uid: opts.UID, Gid: opts.GID}
		switch e.st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			hdr.Typeflag, hdr.Name = tar.TypeDir, e.path+"/"
		case unix.S_IFREG:
			hdr.Typeflag, hdr.Size = tar.TypeReg, e.st.Size
		case unix.S_IFLNK:
			target, err := readlinkat(e.dir, e.name)
			if err != nil {
				return nil // gone since listed
			}
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
		default:
			return nil
		}
		if entries++; lim.Entries > 0 && entries > lim.Entries {
			return fmt.Errorf("%w: more than %d entries", ErrTooLarge, lim.Entries)
		}
		if bytes += hdr.Size; lim.Bytes > 0 && bytes > lim.Bytes {
			return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, lim.Bytes)
		}
		if hdr.Typeflag != tar.TypeReg {
			return tw.WriteHeader(hdr)
		}
		// O_NOFOLLOW|O_NONBLOCK: the entry may have been swapped for a
		// link or a FIFO since it was listed.
		fd, err := unix.Openat(e.dir, e.name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil
		}
		f := os.NewFile(uintptr(fd), e.path)
		defer f.Close()
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil || !sameEntry(&st, &e.st) {
			return nil
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		// A file that shrinks as it is read is padded, one that grows is
		// cut: the header's size is what is written.
		n, err := io.CopyBuffer(tw, io.LimitReader(f, hdr.Size), buf)
		if err != nil {
			return fmt.Errorf("archive %q: %w", e.path, err)
		}
		if n < hdr.Size {
			_, err = io.CopyN(tw, zeros{}, hdr.Size-n)
		}
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func readlinkat(dir int, name string) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(dir, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// Extracted is what Extract wrote.
type Extracted struct {
	Entries int
	Bytes   int64
	Skipped int // entries of a kind it does not write (hard links, devices, FIFOs)
	// Written holds every entry written, by path (RemoveNew with it
	// removes what the stream did not have: a mirror).
	Written Snapshot
}

// Extract writes the tar stream in into dir, which must exist, as a
// workspace's contents: the stream comes from the sandbox or another
// machine, so it is untrusted. Every write goes through an [os.Root] at
// dir, so no name (absolute, "..", or through a symlink the stream made
// earlier) reaches outside it; names deeper than MaxDepth are refused;
// modes keep only safe permission bits; symlinks are written as links,
// hard links, devices and FIFOs are skipped and counted. An existing file
// is replaced. A stream past lim ends with ErrTooLarge, having written
// part of it.
func Extract(ctx context.Context, dir string, in io.Reader, lim Limits) (Extracted, error) {
	x := Extracted{Written: Snapshot{}}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return x, fmt.Errorf("extract archive: %w", err)
	}
	defer root.Close()
	tr := tar.NewReader(in)
	buf := make([]byte, 32<<10)
	type dirTime struct {
		name string
		t    time.Time
	}
	var dirTimes []dirTime // set last: writing inside a directory changes its time
	for {
		if err := ctx.Err(); err != nil {
			return x, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return x, fmt.Errorf("extract archive: %w", err)
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			return x, err
		}
		if name == "." {
			continue
		}
		if x.Entries++; lim.Entries > 0 && x.Entries > lim.Entries {
			return x, fmt.Errorf("%w: more than %d entries", ErrTooLarge, lim.Entries)
		}
		perm := safePerm(hdr.FileInfo().Mode())
		x.Written[name] = FileInfo{Path: name, Mode: typeOf(hdr.Typeflag) | perm, Size: hdr.Size, ModTime: hdr.ModTime}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return x, fmt.Errorf("extract %q: %w", name, err)
			}
			if err := root.Chmod(name, perm|0o700); err != nil {
				return x, fmt.Errorf("extract %q: %w", name, err)
			}
			dirTimes = append(dirTimes, dirTime{name, hdr.ModTime})
		case tar.TypeReg:
			if x.Bytes += hdr.Size; lim.Bytes > 0 && x.Bytes > lim.Bytes {
				return x, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, lim.Bytes)
			}
			if err := extractFile(root, name, perm, tr, buf); err != nil {
				return x, err
			}
			root.Chtimes(name, hdr.ModTime, hdr.ModTime)
		case tar.TypeSymlink:
			if err := mkParent(root, name); err != nil {
				return x, err
			}
			root.RemoveAll(name)
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return x, fmt.Errorf("extract %q: %w", name, err)
			}
		default:
			x.Skipped++
		}
	}
	for i := len(dirTimes) - 1; i >= 0; i-- {
		root.Chtimes(dirTimes[i].name, dirTimes[i].t, dirTimes[i].t)
	}
	return x, nil
}

func typeOf(flag byte) fs.FileMode {
	switch flag {
	case tar.TypeDir:
		return fs.ModeDir
	case tar.TypeSymlink:
		return fs.ModeSymlink
	case tar.TypeReg:
		return 0
	}
	return fs.ModeIrregular
}

// cleanName is a stream's entry name as a path below the root, or an
// error for one that is absolute, climbs out, or is nested too deep.
func cleanName(name string) (string, error) {
	clean := path.Clean(strings.TrimSuffix(name, "/"))
	switch {
	case name == "" || strings.Contains(name, "\x00"):
		return "", fmt.Errorf("extract archive: bad entry name %q", name)
	case path.IsAbs(name) || clean == ".." || strings.HasPrefix(clean, "../"):
		return "", fmt.Errorf("extract archive: entry %q is outside the workspace", name)
	case strings.Count(clean, "/")+1 > MaxDepth:
		return "", fmt.Errorf("extract archive: %w", ErrTooDeep)
	}
	return clean, nil
}

func mkParent(root *os.Root, name string) error {
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("extract %q: %w", name, err)
		}
	}
	return nil
}

// extractFile replaces name with the stream's next file; the old entry
// (which may be a symlink or a directory) is removed first, so the write
// never goes through it.
func extractFile(root *os.Root, name string, perm fs.FileMode, r io.Reader, buf []byte) error {
	if err := mkParent(root, name); err != nil {
		return err
	}
	if err := root.RemoveAll(name); err != nil {
		return fmt.Errorf("extract %q: %w", name, err)
	}
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, perm|0o600)
	if err != nil {
		return fmt.Errorf("extract %q: %w", name, err)
	}
	_, err = io.CopyBuffer(f, r, buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("extract %q: %w", name, err)
	}
	// The umask may have cut the bits asked for; these are already safe.
	return root.Chmod(name, perm|0o600)
}
