package runner

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/agentteam/agentteam/sandbox/protocol"
)

func TestSeedTmp(t *testing.T) {
	skel, dst := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(skel, ".matplotlib", "sub"), 0o755)
	os.WriteFile(filepath.Join(skel, ".matplotlib", "fontlist.json"), []byte("{}"), 0o600)
	os.WriteFile(filepath.Join(skel, ".matplotlib", "sub", "x"), []byte("x"), 0o600)
	os.Symlink("/etc/passwd", filepath.Join(skel, "link"))
	seedTmp(skel, dst)
	if data, err := os.ReadFile(filepath.Join(dst, ".matplotlib", "fontlist.json")); err != nil || string(data) != "{}" {
		t.Fatalf("fontlist not copied: %q %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(dst, ".matplotlib", "sub", "x")); err != nil {
		t.Fatalf("nested file not copied: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dst, "link")); !os.IsNotExist(err) {
		t.Fatalf("a symlink was copied: %v", err)
	}
	seedTmp(filepath.Join(skel, "missing"), dst) // no skeleton: nothing happens, no panic
}

// TestReserveThreads runs reserveThreads in a fresh process (this test
// binary again), whose runtime has not yet got idle threads of its own to
// reuse, and counts the threads left once the reserving goroutines ended.
func TestReserveThreads(t *testing.T) {
	threads := func() int {
		entries, err := os.ReadDir("/proc/self/task")
		if err != nil {
			panic(err)
		}
		return len(entries)
	}
	if os.Getenv("AGENTTEAM_RESERVE_CHILD") == "1" {
		before := threads()
		reserveThreads(8)
		fmt.Printf("threads %d %d\n", before, threads())
		return
	}
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skipf("no /proc/self/task: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestReserveThreads$", "-test.count=1")
	cmd.Env = append(os.Environ(), "AGENTTEAM_RESERVE_CHILD=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var before, after int
	if _, err := fmt.Sscanf(string(out), "threads %d %d", &before, &after); err != nil {
		t.Fatalf("child said %q: %v", out, err)
	}
	// Eight new threads, less the one or two idle ones a fresh runtime may
	// already have had; they stay after the goroutines ended.
	if after < before+6 || after < 9 {
		t.Fatalf("%d threads after reserving 8, %d before", after, before)
	}
}

// TestProbesMatchTheHostsList: the runner probes exactly the calls the host
// requires to be refused, in the same order.
func TestProbesMatchTheHostsList(t *testing.T) {
	var names []string
	for _, p := range seccompProbes {
		names = append(names, p.name)
	}
	if !slices.Equal(names, protocol.ProbedSyscalls) {
		t.Fatalf("runner probes %v, host requires %v", names, protocol.ProbedSyscalls)
	}
}
