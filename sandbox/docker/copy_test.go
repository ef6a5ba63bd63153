package docker

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/mount"

	"github.com/agentteam/agentteam/sandbox"
)

func copiedSession(t *testing.T, cfg Config, prepare func(dir string)) (*session, string) {
	t.Helper()
	cfg.CopyWorkspace = true
	d := newTestDocker(t, cfg)
	dir := t.TempDir()
	if prepare != nil {
		prepare(dir)
	}
	s, err := d.NewSession(context.Background(), dir)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s.(*session), dir
}

// A copied workspace is the container's own tmpfs, not a mount of the
// host's directory: the host's files go in when it starts, and after each
// block the host's directory holds what the block left, and the change
// lists name only what the block changed.
func TestCopiedWorkspace(t *testing.T) {
	s, dir := copiedSession(t, testConfig(), func(dir string) {
		os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("kept"), 0o644)
		os.WriteFile(filepath.Join(dir, "edit.txt"), []byte("old"), 0o644)
		os.WriteFile(filepath.Join(dir, "gone.txt"), []byte("x"), 0o644)
		os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
		os.WriteFile(filepath.Join(dir, "sub", "in.txt"), []byte("deep"), 0o600)
	})
	got, err := s.d.cli.ContainerInspect(context.Background(), s.box.id)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Mounts) != 1 || got.Mounts[0].Type != mount.TypeVolume || got.Mounts[0].Destination != mountPoint {
		t.Fatalf("mounts %+v, want only the workspace volume", got.Mounts)
	}

	res := run(t, s, sandbox.Bash, `cat keep.txt sub/in.txt; echo new > edit.txt; rm gone.txt; echo made > made.txt
mkdir -p a/b && echo x > a/b/c.txt; ln -s /etc/passwd link; cp /bin/true suid; chmod 4777 suid; mkfifo fifo
df -P . | tail -1 | awk '{print $1}'`)
	if !res.OK() || !strings.HasPrefix(res.Stdout, "keptdeep") || !strings.Contains(res.Stdout, "tmpfs") {
		t.Fatalf("block: %+v", res)
	}
	for name, want := range map[string]string{"edit.txt": "new\n", "made.txt": "made\n", "a/b/c.txt": "x\n", "keep.txt": "kept", "sub/in.txt": "deep"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); string(b) != want {
			t.Errorf("host %s: %q %v", name, b, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "gone.txt")); !os.IsNotExist(err) {
		t.Errorf("gone.txt is still on the host: %v", err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "link")); target != "/etc/passwd" {
		t.Errorf("link: %q %v", target, err)
	}
	if st, err := os.Lstat(filepath.Join(dir, "suid")); err != nil || st.Mode()&(os.ModeSetuid|0o002) != 0 {
		t.Errorf("suid reached the host as %v (%v)", st.Mode(), err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "fifo")); !os.IsNotExist(err) {
		t.Errorf("a FIFO reached the host: %v", err)
	}
	f := res.Files
	if !slices.Equal(f.Modified, []string{"edit.txt"}) || !slices.Equal(f.Deleted, []string{"gone.txt"}) ||
		!slices.Contains(f.Created, "made.txt") || slices.Contains(f.Created, "keep.txt") || slices.Contains(f.Modified, "keep.txt") {
		t.Errorf("changes %+v", f)
	}
	// The next block sees its own workspace, not a fresh copy.
	if res := run(t, s, sandbox.Bash, "cat made.txt"); res.Stdout != "made\n" {
		t.Errorf("next block: %+v", res)
	}
}

// The workspace's caps are the tmpfs's: a block past them meets ENOSPC,
// and the host's copy stays within them. A tree too deep to copy back
// replaces the container, and the next block works from the host's copy.
func TestCopiedWorkspaceCaps(t *testing.T) {
	cfg := testConfig()
	cfg.WorkspaceBytes, cfg.WorkspaceEntries = 1<<20, 50
	s, dir := copiedSession(t, cfg, nil)

	res := run(t, s, sandbox.Bash, "head -c 3000000 /dev/zero > big")
	if res.OK() || !strings.Contains(res.Stderr, "No space left") {
		t.Errorf("past the bytes cap: %+v", res)
	}
	res = run(t, s, sandbox.Bash, "rm -f big; for i in $(seq 100); do : > f$i || exit 7; done")
	if res.ExitCode != 7 {
		t.Errorf("past the entries cap: %+v", res)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 50 {
		t.Errorf("%d entries on the host", len(entries))
	}

	s, _ = copiedSession(t, testConfig(), nil)
	run(t, s, sandbox.Bash, "echo ok > ok.txt")
	old := s.box.id
	res = run(t, s, sandbox.Bash, "p=.; for i in $(seq 105); do p=$p/d; done; mkdir -p $p")
	if !res.WorkspaceExceeded || !strings.Contains(res.Error, "container was replaced") {
		t.Errorf("too deep: %+v", res)
	}
	res = run(t, s, sandbox.Bash, "cat ok.txt")
	if res.Stdout != "ok\n" || s.box.id == old {
		t.Errorf("after the replacement: %+v (same container: %v)", res, s.box.id == old)
	}
}

// A pool over a copied workspace lends no container twice and keeps to
// its count.
func TestCopiedPool(t *testing.T) {
	cfg := testConfig()
	cfg.CopyWorkspace = true
	d := newTestDocker(t, cfg)
	p, err := d.NewPool(t.TempDir(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	var ids []string
	for i := range 2 {
		dir := t.TempDir()
		s, err := p.NewSession(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		res := run(t, s, sandbox.Bash, "ls -A | wc -l; echo $i > mine.txt; cat /proc/1/cgroup | head -1")
		if !strings.HasPrefix(res.Stdout, "0\n") {
			t.Errorf("session %d did not start empty: %+v", i, res)
		}
		ids = append(ids, s.(*countedSession).Session.(*session).box.id)
		ctx, cancel := context.WithTimeout(context.Background(), 0)
		if _, err := p.NewSession(ctx, t.TempDir()); err == nil {
			t.Error("a second session while the pool's one container is lent")
		}
		cancel()
		s.Close(context.Background())
	}
	if ids[0] == ids[1] {
		t.Error("the pool lent a container of a copied workspace twice")
	}
}
