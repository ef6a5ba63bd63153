package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentteam/agentteam/queue"
	"github.com/agentteam/agentteam/safetext"
)

// QueueServeOptions are the inputs of `agentteam queue serve`.
type QueueServeOptions struct {
	IO            IO
	f             *Factory
	Listen        string
	Store         string
	Name          string
	ClusterName   string
	ClusterListen string
	Routes        []string
	Replicas      int
	TLSCert       string
	TLSKey        string
	TLSCA         string
}

func newQueueCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Run the NATS JetStream queue that batch --queue and worker share",
		Args:  usageArgs(cobra.NoArgs),
	}
	serve := newQueueServeCmd(f)
	serve.Example = queueServeExample
	cmd.AddCommand(serve)
	return cmd
}

const queueServeExample = `  agentteam queue serve --listen 0.0.0.0:4222                  # one node
  agentteam queue serve --listen 0.0.0.0:4222 --cluster-name at \
    --cluster-listen 0.0.0.0:6222 --routes nats-route://b:6222,nats-route://c:6222   # one of three`

func newQueueServeCmd(f *Factory) *cobra.Command {
	opts := &QueueServeOptions{IO: f.IO, f: f}
	cmd := &cobra.Command{
		Use:   "serve [--listen ADDR] [--store DIR] [--cluster-name N --cluster-listen ADDR --routes URL,...]",
		Short: "Run one node of the queue (the embedded JetStream server)",
		Long: `Runs a NATS JetStream node, the server batch --queue local embeds, for workers and
submitters on other machines. Alone it is a queue of its own; with --cluster-name,
--cluster-listen and --routes (every other node's route URL) it is one node of a
cluster, and the streams get 3 replicas once it has 3 nodes or more (--replicas),
so that losing one node loses no task. A client presents AGENTTEAM_QUEUE_TOKEN
when the nodes were started with one. Ctrl-C or SIGTERM stops the node cleanly.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error { return runQueueServe(cmd.Context(), opts) },
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Listen, "listen", "127.0.0.1:4222", "where clients connect, HOST:PORT (0.0.0.0 for every interface)")
	fl.StringVar(&opts.Store, "store", "", "directory for the streams (default: ./.agentteam/queue)")
	fl.StringVar(&opts.Name, "name", "", "this node's name, unique in its cluster (default: host name and client port)")
	fl.StringVar(&opts.ClusterName, "cluster-name", "", "the cluster's name, the same on every node (none: a single node)")
	fl.StringVar(&opts.ClusterListen, "cluster-listen", "127.0.0.1:6222", "with --cluster-name: where the other nodes route to this one")
	fl.StringSliceVar(&opts.Routes, "routes", nil, "with --cluster-name: the other nodes' route URLs (nats-route://HOST:PORT), comma-separated")
	fl.IntVar(&opts.Replicas, "replicas", 0, "replicas of the streams (0: 3 with 3 nodes or more, else 1)")
	fl.StringVar(&opts.TLSCert, "tls-cert", "", "a PEM certificate: clients and the other nodes then speak TLS to this node (clients check it with AGENTTEAM_QUEUE_CA)")
	fl.StringVar(&opts.TLSKey, "tls-key", "", "with --tls-cert: its private key (PEM)")
	fl.StringVar(&opts.TLSCA, "tls-ca", "", "with --tls-cert: the CA the nodes' certificates are checked against, by each other (routes) and by this node's own client")
	return cmd
}

// splitAddr reads HOST:PORT.
func splitAddr(flag, addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, usageError("--%s %q: %v", flag, addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, usageError("--%s %q: not a port", flag, addr)
	}
	return host, port, nil
}

func runQueueServe(ctx context.Context, opts *QueueServeOptions) error {
	host, port, err := splitAddr("listen", opts.Listen)
	if err != nil {
		return err
	}
	so := queue.ServerOptions{StoreDir: opts.Store, Host: host, Port: port, Name: opts.Name}
	if so.Host == "" {
		so.Host = "0.0.0.0" // ":4222" means every interface, as for net.Listen
	}
	if opts.ClusterName != "" {
		so.Cluster = opts.ClusterName
		if so.ClusterHost, so.ClusterPort, err = splitAddr("cluster-listen", opts.ClusterListen); err != nil {
			return err
		}
		for _, r := range opts.Routes {
			if r = strings.TrimSpace(r); r == "" {
				continue
			}
			if !strings.Contains(r, "://") {
				r = "nats-route://" + r
			}
			so.Routes = append(so.Routes, r)
		}
	} else if len(opts.Routes) > 0 {
		return usageError("--routes needs --cluster-name")
	}
	if opts.Replicas < 0 || opts.Replicas > 5 {
		return usageError("--replicas must be from 1 to 5 (0: automatic)")
	}
	replicas := opts.Replicas
	if replicas == 0 {
		replicas = 1
		if so.Nodes() >= 3 {
			replicas = 3
		}
	}
	if so.StoreDir == "" {
		root, err := runsDir(opts.IO)
		if err != nil {
			return err
		}
		so.StoreDir = filepath.Join(filepath.Dir(root), "queue")
	}
	if err := os.MkdirAll(so.StoreDir, 0o755); err != nil {
		return fmt.Errorf("create queue store: %w", err)
	}
	if so.Name == "" {
		h, _ := os.Hostname()
		so.Name = fmt.Sprintf("%s-%d", h, port) // JetStream needs a name unique in the cluster
	}
	auth, err := opts.f.queueAuth()
	if err != nil {
		return err
	}
	so.Token = auth.Token
	// Whoever reaches an open node can hand the workers tasks, which they
	// run with their model keys, and forge results: beyond this machine,
	// a token is not optional.
	if auth.Token == "" && (!loopback(so.Host) || so.Cluster != "" && !loopback(so.ClusterHost)) {
		return usageError("a node listening beyond loopback (%s) needs a token: set AGENTTEAM_QUEUE_TOKEN (environment or .env) on the nodes, workers and batches", so.Host)
	}
	for _, f := range []struct{ flag, path string }{{"tls-cert", opts.TLSCert}, {"tls-key", opts.TLSKey}, {"tls-ca", opts.TLSCA}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return usageError("--%s %s: cannot read it", f.flag, safetext.Name(f.path))
		}
	}
	switch {
	case (opts.TLSCert == "") != (opts.TLSKey == "") || (opts.TLSCA != "" && opts.TLSCert == ""):
		return usageError("--tls-cert and --tls-key go together, and --tls-ca needs them")
	case opts.TLSCert != "" && opts.ClusterName != "" && opts.TLSCA == "":
		return usageError("a cluster over TLS needs --tls-ca: the nodes check each other's certificates against it")
	}
	so.TLSCert, so.TLSKey, so.TLSCA = opts.TLSCert, opts.TLSKey, opts.TLSCA
	if opts.TLSCA != "" {
		auth.CA = opts.TLSCA
	}
	srv, err := queue.StartServer(so)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(opts.IO.ErrOut, "queue node %s listening on %s, store %s\n", so.Name, srv.URL(), so.StoreDir)
	// The streams get their replicas once the cluster has its leader,
	// which waits for a quorum of nodes: in the background, until done.
	go ensureStreams(ctx, opts, srv.URL(), auth, replicas)
	<-ctx.Done()
	fmt.Fprintf(opts.IO.ErrOut, "queue node %s stopping\n", so.Name)
	return nil // stopping is how a node ends
}

// ensureStreams creates the streams, or sets their replicas, through this
// node, again while the cluster is not ready.
func ensureStreams(ctx context.Context, opts *QueueServeOptions, url string, auth queueAuth, replicas int) {
	nc, err := opts.f.DialQueue(url, "agentteam queue serve", auth)
	if err != nil {
		fmt.Fprintf(opts.IO.ErrOut, "queue: %v\n", err)
		return
	}
	defer nc.Close()
	for ctx.Err() == nil {
		if _, err := queue.Open(ctx, nc, queue.Config{Replicas: replicas, AdminTimeout: 2 * time.Second, AdminRetries: 2}); err == nil {
			fmt.Fprintf(opts.IO.ErrOut, "queue streams ready, %d replica(s)\n", replicas)
			return
		} else if ctx.Err() == nil {
			fmt.Fprintf(opts.IO.ErrOut, "queue streams not ready yet: %v\n", err)
		}
		sleep := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
		case <-sleep.C:
		}
		sleep.Stop()
	}
}

// loopback reports a listen host that only this machine reaches.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
