package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeInstall: make install puts the binary in PREFIX/bin and the
// completions where bash-completion, zsh and fish look under PREFIX, says
// how to put PREFIX/bin on PATH when it is not, and make uninstall takes
// them all away.
func TestMakeInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary: skipped under -short")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	tmp := t.TempDir()
	prefix := filepath.Join(tmp, "prefix")
	make := func(target string) string {
		t.Helper()
		cmd := exec.Command("make", "-C", "../..", target, "PREFIX="+prefix, "BIN="+filepath.Join(tmp, "build", "agentteam"))
		cmd.Env = append(os.Environ(), "PATH=/usr/bin:/bin:"+filepath.Dir(goBinary(t)))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make %s: %v\n%s", target, err, out)
		}
		return string(out)
	}
	out := make("install")
	installed := []string{"bin/agentteam", "share/bash-completion/completions/agentteam", "share/zsh/site-functions/_agentteam",
		"share/fish/vendor_completions.d/agentteam.fish"}
	for _, p := range installed[1:] {
		if data, err := os.ReadFile(filepath.Join(prefix, p)); err != nil || !strings.Contains(string(data), "agentteam") {
			t.Errorf("%s: %v, %d bytes", p, err, len(data))
		}
	}
	if v, err := exec.Command(filepath.Join(prefix, "bin", "agentteam"), "version").Output(); err != nil || !strings.HasPrefix(string(v), "agentteam ") {
		t.Errorf("the installed agentteam: %v %q", err, v)
	}
	if !strings.Contains(out, "make: "+prefix+"/bin is not on your PATH; add it: export PATH=\""+prefix+"/bin:$PATH\"") {
		t.Errorf("no PATH hint:\n%s", out)
	}
	make("uninstall")
	for _, p := range installed {
		if _, err := os.Stat(filepath.Join(prefix, p)); err == nil {
			t.Errorf("%s is left", p)
		}
	}
}

// goBinary is the go command the tests run with.
func goBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	return p
}
