package egress

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
)

// IndexHost is the name blocks reach the package index by when the pypi
// preset is allowed: plain HTTP to the proxy, which fetches from the real
// index over TLS on the host and keeps the files it downloads.
const IndexHost = "pypi.agentteam"

// Index is a pull-through mirror of a PEP 503 package index with a
// host-side cache of its files, shared by every session (and run) on this
// machine. A file is stored under the SHA-256 the index gives for it and
// only after its bytes are checked against that hash, so nothing a block
// does can put a file into another block's install: the cache holds only
// what the real index served.
type Index struct {
	dir    string // the cache directory
	simple string // the index's base URL, e.g. https://pypi.org/simple/
	client *http.Client
	// hits and misses count file requests, for tests and reports.
	hits, misses atomic.Int64
}

// NewIndex mirrors the index at simple (https://pypi.org/simple/ for the
// pypi preset) with its files cached in dir. client, when nil, is the
// default HTTP client.
func NewIndex(dir, simple string, client *http.Client) *Index {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Minute}
	}
	return &Index{dir: dir, simple: strings.TrimSuffix(simple, "/") + "/", client: client}
}

// DefaultCacheDir is where the index keeps files: the user's cache
// directory, else the system's temporary one.
func DefaultCacheDir() string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "agentteam", "pypi")
}

// hrefRE finds the links of a simple index page.
var hrefRE = regexp.MustCompile(`href="([^"]+)"`)

// serve answers one request of a block for IndexHost: a project page
// (/simple/NAME/) with its file links rewritten to come back here, or a
// file (/files/SHA256/NAME) from the cache or the real index.
func (x *Index) serve(ctx context.Context, w io.Writer, req *http.Request, a *Attempt) error {
	path := req.URL.Path
	switch {
	case strings.HasPrefix(path, "/simple/"):
		return x.page(ctx, w, strings.TrimPrefix(path, "/simple/"), a)
	case strings.HasPrefix(path, "/files/"):
		return x.file(ctx, w, strings.TrimPrefix(path, "/files/"), a)
	}
	return writeStatus(w, http.StatusNotFound, "agentteam egress: the index serves /simple/ and /files/ only\n")
}

// projectRE is a project name as PEP 503 normalises it, or the root.
var projectRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9._-]*[a-z0-9])?/)?$`)

func (x *Index) page(ctx context.Context, w io.Writer, project string, a *Attempt) error {
	if !projectRE.MatchString(strings.ToLower(project)) {
		return writeStatus(w, http.StatusNotFound, "agentteam egress: not a project name\n")
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, x.simple+project, nil)
	if err != nil {
		return err
	}
	r.Header.Set("Accept", "text/html")
	resp, err := x.client.Do(r)
	if err != nil {
		return writeStatus(w, http.StatusBadGateway, "agentteam egress: the package index did not answer\n")
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return writeStatus(w, http.StatusBadGateway, "agentteam egress: the package index's answer was cut\n")
	}
	atomic.AddInt64(&a.BytesIn, int64(len(body)))
	if resp.StatusCode != http.StatusOK {
		return writeStatus(w, resp.StatusCode, string(body))
	}
	base, _ := url.Parse(x.simple + project)
	page := hrefRE.ReplaceAllStringFunc(string(body), func(m string) string {
		link := strings.TrimSuffix(strings.TrimPrefix(m, `href="`), `"`)
		u, err := base.Parse(htmlUnescape(link))
		if err != nil {
			return `href=""`
		}
		sum, ok := strings.CutPrefix(u.Fragment, "sha256=")
		if !ok || !validSHA256(sum) {
			return `href=""` // pip would not check it: not offered
		}
		// The file's origin rides along (base64), so that the request for
		// it can be checked against the index's own host; its name stays
		// last, where pip reads a distribution's name and version.
		u.Fragment = ""
		name := path.Base(u.Path)
		return fmt.Sprintf(`href="/files/%s/%s/%s#sha256=%s"`, sum, base64.RawURLEncoding.EncodeToString([]byte(u.String())), url.PathEscape(name), sum)
	})
	return writeBody(w, http.StatusOK, "text/html", []byte(page))
}

func (x *Index) file(ctx context.Context, w io.Writer, rest string, a *Attempt) error {
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) != 3 {
		return writeStatus(w, http.StatusNotFound, "agentteam egress: not a file of the index\n")
	}
	sum := parts[0]
	src, err := base64.RawURLEncoding.DecodeString(parts[1])
	if !validSHA256(sum) || err != nil {
		return writeStatus(w, http.StatusNotFound, "agentteam egress: not a file of the index\n")
	}
	u, err := url.Parse(string(src))
	if err != nil || u.Scheme != "https" || !sameSite(u.Host, x.simple) {
		return writeStatus(w, http.StatusForbidden, "agentteam egress: a file must come from the index's own hosts\n")
	}
	cached := filepath.Join(x.dir, sum[:2], sum)
	if f, err := os.Open(cached); err == nil {
		x.hits.Add(1)
		return serveFile(w, f)
	}
	x.misses.Add(1)
	u.Fragment = ""
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := x.client.Do(r)
	if err != nil {
		return writeStatus(w, http.StatusBadGateway, "agentteam egress: the package host did not answer\n")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return writeStatus(w, resp.StatusCode, "agentteam egress: the package host answered "+resp.Status+"\n")
	}
	// Into a temporary file beside its place, hashed on the way; kept
	// (renamed into place) only when the hash is the index's.
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		return fmt.Errorf("cache package file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(cached), ".part-*")
	if err != nil {
		return fmt.Errorf("cache package file: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(resp.Body, maxFile))
	atomic.AddInt64(&a.BytesIn, n)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return writeStatus(w, http.StatusBadGateway, "agentteam egress: the download was cut\n")
	case hex.EncodeToString(h.Sum(nil)) != sum:
		return writeStatus(w, http.StatusBadGateway, "agentteam egress: the file does not match the index's hash; not kept\n")
	}
	if err := os.Rename(tmp.Name(), cached); err != nil {
		return fmt.Errorf("cache package file: %w", err)
	}
	f, err := os.Open(cached)
	if err != nil {
		return fmt.Errorf("open cached package file: %w", err)
	}
	return serveFile(w, f)
}

// maxFile bounds one downloaded file.
const maxFile = 2 << 30

// serveFile answers with f's bytes and closes it.
func serveFile(w io.Writer, f *os.File) error {
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", st.Size()); err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	return err
}

// sameSite reports whether host belongs with the index at simple: the
// index's own host, or for pypi.org its file host.
func sameSite(host, simple string) bool {
	s, err := url.Parse(simple)
	if err != nil {
		return false
	}
	return host == s.Host || s.Host == "pypi.org" && host == "files.pythonhosted.org"
}

func validSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#38;", "&", "&quot;", `"`).Replace(s)
}

func writeStatus(w io.Writer, code int, body string) error {
	return writeBody(w, code, "text/plain", []byte(body))
}

func writeBody(w io.Writer, code int, ctype string, body []byte) error {
	_, err := fmt.Fprintf(w, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		code, http.StatusText(code), ctype, len(body))
	if err == nil {
		_, err = w.Write(body)
	}
	if err != nil {
		return errors.Join(errors.New("answer from the package index"), err)
	}
	return nil
}
