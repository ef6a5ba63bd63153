package runner

import (
	"fmt"
	"sync"
)

// capture keeps the head and the tail of a stream, counts every byte, and
// calls onLimit once when the total across captures passes the shared limit.
type capture struct {
	mu    sync.Mutex
	half  int
	head  []byte
	tail  []byte // ring buffer of the last half bytes
	pos   int    // next write position in tail once it is full
	total int64
	limit *outputLimit
}

// outputLimit is shared by a block's stdout and stderr captures.
type outputLimit struct {
	mu      sync.Mutex
	max     int64
	seen    int64
	tripped bool
	onLimit func()
}

func (l *outputLimit) add(n int) {
	l.mu.Lock()
	l.seen += int64(n)
	trip := l.max > 0 && l.seen > l.max && !l.tripped
	if trip {
		l.tripped = true
	}
	l.mu.Unlock()
	if trip {
		l.onLimit()
	}
}

func (l *outputLimit) hit() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tripped
}

func newCapture(maxKept int, limit *outputLimit) *capture {
	half := maxKept / 2
	if half < 1 {
		half = 1
	}
	return &capture{half: half, limit: limit}
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	n := len(p)
	c.total += int64(n)
	if room := c.half - len(c.head); room > 0 {
		k := min(room, len(p))
		c.head = append(c.head, p[:k]...)
		p = p[k:]
	}
	for len(p) > 0 {
		if len(c.tail) < c.half {
			k := min(c.half-len(c.tail), len(p))
			c.tail = append(c.tail, p[:k]...)
			p = p[k:]
			continue
		}
		// Only the last half bytes of p can survive.
		if len(p) > c.half {
			p = p[len(p)-c.half:]
		}
		k := copy(c.tail[c.pos:], p)
		c.pos = (c.pos + k) % c.half
		p = p[k:]
	}
	c.mu.Unlock()
	if c.limit != nil {
		c.limit.add(n)
	}
	return n, nil
}

// bytes returns what was kept: everything when it fit, otherwise the head, a
// marker with the count of omitted bytes, and the tail.
func (c *capture) bytes() ([]byte, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := int64(len(c.head) + len(c.tail))
	tail := append(append([]byte(nil), c.tail[c.pos:]...), c.tail[:c.pos]...)
	if c.total == kept {
		return append(append([]byte(nil), c.head...), tail...), c.total
	}
	marker := fmt.Sprintf("\n[... %d bytes omitted ...]\n", c.total-kept)
	out := make([]byte, 0, len(c.head)+len(marker)+len(tail))
	out = append(out, c.head...)
	out = append(out, marker...)
	out = append(out, tail...)
	return out, c.total
}
