// Package workspace owns the per-run directories that a team's sandbox works
// in, and reading them safely from the host.
//
// Everything under a workspace is written by untrusted code running in the
// sandbox: it may hold symlinks pointing anywhere on the host, FIFOs, device
// nodes, setuid or world-writable files, names with newlines or invalid
// UTF-8, directory chains thousands of levels deep, and it may change while
// the host reads it. So no access below the workspace directory ever
// resolves to something outside it: a single file is read through an
// [os.Root], and walks open each directory relative to its parent's open
// file descriptor, never following a symlink. On top of that this package
// never blocks opening a FIFO, bounds every walk (entries, depth, and a
// context to cancel it), bounds the file lists it reports, and can reset
// the permission bits a block left (Sanitize).
//
// Paths and names returned by this package are kept exactly as found on disk.
// They may contain control characters or invalid UTF-8: callers must escape
// them (for example with %q) before showing them to a person or a terminal.
// Errors from this package already quote names that way.
//
// It uses Linux system calls (openat, getdents64, fchmodat2), as does the
// sandbox it serves.
package workspace

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// Workspace is an open run directory. Its methods may be called while the
// sandbox is still changing the directory.
type Workspace struct {
	dir  string      // absolute host path
	root *os.Root    // single files below dir are opened through root
	top  int         // fd of dir, which walks open their directories from
	mode fs.FileMode // of dir, when opened
}

// New creates a fresh run directory under base, named
// run-YYYYMMDD-HHMMSS-XXXXXX (six random hex digits), and opens it.
// base is created (mode 0755) if missing.
func New(base string) (*Workspace, error) {
	return create(base, func(stamp, suffix string) string { return "run-" + stamp + "-" + suffix })
}

// NewNamed is New with a label in the name, so that a person sees what the
// run was: YYYYMMDD-HHMMSS-LABEL-XXXXXX. The label must be a lowercase
// slug (letters a-z, digits and single hyphens inside, at most 64 bytes)
// so the name stays one safe path component.
func NewNamed(base, label string) (*Workspace, error) {
	if !validLabel(label) {
		return nil, fmt.Errorf("workspace: invalid run label %q", label)
	}
	return create(base, func(stamp, suffix string) string { return stamp + "-" + label + "-" + suffix })
}

func validLabel(l string) bool {
	if l == "" || len(l) > 64 || l[0] == '-' || l[len(l)-1] == '-' || strings.Contains(l, "--") {
		return false
	}
	for _, r := range l {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// create makes the run directory name(stamp, suffix) under base.
func create(base string, name func(stamp, suffix string) string) (*Workspace, error) {
	base, err := filepath.Abs(base)
	if err != nil {
		return nil, fmt.Errorf("workspace: %w", err)
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("workspace: create base: %w", err)
	}
	// Mkdir, not MkdirAll, so that two runs started in the same second
	// cannot share a directory: on the (unlikely) clash we draw again.
	for range 10 {
		var b [3]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("workspace: %w", err)
		}
		dir := filepath.Join(base, name(time.Now().Format("20060102-150405"), hex.EncodeToString(b[:])))
		err := os.Mkdir(dir, 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("workspace: create run directory: %w", err)
		}
		return Open(dir)
	}
	return nil, fmt.Errorf("workspace: could not find a free run directory name under %q", base)
}

// Open opens dir as a workspace, creating it (and its parents, mode 0755)
// if missing. It refuses a path that exists and is not a directory.
func Open(dir string) (*Workspace, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("workspace: %w", err)
	}
	// dir itself is chosen by the host, not the sandbox, so following a
	// symlink here is fine; what matters is that it is a directory.
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("workspace: create %q: %w", dir, err)
		}
	case err != nil:
		return nil, fmt.Errorf("workspace: %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("workspace: %q exists and is not a directory", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("workspace: %w", err)
	}
	top, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		root.Close()
		return nil, pathError("open", dir, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(top, &st); err != nil {
		root.Close()
		unix.Close(top)
		return nil, pathError("open", dir, err)
	}
	return &Workspace{dir: dir, root: root, top: top, mode: fileMode(st.Mode) &^ fs.ModeDir}, nil
}

// Dir returns the absolute host path of the workspace.
func (w *Workspace) Dir() string { return w.dir }

// InitialMode is the mode (permissions, setuid, setgid and sticky bits) the
// workspace directory had when it was opened, before a sandbox could change
// it: what a caller gives Sanitize to restore.
func (w *Workspace) InitialMode() fs.FileMode { return w.mode }

// Close releases the workspace's handles on its directory. It does not
// remove anything.
func (w *Workspace) Close() error {
	err := w.root.Close()
	if w.top >= 0 {
		if cerr := unix.Close(w.top); err == nil && cerr != nil {
			err = pathError("close", w.dir, cerr)
		}
		w.top = -1 // a second Close must not close a reused fd number
	}
	return err
}

const (
	maxComponent = 255  // NAME_MAX on Linux and most file systems
	maxName      = 1024 // well under PATH_MAX, and plenty for a source file
)

// ValidateName checks a file name given by a model (for example in a
// "# filename:" directive) before it is used to write into the workspace:
// it must be a non-empty, relative, local path made of valid UTF-8 without
// control characters, with no "." or ".." as the whole name, no ".."
// component, no trailing slash, at most 255 bytes per component and 1024
// bytes in all.
func ValidateName(name string) error {
	bad := func(why string) error { return fmt.Errorf("file name %q %s", name, why) }
	switch {
	case name == "":
		return bad("is empty")
	case !utf8.ValidString(name):
		return bad("is not valid UTF-8")
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return bad("contains a control character")
	case len(name) > maxName:
		return bad(fmt.Sprintf("is longer than %d bytes", maxName))
	case filepath.IsAbs(name) || strings.HasPrefix(name, "/"):
		return bad("is absolute, not relative to the workspace")
	case name == ".":
		return bad("names the workspace itself, not a file")
	case strings.HasSuffix(name, "/"):
		return bad("ends with a slash, so it names a directory, not a file")
	}
	for part := range strings.SplitSeq(name, "/") {
		if part == ".." {
			return bad(`contains a ".." component`)
		}
		if len(part) > maxComponent {
			return bad(fmt.Sprintf("has a component longer than %d bytes", maxComponent))
		}
	}
	// Catches what the rules above do not spell out, such as reserved
	// names on Windows.
	if !filepath.IsLocal(name) {
		return bad("is not a local path inside the workspace")
	}
	return nil
}

// ReadFile reads the regular file name inside the workspace, at most max
// bytes; the bool reports that the file was longer and the data was cut at
// exactly max bytes.
//
// It refuses anything that is not a regular file: a directory, a FIFO, a
// device, a socket, and a symlink, even one pointing inside the workspace
// (the sandbox made it, so following it is never what the caller asked
// for). No path component is ever resolved outside the workspace.
func (w *Workspace) ReadFile(name string, max int64) ([]byte, bool, error) {
	if max < 0 {
		return nil, false, fmt.Errorf("workspace: read %q: negative limit %d", name, max)
	}
	// A Root follows symlinks that stay inside it, even in the last
	// component, so look at the entry itself first.
	before, err := w.root.Lstat(name)
	if err != nil {
		return nil, false, pathError("read", name, err)
	}
	if !before.Mode().IsRegular() {
		return nil, false, fmt.Errorf("workspace: read %q: it is a %s, not a regular file", name, kind(before.Mode()))
	}
	// O_NONBLOCK: if the entry is swapped for a FIFO after the Lstat,
	// opening it must not wait for a writer that never comes.
	f, err := w.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, false, pathError("read", name, err)
	}
	defer f.Close()
	// Check that what we opened is the very file we looked at, so a swap
	// for a symlink or a FIFO between Lstat and open is refused too.
	opened, err := f.Stat()
	if err != nil {
		return nil, false, pathError("read", name, err)
	}
	if !sameFile(before, opened) { // before is regular, so opened is too
		return nil, false, fmt.Errorf("workspace: read %q: it changed while being opened", name)
	}
	limit := max
	if limit < math.MaxInt64 {
		limit++ // one byte more than allowed tells us the file was cut
	}
	data, err := io.ReadAll(io.LimitReader(f, limit))
	if err != nil {
		return nil, false, pathError("read", name, err)
	}
	if int64(len(data)) > max {
		return data[:max], true, nil
	}
	return data, false, nil
}

// Readlink returns the target of the symlink name inside the workspace,
// exactly as stored (it may point anywhere: the sandbox made it), and
// refuses an entry that is not a symlink.
func (w *Workspace) Readlink(name string) (string, error) {
	fi, err := w.root.Lstat(name)
	if err != nil {
		return "", pathError("readlink", name, err)
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return "", fmt.Errorf("workspace: readlink %q: it is a %s, not a symlink", name, kind(fi.Mode()))
	}
	target, err := w.root.Readlink(name)
	if err != nil {
		return "", pathError("readlink", name, err)
	}
	return target, nil
}

// sameFile reports whether a and b describe the same file, of the same
// type (see sameEntry).
func sameFile(a, b fs.FileInfo) bool {
	return a.Mode().Type() == b.Mode().Type() && os.SameFile(a, b)
}

// pathError rewraps an error about a path so that its message quotes the
// path: the name may come from the sandbox and contain newlines or escape
// sequences. The underlying error stays reachable with errors.Is.
func pathError(op, name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("workspace: %s %q: %w", op, name, err)
}

// kind names a file type for error messages.
func kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "regular file"
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	default:
		return "special file"
	}
}
