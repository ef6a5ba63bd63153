package main

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/sandbox"
)

// How much of a running block's output a terminal shows live: a block
// that prints a line a second shows each as it comes, and a flood shows
// its first maxLiveLines lines, then its end once it is over. A line
// that does not end (a prompt, a progress bar without newlines) is shown
// as it is once it has waited partialWait.
const (
	maxLiveLines = 200
	partialWait  = time.Second
	endLines     = 10 // of a stream not shown live in full
)

// liveOutput turns the chunks of one running block's output into whole
// lines, escaped, and remembers what it showed, so that the block's end
// shows only what was not seen. It is not safe for concurrent use.
type liveOutput struct {
	streams [2]liveStream // stdout, stderr
	lines   int           // lines shown, both streams
	cut     bool          // the line budget ran out: nothing more is shown live
}

type liveStream struct {
	partial []byte    // after the last newline, not shown yet
	since   time.Time // when partial began to wait
	got     int64     // bytes received
	shown   int64     // bytes shown
}

// liveLine is one line to show: a stream's, escaped and without its
// newline, or, when note is set, the view's own words.
type liveLine struct {
	stderr bool
	note   bool
	text   string
}

func streamIndex(stream string) int {
	if stream == sandbox.Stderr {
		return 1
	}
	return 0
}

// add takes a chunk of stream and returns the lines it completes, with
// the partial lines that waited past partialWait by now.
func (l *liveOutput) add(stream string, chunk []byte, now time.Time) []liveLine {
	i := streamIndex(stream)
	s := &l.streams[i]
	s.got += int64(len(chunk))
	if len(s.partial) == 0 {
		s.since = now
	}
	s.partial = append(s.partial, chunk...)
	var out []liveLine
	for {
		nl := bytes.IndexByte(s.partial, '\n')
		if nl < 0 {
			break
		}
		out = l.show(out, i, s.partial[:nl+1])
		s.partial = s.partial[nl+1:]
		s.since = now
	}
	return append(out, l.due(now, false)...)
}

// due returns the partial lines that waited past partialWait, or every
// one with all (the block ended). A rune cut by the chunking waits for
// its end unless the block ended.
func (l *liveOutput) due(now time.Time, all bool) []liveLine {
	var out []liveLine
	for i := range l.streams {
		s := &l.streams[i]
		if len(s.partial) == 0 || !all && now.Sub(s.since) < partialWait {
			continue
		}
		n := len(s.partial)
		if !all {
			n = completeRunes(s.partial)
		}
		if n == 0 {
			continue
		}
		out = l.show(out, i, s.partial[:n])
		s.partial, s.since = s.partial[n:], now
	}
	return out
}

// show appends the line raw (with its newline, if any) unless the budget
// ran out, and the note that says so when it just did.
func (l *liveOutput) show(out []liveLine, i int, raw []byte) []liveLine {
	if l.cut {
		return out
	}
	if l.lines == maxLiveLines {
		l.cut = true
		return append(out, liveLine{note: true, text: "[… more output; its end follows when the block ends]"})
	}
	l.lines++
	l.streams[i].shown += int64(len(raw))
	text := strings.TrimSuffix(string(raw), "\n")
	return append(out, liveLine{stderr: i == 1, text: safetext.Output(text)})
}

// streamed reports whether stream showed anything live.
func (l *liveOutput) streamed(stream string) bool {
	return l.streams[streamIndex(stream)].got > 0
}

// unseen says what of a finished stream (text as the result keeps it,
// total its size) was not shown live: nothing (left 0), or its end as
// escaped lines (at most endLines), whole when those are all that was not
// shown.
func (l *liveOutput) unseen(stream, text string, total int64) (left int64, end []string, whole bool) {
	shown := l.streams[streamIndex(stream)].shown
	if left = total - shown; left <= 0 {
		return 0, nil, true
	}
	rest, whole := text, false
	if int64(len(text)) == total { // the result has all of it: what follows the shown part
		rest, whole = text[min(int(shown), len(text)):], true
	}
	end = strings.Split(strings.TrimSuffix(safetext.Output(rest), "\n"), "\n")
	if len(end) > endLines {
		end, whole = end[len(end)-endLines:], false
	}
	return left, end, whole
}

// render is a live line as the terminal shows it: indented like a
// block's output, stderr dimmed (marked "! " without colour), the view's
// notes dimmed.
func (l liveLine) render(color bool) string {
	switch {
	case l.note || l.stderr && color:
		return dim(color, "  "+l.text)
	case l.stderr:
		return "  ! " + l.text
	}
	return "  " + l.text
}

// restOf renders the end of a finished stream that was not shown live:
// nothing when all of it was, the lines that follow when they are few,
// else a note and its last lines.
func (l *liveOutput) restOf(stream, text string, total int64, color bool) []string {
	left, end, whole := l.unseen(stream, text, total)
	if left == 0 {
		return nil
	}
	var out []string
	if !whole {
		out = append(out, dim(color, fmt.Sprintf("  [… %s: %d bytes in all; the last lines:]", stream, total)))
	}
	for _, e := range end {
		out = append(out, liveLine{stderr: stream == sandbox.Stderr, text: e}.render(color))
	}
	return out
}

func dim(color bool, s string) string {
	if !color {
		return s
	}
	return "\x1b[2m" + s + "\x1b[0m"
}

// completeRunes is how many leading bytes of b end on a whole rune: a
// chunk may end inside a UTF-8 sequence, whose rest is in the next.
func completeRunes(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			break
		}
	}
	return len(b)
}

// utf8Carry holds back, per stream, the end of a chunk that stops inside a
// UTF-8 sequence, so that each piece of text it passes on is whole (JSON
// would turn a cut rune into two U+FFFD).
type utf8Carry [2][]byte

// take returns chunk, after what was held back of stream, without a cut
// rune at its end.
func (c *utf8Carry) take(stream string, chunk []byte) string {
	i := streamIndex(stream)
	b := append(c[i], chunk...)
	n := completeRunes(b)
	c[i] = append([]byte(nil), b[n:]...)
	return string(b[:n])
}

// rest returns what is held back of stream, and forgets it.
func (c *utf8Carry) rest(stream string) string {
	i := streamIndex(stream)
	s := string(c[i])
	c[i] = nil
	return s
}
