// Package queue spreads a set of tasks over workers through NATS
// JetStream: the submitter puts each task on a work-queue stream, workers
// pull one at a time, heartbeat while it runs, publish its result and only
// then ack it, so a task whose worker died is delivered again to another.
// Results are kept by task id: a task run twice is recorded once. The
// payloads are opaque bytes; what a task and a result mean is the
// caller's. An embedded server (StartServer) makes one machine need
// nothing installed.
package queue

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ServerOptions configure an embedded JetStream server.
type ServerOptions struct {
	// StoreDir holds the streams; "" makes a temporary one, removed on
	// Close.
	StoreDir string
	// Host and Port are where clients connect; Host "" is loopback only,
	// Port 0 a free port.
	Host string
	Port int
	// Name names the server in a cluster ("" for one of its own).
	Name string
	// Cluster, when set, is the cluster's name and ClusterHost:ClusterPort
	// where other nodes route to this one; Routes are the other nodes'
	// route URLs (nats-route://host:port).
	Cluster     string
	ClusterHost string
	ClusterPort int
	Routes      []string
	// MaxPayload bounds a message; 0: 8 MiB, room for a shipped transcript.
	MaxPayload int32
	// Token, when set, is the secret every client must present (Dial's
	// nats.Token): a node listening beyond loopback should not be open.
	Token string
	// InProcess opens no port at all: only Connect reaches the server (a
	// batch's own queue, which no other process, local user or host has
	// any business with).
	InProcess bool
	// TLSCert and TLSKey, when set, make clients and routes speak TLS
	// with this certificate (PEM files); clients check it against their
	// CA (Dial's nats.RootCAs). TLSCA, when set, is the CA routes check
	// each other's certificates against (mutual TLS between nodes).
	TLSCert, TLSKey, TLSCA string
}

// Server is an embedded JetStream server.
type Server struct {
	s      *server.Server
	tmpDir string
}

// StartServer starts an embedded JetStream server and waits until it
// accepts clients.
func StartServer(o ServerOptions) (*Server, error) {
	dir, tmp := o.StoreDir, ""
	if dir == "" {
		d, err := os.MkdirTemp("", "agentteam-queue-")
		if err != nil {
			return nil, fmt.Errorf("create queue store: %w", err)
		}
		dir, tmp = d, d
	}
	host := o.Host
	if host == "" {
		host = "127.0.0.1" // loopback unless told: the queue has no auth by default
	}
	port := o.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: o.Name, Host: host, Port: port, JetStream: true, StoreDir: dir,
		NoSigs: true, NoLog: true, MaxPayload: o.MaxPayload, DontListen: o.InProcess,
	}
	opts.Authorization = o.Token
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, errors.New("start queue server: TLS needs both a certificate and its key")
	}
	if o.TLSCert != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: o.TLSCert, KeyFile: o.TLSKey})
		if err != nil {
			return nil, fmt.Errorf("start queue server: %w", err)
		}
		opts.TLSConfig, opts.TLS, opts.TLSTimeout = tc, true, 5
	}
	if opts.MaxPayload == 0 {
		opts.MaxPayload = 8 << 20
	}
	if o.Cluster != "" {
		chost := o.ClusterHost
		if chost == "" {
			chost = "127.0.0.1"
		}
		opts.Cluster = server.ClusterOpts{Name: o.Cluster, Host: chost, Port: o.ClusterPort}
		if o.TLSCert != "" {
			// Nodes check each other both ways, against one CA (as
			// nats-server's own cluster TLS does): each is the other's
			// client too.
			if o.TLSCA == "" {
				return nil, errors.New("start queue server: a cluster over TLS needs the CA of the nodes' certificates")
			}
			tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: o.TLSCert, KeyFile: o.TLSKey, CaFile: o.TLSCA, Verify: true})
			if err != nil {
				return nil, fmt.Errorf("start queue server: routes: %w", err)
			}
			tc.ClientAuth, tc.RootCAs = tls.RequireAndVerifyClientCert, tc.ClientCAs
			opts.Cluster.TLSConfig, opts.Cluster.TLSTimeout = tc, 5
		}
		for _, r := range o.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("parse route %s: %w", r, err)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("start queue server: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		os.RemoveAll(tmp)
		return nil, errors.New("start queue server: not ready after 10s")
	}
	return &Server{s: s, tmpDir: tmp}, nil
}

// Nodes is how many servers this one's cluster has as configured: itself
// and its routes (each node lists the others).
func (o ServerOptions) Nodes() int {
	if o.Cluster == "" {
		return 1
	}
	return 1 + len(o.Routes)
}

// URL is where clients connect (nats://host:port).
func (s *Server) URL() string { return s.s.ClientURL() }

// Connect is a client connection inside this process, the only way to an
// InProcess server.
func (s *Server) Connect(name string) (*nats.Conn, error) {
	return Dial(nats.DefaultURL, name, nats.InProcessServer(s.s))
}

// Close stops the server and removes a temporary store.
func (s *Server) Close() {
	s.s.Shutdown()
	s.s.WaitForShutdown()
	if s.tmpDir != "" {
		os.RemoveAll(s.tmpDir)
	}
}
