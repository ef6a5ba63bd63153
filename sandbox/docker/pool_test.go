package docker

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentteam/agentteam/sandbox"
)

func newTestPool(t *testing.T, size int, adjust ...func(*Config)) (*Backend, *Pool, string) {
	t.Helper()
	cfg := testConfig()
	for _, f := range adjust {
		f(&cfg)
	}
	d := newTestDocker(t, cfg)
	root := t.TempDir()
	p, err := d.NewPool(filepath.Join(root, ".slots"), size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return d, p, root
}

func openPooled(t *testing.T, p *Pool, dir string) *pooledSession {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	s, err := p.NewSession(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	ps, ok := s.(*pooledSession)
	if !ok {
		t.Fatalf("got a %T, not a pooled session", s)
	}
	return ps
}

// TestPoolReuseIsClean: the second session gets the first one's container,
// and nothing of the first session: files, /tmp, /dev/shm, processes.
func TestPoolReuseIsClean(t *testing.T) {
	if underGVisor() {
		t.Skip("under gVisor a pool never lends a container twice (see Pooled.Close)")
	}
	_, p, root := newTestPool(t, 1)
	a := openPooled(t, p, filepath.Join(root, "a"))
	first := a.box.id
	res := run(t, a, sandbox.Sh, `echo secret > /workspace/answer.txt
echo junk > /tmp/junk; mkdir -p /tmp/locked/deep && touch /tmp/locked/deep/f && chmod 000 /tmp/locked/deep /tmp/locked
echo shm > /dev/shm/x
nohup sleep 1000 >/dev/null 2>&1 &
echo done`)
	if !res.OK() {
		t.Fatalf("first session: %+v", res)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(root, "a", "answer.txt")); err != nil || string(data) != "secret\n" {
		t.Fatalf("the first session's file did not come back to its workspace: %q %v", data, err)
	}
	b := openPooled(t, p, filepath.Join(root, "b"))
	defer b.Close(context.Background())
	if b.box.id != first {
		t.Fatalf("the container was not reused (%s, then %s)", first[:12], b.box.id[:12])
	}
	res = run(t, b, sandbox.Sh, `ls -A /workspace; ls -A /tmp; ls -A /dev/shm; set -- /proc/[0-9]*; echo $#`)
	// /tmp holds only the seeded cache; /proc: the runner and sh (the glob
	// is the shell's own, so no child of it is counted, however late).
	if !res.OK() || res.Stdout != ".matplotlib\n2\n" {
		t.Fatalf("the second session sees leftovers: %q %q", res.Stdout, res.Stderr)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "b")); len(entries) != 0 {
		t.Fatalf("files appeared in the second workspace: %v", entries)
	}
}

// TestPoolDiscardsBroken: a container that cannot be reset is removed and
// the next session gets a new one that works.
func TestPoolDiscardsBroken(t *testing.T) {
	d, p, root := newTestPool(t, 1)
	a := openPooled(t, p, filepath.Join(root, "a"))
	first := a.box.id
	run(t, a, sandbox.Sh, "echo keep > kept.txt")
	if err := d.cli.ContainerKill(context.Background(), first, "KILL"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	a.Close(context.Background())
	if data, err := os.ReadFile(filepath.Join(root, "a", "kept.txt")); err != nil || string(data) != "keep\n" {
		t.Fatalf("the workspace was lost with its container: %v", err)
	}
	b := openPooled(t, p, filepath.Join(root, "b"))
	defer b.Close(context.Background())
	if b.box.id == first {
		t.Fatal("a killed container was lent again")
	}
	assertAlive(t, b)
}

// TestPoolCap: no more containers than the pool's size at once.
func TestPoolCap(t *testing.T) {
	_, p, root := newTestPool(t, 1)
	a := openPooled(t, p, filepath.Join(root, "a"))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	os.MkdirAll(filepath.Join(root, "b"), 0o755)
	if _, err := p.NewSession(ctx, filepath.Join(root, "b")); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("a second session got a container past the cap: %v", err)
	}
	got := make(chan sandbox.Session, 1)
	go func() {
		s, _ := p.NewSession(context.Background(), filepath.Join(root, "b"))
		got <- s
	}()
	time.Sleep(100 * time.Millisecond)
	a.Close(context.Background())
	select {
	case s := <-got:
		defer s.Close(context.Background())
		assertAlive(t, s)
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting session never got the freed container")
	}
}

// TestPoolRelativePaths: relative slot and workspace directories (as a
// user's --workspace gives them) work: the engine only mounts absolute ones.
func TestPoolRelativePaths(t *testing.T) {
	d := newTestDocker(t, testConfig())
	t.Chdir(t.TempDir())
	p, err := d.NewPool(filepath.Join("batch", ".slots"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	os.MkdirAll(filepath.Join("batch", "a"), 0o755)
	s, err := p.NewSession(context.Background(), filepath.Join("batch", "a"))
	if err != nil {
		t.Fatalf("NewSession with relative paths: %v", err)
	}
	if res := run(t, s, sandbox.Sh, "echo hi > hi.txt && echo done"); !res.OK() || res.Stdout != "done\n" {
		t.Fatalf("block: %+v", res)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join("batch", "a", "hi.txt")); err != nil || string(data) != "hi\n" {
		t.Fatalf("the block's file did not come back: %q %v", data, err)
	}
}

// TestPoolSanitizesOnClose: what moves from the slot back to the user's
// workspace is sanitised again on the way, in case it changed after the
// last block's check (here the host plays the part of a late writer).
func TestPoolSanitizesOnClose(t *testing.T) {
	_, p, root := newTestPool(t, 1)
	a := openPooled(t, p, filepath.Join(root, "a"))
	if res := run(t, a, sandbox.Sh, "echo x > f && mkdir d"); !res.OK() || res.Files.SanitizedCount != 0 {
		t.Fatalf("block: %+v", res)
	}
	if err := os.Chmod(filepath.Join(a.slot, "f"), 0o777|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(a.slot, "d"), 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"f": 0o775, "d": os.ModeDir | 0o775, ".": os.ModeDir | 0o755} {
		if fi, err := os.Lstat(filepath.Join(root, "a", name)); err != nil || fi.Mode() != want {
			t.Errorf("%s in the workspace is %v (%v), want %v", name, fi.Mode(), err, want)
		}
	}
}

// A new pool removes the slots a killed batch left (their files are a
// task that runs again), not those of a live pool, nor files kept for
// the user.
func TestPoolSweepsDeadSlots(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{".slot-dead/a/b", ".slot-live", ".kept-x", "task-1"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, ".slot-dead", "a", "b", "f"), []byte("x"), 0o644)
	os.Symlink("/etc", filepath.Join(root, ".slot-dead", "etc"))
	live, err := lockSlot(filepath.Join(root, ".slot-live"))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if _, err := (&Backend{log: slog.Default()}).NewPool(root, 1); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{".slot-dead": false, ".slot-live": true, ".kept-x": true, "task-1": true} {
		if _, err := os.Lstat(filepath.Join(root, name)); (err == nil) != want {
			t.Errorf("%s: there %v, want %v", name, err == nil, want)
		}
	}
	if _, err := os.Stat("/etc/passwd"); err != nil {
		t.Fatal("the sweep followed a link")
	}
}
