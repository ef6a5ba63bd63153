package runner

import (
	"os"
	"path/filepath"
	"testing"
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

func TestReserveThreads(t *testing.T) {
	threads := func() int {
		entries, err := os.ReadDir("/proc/self/task")
		if err != nil {
			t.Skipf("no /proc/self/task: %v", err)
		}
		return len(entries)
	}
	before := threads()
	reserveThreads(8)
	// The goroutines have ended; their threads must still be there, idle.
	if got := threads(); got < before+8-2 { // the runtime may already have had a couple idle
		t.Fatalf("%d threads after reserving 8, had %d", got, before)
	}
}
