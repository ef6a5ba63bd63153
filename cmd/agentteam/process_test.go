package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentteam/agentteam/model/fakeserver"
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
	cmd, count := startSleeping(t, buildBinary(t))
	interrupt(t, cmd, count)
}

// TestRunSIGINT: Ctrl-C in the middle of a team's block exits 130, leaves
// the transcript complete and no container.
func TestRunSIGINT(t *testing.T) {
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
	cmd, count := startSleeping(t, buildBinary(t))
	cmd.Process.Kill()
	cmd.Wait()
	waitGone(t, count)
}

// TestNonRootUser: run by a user who is not root (here uid 43210, in the
// docker group only), blocks run as that user, so the files the team makes
// are the user's, and nothing is left behind.
func TestNonRootUser(t *testing.T) {
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
