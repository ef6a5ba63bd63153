package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentteam/agentteam/model/fakeserver"
)

// engine2 is the second engine's addresses.
type engine2 struct {
	sock     string // its unix socket
	tcp      string // tcp://127.0.0.1:PORT, TLS with client certificates
	certPath string // ca.pem, cert.pem, key.pem for DOCKER_CERT_PATH
}

// secondEngine starts a second dockerd of its own (socket, TLS port, data,
// exec root, containerd) with the sandbox image loaded.
func secondEngine(t *testing.T) engine2 {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("starting a second Docker engine needs root")
	}
	if _, err := exec.LookPath("dockerd"); err != nil {
		t.Skip("no dockerd to start a second engine with")
	}
	dir, err := os.MkdirTemp("/tmp", "at-d2-") // short: a socket path has a length limit
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}"), 0o644)
	sock := filepath.Join(dir, "docker.sock")
	certs := filepath.Join(dir, "certs")
	writeTLSFiles(t, certs)
	port := freePort(t)
	log, _ := os.Create(filepath.Join(dir, "dockerd.log"))
	// The same storage driver as the engine the tests run on works here.
	driver, err := exec.Command("docker", "info", "--format", "{{.Driver}}").Output()
	if err != nil {
		t.Fatalf("docker info: %v", err)
	}
	cmd := exec.Command("dockerd", "--config-file", filepath.Join(dir, "daemon.json"), "--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"), "--pidfile", filepath.Join(dir, "pid"), "-H", "unix://"+sock,
		"-H", "tcp://127.0.0.1:"+port, "--tlsverify", "--tlscacert", filepath.Join(certs, "ca.pem"),
		"--tlscert", filepath.Join(certs, "server-cert.pem"), "--tlskey", filepath.Join(certs, "server-key.pem"),
		"--bridge=none", "--iptables=false", "--ip-masq=false", "--storage-driver", strings.TrimSpace(string(driver)))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if ids, _ := exec.Command("docker", "-H", "unix://"+sock, "ps", "-aq").Output(); len(ids) > 0 {
			exec.Command("docker", append([]string{"-H", "unix://" + sock, "rm", "-f"}, strings.Fields(string(ids))...)...).Run()
		}
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
		}
		log.Close()
		unmountUnder(dir)
		os.RemoveAll(dir)
	})
	for deadline := time.Now().Add(30 * time.Second); exec.Command("docker", "-H", "unix://"+sock, "info").Run() != nil; time.Sleep(300 * time.Millisecond) {
		if time.Now().After(deadline) {
			data, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			t.Fatalf("the second engine did not start:\n%s", data)
		}
	}
	load := exec.Command("sh", "-c", "docker save agentteam-sandbox:latest | docker -H unix://"+sock+" load")
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("load the image into the second engine: %v\n%s", err, out)
	}
	return engine2{sock: sock, tcp: "tcp://127.0.0.1:" + port, certPath: certs}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// writeTLSFiles writes a CA, a server certificate for 127.0.0.1 and a
// client certificate, in the file names dockerd's flags and the Docker
// client's DOCKER_CERT_PATH expect.
func writeTLSFiles(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	newKey := func(name string) *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		if name != "" {
			write(name, "EC PRIVATE KEY", der)
		}
		return k
	}
	now := time.Now()
	caKey := newKey("")
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "agentteam test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	write("ca.pem", "CERTIFICATE", caDER)
	issue := func(serial int64, certName, keyName string, usage ...x509.ExtKeyUsage) {
		k := newKey(keyName)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: certName},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usage,
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		write(certName, "CERTIFICATE", der)
	}
	// A queue node is its routes' client too.
	issue(2, "server-cert.pem", "server-key.pem", x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	issue(3, "cert.pem", "key.pem", x509.ExtKeyUsageClientAuth)
}

// unmountUnder unmounts what a stopped engine may have left mounted.
func unmountUnder(dir string) {
	f, err := os.Open("/proc/mounts")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 1 && strings.HasPrefix(fields[1], dir) {
			points = append(points, fields[1])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		exec.Command("umount", "-l", points[i]).Run()
	}
}

// socketProxy forwards a unix socket to another; cut drops every
// connection and refuses new ones: the engine behind it is lost to us.
type socketProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newSocketProxy(t *testing.T, path, target string) *socketProxy {
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	p := &socketProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("unix", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(p.cut)
	return p
}

func (p *socketProxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// engineTasks writes n tasks whose blocks take a second, with replies for
// two attempts each.
func engineTasks(t *testing.T, dir string, n int) string {
	models := map[string][]fakeserver.Step{}
	var lines []string
	for i := 0; i < n; i++ {
		c, r := fmt.Sprintf("c%d", i), fmt.Sprintf("r%d", i)
		code := fmt.Sprintf("```python\nimport time\ntime.sleep(1)\nopen('out.txt', 'w').write('%d')\nprint(%d)\n```", i, i)
		models[c] = say(code, code)
		models[r] = say("Good.\nAPPROVE", "Good.\nAPPROVE")
		lines = append(lines, fmt.Sprintf(`{"id": "e%d", "task": "Task %d.", "coder_model": %q, "reviewer_model": %q}`, i, i, c, r))
	}
	serveModels(t, fakeserver.Script{Models: models})
	return writeFile(t, dir, "tasks.jsonl", strings.Join(lines, "\n")+"\n")
}

// TestBatchTwoEngines: a batch spreads over two engines, and losing one
// in the middle loses no task.
func TestBatchTwoEngines(t *testing.T) {
	requireDocker(t) // and starts a second engine
	second := secondEngine(t)
	sock := second.sock
	main := os.Getenv("DOCKER_HOST")
	if main == "" {
		main = "unix:///var/run/docker.sock"
	}

	for _, tc := range []struct {
		name, other string
		env         map[string]string
	}{
		{"shared", "unix://" + sock, nil},
		// The TLS variables apply to the tcp:// engine only: the unix one
		// beside it must still be spoken to in plain HTTP.
		{"shared over TLS", second.tcp, map[string]string{"DOCKER_CERT_PATH": second.certPath, "DOCKER_TLS_VERIFY": "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			dir := t.TempDir()
			tasks := engineTasks(t, dir, 8)
			code, _, errOut := cli(t, context.Background(), dir, "", "batch", "-j", "4", "--max-containers", "2", "--max-turns", "3",
				"--docker-host", main, "--docker-host", tc.other, tasks)
			if code != ExitOK {
				t.Fatalf("exit %d, stderr %s", code, errOut)
			}
			results := readResults(t, filepath.Join(dir, "tasks.results.jsonl"))
			used := map[string]int{}
			for _, r := range results {
				used[fmt.Sprint(r["engine"])]++
			}
			if code != ExitOK || len(results) != 8 || used[main] == 0 || used[tc.other] == 0 {
				t.Fatalf("exit %d, %d results, engines used %v, stderr %s", code, len(results), used, errOut)
			}
			// A tcp:// engine is taken as another machine's: the
			// workspace travels through its API, and the file the block
			// wrote is here all the same.
			for _, r := range results {
				want := strings.TrimPrefix(fmt.Sprint(r["id"]), "e")
				if got, err := os.ReadFile(filepath.Join(fmt.Sprint(r["workspace"]), "out.txt")); string(got) != want {
					t.Errorf("task %v on %v: out.txt %q %v", r["id"], r["engine"], got, err)
				}
			}
		})
	}

	t.Run("one lost", func(t *testing.T) {
		dir := t.TempDir()
		tasks := engineTasks(t, dir, 10)
		proxy := newSocketProxy(t, filepath.Join(filepath.Dir(sock), "proxy.sock"), sock)
		lost := "unix://" + filepath.Join(filepath.Dir(sock), "proxy.sock")
		// Cut the engine once two tasks have finished: with 10 tasks, 4 at
		// a time, some of the rest are then running on it or waiting for
		// it, however fast this machine is.
		results := filepath.Join(dir, "tasks.results.jsonl")
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				if data, _ := os.ReadFile(results); bytes.Count(data, []byte("\n")) >= 2 {
					proxy.cut()
					return
				}
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
		code, _, errOut := cli(t, context.Background(), dir, "", "batch", "-j", "4", "--max-containers", "2", "--max-turns", "3",
			"--docker-host", main, "--docker-host", lost, tasks)
		got := readResults(t, results)
		if code != ExitOK || len(got) != 10 {
			t.Fatalf("exit %d, %d results, stderr %s", code, len(got), errOut)
		}
		for _, r := range got {
			if r["status"] != "approved" {
				t.Errorf("task %v: %v (%v)", r["id"], r["status"], r["error"])
			}
		}
		if !strings.Contains(errOut, "engine taken out of rotation") {
			t.Errorf("the engine was never lost:\n%s", errOut)
		}
	})
	// Containers the lost engine still had end themselves: their runners'
	// input closed with the connections.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		out, _ := exec.Command("docker", "-H", "unix://"+sock, "ps", "-aq").Output()
		if len(strings.TrimSpace(string(out))) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containers left on the lost engine: %s", out)
		}
	}
	assertNoContainers(t, dockerClient(t))
}

// TestBatchDockerHostSkipsTheEnvironmentsEngine: --docker-host replaces
// DOCKER_HOST's engine, which is never asked, so a dead one in the
// environment does not stop the batch (it used to exit 4).
func TestBatchDockerHostSkipsTheEnvironmentsEngine(t *testing.T) {
	requireDocker(t)
	live := cmp.Or(os.Getenv("DOCKER_HOST"), "unix:///var/run/docker.sock")
	t.Setenv("DOCKER_HOST", "unix:///nonexistent.sock")
	dir, tasks := batchFixture(t, 2, false)
	code, _, errOut := cli(t, context.Background(), dir, "", "batch", "--max-turns", "3", "--docker-host", live, tasks)
	if code != ExitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	t.Setenv("DOCKER_HOST", live)
	assertNoContainers(t, dockerClient(t))
}
