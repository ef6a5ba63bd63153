package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/agentteam/agentteam/safetext"
)

// humanHandler writes each warning or error as one plain line
// ("agentteam: model request failed; trying again (HTTP 503, attempt 1,
// wait 300ms)"): what a person reads between a run's output. -v and
// --log-format json give slog's own handlers instead.
type humanHandler struct {
	w     io.Writer
	level slog.Level
	attrs []slog.Attr
}

func (h *humanHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *humanHandler) Handle(_ context.Context, r slog.Record) error {
	var parts []string
	add := func(a slog.Attr) bool {
		v := a.Value.Resolve()
		if v.Kind() == slog.KindDuration {
			v = slog.StringValue(v.Duration().Round(time.Millisecond).String())
		}
		switch a.Key {
		case "why", "error", "err":
			parts = append(parts, v.String())
		default:
			parts = append(parts, a.Key+" "+v.String())
		}
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	msg := "agentteam: " + r.Message
	if len(parts) > 0 {
		msg += " (" + strings.Join(parts, ", ") + ")"
	}
	_, err := io.WriteString(h.w, safetext.Line(msg)+"\n")
	return err
}

func (h *humanHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

// WithGroup is flat: group names add nothing a person needs.
func (h *humanHandler) WithGroup(string) slog.Handler { return h }

// statusLine is the one line a command redraws in place on a terminal
// (batch's progress, "waiting for coder…"). Log lines written through it
// appear above it instead of glued onto it.
type statusLine struct {
	mu    sync.Mutex
	w     io.Writer // where the line is drawn
	width int       // the terminal's columns; 0: 80
	text  string    // shown now; "" for none
}

// set draws text in place of the current line, cut to the width so that
// it never wraps (a wrapped line cannot be redrawn in place).
func (s *statusLine) set(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.text = fit(text, s.cols())
	fmt.Fprint(s.w, "\r"+s.text+"\x1b[K")
}

// clear removes the line.
func (s *statusLine) clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.text != "" {
		fmt.Fprint(s.w, "\r\x1b[2K")
		s.text = ""
	}
}

// keep leaves the line as it is on the screen and starts a new one.
func (s *statusLine) keep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.text != "" {
		fmt.Fprintln(s.w)
		s.text = ""
	}
}

// log writes text to w above the line.
func (s *statusLine) log(w io.Writer, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.text != "" {
		fmt.Fprint(s.w, "\r\x1b[2K")
	}
	fmt.Fprint(w, text)
	if s.text != "" {
		fmt.Fprint(s.w, s.text+"\x1b[K")
	}
}

func (s *statusLine) cols() int {
	if s.width > 0 {
		return s.width
	}
	return 80
}

// fit cuts s to at most width-1 runes (the last column would wrap on some
// terminals), ending in "…" when cut.
func fit(s string, width int) string {
	limit := max(width-1, 1)
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	r := []rune(s)
	return string(r[:limit-1]) + "…"
}

// aboveLine writes through a statusLine: slog's handlers write a whole
// record per call, so each record lands above the line.
type aboveLine struct {
	line *statusLine
	w    io.Writer
}

func (a aboveLine) Write(p []byte) (int, error) {
	a.line.log(a.w, string(p))
	return len(p), nil
}
