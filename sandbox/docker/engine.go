package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

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
// Once the command has failed, the reads and writes that meet the end of
// the stream fail with a *commandError, which carries the tail of its
// stderr: that is where ssh says why it could not connect.
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
	stderr := newTailBuffer(stderrTail)
	cmd.Stderr = stderr
	// A child that inherited stderr (a ProxyCommand) cannot hold Wait.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	c := &cmdConn{Conn: local, exited: make(chan struct{})}
	go func() {
		io.Copy(stdin, remote)
		stdin.Close()
	}()
	go func() {
		io.Copy(remote, stdout)
		if err := waitExit(cmd); err != nil {
			c.err = &commandError{name: filepath.Base(cmd.Path), err: err, stderr: lastLines(stderr.String(), stderrTail)}
		}
		close(c.exited)
		remote.Close() // after exited: the end of the stream finds c.err set
	}()
	return c, nil
}

// stderrTail is how much of a connection command's stderr is kept: enough
// for ssh's few lines of complaint.
const stderrTail = 1 << 10

// lastLines trims a tail of at most n bytes, without the line it cut short
// when it is full.
func lastLines(tail string, n int) string {
	if i := strings.IndexByte(tail, '\n'); len(tail) >= n && i >= 0 {
		tail = tail[i+1:]
	}
	return strings.TrimSpace(tail)
}

// waitExit waits for a command that closed its output, killing it if it
// does not exit by itself within a second, so its status is its own.
func waitExit(cmd *exec.Cmd) error {
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		return err
	case <-time.After(time.Second):
		cmd.Process.Kill()
		return <-waited
	}
}

// cmdConn is the local end of a command's connection.
type cmdConn struct {
	net.Conn
	exited chan struct{} // closed once the command has exited
	err    error         // why it failed, set before exited is closed; nil if it did not
}

func (c *cmdConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	return n, c.why(err)
}

func (c *cmdConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	return n, c.why(err)
}

// why replaces a stream error with the command's failure, once there is one.
func (c *cmdConn) why(err error) error {
	if err == nil {
		return nil
	}
	select {
	case <-c.exited:
		if c.err != nil {
			return c.err
		}
	default:
	}
	return err
}

// commandError is a connection's command that failed, with what it said.
type commandError struct {
	name   string
	err    error
	stderr string // the tail of its stderr, trimmed
}

func (e *commandError) Error() string {
	if e.stderr == "" {
		return fmt.Sprintf("%s failed: %v", e.name, e.err)
	}
	return fmt.Sprintf("%s failed: %v; it said: %q", e.name, e.err, e.stderr)
}

func (e *commandError) Unwrap() error { return e.err }
