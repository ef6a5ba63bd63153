package docker

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/protocol"
)

// TestLiveCapsWhatTheRunnerSends: the host passes on at most its own cap
// of each stream, whatever the runner sends, and refuses a stream no runner
// names. No engine needed.
func TestLiveCapsWhatTheRunnerSends(t *testing.T) {
	cases := []struct {
		name   string
		frames []protocol.Output
		want   []string // "stream:text" as passed on
		ok     bool     // every frame accepted
	}{
		{"under the cap", []protocol.Output{{Stream: "stdout", Data: []byte("ab")}, {Stream: "stderr", Data: []byte("x")}},
			[]string{"stdout:ab", "stderr:x"}, true},
		{"cut at the cap", []protocol.Output{{Stream: "stdout", Data: []byte("abc")}, {Stream: "stdout", Data: []byte("def")}, {Stream: "stdout", Data: []byte("g")}},
			[]string{"stdout:abc", "stdout:d"}, true},
		{"each stream its own cap", []protocol.Output{{Stream: "stdout", Data: []byte("0123456")}, {Stream: "stderr", Data: []byte("abcdefg")}},
			[]string{"stdout:0123", "stderr:abcd"}, true},
		{"an unknown stream", []protocol.Output{{Stream: "stdin", Data: []byte("x")}}, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			pass := live(func(stream string, b []byte) { got = append(got, stream+":"+string(b)) }, 4)
			ok := true
			for _, f := range tc.frames {
				ok = pass(f) && ok
			}
			if ok != tc.ok || strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("passed %q (all accepted: %v), want %q (%v)", got, ok, tc.want, tc.ok)
			}
		})
	}
	if !live(nil, 4)(protocol.Output{Stream: "stdout", Data: []byte("x")}) {
		t.Fatal("without an Output function a frame is refused")
	}
}

// chunks records a block's live output.
type chunks struct {
	mu    sync.Mutex
	start time.Time
	got   []struct {
		stream, text string
		at           time.Duration // since start
	}
}

func (c *chunks) output(stream string, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, struct {
		stream, text string
		at           time.Duration
	}{stream, string(b), time.Since(c.start)})
}

func (c *chunks) joined(stream string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, g := range c.got {
		if g.stream == stream {
			b.WriteString(g.text)
		}
	}
	return b.String()
}

// TestLiveOutput: a running block's output reaches the caller as it is
// printed, from a warm Python interpreter as from sh; a flood is passed
// on up to the cap only, in few chunks, and does not slow the block; raw
// bytes stay raw (showing them safely is the caller's part).
func TestLiveOutput(t *testing.T) {
	cfg := testConfig()
	cfg.Timeout = 20 * time.Second
	d := newTestDocker(t, cfg)
	s, _ := newTestSession(t, d)
	runLive := func(t *testing.T, lang, src string) (sandbox.Result, *chunks, time.Duration) {
		t.Helper()
		c := &chunks{start: time.Now()}
		res, err := s.Run(context.Background(), sandbox.Code{Language: lang, Source: src, Output: c.output})
		took := time.Since(c.start)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		return res, c, took
	}

	for _, tc := range []struct{ lang, src string }{
		{sandbox.Python, "import time\nprint('a')\ntime.sleep(1)\nprint('b')"},
		{sandbox.Sh, "echo a; sleep 1; echo b"},
	} {
		t.Run("printed then asleep: "+tc.lang, func(t *testing.T) {
			res, c, took := runLive(t, tc.lang, tc.src)
			if !res.OK() || res.Stdout != "a\nb\n" || c.joined(sandbox.Stdout) != "a\nb\n" {
				t.Fatalf("result %+v, streamed %q", res, c.joined(sandbox.Stdout))
			}
			// Python writes "a" and "\n" apart: the line is whole once
			// the chunks so far make it.
			var sofar string
			var at time.Duration
			for _, g := range c.got {
				if sofar += g.text; strings.HasPrefix(sofar, "a\n") {
					at = g.at
					break
				}
			}
			if took-at < 700*time.Millisecond {
				t.Fatalf("\"a\\n\" streamed at %v, Run returned at %v: want it a second before the end", at, took)
			}
		})
	}

	t.Run("raw bytes", func(t *testing.T) {
		res, c, _ := runLive(t, sandbox.Sh, `printf 'x\033]52;c;QUFB\007\377\000y'; printf 'e\033[2J' >&2`)
		if got := c.joined(sandbox.Stdout); got != "x\x1b]52;c;QUFB\x07\xff\x00y" || got != res.Stdout {
			t.Fatalf("stdout streamed %q, result %q", got, res.Stdout)
		}
		if got := c.joined(sandbox.Stderr); got != "e\x1b[2J" {
			t.Fatalf("stderr streamed %q", got)
		}
	})

	t.Run("a flood", func(t *testing.T) {
		const flood = "head -c 3000000 /dev/zero | tr '\\0' y; head -c 100000 /dev/zero | tr '\\0' e >&2"
		quiet, err := s.Run(context.Background(), sandbox.Code{Language: sandbox.Sh, Source: flood})
		if err != nil || !quiet.OK() {
			t.Fatalf("without live output: exit %d %v %q, %v", quiet.ExitCode, quiet.Flags(), quiet.Error, err)
		}
		res, c, _ := runLive(t, sandbox.Sh, flood)
		if !res.OK() || res.StdoutBytes != 3000000 || res.StderrBytes != 100000 {
			t.Fatalf("result: exit %d %v %q, %d and %d bytes", res.ExitCode, res.Flags(), res.Error, res.StdoutBytes, res.StderrBytes)
		}
		out, errs := c.joined(sandbox.Stdout), c.joined(sandbox.Stderr)
		if out != strings.Repeat("y", cfg.MaxOutput) || errs != strings.Repeat("e", cfg.MaxOutput) {
			t.Fatalf("streamed %d bytes of stdout and %d of stderr, want the first %d of each", len(out), len(errs), cfg.MaxOutput)
		}
		// The cap, in frames of about 4 KiB, plus slack for the
		// first piece and pieces cut by the pipe.
		if n := len(c.got); n > 2*(cfg.MaxOutput/(4<<10)+4) {
			t.Fatalf("%d chunks for %d bytes", n, 2*cfg.MaxOutput)
		}
		t.Logf("3 MB of output: %v with live output (%d chunks), %v without", res.Duration, len(c.got), quiet.Duration)
		if res.Duration > 2*quiet.Duration+time.Second {
			t.Fatalf("live output slowed the block: %v, against %v without", res.Duration, quiet.Duration)
		}
	})
}
