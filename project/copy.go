package project

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// ErrTooLarge is returned by CopyIn for a project over its caps.
var ErrTooLarge = errors.New("project too large")

// CopyOptions say how CopyIn copies.
type CopyOptions struct {
	Limits
	// UID and GID, when UID >= 0, own everything CopyIn creates: the
	// sandbox's user must be able to change the copy.
	UID, GID int
	// Skip are directories never copied when they lie inside the project:
	// agentteam's own runs directories, which hold the copy itself.
	Skip []string
}

// CopyIn copies the project dir into the empty directory workspace and
// records a hash of every file it copied. For a git work tree it copies
// what `git ls-files -co --exclude-standard` lists (tracked files and the
// untracked ones not ignored); otherwise every file of the tree. It never
// copies a .git entry, submodules, nested repositories or special files
// (FIFOs, sockets, devices), and it never follows a symlink: a symlink is
// copied as one. Regular files get mode 0644, or 0755 if their owner may
// execute them, as git records them. More than MaxFiles files or MaxBytes
// bytes is ErrTooLarge, with a message that says which.
func CopyIn(ctx context.Context, dir, workspace string, opts CopyOptions) (*Copy, error) {
	lim := opts.Limits.withDefaults()
	dir, err := realDir(dir)
	if err != nil {
		return nil, err
	}
	ws, err := realDir(workspace)
	if err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(ws); err != nil || len(entries) > 0 {
		return nil, fmt.Errorf("copy project: workspace %s is not an empty directory", ws)
	}
	c := &Copy{Dir: dir, Workspace: ws, Files: map[string]Entry{}, limits: lim}
	var skip []string // slash paths in dir never copied
	for _, s := range append([]string{ws}, opts.Skip...) {
		if rel, ok := inside(dir, s); ok {
			skip = append(skip, rel)
		}
	}
	if _, within := inside(ws, dir); within || ws == dir {
		return nil, fmt.Errorf("copy project: the workspace %s cannot hold the project %s", ws, dir)
	}

	paths, err := c.list(ctx, skip)
	if err != nil {
		return nil, err
	}
	src, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("copy project: %w", err)
	}
	defer src.Close()
	dst, err := os.OpenRoot(ws)
	if err != nil {
		return nil, fmt.Errorf("copy project: %w", err)
	}
	defer dst.Close()
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if inGit(p) || slices.ContainsFunc(skip, func(s string) bool { return under(p, s) }) {
			continue
		}
		fi, err := src.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // tracked, but deleted in the work tree
		}
		if err != nil {
			return nil, fmt.Errorf("copy project: %w", err)
		}
		if !fi.Mode().IsRegular() && fi.Mode()&fs.ModeSymlink == 0 {
			c.Skipped++
			continue
		}
		if len(c.Files) >= lim.MaxFiles {
			return nil, fmt.Errorf("%w: %s holds more than %d files; %s", ErrTooLarge, dir, lim.MaxFiles, c.hint())
		}
		e, err := copyEntry(src, dst, p, fi, lim.MaxBytes-c.Bytes)
		if errors.Is(err, ErrTooLarge) {
			return nil, fmt.Errorf("%w: %s holds more than %d MiB of files; %s", ErrTooLarge, dir, lim.MaxBytes>>20, c.hint())
		}
		if err != nil {
			return nil, fmt.Errorf("copy project: %w", err)
		}
		c.Files[p] = e
		c.Bytes += e.Size
	}
	if opts.UID >= 0 {
		if err := chownTree(ws, opts.UID, opts.GID); err != nil {
			return nil, fmt.Errorf("copy project: give the copy to the sandbox user: %w", err)
		}
	}
	return c, nil
}

// hint says how to copy less.
func (c *Copy) hint() string {
	if c.Git {
		return "ignore what the team does not need in .gitignore, or give a subdirectory"
	}
	return "give a subdirectory, or make it a git repository whose .gitignore leaves out what the team does not need"
}

// realDir is dir made absolute with its symlinks resolved (the user named
// it: following it is theirs to ask), checked to be a directory.
func realDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("copy project: %w", err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("copy project: %w", err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("copy project: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("copy project: %s is not a directory", dir)
	}
	return real, nil
}

// inside returns p as a slash path relative to dir when p lies strictly
// inside dir.
func inside(dir, p string) (string, bool) {
	if p == "" {
		return "", false
	}
	if real, err := filepath.EvalSymlinks(p); err == nil {
		p = real
	} else if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	rel, err := filepath.Rel(dir, p)
	if err != nil || rel == "." || !filepath.IsLocal(rel) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// list names what to copy, sorted: git's list in a work tree, else a walk.
func (c *Copy) list(ctx context.Context, skip []string) ([]string, error) {
	out, err := git(ctx, c.Dir, nil, nil, "rev-parse", "--is-inside-work-tree", "--show-prefix")
	if lines := strings.Split(string(out), "\n"); err == nil && len(lines) >= 2 && lines[0] == "true" {
		return c.listGit(ctx, lines[1])
	}
	return c.walk(ctx, skip)
}

// listGit lists a work tree's tracked files and the untracked ones it does
// not ignore, and notes its submodules.
func (c *Copy) listGit(ctx context.Context, prefix string) ([]string, error) {
	c.Git, c.Prefix = true, prefix
	if head, err := git(ctx, c.Dir, nil, nil, "rev-parse", "--verify", "-q", "HEAD^{commit}"); err == nil {
		c.Head = strings.TrimSpace(string(head))
	}
	staged, err := git(ctx, c.Dir, nil, nil, "ls-files", "-z", "-s")
	if err != nil {
		return nil, fmt.Errorf("copy project: %w", err)
	}
	for _, rec := range splitZ(staged) {
		// "MODE SHA STAGE\tPATH"
		if meta, p, ok := strings.Cut(rec, "\t"); ok && strings.HasPrefix(meta, "160000 ") {
			c.submodules = append(c.submodules, p)
		}
	}
	files, err := git(ctx, c.Dir, nil, nil, "ls-files", "-z", "-c", "-o", "--exclude-standard")
	if err != nil {
		return nil, fmt.Errorf("copy project: %w", err)
	}
	var paths []string
	for _, p := range splitZ(files) {
		switch {
		case p == "", strings.HasSuffix(p, "/"): // a nested repository
			c.Skipped++
		case slices.Contains(c.submodules, p):
			c.Skipped++
		default:
			paths = append(paths, p)
		}
		if len(paths) > 4*c.limits.MaxFiles {
			return nil, fmt.Errorf("%w: %s holds more than %d files; %s", ErrTooLarge, c.Dir, c.limits.MaxFiles, c.hint())
		}
	}
	slices.Sort(paths)
	return slices.Compact(paths), nil // unmerged paths are listed once per stage
}

// walk lists a tree that is not a git work tree, without following a
// symlink or entering .git or a skipped directory.
func (c *Copy) walk(ctx context.Context, skip []string) ([]string, error) {
	var paths []string
	seen := 0
	err := filepath.WalkDir(c.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == c.Dir {
			return nil
		}
		rel, err := filepath.Rel(c.Dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if isGitName(d.Name()) || slices.Contains(skip, rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		// Directories count too, so that a tree of empty ones ends the
		// walk as surely as one of files.
		if seen++; seen > 4*c.limits.MaxFiles || len(paths) >= c.limits.MaxFiles+1 {
			return fmt.Errorf("%w: %s holds more than %d files; %s", ErrTooLarge, c.Dir, c.limits.MaxFiles, c.hint())
		}
		if !d.IsDir() {
			paths = append(paths, rel)
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrTooLarge) && ctx.Err() == nil {
		err = fmt.Errorf("copy project: %w", err)
	}
	return paths, err
}

// copyEntry copies the file or symlink p, which src listed as fi, into dst
// and returns its entry. A regular file longer than budget bytes is
// ErrTooLarge.
func copyEntry(src, dst *os.Root, p string, fi fs.FileInfo, budget int64) (Entry, error) {
	if err := dst.MkdirAll(path.Dir(p), 0o755); err != nil {
		return Entry{}, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := src.Readlink(p)
		if err != nil {
			return Entry{}, err
		}
		if err := dst.Symlink(target, p); err != nil {
			return Entry{}, err
		}
		return Entry{Link: true, Size: int64(len(target)), Hash: hashBytes([]byte(target))}, nil
	}
	if fi.Size() > budget {
		return Entry{}, ErrTooLarge
	}
	// O_NOFOLLOW and O_NONBLOCK: a file swapped for a symlink or a FIFO
	// since it was listed is neither followed nor waited on.
	in, err := src.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return Entry{}, err
	}
	defer in.Close()
	if st, err := in.Stat(); err != nil || !os.SameFile(fi, st) {
		return Entry{}, fmt.Errorf("%s changed while it was being copied", p)
	}
	e := Entry{Exec: fi.Mode()&0o100 != 0}
	out, err := dst.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm(e.Exec))
	if err != nil {
		return Entry{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(in, budget+1))
	if err == nil {
		err = out.Chmod(perm(e.Exec)) // whatever the umask
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return Entry{}, err
	case n > budget:
		return Entry{}, ErrTooLarge
	}
	e.Size, e.Hash = n, hex.EncodeToString(h.Sum(nil))
	return e, nil
}

// chownTree gives everything in dir, dir included, to uid:gid. dir is a
// fresh copy no sandbox has run in yet, so a path walk is safe.
func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
