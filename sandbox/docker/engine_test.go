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
