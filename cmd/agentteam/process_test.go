package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/agentteam/agentteam/model/fakeserver"
	"github.com/agentteam/agentteam/sandbox/docker"
	"github.com/agentteam/agentteam/transcript"
)

// buildBinary builds bin/agentteam into a temporary directory, so that
// these tests signal the real program.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "agentteam")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startSleeping starts `agentteam exec` on a block that sleeps, and waits
// until its sandbox container runs.
func startSleeping(t *testing.T, bin string) (*exec.Cmd, func() int) {
	t.Helper()
	dir := t.TempDir()
	return startProgram(t, dir, exec.Command(bin, "exec", writeFile(t, dir, "sleep.md", "```sh\necho started\nsleep 60\n```\n")))
}

// startProgram starts cmd in dir and waits until its sandbox container runs.
func startProgram(t *testing.T, dir string, cmd *exec.Cmd) (*exec.Cmd, func() int) {
	t.Helper()
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	cli := dockerClient(t)
	count := func() int {
		list := ownedBy(t, cli, cmd.Process.Pid)
		for _, c := range list { // what is left, should a test fail on it
			t.Logf("container %s: %s (%s)", c.ID[:12], c.State, c.Status)
		}
		return len(list)
	}
	for deadline := time.Now().Add(20 * time.Second); count() == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the sandbox container never appeared")
		}
	}
	time.Sleep(500 * time.Millisecond) // let the block start
	return cmd, count
}

func waitGone(t *testing.T, count func() int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); count() > 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the sandbox container outlived its process by 10 s")
		}
	}
}

// interrupt sends Ctrl-C and checks that the program exits 130 with no
// container left.
func interrupt(t *testing.T, cmd *exec.Cmd, count func() int) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != ExitInterrupted {
		t.Fatalf("exit: %v, want status %d", err, ExitInterrupted)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d container(s) left after Ctrl-C", n)
	}
}

// TestSIGINT: Ctrl-C exits 130 and removes the container.
func TestSIGINT(t *testing.T) {
	requireDocker(t)
	cmd, count := startSleeping(t, buildBinary(t))
	interrupt(t, cmd, count)
}

// TestRunSIGINT: Ctrl-C in the middle of a team's block exits 130, leaves
// the transcript complete and no container.
func TestRunSIGINT(t *testing.T) {
	requireDocker(t)
	srv := fakeserver.New(fakeserver.Script{Replies: []fakeserver.Step{{Content: "```sh\necho started\nsleep 60\n```"}}})
	defer srv.Close()
	dir := t.TempDir()
	cmd := exec.Command(buildBinary(t), "run", "--transcript", filepath.Join(dir, "t.jsonl"), "Sleep a while.")
	cmd.Env = append(os.Environ(), "OPENAI_BASE_URL="+srv.URL, "OPENAI_API_KEY=")
	cmd, count := startProgram(t, dir, cmd)
	time.Sleep(time.Second) // the block is running
	interrupt(t, cmd, count)
	evs, err := transcript.ReadFile(filepath.Join(dir, "t.jsonl"))
	if err != nil || len(evs) < 3 || evs[len(evs)-1].Type != "result" || evs[len(evs)-1].Content != "interrupted" {
		t.Fatalf("transcript: %v %+v", err, evs)
	}
}

// TestSIGKILL: a killed agentteam cannot clean up, so its container must
// remove itself (its runner's input closes, the container is --rm).
func TestSIGKILL(t *testing.T) {
	requireDocker(t)
	cmd, count := startSleeping(t, buildBinary(t))
	cmd.Process.Kill()
	cmd.Wait()
	waitGone(t, count)
}

// TestNonRootUser: run by a user who is not root (here uid 43210, in the
// docker group only), blocks run as that user, so the files the team makes
// are the user's, and nothing is left behind.
func TestNonRootUser(t *testing.T) {
	requireDocker(t)
	if os.Geteuid() != 0 {
		t.Skip("switching to another user needs root")
	}
	sockInfo, err := os.Stat("/var/run/docker.sock")
	if err != nil || os.Getenv("DOCKER_HOST") != "" {
		t.Skip("needs the default engine socket")
	}
	dockerGID := sockInfo.Sys().(*syscall.Stat_t).Gid
	const uid = 43210
	// A directory the user can reach: t.TempDir's parents are root's alone.
	home, err := os.MkdirTemp("", "at-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	os.Chmod(home, 0o755)
	bin := filepath.Join(home, "agentteam")
	data, err := os.ReadFile(buildBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(home, "work")
	os.Mkdir(work, 0o755)
	writeFile(t, work, "message.md", "```sh\nid -u\necho made > made.txt\n```\n")
	if err := os.Chown(work, uid, uid); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "exec", "--workspace", "ws", "message.md")
	cmd.Dir = work
	cmd.Env = []string{"HOME=" + work, "PATH=/usr/local/bin:/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid, Groups: []uint32{dockerGID}}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("exec as uid %d: %v\n%s", uid, err, out)
	}
	if !strings.Contains(string(out), "43210") {
		t.Errorf("the block did not run as the user:\n%s", out)
	}
	st, err := os.Stat(filepath.Join(work, "ws", "made.txt"))
	if err != nil {
		t.Fatalf("the block's file: %v\n%s", err, out)
	}
	if owner := st.Sys().(*syscall.Stat_t).Uid; owner != uid {
		t.Errorf("made.txt belongs to uid %d, not the user's %d", owner, uid)
	}
	assertNoContainersOf(t, dockerClient(t), cmd.Process.Pid)
}

// TestSweepAfterKill: a SIGKILLed agentteam cleans up nothing itself. A
// container it had started removes itself (TestSIGKILL); one it had only
// created (AutoRemove covers started containers alone: a kill while the
// create request is in flight, or between create and start) is removed by
// the sweep of the next command that opens the engine, as is one whose
// owner's pid now names another process; a live owner's container stays.
func TestSweepAfterKill(t *testing.T) {
	requireDocker(t)
	bin := buildBinary(t)
	cli := dockerClient(t)
	dir := t.TempDir()
	sleeper := writeFile(t, dir, "sleep.md", "```sh\necho started\nsleep 60\n```\n")
	var killed []int
	ownerOfKilled := ""
	for _, point := range []struct {
		name      string
		container bool          // count from when its first container shows, not from its start
		after     time.Duration // then wait this long
	}{
		{"while it connects", false, 50 * time.Millisecond},
		{"while it creates", false, 150 * time.Millisecond},
		{"while it starts", false, 300 * time.Millisecond},
		{"at its first container", true, 0},
		{"while its block runs", true, time.Second},
	} {
		cmd := exec.Command(bin, "exec", "--workspace", filepath.Join(dir, "ws"), sleeper)
		cmd.Dir = dir
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid := cmd.Process.Pid
		killed = append(killed, pid)
		for deadline := time.Now().Add(20 * time.Second); point.container && len(ownedBy(t, cli, pid)) == 0 && time.Now().Before(deadline); {
		}
		time.Sleep(point.after)
		cmd.Process.Kill()
		cmd.Wait()
		for _, c := range ownedBy(t, cli, pid) {
			t.Logf("killed %s: container %s %s", point.name, c.ID[:12], c.State)
			ownerOfKilled = c.Labels[docker.LabelOwner]
			t.Cleanup(func() { cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) })
		}
	}
	if ownerOfKilled == "" {
		t.Fatal("no killed process had made a container")
	}

	// What a kill between create and start leaves, made directly: a kill
	// rarely lands in that window, which is kept short.
	mine := docker.OwnerLabel()
	i := strings.LastIndexByte(mine, '/')
	start, _ := strconv.ParseUint(mine[i+1:], 10, 64)
	mk := func(owner string) string {
		c, err := cli.ContainerCreate(context.Background(), &container.Config{Image: docker.Defaults().Image, Cmd: []string{"/bin/sh", "-c", "sleep 30"},
			Labels: map[string]string{docker.LabelManaged: "true", docker.LabelOwner: owner, docker.LabelSession: "test-sweep-after-kill"}},
			&container.HostConfig{NetworkMode: "none"}, nil, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) })
		return c.ID
	}
	created := mk(ownerOfKilled)
	reused := mk(mine[:i] + "/" + strconv.FormatUint(start+1, 10)) // this test's pid, another process's start
	live := mk(mine)

	next := exec.Command(bin, "exec", writeFile(t, dir, "true.md", "```sh\ntrue\n```\n"))
	next.Dir = dir
	if out, err := next.CombinedOutput(); err != nil {
		t.Fatalf("the next command: %v\n%s", err, out)
	}
	exists := func(id string) bool {
		_, err := cli.ContainerInspect(context.Background(), id)
		return err == nil
	}
	waitNone(t, "containers of killed processes left after the next command", func() []string {
		var left []string
		for _, pid := range killed {
			for _, c := range ownedBy(t, cli, pid) {
				left = append(left, c.ID[:12]+" ("+c.State+")")
			}
		}
		if exists(reused) {
			left = append(left, "the container of a reused pid")
		}
		return left
	})
	if exists(created) || !exists(live) {
		t.Fatalf("created-never-started removed %v, live kept %v", !exists(created), exists(live))
	}
}

// TestStdoutClosed: when the reader of agentteam's stdout goes away after
// the first line (`agentteam run --json | head -1`), run, exec and batch
// stop as on Ctrl-C, not killed by SIGPIPE: exit 141 with a note on stderr,
// no container left, the transcript ending with its result, a batch's
// finished tasks kept in its results.
func TestStdoutClosed(t *testing.T) {
	requireDocker(t)
	bin := buildBinary(t)
	cli := dockerClient(t)
	slow := fakeserver.Step{Content: "```sh\necho hi\n```", DelayMS: 30000}
	cases := []struct {
		name   string
		script fakeserver.Script
		files  map[string]string
		args   []string
		check  func(t *testing.T, dir string)
	}{
		{
			name:   "run",
			script: fakeserver.Script{Replies: []fakeserver.Step{slow}},
			args:   []string{"run", "--json", "--transcript", "t.jsonl", "Say hi."},
			check: func(t *testing.T, dir string) {
				evs, err := transcript.ReadFile(filepath.Join(dir, "t.jsonl"))
				if err != nil || len(evs) < 2 {
					t.Fatalf("transcript: %v %+v", err, evs)
				}
				last := evs[len(evs)-1]
				if last.Type != "result" || last.Extra["exit_code"] != float64(ExitStdoutClosed) {
					t.Fatalf("the transcript's last event: %+v", last)
				}
			},
		},
		{
			name:  "exec",
			files: map[string]string{"m.md": "```sh\necho one\n```\n```sh\nsleep 60\n```\n"},
			args:  []string{"exec", "m.md"},
		},
		{
			name: "batch",
			script: fakeserver.Script{Replies: []fakeserver.Step{
				{Content: "```sh\necho one\n```"}, {Content: "APPROVE"}, slow,
			}},
			files: map[string]string{"tasks.jsonl": `{"id": "1", "task": "One."}` + "\n" + `{"id": "2", "task": "Two."}` + "\n" + `{"id": "3", "task": "Three."}` + "\n"},
			args:  []string{"batch", "-j", "1", "--json", "tasks.jsonl"},
			check: func(t *testing.T, dir string) {
				data, err := os.ReadFile(filepath.Join(dir, "tasks.results.jsonl"))
				if err != nil || strings.Count(string(data), "\n") != 1 || !strings.Contains(string(data), `"id":"1"`) {
					t.Fatalf("results: %v %s", err, data)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, text := range tc.files {
				writeFile(t, dir, name, text)
			}
			srv := fakeserver.New(tc.script)
			defer srv.Close()
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd := exec.Command(bin, tc.args...)
			cmd.Dir, cmd.Stdout, cmd.Stderr = dir, w, &stderr
			cmd.Env = append(os.Environ(), "OPENAI_BASE_URL="+srv.URL, "OPENAI_API_KEY=")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			w.Close()
			line, err := bufio.NewReader(r).ReadString('\n')
			if err != nil {
				t.Fatalf("first line: %v (stderr %s)", err, stderr.String())
			}
			// Close while a container is up, so that it is the interrupted
			// path that removes it.
			for deadline := time.Now().Add(20 * time.Second); len(ownedBy(t, cli, cmd.Process.Pid)) == 0; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("no sandbox container appeared")
				}
			}
			r.Close()
			start := time.Now()
			err = cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != ExitStdoutClosed {
				t.Fatalf("exit: %v (%v), want status %d; first line %q; stderr:\n%s", err, cmd.ProcessState, ExitStdoutClosed, line, stderr.String())
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("took %s to stop", d)
			}
			if !strings.Contains(stderr.String(), "agentteam: stopped: standard output was closed") {
				t.Errorf("stderr: %s", stderr.String())
			}
			assertNoContainersOf(t, cli, cmd.Process.Pid)
			if tc.check != nil {
				tc.check(t, dir)
			}
		})
	}
}
