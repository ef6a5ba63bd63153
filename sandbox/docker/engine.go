package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"strings"

	"github.com/docker/docker/client"
)

// WithHost talks to the engine at host instead of the one the environment
// names: unix:///path, tcp://host:port (TLS from DOCKER_TLS_VERIFY and
// DOCKER_CERT_PATH, as the Docker CLI does), or ssh://[user@]host[:port]
// (through the ssh command and `docker system dial-stdio` on the far side).
func WithHost(host string) Option { return func(d *Backend) { d.host = host } }

// hostOptions turns an engine address into client options.
func hostOptions(host string) ([]client.Opt, error) {
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("engine address %q: %v", host, err)
	}
	switch u.Scheme {
	case "unix":
		return []client.Opt{client.WithHost(host)}, nil
	case "tcp":
		// The TLS options replace the HTTP client, so they come first.
		return []client.Opt{client.WithTLSClientConfigFromEnv(), client.WithHost(host)}, nil
	case "ssh":
		if u.Host == "" {
			return nil, fmt.Errorf("engine address %q: no host", host)
		}
		// The client needs an http host for its URLs; the dialer decides
		// where the bytes go.
		return []client.Opt{client.WithHost("http://docker.ssh"), client.WithDialContext(sshDialer(u))}, nil
	}
	return nil, fmt.Errorf("engine address %q: use unix://, tcp:// or ssh://", host)
}

// sshDialer opens each connection as `ssh HOST docker system dial-stdio`,
// the same way the Docker CLI reaches an ssh:// engine.
func sshDialer(u *url.URL) func(ctx context.Context, network, addr string) (net.Conn, error) {
	args := []string{"-o", "BatchMode=yes"}
	if p := u.Port(); p != "" {
		args = append(args, "-p", p)
	}
	target := u.Hostname()
	if u.User != nil {
		target = u.User.Username() + "@" + target
	}
	args = append(args, "--", target, "docker", "system", "dial-stdio")
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		if _, err := exec.LookPath("ssh"); err != nil {
			return nil, errors.New("ssh:// engines need the ssh command")
		}
		cmd := exec.CommandContext(context.WithoutCancel(ctx), "ssh", args...)
		return commandConn(cmd)
	}
}

// commandConn is a net.Conn over a command's standard input and output.
func commandConn(cmd *exec.Cmd) (net.Conn, error) {
	local, remote := net.Pipe()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &limitedWriter{b: &stderr, n: 4096}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	go func() {
		io.Copy(stdin, remote)
		stdin.Close()
	}()
	go func() {
		io.Copy(remote, stdout)
		remote.Close()
		cmd.Process.Kill()
		cmd.Wait()
	}()
	return local, nil
}

type limitedWriter struct {
	b *strings.Builder
	n int
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if room := w.n - w.b.Len(); room > 0 {
		w.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
