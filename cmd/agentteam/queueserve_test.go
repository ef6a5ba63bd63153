package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentteam/agentteam/queue"
)

// freePorts returns n ports free on loopback a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// Three `queue serve` nodes form a cluster whose streams have 3 replicas;
// a client needs the nodes' token; Ctrl-C ends each node with status 0.
// With --tls-cert the clients and the routes speak TLS: a client needs
// the CA, and the routes check each other's certificates.
func TestQueueServeCluster(t *testing.T) {
	t.Run("plain", func(t *testing.T) { testQueueServeCluster(t, false) })
	t.Run("tls", func(t *testing.T) { testQueueServeCluster(t, true) })
}

func testQueueServeCluster(t *testing.T, tls bool) {
	dir := t.TempDir()
	t.Setenv("AGENTTEAM_QUEUE_TOKEN", "s3cret")
	var tlsArgs []string
	var clientTLS []nats.Option
	if tls {
		certs := filepath.Join(dir, "certs")
		writeTLSFiles(t, certs)
		tlsArgs = []string{"--tls-cert", filepath.Join(certs, "server-cert.pem"), "--tls-key", filepath.Join(certs, "server-key.pem"),
			"--tls-ca", filepath.Join(certs, "ca.pem")}
		clientTLS = []nats.Option{nats.RootCAs(filepath.Join(certs, "ca.pem"))}
	}
	ports := freePorts(t, 6)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	codes := make([]int, 3)
	var urls []string
	for i := range 3 {
		url, args := clusterNode(dir, ports, i, "t")
		urls = append(urls, url)
		wg.Go(func() {
			codes[i], _, _ = cliFake(t, ctx, &fakeSandboxes{}, dir, "", append(args, tlsArgs...)...)
		})
	}
	defer func() { cancel(); wg.Wait() }()
	all := strings.Join(urls, ",")
	var nc *nats.Conn
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if nc, err = queue.Dial(all, t.Name(), append(clientTLS, nats.Token("s3cret"))...); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no node took a client: %v", err)
		}
	}
	defer nc.Close()
	if bad, err := queue.Dial(all, t.Name(), clientTLS...); err == nil {
		bad.Close()
		t.Error("a client without the token was let in")
	}
	if tls {
		if bad, err := queue.Dial(all, t.Name(), nats.Token("s3cret")); err == nil {
			bad.Close()
			t.Error("a client that does not know the nodes' CA connected")
		}
	}
	if got := streamReplicas(t, ctx, nc, 3); got != 3 {
		t.Errorf("streams: %d replicas, want 3", got)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// A client's Open keeps the replicas the nodes set.
	if _, err := queue.Open(ctx, nc, queue.Config{}); err != nil {
		t.Fatal(err)
	}
	if s, err := js.Stream(ctx, queue.TasksStream); err != nil || s.CachedInfo().Config.Replicas != 3 {
		t.Errorf("after a client's Open: %v", err)
	}
	cancel()
	wg.Wait()
	for i, c := range codes {
		if c != ExitOK {
			t.Errorf("node %d exit %d after Ctrl-C", i, c)
		}
	}
}

// clusterNode is node i of a 3-node cluster on loopback (clients on
// ports[0:3], routes on ports[3:6]): its client URL and its command line.
func clusterNode(dir string, ports []int, i int, cluster string) (string, []string) {
	var routes []string
	for j := range 3 {
		if j != i {
			routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3+j]))
		}
	}
	return fmt.Sprintf("nats://127.0.0.1:%d", ports[i]), []string{"queue", "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", ports[i]),
		"--store", filepath.Join(dir, fmt.Sprintf("node%d", i)), "--cluster-name", cluster,
		"--cluster-listen", fmt.Sprintf("127.0.0.1:%d", ports[3+i]), "--routes", strings.Join(routes, ",")}
}

// streamReplicas waits up to 30 s for both streams to have want replicas
// and returns the fewest it saw.
func streamReplicas(t *testing.T, ctx context.Context, nc *nats.Conn, want int) int {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	fewest := want
	for _, name := range []string{queue.TasksStream, queue.ResultsStream} {
		var replicas int
		for deadline := time.Now().Add(30 * time.Second); replicas != want && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
			if s, err := js.Stream(cctx, name); err == nil {
				replicas = s.CachedInfo().Config.Replicas
			}
			ccancel()
		}
		fewest = min(fewest, replicas)
	}
	return fewest
}

// A node reachable beyond this machine refuses to start without a token:
// anyone reaching it could hand the workers tasks and forge results.
func TestQueueServeNeedsATokenBeyondLoopback(t *testing.T) {
	t.Setenv("AGENTTEAM_QUEUE_TOKEN", "")
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--listen", "0.0.0.0:0"},
		{"--listen", ":0"},
		{"--listen", "127.0.0.1:0", "--cluster-name", "c", "--cluster-listen", "0.0.0.0:0", "--routes", "127.0.0.1:1"},
	} {
		code, _, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, dir, "", append([]string{"queue", "serve"}, args...)...)
		if code != ExitUsage || !strings.Contains(errOut, "needs a token: set AGENTTEAM_QUEUE_TOKEN") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}
