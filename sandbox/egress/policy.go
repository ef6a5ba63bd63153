// Package egress owns the only way out of a sandbox: an HTTP proxy on the
// host that lets a session's blocks reach exactly the hosts a user allowed.
// The container itself keeps no network; its runner relays connections from
// the container's loopback to this proxy over a unix socket. The proxy
// resolves names itself, refuses private, loopback, link-local and metadata
// addresses unless an address and port were listed literally, allows only
// CONNECT to an allowed host:port (TLS) and plain HTTP to an allowed host,
// caps connections and bytes per block, and records every attempt.
package egress

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// ErrPolicy marks an allowlist entry that cannot be used.
var ErrPolicy = errors.New("invalid egress entry")

// Presets name groups of hosts a user can allow by one word.
func presets() map[string][]string {
	return map[string][]string{
		// The Python Package Index: its index and the host of its files.
		"pypi": {"pypi.org:443", "files.pythonhosted.org:443"},
	}
}

// Policy is an allowlist of destinations.
type Policy struct {
	rules   []rule
	presets []string // the presets named, e.g. pypi
}

// Has reports whether the policy names the preset.
func (p Policy) Has(preset string) bool { return slices.Contains(p.presets, preset) }

// rule allows one host name (any of its public addresses) or one literal
// address, on a set of ports.
type rule struct {
	host    string     // lower case, no trailing dot; "" for an address rule
	addr    netip.Addr // a literal address, allowed even when private
	ports   []uint16
	literal string // the entry as written, for messages
}

// ParsePolicy reads allowlist entries: HOST, HOST:PORT, ADDRESS:PORT
// (IPv6 in brackets) or a preset name (pypi). A host without a port allows
// 80 and 443. A literal address must name its port: it is the only way to
// reach a private or loopback address, and then only that port.
func ParsePolicy(entries []string) (Policy, error) {
	var p Policy
	for _, raw := range entries {
		e := strings.ToLower(strings.TrimSpace(raw))
		if e == "" {
			continue
		}
		if hosts, ok := presets()[e]; ok {
			p.presets = append(p.presets, e)
			for _, h := range hosts {
				r, err := parseRule(h)
				if err != nil {
					return Policy{}, err
				}
				p.rules = append(p.rules, r)
			}
			continue
		}
		r, err := parseRule(e)
		if err != nil {
			return Policy{}, err
		}
		p.rules = append(p.rules, r)
	}
	return p, nil
}

func parseRule(e string) (rule, error) {
	r := rule{literal: e}
	if strings.Contains(e, "/") {
		return r, fmt.Errorf("%w %q: not a host name: give HOST or HOST:PORT, not a URL", ErrPolicy, e)
	}
	host, port, err := net.SplitHostPort(e)
	if err != nil {
		// No port: a host name (or an address, which must have one).
		host, port = strings.Trim(e, "[]"), ""
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if port == "" {
			return r, fmt.Errorf("%w %q: an address needs its port (ADDRESS:PORT)", ErrPolicy, e)
		}
		r.addr = a.Unmap()
	} else {
		host = strings.TrimSuffix(host, ".")
		if !validHostname(host) {
			return r, fmt.Errorf("%w %q: not a host name, ADDRESS:PORT or a preset (%s)", ErrPolicy, e, strings.Join(presetNames(), ", "))
		}
		r.host = host
	}
	if port == "" {
		r.ports = []uint16{80, 443}
		return r, nil
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return r, fmt.Errorf("%w %q: port %q is not 1 to 65535", ErrPolicy, e, port)
	}
	r.ports = []uint16{uint16(n)}
	return r, nil
}

func presetNames() []string {
	var names []string
	for n := range presets() {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// validHostname accepts DNS names of letters, digits, hyphens and dots.
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// AllowsURL checks that the policy lets a block reach the host and port of
// an http or https URL (a package index, say), and says why not.
func (p Policy) AllowsURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL", raw)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return fmt.Errorf("%q: port %q is not 1 to 65535", raw, port)
	}
	if _, ok := p.match(u.Hostname(), uint16(n)); !ok {
		return fmt.Errorf("%s is not in the egress allowlist", net.JoinHostPort(u.Hostname(), port))
	}
	return nil
}

// Empty reports whether the policy allows nothing.
func (p Policy) Empty() bool { return len(p.rules) == 0 }

// String lists the entries, for messages.
func (p Policy) String() string {
	var s []string
	for _, r := range p.rules {
		s = append(s, r.literal)
	}
	return strings.Join(s, ", ")
}

// decision is what the policy says of a destination before any address is
// known: which rule allows it, if any.
func (p Policy) match(host string, port uint16) (rule, bool) {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	isAddr := err == nil
	for _, r := range p.rules {
		if !slices.Contains(r.ports, port) {
			continue
		}
		if isAddr && r.host == "" && r.addr == a.Unmap() || !isAddr && r.host != "" && r.host == host {
			return r, true
		}
	}
	return rule{}, false
}

// public reports whether an address may be reached by a host-name rule:
// not loopback, private, link-local (cloud metadata lives there),
// unspecified, multicast, shared (CGNAT) or otherwise reserved.
func public(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() || !a.IsValid() {
		return false
	}
	for _, p := range reserved() {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// reserved are ranges no public host lives in.
func reserved() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("100.64.0.0/10"), // shared address space (CGNAT)
		netip.MustParsePrefix("192.0.0.0/24"),
		netip.MustParsePrefix("192.0.2.0/24"), // documentation
		netip.MustParsePrefix("198.18.0.0/15"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("240.0.0.0/4"),
		netip.MustParsePrefix("64:ff9b::/96"), // NAT64 can reach private IPv4
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("fec0::/10"),
	}
}
