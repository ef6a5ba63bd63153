package runner

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentteam/agentteam/sandbox/protocol"
)

// frames records what a streamer sends.
type frames struct {
	mu   sync.Mutex
	got  []protocol.Output
	sent chan struct{} // one tick per frame
}

func newFrames() *frames { return &frames{sent: make(chan struct{}, 1024)} }

func (f *frames) send(o protocol.Output) {
	f.mu.Lock()
	f.got = append(f.got, o)
	f.mu.Unlock()
	f.sent <- struct{}{}
}

func (f *frames) all() []protocol.Output {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]protocol.Output(nil), f.got...)
}

// show renders frames for a failure message.
func show(got []protocol.Output) string {
	var b strings.Builder
	for _, o := range got {
		fmt.Fprintf(&b, "[%d %s %q]", o.ID, o.Stream, o.Data)
	}
	return b.String()
}

// joined is every byte sent on stream, in order.
func (f *frames) joined(stream string) string {
	var b strings.Builder
	for _, o := range f.all() {
		if o.Stream == stream {
			b.Write(o.Data)
		}
	}
	return b.String()
}

// waitFrame fails unless a frame is sent within d.
func (f *frames) waitFrame(t *testing.T, d time.Duration, why string) {
	t.Helper()
	select {
	case <-f.sent:
	case <-time.After(d):
		t.Fatalf("no frame within %v: %s (frames %s)", d, why, show(f.all()))
	}
}

// noFrame fails if a frame is sent within d.
func (f *frames) noFrame(t *testing.T, d time.Duration, why string) {
	t.Helper()
	select {
	case <-f.sent:
		t.Fatalf("a frame within %v: %s (frames %s)", d, why, show(f.all()))
	case <-time.After(d):
	}
}

// TestStreamerFirstPieceAtOnce: a block's first output goes out at once;
// what follows within the interval waits for it (an hour here), unless the
// block ends, which sends it before close returns; nothing after close.
func TestStreamerFirstPieceAtOnce(t *testing.T) {
	f := newFrames()
	s := newStreamer(7, 1<<20, f.send)
	s.every = time.Hour
	s.write(0, []byte("a\n"))
	f.waitFrame(t, 5*time.Second, "the first piece")
	s.write(0, []byte("b"))
	s.write(1, []byte("oops"))
	f.noFrame(t, 200*time.Millisecond, "a second piece within the interval")
	s.close()
	s.write(0, []byte("late"))
	s.close()
	got := f.all()
	want := []protocol.Output{{ID: 7, Stream: "stdout", Data: []byte("a\n")}, {ID: 7, Stream: "stdout", Data: []byte("b")},
		{ID: 7, Stream: "stderr", Data: []byte("oops")}}
	if show(got) != show(want) {
		t.Fatalf("frames %s, want %s", show(got), show(want))
	}
}

// TestStreamerBatch: within the interval, a frame goes out as soon as a
// batch of bytes waits, whichever stream they are on.
func TestStreamerBatch(t *testing.T) {
	f := newFrames()
	s := newStreamer(1, 1<<20, f.send)
	s.every, s.batch = time.Hour, 100
	s.write(0, []byte("first"))
	f.waitFrame(t, 5*time.Second, "the first piece")
	s.write(0, bytes.Repeat([]byte("o"), 60))
	s.write(1, bytes.Repeat([]byte("e"), 39))
	f.noFrame(t, 200*time.Millisecond, "99 bytes, short of a batch")
	s.write(1, []byte("e"))
	f.waitFrame(t, 5*time.Second, "a full batch")
	f.waitFrame(t, 5*time.Second, "a full batch, second stream")
	if got := f.joined("stdout"); got != "first"+strings.Repeat("o", 60) {
		t.Fatalf("stdout %q", got)
	}
	if got := f.joined("stderr"); got != strings.Repeat("e", 40) {
		t.Fatalf("stderr %q", got)
	}
	s.close()
	if n := len(f.all()); n != 3 {
		t.Fatalf("%d frames, want 3 (close had nothing left to send)", n)
	}
}

// TestStreamerCaps: each stream sends its first max bytes and nothing
// more; one stream's flood leaves the other's budget alone.
func TestStreamerCaps(t *testing.T) {
	cases := []struct {
		name            string
		max             int
		writes          []string // "o:..." stdout, "e:..." stderr
		stdout, stderrW string
	}{
		{"under the cap", 10, []string{"o:abc", "e:xy", "o:de"}, "abcde", "xy"},
		{"exactly the cap", 4, []string{"o:ab", "o:cd", "o:e"}, "abcd", ""},
		{"cut inside a write", 4, []string{"o:abcdef", "o:gh"}, "abcd", ""},
		{"streams apart", 3, []string{"o:0123456789", "e:abc", "o:x", "e:d"}, "012", "abc"},
		{"no budget", 0, []string{"o:abc", "e:abc"}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFrames()
			s := newStreamer(1, tc.max, f.send)
			for _, w := range tc.writes {
				i := 0
				if w[0] == 'e' {
					i = 1
				}
				s.write(i, []byte(w[2:]))
			}
			s.close()
			if got := f.joined("stdout"); got != tc.stdout {
				t.Errorf("stdout %q, want %q", got, tc.stdout)
			}
			if got := f.joined("stderr"); got != tc.stderrW {
				t.Errorf("stderr %q, want %q", got, tc.stderrW)
			}
			for _, o := range f.all() {
				if len(o.Data) == 0 {
					t.Errorf("an empty frame: %+v", o)
				}
			}
		})
	}
}

// TestStreamerCoalesces: a thousand small writes over a quarter of a
// second (a print loop) go out as a handful of frames, in order, whole.
func TestStreamerCoalesces(t *testing.T) {
	f := newFrames()
	s := newStreamer(1, 1<<20, f.send)
	var want strings.Builder
	var wg sync.WaitGroup
	wg.Add(2)
	for i, stream := range []string{"o", "e"} {
		go func() {
			defer wg.Done()
			for n := range 1000 {
				s.write(i, fmt.Appendf(nil, "%s%d\n", stream, n))
				if n%4 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	for n := range 1000 {
		fmt.Fprintf(&want, "o%d\n", n)
	}
	wg.Wait()
	s.close()
	if got := f.joined("stdout"); got != want.String() {
		t.Fatalf("stdout out of order or incomplete: %d bytes, want %d", len(got), want.Len())
	}
	if got := f.joined("stderr"); got != strings.ReplaceAll(want.String(), "o", "e") {
		t.Fatalf("stderr out of order or incomplete: %d bytes", len(got))
	}
	// 2 × ~6.9 KiB, so up to four frames by size; one per 50 ms per
	// stream over the loop's ≥250 ms; the first at once and the last at
	// close. Without coalescing it would be 2000.
	if n := len(f.all()); n > 30 {
		t.Fatalf("%d frames for 2000 writes", n)
	}
}
