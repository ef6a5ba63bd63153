package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/workspace"
)

// hostileCase is one block a hostile model might write and the exact safe
// outcome it must end in. After each, the same session must still work.
type hostileCase struct {
	name string
	lang string
	code string
	file string // "# filename:" value, if any
	// replaces: the block is expected to cost the session its container
	// (it killed or subverted the runner); every other block must not.
	replaces bool
	// timeout, when set, runs the block in a session with this timeout
	// instead of the test config's 3 s.
	timeout time.Duration
	// entries, when set, runs the block in a session whose workspace may
	// hold this many entries instead of the test config's 2,000.
	entries int64
	// maxWall, when set, is how long Run may take to return.
	maxWall time.Duration
	check   func(t *testing.T, r sandbox.Result, dir string)
}

// memoryTimeout is for cases that assert how a block ends, not how soon: a
// loaded CI host once took over 3 s to OOM-kill a plain memory bomb. The
// thrash case gets less: the kernel alone thrashed for 7.5 to 25 s and
// more before its OOM kill, the guard ends it within a second of the fill.
const (
	memoryTimeout = 20 * time.Second
	thrashTimeout = 6 * time.Second
)

func wantExit(code int) func(*testing.T, sandbox.Result, string) {
	return func(t *testing.T, r sandbox.Result, _ string) {
		t.Helper()
		if r.ExitCode != code {
			t.Fatalf("exit code %d, want %d; result %+v", r.ExitCode, code, r)
		}
	}
}

// wantFail requires a non-zero exit whose output mentions one of the words.
func wantFail(words ...string) func(*testing.T, sandbox.Result, string) {
	return func(t *testing.T, r sandbox.Result, _ string) {
		t.Helper()
		if r.OK() {
			t.Fatalf("hostile block succeeded: %+v", r)
		}
		out := r.Stdout + r.Stderr + r.Error
		for _, w := range words {
			if strings.Contains(out, w) {
				return
			}
		}
		t.Fatalf("output mentions none of %q:\nstdout: %s\nstderr: %s\nerror: %s", words, r.Stdout, r.Stderr, r.Error)
	}
}

// wantOut requires exit 0 and exactly this stdout.
func wantOut(stdout string) func(*testing.T, sandbox.Result, string) {
	return func(t *testing.T, r sandbox.Result, _ string) {
		t.Helper()
		if !r.OK() || r.Stdout != stdout {
			t.Fatalf("want exit 0 and stdout %q, got exit %d stdout %q stderr %q error %q", stdout, r.ExitCode, r.Stdout, r.Stderr, r.Error)
		}
	}
}

func hostileCases() []hostileCase {
	return []hostileCase{
		// Destructive file system.
		{name: "rm -rf /", lang: sandbox.Sh, code: "rm -rf /usr/bin /etc /usr/local/bin 2>/dev/null; ls /usr/bin/python3 && echo root-intact",
			check: wantOut("/usr/bin/python3\nroot-intact\n")},
		// gVisor refuses writes to its read-only root with EACCES.
		{name: "write outside workspace", lang: sandbox.Python, code: "open('/usr/evil', 'w')",
			check: wantFail("Read-only file system", "Permission denied")},
		{name: "overwrite the runner", lang: sandbox.Sh, code: "cp /bin/true /usr/local/bin/agentteam-runner",
			check: wantFail("Read-only file system", "Permission denied")},

		// Host escape.
		{name: "mount", lang: sandbox.Sh, code: "mkdir -p /tmp/m && mount -t tmpfs none /tmp/m",
			check: wantFail("permission denied", "must be superuser", "Operation not permitted")},
		{name: "cgroup write", lang: sandbox.Sh, code: "echo 100000 > /sys/fs/cgroup/pids/pids.max || echo 100000 > /sys/fs/cgroup/pids.max",
			check: wantFail("Read-only file system", "Permission denied", "No such file")},
		{name: "unshare user namespace", lang: sandbox.Sh, code: "unshare -Ur id",
			check: wantFail("Operation not permitted", "unshare failed")},
		{name: "proc sys write", lang: sandbox.Sh, code: "echo '|/tmp/x' > /proc/sys/kernel/core_pattern || echo 3 > /proc/sys/vm/drop_caches",
			check: wantFail("Read-only file system", "Permission denied")},
		{name: "sys write", lang: sandbox.Sh, code: "echo 1 > /sys/kernel/mm/transparent_hugepage/enabled",
			check: wantFail("Read-only file system", "Permission denied", "No such file", "Directory nonexistent")},
		{name: "docker socket", lang: sandbox.Sh, code: "ls /var/run/docker.sock /run/docker.sock",
			check: wantFail("No such file")},
		{name: "setuid to root", lang: sandbox.Python, code: "import os; os.setuid(0)",
			check: wantFail("PermissionError")},
		{name: "no setuid programs", lang: sandbox.Sh, code: "find /usr/bin /usr/sbin /usr/local /usr/lib/dbus-1.0 /usr/libexec -perm /6000 -type f 2>/dev/null; echo done",
			check: wantOut("done\n")},
		{name: "read the runner via proc", lang: sandbox.Python, code: "import os; print(open('/proc/%d/fd/1' % os.getppid(), 'w'))",
			check: wantFail("PermissionError")},
		{name: "ptrace the runner", lang: sandbox.Python,
			code:  "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nr = libc.ptrace(16, os.getppid(), 0, 0)\nprint(r, ctypes.get_errno())",
			check: wantOut("-1 1\n")},

		// Resource exhaustion.
		{name: "fork bomb", lang: sandbox.Bash, code: "b(){ b|b& }; b; sleep 100",
			check: func(t *testing.T, r sandbox.Result, _ string) {
				if !r.TimedOut || r.OK() {
					t.Fatalf("want the bomb stopped at the timeout, got %+v", r)
				}
			}},
		{name: "fork bomb that exits", lang: sandbox.Bash, code: "b(){ b|b& }; b; echo lit",
			check: wantOut("lit\n")},
		{name: "memory bomb", timeout: memoryTimeout, lang: sandbox.Python, code: "x = b'a' * (1 << 30)",
			check: func(t *testing.T, r sandbox.Result, _ string) {
				if !r.OOMKilled || r.ExitCode != 137 || r.Signal != 9 {
					t.Fatalf("want OOM kill (137, signal 9, oom_killed), got %+v", r)
				}
			}},
		{name: "memory bomb that thrashes", timeout: thrashTimeout, lang: sandbox.Python,
			// Grows in small steps while running library code: the kernel
			// evicts and rereads that code for as long as it likes (25 s and
			// more here) before any OOM kill; the runner's guard ends it.
			code: "import numpy\nx = []\nwhile True:\n    x.append(bytearray(1 << 14)); numpy.zeros(3).sum()",
			check: func(t *testing.T, r sandbox.Result, _ string) {
				if !r.OOMKilled || r.TimedOut || r.ExitCode != 137 {
					t.Fatalf("want out of memory (137, oom_killed), not a timeout; got %+v", r)
				}
			}},
		{name: "much memory, within the limit", timeout: memoryTimeout, lang: sandbox.Python,
			code:  "x = bytearray(150 << 20); x[::4096] = b'a' * len(x[::4096])\nimport numpy, pandas, scipy.linalg\nprint(numpy.ones(1000).sum())",
			check: wantOut("1000.0\n")},
		{name: "huge allocation", timeout: memoryTimeout, lang: sandbox.Python, code: "x = bytearray(10**10); x[::4096] = b'a' * len(x[::4096])",
			check: func(t *testing.T, r sandbox.Result, _ string) {
				if r.OK() || !(r.OOMKilled || strings.Contains(r.Stderr, "MemoryError")) {
					t.Fatalf("want an OOM kill or MemoryError, got %+v", r)
				}
			}},
		{name: "tmp fill", lang: sandbox.Sh, code: "for i in 1 2 3 4; do dd if=/dev/zero of=/tmp/fill$i bs=1M count=6 || { rm -f /tmp/fill*; exit 1; }; done",
			check: wantFail("No space left on device")},
		{name: "file size limit", lang: sandbox.Python, code: "open('big', 'wb').write(b'x' * (16 << 20))",
			check: func(t *testing.T, r sandbox.Result, dir string) {
				if r.OK() || (r.Signal != int(syscall.SIGXFSZ) && !strings.Contains(r.Stderr, "File too large")) {
					t.Fatalf("want SIGXFSZ or EFBIG, got %+v", r)
				}
				os.Remove(filepath.Join(dir, "big"))
			}},
		{name: "workspace fill", lang: sandbox.Python, code: "import time\nfor i in range(100000):\n    open(f'fill{i}', 'wb').write(b'x' * (1 << 20))\n    time.sleep(0.002)",
			check: func(t *testing.T, r sandbox.Result, dir string) {
				if !r.WorkspaceExceeded || r.OK() {
					t.Fatalf("want workspace_exceeded, got %+v", r)
				}
				left, _ := filepath.Glob(filepath.Join(dir, "fill*"))
				if len(left) != 0 {
					t.Fatalf("%d fill files left after the roll back", len(left))
				}
			}},
		// The host counts entries while the block runs; on a loaded machine
		// noticing 2,000 of them can take longer than the test's 3 s.
		{name: "workspace inode fill", timeout: memoryTimeout, lang: sandbox.Python, code: "import os\nos.makedirs('many', exist_ok=True)\nfor i in range(1000000):\n    open(f'many/{i}', 'w').close()",
			check: func(t *testing.T, r sandbox.Result, dir string) {
				if !r.WorkspaceExceeded {
					t.Fatalf("want workspace_exceeded, got %+v", r)
				}
				if _, err := os.Lstat(filepath.Join(dir, "many")); !os.IsNotExist(err) {
					t.Fatalf("the directory the block made is still there: %v", err)
				}
			}},
		{name: "output flood", lang: sandbox.Sh, code: "yes",
			check: func(t *testing.T, r sandbox.Result, _ string) {
				if !r.OutputLimited || !r.Truncated || r.StdoutBytes <= 4<<20 || len(r.Stdout) > 4<<10+64 || r.OK() {
					t.Fatalf("want output_limited and truncated with the kept bytes capped, got limited=%v truncated=%v bytes=%d kept=%d",
						r.OutputLimited, r.Truncated, r.StdoutBytes, len(r.Stdout))
				}
			}},
		{name: "cpu spin", lang: sandbox.Python, code: "while True: pass",
			check: func(t *testing.T, r sandbox.Result, _ string) {
				if !r.TimedOut || r.OK() || r.Duration < 3*time.Second || r.Duration > 6*time.Second {
					t.Fatalf("want a timeout at about 3s, got timed_out=%v after %s", r.TimedOut, r.Duration)
				}
			}},
		{name: "sleep past timeout", lang: sandbox.Sh, code: "echo before; sleep 100; echo after",
			check: func(t *testing.T, r sandbox.Result, _ string) {
				if !r.TimedOut || r.Stdout != "before\n" {
					t.Fatalf("want timed out with the output so far, got %+v", r)
				}
			}},
		{name: "ignores SIGTERM", lang: sandbox.Python, code: "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(100)",
			check: func(t *testing.T, r sandbox.Result, _ string) {
				if !r.TimedOut {
					t.Fatalf("want timed out, got %+v", r)
				}
			}},
		{name: "background survivors", lang: sandbox.Sh,
			code: "nohup sh -c 'sleep 2; touch /workspace/survivor-nohup' >/dev/null 2>&1 &\n" +
				"setsid sh -c 'sleep 2; touch /workspace/survivor-setsid' &\n" +
				"python3 -c 'import os,time\nif os.fork(): os._exit(0)\nos.setsid()\nif os.fork(): os._exit(0)\ntime.sleep(2); open(\"/workspace/survivor-daemon\",\"w\")' &\n" +
				"echo started",
			check: func(t *testing.T, r sandbox.Result, dir string) {
				if !r.OK() {
					t.Fatalf("block failed: %+v", r)
				}
				time.Sleep(2500 * time.Millisecond)
				left, _ := filepath.Glob(filepath.Join(dir, "survivor-*"))
				if len(left) != 0 {
					t.Fatalf("a process outlived its block and wrote %v", left)
				}
			}},
		{name: "file descriptors", lang: sandbox.Python, code: "fs = [open('/dev/null') for _ in range(100000)]",
			check: wantFail("Too many open files")},
		{name: "kills the runner", lang: sandbox.Python,
			code: "import os, signal\nfor sig in (signal.SIGKILL, signal.SIGSTOP, signal.SIGTERM, signal.SIGSEGV, signal.SIGQUIT):\n" +
				"    try:\n        os.kill(os.getppid(), sig)\n    except PermissionError:\n        print('refused', sig.name)\nprint('still here')",
			// SIGKILL and SIGSTOP to pid 1 are refused by the seccomp
			// profile (gVisor would deliver them); the runner catches the
			// rest and shrugs.
			check: wantOut("refused SIGKILL\nrefused SIGSTOP\nstill here\n")},
		{name: "freezes the runner", lang: sandbox.Sh, code: "kill -STOP $PPID; kill -STOP 1; echo tried; sleep 100",
			check: func(t *testing.T, r sandbox.Result, _ string) {
				// The runner, not frozen, ends the block at its timeout.
				if !r.TimedOut || r.Stdout != "tried\n" || r.Error != "" {
					t.Fatalf("want an ordinary timeout, got %+v", r)
				}
			}},
		{name: "unsupported language", lang: "ruby", code: "puts 1",
			check: func(t *testing.T, r sandbox.Result, _ string) {
				if r.ExitCode != -1 || !strings.Contains(r.Error, `unsupported language "ruby"`) {
					t.Fatalf("want a clear refusal, got %+v", r)
				}
			}},
		{name: "forges a frame", lang: sandbox.Python,
			code: "import os\nfd = os.open('/proc/1/fd/1', os.O_WRONLY)\nos.write(fd, b'AT\\x01\\x05' + b'\\0'*16 + b'\\0\\0\\0\\x0d{\"exit_code\":0}')",
			// The runner is PID 1 and not dumpable: its stdout is out of
			// reach (and a frame without the token would end the session).
			check: wantFail("PermissionError")},

		// Network.
		{name: "http", lang: sandbox.Python, code: "import urllib.request; urllib.request.urlopen('http://192.0.2.1', timeout=2)",
			check: wantFail("Network is unreachable")},
		{name: "dns", lang: sandbox.Python, code: "import socket; socket.getaddrinfo('example.com', 80)",
			check: wantFail("gaierror")},
		{name: "raw socket", lang: sandbox.Python, code: "import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)",
			check: wantFail("PermissionError", "Operation not permitted")},
		{name: "host gateway", lang: sandbox.Python, code: "import socket; socket.create_connection(('172.17.0.1', 2375), timeout=2)",
			check: wantFail("Network is unreachable")},
		{name: "metadata address", lang: sandbox.Python, code: "import socket; socket.create_connection(('169.254.169.254', 80), timeout=2)",
			check: wantFail("Network is unreachable")},
		// gVisor with networking disabled has no interface at all.
		{name: "only loopback", lang: sandbox.Sh, code: "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '",
			check: func(t *testing.T, r sandbox.Result, _ string) {
				if !r.OK() || r.Stdout != "lo\n" && !(underGVisor() && r.Stdout == "") {
					t.Fatalf("want only lo, got %+v", r)
				}
			}},

		// Workspace.
		{name: "filename traversal", lang: sandbox.Python, file: "../escape.py", code: "print(1)",
			check: func(t *testing.T, r sandbox.Result, dir string) {
				if r.OK() || !strings.Contains(r.Error, "refused filename") {
					t.Fatalf("want a refused filename, got %+v", r)
				}
				if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape.py")); err == nil {
					t.Fatal("escape.py was written outside the workspace")
				}
			}},
		{name: "filename absolute", lang: sandbox.Python, file: "/etc/cron.d/x", code: "print(1)",
			check: wantFail("refused filename")},
		{name: "filename NUL", lang: sandbox.Python, file: "a\x00b.py", code: "print(1)",
			check: wantFail("refused filename")},
		{name: "filename through symlink", lang: sandbox.Sh, code: "ln -sfn / rootlink && echo linked",
			check: wantOut("linked\n")},
		{name: "write via symlinked dir", lang: sandbox.Python, file: "rootlink/evil.py", code: "print(1)",
			check: wantFail("read-only file system", "Read-only file system", "permission denied")},
		{name: "odd names", lang: sandbox.Python,
			code: "import os\nfor n in [b'new\\nline', b'\\xff\\xfe', b'-rf', b'\\x1b[31mred']:\n    open(n, 'w').close()\nos.mkfifo('fifo')\nprint('made')",
			check: func(t *testing.T, r sandbox.Result, _ string) {
				if !r.OK() || len(r.Files.Created) < 4 {
					t.Fatalf("want the odd files listed, got %+v", r)
				}
				if data, err := json.Marshal(r); err != nil || !json.Valid(data) {
					t.Fatalf("result does not serialise: %v", err)
				}
			}},

		{name: "ordinary files need no sanitising", lang: sandbox.Python,
			code: "import os, subprocess\nos.makedirs('pkg/sub', exist_ok=True)\nopen('pkg/sub/m.py', 'w').write('x = 1')\n" +
				"subprocess.run(['sh', '-c', 'echo hi > run.sh && chmod +x run.sh'], check=True)\nprint('ok')",
			check: func(t *testing.T, r sandbox.Result, _ string) {
				if !r.OK() || r.Files.SanitizedCount != 0 || !slices.Equal(r.Files.Created, []string{"pkg/sub/m.py", "run.sh"}) {
					t.Fatalf("want the files listed and nothing sanitised, got %+v", r)
				}
			}},
		{name: "setuid and world-writable left behind", lang: sandbox.Sh,
			code: "cp /bin/sh suid && chmod u+s,g+s,o+w suid && mkdir wdir && chmod 1777 wdir && chmod 777 /workspace && " +
				"stat -c %a suid wdir /workspace",
			check: func(t *testing.T, r sandbox.Result, dir string) {
				if !r.OK() || !strings.HasSuffix(r.Stdout, "1777\n777\n") {
					t.Fatalf("the block could not set the bits: %+v", r)
				}
				for name, want := range map[string]os.FileMode{"suid": 0o755, "wdir": os.ModeDir | 0o775, ".": os.ModeDir | 0o755} {
					fi, err := os.Lstat(filepath.Join(dir, name))
					if err != nil || fi.Mode() != want {
						t.Errorf("%s is %v after the block (%v), want %v", name, fi.Mode(), err, want)
					}
				}
				if r.Files.SanitizedCount != 3 || !slices.Equal(r.Files.Sanitized, []string{".", "suid", "wdir"}) {
					t.Errorf("result reports sanitised %q (%d), want [. suid wdir]", r.Files.Sanitized, r.Files.SanitizedCount)
				}
				os.Remove(filepath.Join(dir, "suid"))
				os.Remove(filepath.Join(dir, "wdir"))
			}},
		{name: "5,000 long names", lang: sandbox.Python, timeout: memoryTimeout, entries: 10_000,
			code: "for i in range(5000):\n    open('%05d' % i + 'n' * 245, 'w').close()",
			check: func(t *testing.T, r sandbox.Result, dir string) {
				if !r.OK() {
					t.Fatalf("block failed: %+v", r)
				}
				listed, size := len(r.Files.Created)+len(r.Files.Modified)+len(r.Files.Deleted), 0
				for _, n := range r.Files.Created {
					size += len(n)
				}
				if listed > workspace.MaxListed || size > workspace.MaxListedBytes || listed+r.Files.Omitted != 5000 {
					t.Errorf("result lists %d names (%d bytes) and omits %d, want within %d names, %d bytes, 5000 in all",
						listed, size, r.Files.Omitted, workspace.MaxListed, workspace.MaxListedBytes)
				}
				if data, err := json.Marshal(r); err != nil || len(data) > 64<<10 {
					t.Errorf("the result's JSON is %d bytes (%v), want under 64 KiB", len(data), err)
				}
				left, _ := filepath.Glob(filepath.Join(dir, "0*n"))
				for _, f := range left {
					os.Remove(f)
				}
			}},
		{name: "3,000 nested directories", lang: sandbox.Python, entries: 10_000, maxWall: 3*time.Second + 5*time.Second,
			code: "import os\nos.mkdir('deep'); os.chdir('deep')\nfor i in range(3000):\n    os.mkdir('d'); os.chdir('d')\nprint('made')",
			check: func(t *testing.T, r sandbox.Result, dir string) {
				want := fmt.Sprintf("deeper than %d levels", workspace.MaxDepth)
				if !r.WorkspaceExceeded || r.OK() || !strings.Contains(r.Error, want) {
					t.Fatalf("want workspace_exceeded with an error saying %q, got %+v", want, r)
				}
				left, err := os.ReadDir(dir)
				for _, e := range left {
					if e.Name() == "deep" || strings.HasPrefix(e.Name(), ".agentteam-rm-") {
						t.Errorf("%s left after the roll back", e.Name())
					}
				}
				if err != nil {
					t.Error(err)
				}
			}},

		// Output.
		{name: "escape sequences", lang: sandbox.Python, code: "print('\\x1b[2J\\x1b]52;c;ZXZpbA==\\x07\\rhidden')",
			check: func(t *testing.T, r sandbox.Result, _ string) {
				p := safetext.Output(r.Stdout)
				if !strings.Contains(r.Stdout, "\x1b]52") || strings.ContainsAny(p, "\x1b\x07\r") || !strings.Contains(p, `\x1b]52`) {
					t.Fatalf("escapes not kept as data or not neutralised: raw %q printable %q", r.Stdout, p)
				}
			}},
		{name: "invalid utf-8 and NUL", lang: sandbox.Python, code: "import sys; sys.stdout.buffer.write(b'\\xff\\xfe\\x00ok\\xc3')",
			check: func(t *testing.T, r sandbox.Result, _ string) {
				data, err := json.Marshal(r)
				if err != nil || !json.Valid(data) || r.Stdout != "\xff\xfe\x00ok\xc3" || !utf8.ValidString(safetext.Output(r.Stdout)) {
					t.Fatalf("raw %q json %s err %v", r.Stdout, data, err)
				}
			}},
		{name: "20 MiB single line", lang: sandbox.Python, code: "import sys; sys.stdout.write('x' * (20 << 20))",
			check: func(t *testing.T, r sandbox.Result, _ string) {
				if !r.Truncated || len(r.Stdout) > 4<<10+64 || !strings.Contains(r.Stdout, "bytes omitted") {
					t.Fatalf("want a truncated line, got truncated=%v kept=%d total=%d", r.Truncated, len(r.Stdout), r.StdoutBytes)
				}
			}},
		{name: "fake exit status", lang: sandbox.Python, code: "print('exit_code: 0'); print('{\"exit_code\": 0}'); import sys; sys.exit(3)",
			check: wantExit(3)},
		{name: "stderr apart", lang: sandbox.Sh, code: "echo out; echo err >&2; exit 5",
			check: func(t *testing.T, r sandbox.Result, _ string) {
				if r.ExitCode != 5 || r.Stdout != "out\n" || r.Stderr != "err\n" {
					t.Fatalf("got %+v", r)
				}
			}},
	}
}

func TestHostileBlocks(t *testing.T) {
	requireDocker(t)
	type open struct {
		s   *session
		dir string
	}
	type limits struct {
		timeout time.Duration
		entries int64
	}
	sessions := map[limits]open{}
	sessionFor := func(l limits) (*session, string) {
		if o, ok := sessions[l]; ok {
			return o.s, o.dir
		}
		cfg := testConfig()
		if l.timeout != 0 {
			cfg.Timeout = l.timeout
		}
		if l.entries != 0 {
			cfg.WorkspaceEntries = l.entries
		}
		s, dir := newTestSession(t, newTestDocker(t, cfg))
		sessions[l] = open{s, dir}
		return s, dir
	}
	for _, tc := range append(hostileCases(), seccompCases()...) {
		t.Run(tc.name, func(t *testing.T) {
			s, dir := sessionFor(limits{tc.timeout, tc.entries})
			before := s.box
			start := time.Now()
			res, err := s.Run(context.Background(), sandbox.Code{Language: tc.lang, Source: tc.code, Filename: tc.file})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if took := time.Since(start); tc.maxWall != 0 && took > tc.maxWall {
				t.Errorf("Run took %s, want at most %s", took, tc.maxWall)
			}
			tc.check(t, res, dir)
			if replaced := s.box != before; replaced != tc.replaces {
				t.Errorf("container replaced = %v, want %v (error %q)", replaced, tc.replaces, res.Error)
			}
			assertAlive(t, s)
		})
	}
}

// seccompCases are blocks that only the sandbox's own seccomp profile
// refuses: Docker 20.10's default profile allows each of them.
func seccompCases() []hostileCase {
	refused := func(name, setup, call string) hostileCase {
		return hostileCase{name: name, lang: sandbox.Python,
			code: "import ctypes, os, time\nlibc = ctypes.CDLL(None, use_errno=True)\n" + setup +
				"r = " + call + "\nprint(r, ctypes.get_errno())",
			check: wantOut("-1 1\n")}
	}
	return []hostileCase{
		refused("io_uring_setup", "", "libc.syscall(425, 8, ctypes.create_string_buffer(120))"),
		refused("userfaultfd user mode", "", "libc.syscall(323, 1)"),
		// A child of its own, which the default profile lets it trace.
		refused("ptrace a child", "pid = os.fork()\nif pid == 0:\n    time.sleep(5); os._exit(0)\n", "libc.ptrace(16, pid, 0, 0)"),
		refused("process_vm_readv", "", "libc.process_vm_readv(os.getpid(), None, 0, None, 0, 0)"),
	}
}

// underGVisor reports whether the suite runs under gVisor's runsc.
func underGVisor() bool { return isGVisor(os.Getenv("AGENTTEAM_TEST_RUNTIME"), "") }
