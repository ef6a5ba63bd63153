package docker

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentteam/agentteam/sandbox"
)

// What a block leaves behind must not run, or weigh, in anything that comes
// after it: not in the interpreter waiting for the next block (which may
// never be approved), not in the next task of a pooled container.

// planters are files that sandbox.Python's start-up would import from the
// workspace or the user site; each writes a mark into /workspace/marks when
// imported.
func planters(dir string) map[string]string {
	mark := func(name string) string {
		return "import os\nos.makedirs('/workspace/marks', exist_ok=True)\nopen('/workspace/marks/" + name + "', 'w').close()\n"
	}
	return map[string]string{
		filepath.Join(dir, "sitecustomize.py"): mark("sitecustomize"),
		filepath.Join(dir, "linecache.py"):     mark("linecache") + "from importlib import import_module as _i\n",
		filepath.Join(dir, "evil.pth"):         "import os; os.makedirs('/workspace/marks', exist_ok=True); open('/workspace/marks/pth', 'w').close()\n",
	}
}

func marks(t *testing.T, dir string) []string {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(dir, "marks"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestWarmInterpreterRunsNothingFromDisk: a session opened on a workspace
// that holds start-up hooks, and a user site that a block filled with them,
// run none of them until a python block arrives; the block itself then sees
// what a cold `python3` would.
func TestWarmInterpreterRunsNothingFromDisk(t *testing.T) {
	d := newTestDocker(t, testConfig())
	dir := t.TempDir()
	for p, src := range planters(dir) {
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := d.NewSession(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	time.Sleep(1500 * time.Millisecond) // the warm interpreter is up and waiting
	if m := marks(t, dir); len(m) != 0 {
		t.Fatalf("workspace code ran before any block: %v", m)
	}
	// A shell block discards the waiting interpreter: nothing runs either.
	if r := run(t, s, sandbox.Sh, "echo sh"); !r.OK() {
		t.Fatalf("sh block: %+v", r)
	}
	// The user site (HOME=/tmp) gets a hook from a block; the interpreter
	// started after that block must not run it while it waits.
	// (-I: this python3 must not run the workspace's sitecustomize itself.)
	r := run(t, s, sandbox.Sh, `site=$(python3 -I -c 'import site; print(site.getusersitepackages())')
mkdir -p "$site" && printf '%s\n' "import os" "os.makedirs('/workspace/marks', exist_ok=True)" \
  "open('/workspace/marks/user-site', 'w').close()" > "$site/usercustomize.py" && echo planted`)
	if !r.OK() {
		t.Fatalf("plant the user site: %+v", r)
	}
	time.Sleep(1500 * time.Millisecond)
	if m := marks(t, dir); len(m) != 0 {
		t.Fatalf("code ran before any python block: %v", m)
	}
	// A python block starts as `python3 script` would: the workspace's
	// sitecustomize (it is on PYTHONPATH) and the user site's usercustomize
	// run now, as part of the block. (linecache.py and evil.pth in the
	// workspace are not hooks for a cold start either.)
	r = run(t, s, sandbox.Python, "print('block')")
	if !r.OK() || r.Stdout != "block\n" {
		t.Fatalf("python block: %+v", r)
	}
	got := strings.Join(marks(t, dir), " ")
	if got != "sitecustomize user-site" {
		t.Fatalf("hooks run by a python block: %q, want the ones a cold start runs: %q", got, "sitecustomize user-site")
	}
}

// TestWarmStartMatchesColdStart: a block run by the waiting interpreter sees
// the same start-up state as the same file run by a fresh python3.
func TestWarmStartMatchesColdStart(t *testing.T) {
	d := newTestDocker(t, testConfig())
	s, dir := newTestSession(t, d)
	probe := `import json, os, sys
print(json.dumps({"path": sys.path, "cwd": os.getcwd(), "home": os.environ.get("HOME"),
  "pythonpath": os.environ.get("PYTHONPATH"), "flags": [sys.flags.isolated, sys.flags.no_site,
  sys.flags.no_user_site, sys.flags.ignore_environment], "bytecode": sys.dont_write_bytecode,
  "usersite": __import__("site").ENABLE_USER_SITE}))`
	// A user site that exists, so its place in sys.path is compared too.
	if r := run(t, s, sandbox.Sh, `mkdir -p "$(python3 -I -c 'import site; print(site.getusersitepackages())')"`); !r.OK() {
		t.Fatalf("make the user site: %+v", r)
	}
	warm, err := s.Run(context.Background(), sandbox.Code{Language: sandbox.Python, Source: probe, Filename: "probe.py"})
	if err != nil || !warm.OK() {
		t.Fatalf("warm probe: %v %+v", err, warm)
	}
	cold := run(t, s, sandbox.Sh, "python3 /workspace/probe.py")
	if !cold.OK() {
		t.Fatalf("cold probe: %+v", cold)
	}
	var w, c map[string]any
	if json.Unmarshal([]byte(warm.Stdout), &w) != nil || json.Unmarshal([]byte(cold.Stdout), &c) != nil {
		t.Fatalf("probe output: %q / %q", warm.Stdout, cold.Stdout)
	}
	wj, _ := json.Marshal(w)
	cj, _ := json.Marshal(c)
	if string(wj) != string(cj) {
		t.Fatalf("warm start differs from a cold one:\nwarm %s\ncold %s", wj, cj)
	}
	if !strings.Contains(string(wj), "/tmp/.local/lib/") {
		t.Fatalf("the user site is not on the path: %s", wj)
	}
	_ = dir
}

// TestIPCDoesNotOutliveBlock: SysV shared memory, message queues and
// semaphores and POSIX message queues a block leaves are gone before the
// next block, and a segment no longer weighs on the memory limit.
func TestIPCDoesNotOutliveBlock(t *testing.T) {
	d := newTestDocker(t, testConfig()) // 256 MiB
	s, _ := newTestSession(t, d)
	r := run(t, s, sandbox.Python, `import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
size = 160 << 20
shm = libc.shmget(0, size, 0o1600)
addr = libc.shmat(shm, None, 0)
ctypes.memset(addr, 1, size)
msg = libc.msgget(0x5a5a, 0o1600)
sem = libc.semget(0x5b5b, 1, 0o1600)
mq = libc.mq_open(b"/leftover", os.O_CREAT | os.O_RDWR, 0o600, None)
print(shm >= 0, msg >= 0, sem >= 0, mq >= 0)`)
	if !r.OK() || r.Stdout != "True True True True\n" {
		t.Fatalf("make IPC objects: %+v", r)
	}
	// By key, not /proc/sysvipc, which gVisor does not have.
	left := run(t, s, sandbox.Python, `import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
print(libc.msgget(0x5a5a, 0), libc.semget(0x5b5b, 0, 0), libc.mq_open(b"/leftover", os.O_RDWR))`)
	want := "-1 -1 -1\n"
	if underGVisor() {
		// gVisor lists no message queue, SysV or POSIX (no /proc/sysvipc,
		// no /dev/mqueue): they last as long as the container, which a
		// pool never lends again under gVisor (TestPoolNextTaskStartsClean).
		want = left.Stdout[:strings.IndexByte(left.Stdout, ' ')] + " -1 " + left.Stdout[strings.LastIndexByte(left.Stdout, ' ')+1:]
	}
	if left.Stdout != want {
		t.Fatalf("IPC objects outlived their block: %q (stderr %q)", left.Stdout, left.Stderr)
	}
	// 200 MiB fits the 256 MiB limit only if the segment's 160 MiB are gone.
	if r := run(t, s, sandbox.Python, "x = bytearray(200 << 20); print('fits')"); !r.OK() || r.Stdout != "fits\n" {
		t.Fatalf("the next block lacks the memory the segment took: %+v", r)
	}
}

// TestPoolNextTaskStartsClean: a task that leaves start-up hooks, enough
// files to slow the move out of its slot, and IPC objects, cannot reach the
// next task in the same container.
func TestPoolNextTaskStartsClean(t *testing.T) {
	// 1,500 files take well under the test's usual 3 s, but not always on a
	// loaded machine under gVisor.
	_, p, root := newTestPool(t, 1, func(c *Config) { c.Timeout = 20 * time.Second })
	a := openPooled(t, p, filepath.Join(root, "a"))
	first := a.box.id
	r := run(t, a, sandbox.Python, `import os, ctypes
hook = "import sys\nsys.stdout.write('PWNED\\n')\nopen('/workspace/PWNED', 'w').close()\n"
for name in ('sitecustomize.py', 'usercustomize.py', 'conftest.py'):
    open(name, 'w').write(hook)
os.makedirs('pad', exist_ok=True)
for i in range(1500):
    open('pad/%04d' % i, 'w').close()
ctypes.CDLL(None).msgget(0x6c6c, 0o1600)
print('left')`)
	if !r.OK() {
		t.Fatalf("task a: %+v", r)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := openPooled(t, p, filepath.Join(root, "b"))
	defer b.Close(context.Background())
	switch {
	case underGVisor() && b.box.id == first:
		t.Fatal("under gVisor a pool lent a container again, though it cannot list the message queues a task left")
	case !underGVisor() && b.box.id != first:
		t.Fatalf("task b got another container (%s, not %s): the test needs the same one", b.box.id, first)
	}
	r = run(t, b, sandbox.Python, "import os, ctypes; print(sorted(os.listdir('.')), ctypes.CDLL(None).msgget(0x6c6c, 0))")
	if !r.OK() || r.Stdout != "[] -1\n" {
		t.Fatalf("task b's first block saw task a: %+v", r)
	}
	for _, d := range []string{"a", "b"} {
		if _, err := os.Stat(filepath.Join(root, d, "PWNED")); err == nil {
			t.Fatalf("task a's hook ran after task a ended (it wrote %s/PWNED)", d)
		}
	}
}
