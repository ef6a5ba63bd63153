package egress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentteam/agentteam/sandbox"
)

// Attempt is one connection a block tried to make through the proxy.
type Attempt = sandbox.Connection

// Limits bound what one block may do through the proxy.
type Limits struct {
	Conns int   // connection attempts a block, refused past it
	Bytes int64 // bytes both ways a block, connections cut past it
}

// DefaultLimits are enough for pip installing a few packages.
func DefaultLimits() Limits { return Limits{Conns: 128, Bytes: 512 << 20} }

// Proxy serves one sandbox session. Its records and limits count per
// block: Take ends one block's count and starts the next.
type Proxy struct {
	policy   Policy
	limits   Limits
	resolver func(ctx context.Context, host string) ([]netip.Addr, error)
	index    *Index // nil: no mirror
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)

	mu       sync.Mutex
	attempts []*Attempt
	conns    int
	bytes    *atomic.Int64 // this block's bytes; replaced by Take
	live     map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// Option configures a Proxy.
type Option func(*Proxy)

// WithIndex serves the package index mirror x to blocks as IndexHost.
func WithIndex(x *Index) Option { return func(p *Proxy) { p.index = x } }

// WithResolver replaces the host's DNS resolver (tests).
func WithResolver(r func(ctx context.Context, host string) ([]netip.Addr, error)) Option {
	return func(p *Proxy) { p.resolver = r }
}

// NewProxy returns a proxy that allows what policy lists.
func NewProxy(policy Policy, limits Limits, opts ...Option) *Proxy {
	d := &net.Dialer{Timeout: 15 * time.Second}
	p := &Proxy{policy: policy, limits: limits, dial: d.DialContext, bytes: new(atomic.Int64), live: map[net.Conn]struct{}{},
		resolver: func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Take returns the attempts since the last call and starts counting
// afresh for the next block. Connections still open keep their record.
func (p *Proxy) Take() []Attempt {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Attempt, 0, len(p.attempts))
	for _, a := range p.attempts {
		out = append(out, Attempt{Host: a.Host, Port: a.Port, Method: a.Method, Allowed: a.Allowed, Reason: a.Reason,
			BytesOut: atomic.LoadInt64(&a.BytesOut), BytesIn: atomic.LoadInt64(&a.BytesIn)})
	}
	p.attempts, p.conns, p.bytes = nil, 0, new(atomic.Int64)
	return out
}

// Serve accepts connections until l is closed.
func (p *Proxy) Serve(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("accept egress connection: %w", err)
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return nil
		}
		p.live[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go func() {
			defer p.wg.Done()
			defer p.forget(c)
			p.handle(c)
		}()
	}
}

func (p *Proxy) forget(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.live, c)
	p.mu.Unlock()
}

// Close cuts every open connection and waits for their handlers; the
// listener is the caller's to close.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.live {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// handle serves one client connection: one request, then the tunnel or the
// forwarded exchange until either side closes.
func (p *Proxy) handle(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(io.LimitReader(c, 64<<10)) // a request head, not a body
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	c.SetReadDeadline(time.Time{})
	host, port, err := target(req)
	a := &Attempt{Host: host, Port: int(port), Method: req.Method}
	p.mu.Lock()
	p.attempts = append(p.attempts, a)
	p.conns++
	over := p.conns > p.limits.Conns
	bytes := p.bytes
	p.mu.Unlock()
	refuse := func(reason string) {
		p.note(a, reason)
		writeStatus(c, http.StatusForbidden, "agentteam egress: "+reason+"\n")
	}
	switch {
	case err != nil:
		refuse(err.Error())
		return
	case over:
		refuse(fmt.Sprintf("more than %d connections in one block", p.limits.Conns))
		return
	}
	if p.index != nil && host == IndexHost && req.Method != http.MethodConnect {
		a.Allowed = true
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if err := p.index.serve(ctx, c, req, a); err != nil {
			p.note(a, err.Error())
		}
		return
	}
	r, ok := p.policy.match(host, port)
	if !ok {
		refuse(fmt.Sprintf("%s is not in the allowlist (--egress)", net.JoinHostPort(host, strconv.Itoa(int(port)))))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	addr, err := p.address(ctx, r, host, port)
	var up net.Conn
	if err == nil {
		up, err = p.dial(ctx, "tcp", addr)
	}
	cancel()
	if err != nil {
		refuse(err.Error())
		return
	}
	defer up.Close()
	a.Allowed = true
	if req.Method == http.MethodConnect {
		if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
			return
		}
	} else {
		// Plain HTTP: forward this request in origin form, and close
		// after its answer so that every request is checked.
		req.Close = true
		req.Header.Del("Proxy-Connection")
		req.Header.Del("Proxy-Authorization")
		cw := p.counter(up, &a.BytesOut, bytes, a)
		if err := req.Write(cw); err != nil {
			p.note(a, "forward request: "+err.Error())
			return
		}
	}
	// The tunnel: both ways, counted, cut past the block's byte limit. Any
	// bytes the client sent after its request head are in br.
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(p.counter(up, &a.BytesOut, bytes, a), br)
		if tc, ok := up.(interface{ CloseWrite() error }); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		io.Copy(p.counter(c, &a.BytesIn, bytes, a), up)
		c.Close()
		up.Close()
		done <- struct{}{}
	}()
	<-done
	<-done
}

// note records why an attempt was refused or cut; Take reads it under the
// same lock.
func (p *Proxy) note(a *Attempt, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a.Reason == "" {
		a.Reason = reason
	}
}

// target is the host and port a request asks for.
func target(req *http.Request) (string, uint16, error) {
	hostport := req.Host
	def := "80"
	if req.Method == http.MethodConnect {
		def = ""
	} else {
		if req.URL == nil || req.URL.Scheme != "http" || req.URL.Host == "" {
			return req.Host, 0, errors.New("only CONNECT (TLS) and plain http:// requests in absolute form go through the proxy")
		}
		hostport = req.URL.Host
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		if def == "" {
			return hostport, 0, fmt.Errorf("CONNECT %q: no port", hostport)
		}
		host, port = hostport, def
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return host, 0, fmt.Errorf("port %q is not 1 to 65535", port)
	}
	return host, uint16(n), nil
}

// address picks the address to dial: a literal rule's own; else the host's
// first public address, refusing a name that resolves only to private ones
// (DNS rebinding, metadata services).
func (p *Proxy) address(ctx context.Context, r rule, host string, port uint16) (string, error) {
	ps := strconv.Itoa(int(port))
	if r.host == "" {
		return net.JoinHostPort(r.addr.String(), ps), nil
	}
	addrs, err := p.resolver(ctx, host)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %v", host, err)
	}
	for _, a := range addrs {
		if public(a) {
			return net.JoinHostPort(a.Unmap().String(), ps), nil
		}
	}
	return "", fmt.Errorf("%s resolves only to private or reserved addresses, refused (list ADDRESS:PORT to allow one)", host)
}

// counter counts the bytes written through it, per connection and per
// block, and fails once the block's total passes limit, saying so in the
// attempt's record first.
type counter struct {
	w      io.Writer
	n      *int64
	total  *atomic.Int64
	limit  int64
	onStop func()
}

func (p *Proxy) counter(w io.Writer, n *int64, total *atomic.Int64, a *Attempt) *counter {
	return &counter{w: w, n: n, total: total, limit: p.limits.Bytes, onStop: func() {
		p.note(a, fmt.Sprintf("cut: more than %d bytes in one block", p.limits.Bytes))
	}}
}

func (c *counter) Write(b []byte) (int, error) {
	if c.total.Add(int64(len(b))) > c.limit {
		c.onStop()
		return 0, errors.New("egress byte limit reached")
	}
	n, err := c.w.Write(b)
	atomic.AddInt64(c.n, int64(n))
	return n, err
}
