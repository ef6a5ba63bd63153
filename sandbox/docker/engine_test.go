package docker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/sandbox"
)

// TestSSHEngine reaches the local engine through the ssh:// path: a stand-in
// ssh command that runs `docker system dial-stdio` here, as sshd would on
// the far side.
func TestSSHEngine(t *testing.T) {
	requireDocker(t)
	bin := t.TempDir()
	script := "#!/bin/sh\n# the last three arguments are: docker system dial-stdio\necho \"$@\" > " + filepath.Join(bin, "args") + "\nexec docker system dial-stdio\n"
	if err := os.WriteFile(filepath.Join(bin, "ssh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	d, err := New(context.Background(), testConfig(), WithHost("ssh://builder@build-box:2222"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s, err := d.NewSession(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	assertAlive(t, s)
	args, _ := os.ReadFile(filepath.Join(bin, "args"))
	if got := strings.TrimSpace(string(args)); got != "-o BatchMode=yes -p 2222 -- builder@build-box docker system dial-stdio" {
		t.Fatalf("ssh was called with %q", got)
	}
}

func TestEngineAddresses(t *testing.T) {
	cases := []struct {
		host    string
		wantErr string
	}{
		{"ftp://x", "use unix://, tcp:// or ssh://"},
		{"ssh://", "no host"},
		{"unix:///nonexistent/docker.sock", "nothing answers at unix:///nonexistent/docker.sock"},
		{"tcp://127.0.0.1:1", "nothing answers at tcp://127.0.0.1:1"},
	}
	for _, tc := range cases {
		t.Run(tc.host, func(t *testing.T) {
			_, err := New(context.Background(), Config{}, WithHost(tc.host))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if strings.Contains(tc.wantErr, "nothing answers") && !errors.Is(err, sandbox.ErrEngineUnavailable) {
				t.Fatalf("error %v is not sandbox.ErrEngineUnavailable", err)
			}
		})
	}
}

// TestSSHEngineError: when ssh cannot reach the engine, its own words
// (which say why: an unknown host, a refused key) are in the error.
func TestSSHEngineError(t *testing.T) {
	bin := t.TempDir()
	said := "ssh: Could not resolve hostname nowhere: Name or service not known"
	// A 20 kB line of noise first: the error keeps the last whole lines.
	script := "#!/bin/sh\nhead -c 20000 /dev/zero | tr '\\0' x >&2\necho >&2\necho '" + said + "' >&2\nexit 255\n"
	if err := os.WriteFile(filepath.Join(bin, "ssh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	_, err := New(context.Background(), Config{}, WithHost("ssh://nowhere"))
	if err == nil || !strings.Contains(err.Error(), said) || !strings.Contains(err.Error(), "exit status 255") {
		t.Fatalf("error %v, want one with ssh's exit status and its %q", err, said)
	}
	if strings.Contains(err.Error(), "xxx") {
		t.Fatalf("error %.300q…: it keeps more than stderr's last whole lines", err)
	}
	if !errors.Is(err, sandbox.ErrEngineUnavailable) {
		t.Fatalf("error %v is not sandbox.ErrEngineUnavailable", err)
	}
}

func TestFirstLine(t *testing.T) {
	trace := "\n\nruntime: failed to create new OS thread (have 11 already; errno=11)\nruntime: may need to increase max user processes (ulimit -u)\nfatal error: newosproc\n\ngoroutine 1 [running]:\n" + strings.Repeat("x", 4096)
	if got := firstLine(trace); got != "runtime: failed to create new OS thread (have 11 already; errno=11)" {
		t.Fatalf("firstLine = %q", got)
	}
	if got := firstLine(strings.Repeat("y", 500)); len(got) > 204 {
		t.Fatalf("not capped: %d bytes", len(got))
	}
}

// TestEgressNeedsALocalEngine: the proxy's socket cannot reach an engine on
// another machine, so egress with one is a configuration error, said up
// front (before any connection is tried).
func TestEgressNeedsALocalEngine(t *testing.T) {
	_, err := New(context.Background(), Config{Egress: []string{"pypi"}}, WithHost("tcp://build-box.invalid:2376"))
	if !errors.Is(err, sandbox.ErrConfig) || !strings.Contains(err.Error(), "egress needs an engine on this machine") {
		t.Fatalf("New: %v", err)
	}
}
