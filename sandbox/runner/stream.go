package runner

import (
	"sync"
	"time"

	"github.com/agentteam/agentteam/sandbox/protocol"
)

// How a running block's output goes to the host: the first piece at once
// (a block that prints one line and thinks shows it), then at most one
// frame per stream every streamEvery, or sooner once streamBatch bytes
// wait. A flood therefore costs a frame per streamBatch bytes until the
// stream's cap, and nothing after it.
const (
	streamEvery = 50 * time.Millisecond
	streamBatch = 4 << 10
)

// streamer sends the first bytes of a block's stdout and stderr (up to a
// cap on each) to the host while the block runs. Writes only append to a
// buffer and never wait for the host: frames go out from a timer's
// goroutine, so a slow host cannot slow the block. A block that prints
// nothing costs nothing but the struct.
type streamer struct {
	send  func(protocol.Output) // writes one frame; may block
	id    uint64
	every time.Duration
	batch int

	sendMu sync.Mutex // held from taking the pending bytes until they are sent: frames keep their order

	mu      sync.Mutex
	pending [2][]byte // stdout, stderr
	left    [2]int    // bytes each stream may still send
	last    time.Time // when a flush last took the pending bytes
	timer   *time.Timer
	closed  bool
}

var streamNames = [2]string{protocol.Stdout, protocol.Stderr}

func newStreamer(id uint64, maxPerStream int, send func(protocol.Output)) *streamer {
	return &streamer{send: send, id: id, every: streamEvery, batch: streamBatch, left: [2]int{maxPerStream, maxPerStream}}
}

// write keeps what fits under stream i's cap and schedules a flush.
func (s *streamer) write(i int, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := min(len(p), s.left[i])
	if s.closed || k == 0 {
		return
	}
	s.pending[i] = append(s.pending[i], p[:k]...)
	s.left[i] -= k
	full := len(s.pending[0])+len(s.pending[1]) >= s.batch
	switch {
	case s.timer == nil:
		wait := s.every - time.Since(s.last)
		if full || wait < 0 {
			wait = 0
		}
		s.timer = time.AfterFunc(wait, s.flush)
	case full:
		// Sooner than planned. Should the flush be running already, this
		// only makes it run once more, with nothing or little to send.
		s.timer.Reset(0)
	}
}

// flush sends what is pending, a frame per stream.
func (s *streamer) flush() {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.mu.Lock()
	out, err := s.pending[0], s.pending[1]
	s.pending = [2][]byte{}
	s.timer = nil
	s.last = time.Now()
	s.mu.Unlock()
	for i, data := range [2][]byte{out, err} {
		if len(data) > 0 {
			s.send(protocol.Output{ID: s.id, Stream: streamNames[i], Data: data})
		}
	}
}

// close sends what is still pending and stops: once it returns, no frame
// of this block follows, so the Result comes after all of its output.
func (s *streamer) close() {
	s.mu.Lock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	s.flush() // also waits for a flush under way
}

// streamPart is stream i of a streamer as an io.Writer.
type streamPart struct {
	s *streamer
	i int
}

func (p streamPart) Write(b []byte) (int, error) {
	p.s.write(p.i, b)
	return len(b), nil
}
