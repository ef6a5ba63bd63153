package egress

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
)

// TestIndexMirror: the mirror rewrites a project page's links to itself,
// serves a file from the real index once and from its cache after, keeps
// nothing whose hash is not the index's, and fetches only from the index's
// own host.
func TestIndexMirror(t *testing.T) {
	good := []byte("a wheel's bytes")
	sum := sha256.Sum256(good)
	goodSum := hex.EncodeToString(sum[:])
	badSum := strings.Repeat("ab", 32)
	var fetches atomic.Int64
	var upstream *httptest.Server
	upstream = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/simple/demo/":
			fmt.Fprintf(w, `<a href="%s/packages/demo-1.0-py3-none-any.whl#sha256=%s">demo</a>`, upstream.URL, goodSum)
			fmt.Fprintf(w, `<a href="%s/packages/tampered.whl#sha256=%s">tampered</a>`, upstream.URL, badSum)
			fmt.Fprintf(w, `<a href="https://elsewhere.test/x.whl">no hash</a>`)
		case "/packages/demo-1.0-py3-none-any.whl", "/packages/tampered.whl":
			fetches.Add(1)
			w.Write(good)
		default:
			http.NotFound(w, r)
		}
	}))
	defer upstream.Close()
	x := NewIndex(t.TempDir(), upstream.URL+"/simple/", upstream.Client())
	p := NewProxy(Policy{}, DefaultLimits(), WithIndex(x))
	c := startProxy(t, p)
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	code, page := get("http://" + IndexHost + "/simple/demo/")
	links := regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(page, -1)
	if code != 200 || len(links) != 3 || !strings.HasPrefix(links[0][1], "/files/"+goodSum+"/") || links[2][1] != "" {
		t.Fatalf("page %d: %s", code, page)
	}
	for i := range 2 {
		if code, body := get("http://" + IndexHost + links[0][1]); code != 200 || body != string(good) {
			t.Fatalf("file, fetch %d: %d %q", i+1, code, body)
		}
	}
	if n := fetches.Load(); n != 1 || x.hits.Load() != 1 {
		t.Fatalf("upstream fetched %d times, %d cache hits; want 1 and 1", n, x.hits.Load())
	}
	// A file whose bytes are not what the index's hash says: refused, and
	// asked for again next time (nothing was kept).
	for range 2 {
		if code, body := get("http://" + IndexHost + links[1][1]); code != http.StatusBadGateway || !strings.Contains(body, "does not match") {
			t.Fatalf("tampered file: %d %q", code, body)
		}
	}
	if fetches.Load() != 3 {
		t.Fatalf("the tampered file was cached: %d fetches", fetches.Load())
	}
	// Only the index's own host; no path games in project names.
	other := "/files/" + goodSum + "/" + base64.RawURLEncoding.EncodeToString([]byte("https://elsewhere.test/demo.whl")) + "/demo.whl"
	if code, _ := get("http://" + IndexHost + other); code != http.StatusForbidden {
		t.Fatalf("a file from another host: %d", code)
	}
	if code, _ := get("http://" + IndexHost + "/simple/..%2F..%2Fetc/"); code != http.StatusNotFound {
		t.Fatalf("a project name with a path: %d", code)
	}
	for _, a := range p.Take() {
		if !a.Allowed || a.Host != IndexHost {
			t.Errorf("attempt %+v", a)
		}
	}
}
