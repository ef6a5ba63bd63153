package docker

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/egress"
)

// egressProxy is one container's way out: the host proxy serving a unix
// socket in a directory of its own, mounted read-only into the container.
type egressProxy struct {
	dir   string
	l     net.Listener
	proxy *egress.Proxy
}

// startEgress starts a proxy for one container.
func startEgress(policy egress.Policy, index *egress.Index) (*egressProxy, error) {
	dir, err := os.MkdirTemp("", "agentteam-egress-")
	if err != nil {
		return nil, fmt.Errorf("start egress proxy: %w", err)
	}
	// The sandbox user must reach the socket: the directory is searchable,
	// the socket writable, and the mount read-only.
	sock := filepath.Join(dir, filepath.Base(egressSocket))
	l, err := net.Listen("unix", sock)
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err == nil {
		err = os.Chmod(sock, 0o666)
	}
	if err != nil {
		if l != nil {
			l.Close()
		}
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start egress proxy: %w", err)
	}
	var opts []egress.Option
	if index != nil {
		opts = append(opts, egress.WithIndex(index))
	}
	ep := &egressProxy{dir: dir, l: l, proxy: egress.NewProxy(policy, egress.DefaultLimits(), opts...)}
	go ep.proxy.Serve(l)
	return ep, nil
}

// hostDir is the directory to mount, "" without egress.
func (ep *egressProxy) hostDir() string {
	if ep == nil {
		return ""
	}
	return ep.dir
}

// take returns the connections since the last call (one block's).
func (ep *egressProxy) take() []sandbox.Connection {
	if ep == nil {
		return nil
	}
	return ep.proxy.Take()
}

// close stops the proxy and removes its socket; safe on nil and twice.
func (ep *egressProxy) close() {
	if ep == nil {
		return
	}
	ep.l.Close()
	ep.proxy.Close()
	os.RemoveAll(ep.dir)
}

// WithPackageIndex replaces the mirror the pypi preset uses (tests, or a
// mirror of another index).
func WithPackageIndex(x *egress.Index) Option { return func(d *Backend) { d.index = x } }
