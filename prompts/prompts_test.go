package prompts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	p, err := Load("")
	if err != nil || !strings.Contains(p.Coder, "# filename:") || !strings.Contains(p.Reviewer, "APPROVE") || !strings.Contains(p.Project, "/workspace") {
		t.Fatalf("embedded prompts: %v %q %q", err, p.Coder[:40], p.Reviewer[:40])
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "reviewer.md"), []byte("Be strict.\n"), 0o644)
	own, err := Load(dir)
	if err != nil || own.Reviewer != "Be strict." || own.Coder != p.Coder || own.Project != p.Project {
		t.Fatalf("override: %v %+v", err, own)
	}
	os.WriteFile(filepath.Join(dir, "coder.md"), []byte("  \n"), 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty prompt accepted: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing directory was accepted")
	}
}
