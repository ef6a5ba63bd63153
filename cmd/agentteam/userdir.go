package main

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/taskrun"
	"github.com/agentteam/agentteam/workspace"
)

// userDir is a workspace that existed before the command: a --workspace
// the user named (theirs, perhaps with their files) or a run continued.
// The team's files are told from those already there by a snapshot taken
// at the start; and when the sandbox runs as a user of its own (agentteam
// as root), which the engine gives the directory itself for the run, the
// directory is given back to its owner at the end with the files the team
// made in it, as they would be had the sandbox run as that owner.
type userDir struct {
	dir    string
	before workspace.Snapshot // nil: too many entries to tell apart
	limit  int                // entries a snapshot may hold

	giveBack bool // the sandbox's user gets the directory for the run
	uid, gid int  // its owner before the run
	mode     fs.FileMode
	sandbox  int // the sandbox's uid
}

// openUserDir looks at the existing directory dir before the team does.
// owner is who the sandbox runs as (sandboxes.Owner; nil, or -1: as
// agentteam's own user, which changes no owner); limit bounds the
// snapshot (the sandbox's own cap on a workspace's entries), 0 for none
// (exec lists no files).
func openUserDir(ctx context.Context, dir string, owner func() (uid, gid int), limit int) (*userDir, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, usageError("workspace: %v", err)
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	u := &userDir{dir: dir, limit: limit, mode: fi.Mode().Perm() | fi.Mode()&(fs.ModeSetgid|fs.ModeSticky)}
	if owner != nil && st != nil {
		if uid, _ := owner(); uid >= 0 && int(st.Uid) != uid {
			u.giveBack, u.uid, u.gid, u.sandbox = true, int(st.Uid), int(st.Gid), uid
		}
	}
	ws, err := workspace.Open(dir)
	if err != nil {
		return nil, usageError("%v", err)
	}
	defer ws.Close()
	if limit > 0 {
		if u.before, err = ws.Snapshot(ctx, limit); err != nil {
			u.before = nil
			slog.Warn(fmt.Sprintf("%s holds more than %d entries (or nests too deep): the summary lists all its files, not only the team's", safetext.Name(dir), limit))
		}
	}
	if u.giveBack {
		slog.Warn(fmt.Sprintf("the sandbox runs as uid %d, not as root: %s is lent to it for the run (its files stay yours) and given back to %d:%d at the end, with the files made in it",
			u.sandbox, safetext.Name(dir), u.uid, u.gid))
	}
	return u, nil
}

// maxGiveBack bounds the entries restore looks at when no snapshot limit
// says how many a workspace may hold.
const maxGiveBack = 100_000

// teamFiles is what the team changed in a user's directory.
type teamFiles struct {
	files    []string // created or changed, sorted, at most taskrun.MaxFilesListed
	omitted  int      // the others
	deleted  []string // sorted, at most taskrun.MaxFilesListed
	existing int      // files there before the run that it left as they were
}

// finish gives the directory back (see userDir) once the sandbox is gone
// and says what the team changed in it; ok is false when it cannot tell
// (too many entries), and the run's own listing of every file stands.
// Hidden files (.git, __pycache__) count as in every listing: not at all.
func (u *userDir) finish(ctx context.Context) (tf teamFiles, ok bool) {
	if u == nil {
		return tf, false
	}
	ctx = context.WithoutCancel(ctx) // Ctrl-C ended the run, not this
	if u.giveBack {
		u.restore()
	}
	if u.before == nil {
		return tf, false
	}
	ws, err := workspace.Open(u.dir)
	if err != nil {
		return tf, false
	}
	defer ws.Close()
	after, err := ws.Snapshot(ctx, 2*u.limit)
	if err != nil {
		return tf, false
	}
	regular := func(fi workspace.FileInfo) bool { return fi.Mode.IsRegular() && !workspace.Hidden(fi.Path) }
	for p, a := range after {
		if !regular(a) {
			continue
		}
		b, was := u.before[p]
		if was && regular(b) && a.Size == b.Size && a.Mode == b.Mode && a.ModTime.Equal(b.ModTime) {
			tf.existing++
			continue
		}
		tf.files = append(tf.files, p)
	}
	for p, b := range u.before {
		if a, there := after[p]; regular(b) && (!there || !a.Mode.IsRegular()) {
			tf.deleted = append(tf.deleted, p)
		}
	}
	slices.Sort(tf.files)
	slices.Sort(tf.deleted)
	if n := len(tf.files); n > taskrun.MaxFilesListed {
		tf.files, tf.omitted = tf.files[:taskrun.MaxFilesListed], n-taskrun.MaxFilesListed
	}
	tf.deleted = tf.deleted[:min(len(tf.deleted), taskrun.MaxFilesListed)]
	return tf, true
}

// restore gives the directory its owner and mode back, and its owner the
// entries the sandbox's user made in it. The sandbox is gone by now, so
// nothing changes the tree under the walk, which follows no symlink; a
// chown also drops any setuid or setgid bit the sandbox set on a file.
func (u *userDir) restore() {
	failed := 0
	if err := os.Lchown(u.dir, u.uid, u.gid); err != nil {
		failed++
	}
	if err := os.Chmod(u.dir, u.mode); err != nil {
		failed++
	}
	seen := 0
	filepath.WalkDir(u.dir, func(p string, d fs.DirEntry, err error) error {
		if seen++; seen > 2*cmp.Or(u.limit, maxGiveBack) {
			return filepath.SkipAll
		}
		if err != nil || p == u.dir {
			return nil // an entry that cannot be read is left as it is
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == u.sandbox {
			if os.Lchown(p, u.uid, u.gid) != nil {
				failed++
			}
		}
		return nil
	})
	if failed > 0 {
		slog.Warn(fmt.Sprintf("could not give %d entr%s of %s back to %d:%d", failed, plural(failed, "y", "ies"), safetext.Name(u.dir), u.uid, u.gid))
	}
}

// plural is one or many, by n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// workspaceNote says, after the files a summary lists, what else the team
// did to a directory that existed before the run: "" when there is none.
func workspaceNote(deleted []string, existing int) string {
	var parts []string
	if names, more := shownNames(deleted); len(names) > 0 {
		d := "deleted " + strings.Join(names, ", ")
		if more > 0 {
			d += fmt.Sprintf(", … and %d more", more)
		}
		parts = append(parts, d)
	}
	if existing > 0 {
		parts = append(parts, fmt.Sprintf("%d file%s there before the run left as they were", existing, plural(existing, "", "s")))
	}
	if len(parts) == 0 {
		return ""
	}
	return " · " + strings.Join(parts, " · ")
}
