package egress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		entries []string
		allow   []string // host:port that match
		deny    []string
		err     string
	}{
		{entries: []string{"pypi"}, allow: []string{"pypi.org:443", "files.pythonhosted.org:443"}, deny: []string{"pypi.org:80", "evil.com:443"}},
		{entries: []string{"Example.COM."}, allow: []string{"example.com:80", "example.com:443"}, deny: []string{"www.example.com:443", "example.com:22"}},
		{entries: []string{"example.com:8443"}, allow: []string{"example.com:8443"}, deny: []string{"example.com:443"}},
		{entries: []string{"127.0.0.1:9000", "[::1]:9001"}, allow: []string{"127.0.0.1:9000", "[::1]:9001"}, deny: []string{"127.0.0.1:9001", "localhost:9000"}},
		{entries: []string{"127.0.0.1"}, err: "needs its port"},
		{entries: []string{"exa mple.com"}, err: "not a host name"},
		{entries: []string{"example.com:0"}, err: "not 1 to 65535"},
		{entries: []string{"http://example.com"}, err: "not a host name"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.entries, ","), func(t *testing.T) {
			p, err := ParsePolicy(tc.entries)
			if tc.err != "" {
				if err == nil || !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			check := func(hp string, want bool) {
				host, port, _ := net.SplitHostPort(hp)
				var n uint16
				fmt.Sscan(port, &n)
				if _, ok := p.match(host, n); ok != want {
					t.Errorf("match(%s) = %v, want %v", hp, ok, want)
				}
			}
			for _, hp := range tc.allow {
				check(hp, true)
			}
			for _, hp := range tc.deny {
				check(hp, false)
			}
		})
	}
}

func TestPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.215.14": true, "2606:2800:21f:cb07:6820:80da:af6b:8b2c": true,
		"127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false, "169.254.169.254": false,
		"100.64.0.1": false, "0.0.0.0": false, "::1": false, "fd00:ec2::254": false, "fe80::1": false,
		"::ffff:127.0.0.1": false, "64:ff9b::a00:1": false, "224.0.0.1": false,
	} {
		if got := public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("public(%s) = %v, want %v", addr, got, want)
		}
	}
}

// startProxy serves p on a unix socket and returns a client that goes
// through it, as the runner's relay does.
func startProxy(t *testing.T, p *Proxy) *http.Client {
	t.Helper()
	sock := t.TempDir() + "/egress.sock"
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go p.Serve(l)
	t.Cleanup(func() { l.Close(); p.Close() })
	tr := &http.Transport{
		Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: "relay"}),
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
		DisableKeepAlives: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestProxy(t *testing.T) {
	allowed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello "+r.URL.Path) }))
	defer allowed.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "leaked") }))
	defer other.Close()
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "secure") }))
	defer tlsSrv.Close()
	hp := func(s *httptest.Server) string {
		return strings.TrimPrefix(strings.TrimPrefix(s.URL, "http://"), "https://")
	}

	// "internal.test" resolves to loopback: a name rule never reaches it.
	policy, err := ParsePolicy([]string{hp(allowed), hp(tlsSrv), "internal.test:" + strings.Split(hp(other), ":")[1]})
	if err != nil {
		t.Fatal(err)
	}
	p := NewProxy(policy, Limits{Conns: 5, Bytes: 1 << 20}, WithResolver(func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}))
	c := startProxy(t, p)

	// Plain HTTP to an allowed literal address and port.
	resp, err := c.Get(allowed.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello /x" {
		t.Fatalf("allowed: %q", body)
	}
	// TLS through CONNECT, end to end.
	tc := startProxy(t, p)
	tc.Transport.(*http.Transport).TLSClientConfig = tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig
	resp, err = tc.Get(tlsSrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "secure" {
		t.Fatalf("tls: %q", body)
	}
	// Another port of the same address, and a name that resolves to
	// loopback: refused with a reason, nothing reaches the server.
	for _, u := range []string{other.URL, "http://internal.test:" + strings.Split(hp(other), ":")[1] + "/"} {
		resp, err = c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || strings.Contains(string(body), "leaked") {
			t.Fatalf("%s: %d %q", u, resp.StatusCode, body)
		}
	}
	got := p.Take()
	if len(got) != 4 {
		t.Fatalf("attempts %+v", got)
	}
	if !got[0].Allowed || got[0].Method != "GET" || got[0].BytesIn == 0 || got[0].BytesOut == 0 {
		t.Errorf("first attempt %+v", got[0])
	}
	if !got[1].Allowed || got[1].Method != "CONNECT" || got[1].BytesIn == 0 {
		t.Errorf("tls attempt %+v", got[1])
	}
	if got[2].Allowed || !strings.Contains(got[2].Reason, "not in the allowlist") {
		t.Errorf("other port %+v", got[2])
	}
	if got[3].Allowed || !strings.Contains(got[3].Reason, "private or reserved") {
		t.Errorf("private name %+v", got[3])
	}
	if again := p.Take(); len(again) != 0 {
		t.Errorf("Take did not start afresh: %+v", again)
	}
}

func TestProxyLimits(t *testing.T) {
	big := strings.Repeat("x", 256<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, big) }))
	defer srv.Close()
	policy, _ := ParsePolicy([]string{strings.TrimPrefix(srv.URL, "http://")})
	p := NewProxy(policy, Limits{Conns: 3, Bytes: 600 << 10})
	c := startProxy(t, p)
	fetch := func() (int, error) {
		resp, err := c.Get(srv.URL)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return len(b), fmt.Errorf("status %d: %s", resp.StatusCode, b)
		}
		return len(b), err
	}
	for i := range 2 {
		if n, err := fetch(); err != nil || n != len(big) {
			t.Fatalf("fetch %d: %d bytes, %v", i, n, err)
		}
	}
	if n, err := fetch(); err == nil && n == len(big) {
		t.Fatal("third fetch passed the byte limit whole")
	}
	if _, err := fetch(); err == nil || !strings.Contains(err.Error(), "more than 3 connections") {
		t.Fatalf("fourth fetch: %v", err)
	}
	got := p.Take()
	if len(got) != 4 || !strings.Contains(got[2].Reason, "bytes in one block") {
		t.Fatalf("attempts %+v", got)
	}
	// A new block starts with fresh limits.
	if n, err := fetch(); err != nil || n != len(big) {
		t.Fatalf("after Take: %d bytes, %v", n, err)
	}
}

// TestProxyRefusesOtherShapes: a request in origin form (not through a
// proxy) or to https:// without CONNECT is refused, never guessed at.
func TestProxyRefusesOtherShapes(t *testing.T) {
	policy, _ := ParsePolicy([]string{"example.com"})
	p := NewProxy(policy, DefaultLimits())
	sock := t.TempDir() + "/s"
	l, _ := net.Listen("unix", sock)
	go p.Serve(l)
	defer func() { l.Close(); p.Close() }()
	for _, head := range []string{"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", "CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n"} {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, head)
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if !strings.HasPrefix(line, "HTTP/1.1 403") {
			t.Errorf("%q: %q", head, line)
		}
	}
	for _, a := range p.Take() {
		if a.Allowed {
			t.Errorf("allowed %+v", a)
		}
	}
}

func TestAllowsURL(t *testing.T) {
	p, _ := ParsePolicy([]string{"pypi", "127.0.0.1:8080", "mirror.test"})
	for raw, want := range map[string]string{
		"https://pypi.org/simple/":         "",
		"http://127.0.0.1:8080/simple/":    "",
		"http://mirror.test/simple/":       "",
		"https://mirror.test:8443/simple/": "mirror.test:8443 is not in the egress allowlist",
		"http://pypi.org/simple/":          "pypi.org:80 is not in the egress allowlist",
		"http://127.0.0.1:9/simple/":       "127.0.0.1:9 is not in the egress allowlist",
		"ftp://pypi.org/":                  "not an http:// or https:// URL",
		"pypi.org/simple":                  "not an http:// or https:// URL",
	} {
		err := p.AllowsURL(raw)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("AllowsURL(%q) = %v, want %q", raw, err, want)
		}
	}
}
