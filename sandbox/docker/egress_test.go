package docker

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/egress"
)

// wheel builds a pure-Python wheel of a module that prints its name,
// with a data file of payload bytes when given.
func wheel(t *testing.T, name, version string, payload ...byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	dist := fmt.Sprintf("%s-%s.dist-info", name, version)
	files := map[string]string{
		name + "/__init__.py":   "GREETING = 'hello from " + name + "'\n",
		dist + "/METADATA":      fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\n", name, version),
		dist + "/WHEEL":         "Wheel-Version: 1.0\nGenerator: agentteam-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
		dist + "/top_level.txt": name + "\n",
	}
	paths := []string{name + "/__init__.py", dist + "/METADATA", dist + "/WHEEL", dist + "/top_level.txt"}
	if len(payload) > 0 {
		files[name+"/data.bin"] = string(payload)
		paths = append(paths, name+"/data.bin")
	}
	var record strings.Builder
	for _, path := range paths {
		w, err := z.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, files[path])
		sum := sha256.Sum256([]byte(files[path]))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", path, base64.RawURLEncoding.EncodeToString(sum[:]), len(files[path]))
	}
	record.WriteString(dist + "/RECORD,,\n")
	w, _ := z.Create(dist + "/RECORD")
	io.WriteString(w, record.String())
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestEgressPipInstall: with --egress naming a package index served on
// the host's loopback, pip installs from it and the next block imports the
// package; a connection to another port of the same address is refused
// and recorded; without egress, pip says how to allow one, at once.
func TestEgressPipInstall(t *testing.T) {
	whl := wheel(t, "agentteam_hello", "0.1")
	sum := sha256.Sum256(whl)
	file := "agentteam_hello-0.1-py3-none-any.whl"
	mux := http.NewServeMux()
	mux.HandleFunc("/simple/agentteam-hello/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<html><body><a href="/files/%s#sha256=%s">%s</a></body></html>`, file, hex.EncodeToString(sum[:]), file)
	})
	mux.HandleFunc("/files/"+file, func(w http.ResponseWriter, r *http.Request) { w.Write(whl) })
	index := httptest.NewServer(mux)
	defer index.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "leaked") }))
	defer other.Close()
	indexAddr := strings.TrimPrefix(index.URL, "http://")

	cfg := testConfig()
	cfg.Timeout = 60e9
	cfg.Egress = []string{indexAddr}
	cfg.PipIndex = index.URL + "/simple/"
	d := newTestDocker(t, cfg)
	if err := d.Check(context.Background()); d.GVisor() {
		// Not yet under gVisor: refused up front, saying why.
		if !errors.Is(err, sandbox.ErrRuntimeMissing) || !strings.Contains(err.Error(), "gVisor") {
			t.Fatalf("egress under gVisor: %v", err)
		}
		return
	}
	s, _ := newTestSession(t, d)
	res := run(t, s, sandbox.Sh, "pip install agentteam-hello 2>&1 | tail -3")
	if !res.OK() {
		t.Fatalf("pip install: %+v", res)
	}
	res = run(t, s, sandbox.Python, "import agentteam_hello\nprint(agentteam_hello.GREETING)")
	if !res.OK() || res.Stdout != "hello from agentteam_hello\n" {
		t.Fatalf("import after install: %+v", res)
	}
	if len(res.Egress) != 0 {
		t.Errorf("a block that made no connection has egress records: %+v", res.Egress)
	}
	_, otherPort, _ := net.SplitHostPort(strings.TrimPrefix(other.URL, "http://"))
	res = run(t, s, sandbox.Python, "import urllib.request\ntry:\n    print(urllib.request.urlopen('"+other.URL+"', timeout=10).read())\nexcept Exception as e:\n    print('refused', e)")
	if strings.Contains(res.Stdout, "leaked") || !strings.Contains(res.Stdout, "refused") {
		t.Fatalf("another port was reached: %+v", res)
	}
	if len(res.Egress) != 1 || res.Egress[0].Allowed || fmt.Sprint(res.Egress[0].Port) != otherPort ||
		!strings.Contains(res.Egress[0].Reason, "not in the allowlist") {
		t.Fatalf("egress record of the refused connection: %+v", res.Egress)
	}

	// No egress: pip fails at once and says how to allow one.
	plain, _ := newTestSession(t, newTestDocker(t, testConfig()))
	res = run(t, plain, sandbox.Sh, "pip install agentteam-hello")
	if res.OK() || !strings.Contains(res.Stderr, "--egress pypi") || res.Duration > 5e9 {
		t.Fatalf("pip without egress: %+v", res)
	}
}

// TestEgressPypiMirror: with the pypi preset, pip in the sandbox installs
// through the proxy's index mirror (here of a local index over TLS), and a
// second session's install of the same package is served from the host's
// cache: the file is fetched from the index once.
func TestEgressPypiMirror(t *testing.T) {
	requireDocker(t)
	// 3 MiB of noise served at 1 MiB/s: what a real wheel over a real
	// network costs, which the cache saves.
	noise := make([]byte, 3<<20)
	rand.Read(noise)
	whl := wheel(t, "agentteam_hello", "0.1", noise...)
	sum := sha256.Sum256(whl)
	file := "agentteam_hello-0.1-py3-none-any.whl"
	var fetches atomic.Int64
	var upstream *httptest.Server
	upstream = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/simple/agentteam-hello/":
			fmt.Fprintf(w, `<a href="%s/packages/%s#sha256=%s">%s</a>`, upstream.URL, file, hex.EncodeToString(sum[:]), file)
		case "/packages/" + file:
			fetches.Add(1)
			for rest := whl; len(rest) > 0; {
				n := min(len(rest), 64<<10)
				w.Write(rest[:n])
				rest = rest[n:]
				time.Sleep(time.Second / 16)
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer upstream.Close()
	cfg := testConfig()
	cfg.Timeout = 60e9
	cfg.Egress = []string{"pypi"}
	cfg.TmpBytes = 64 << 20 // the wheel and what it unpacks to
	d, err := New(context.Background(), cfg, WithPackageIndex(egress.NewIndex(t.TempDir(), upstream.URL+"/simple/", upstream.Client())))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Check(context.Background()); d.GVisor() {
		t.Skipf("egress is refused under gVisor: %v", err)
	}
	var took []time.Duration
	for i := range 2 {
		s, _ := newTestSession(t, d)
		res := run(t, s, sandbox.Sh, "pip install agentteam-hello >/dev/null && python -c 'import agentteam_hello as h; print(h.GREETING)'")
		if !res.OK() || res.Stdout != "hello from agentteam_hello\n" {
			t.Fatalf("install %d: %+v\negress: %+v", i+1, res, res.Egress)
		}
		took = append(took, res.Duration)
		s.Close(context.Background())
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("the wheel was fetched from the index %d times, want once", n)
	}
	t.Logf("pip install through the mirror: first %s, second (from the host's cache) %s", took[0].Round(time.Millisecond), took[1].Round(time.Millisecond))
}
