// Package transcript owns the JSON Lines record of a run: one event per line,
// written as it happens so a crash loses nothing, and read back for replay.
package transcript

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/agentteam/agentteam/model"
)

// Event types written by the model layer; the team adds its own (message,
// result, ...).
const TypeModelCall = "model_call"

// Extra keys written by Record, beside the Event's own fields, so that a
// replay can give back exactly what the model gave.
const (
	// ExtraReplyModel holds the model the server said answered (maybe
	// "") when it is not the requested one, which is Event.Model.
	ExtraReplyModel = "reply_model"
	// ExtraStatus holds the HTTP status of a failed call, when it had one.
	ExtraStatus = "status"
)

// Event is one line of a transcript.
type Event struct {
	Type         string          `json:"type"`
	Time         time.Time       `json:"time"`
	Agent        string          `json:"agent,omitempty"`
	Content      string          `json:"content,omitempty"`   // model_call: the reply's content
	Reasoning    string          `json:"reasoning,omitempty"` // model_call: what the model thought; never sent back to a model
	Model        string          `json:"model,omitempty"`
	Messages     []model.Message `json:"messages,omitempty"` // model_call: the request's messages
	FinishReason string          `json:"finish_reason,omitempty"`
	Usage        *model.Usage    `json:"usage,omitempty"`
	DurationMS   float64         `json:"duration_ms,omitempty"`
	Error        string          `json:"error,omitempty"`      // model_call that failed: the error's text
	ErrorKind    string          `json:"error_kind,omitempty"` // its model.Kind
	Extra        map[string]any  `json:"extra,omitempty"`      // event-specific fields of other layers
}

// TimeFormat is how an event's time is written: RFC 3339 in UTC with
// milliseconds, always three digits ("2026-11-29T10:15:00.120Z"), so that
// times sort as text and line up when read. Older transcripts wrote local
// time with nanoseconds; both read back as a time.Time.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// FormatTime is t as TimeFormat writes it, in UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// MarshalJSON writes the event with its Time as TimeFormat, right after
// its type, and HTML characters unescaped (prompts are full of <, > and &).
func (e Event) MarshalJSON() ([]byte, error) {
	type fields Event // Event's fields without this method
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// The outer Type and Time hide the embedded ones.
	err := enc.Encode(struct {
		Type string `json:"type"`
		Time string `json:"time"`
		fields
	}{e.Type, FormatTime(e.Time), fields(e)})
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), err
}

// Writer writes events, one JSON line each. It is safe for concurrent use.
// Each Write is a single write of one whole line straight to the underlying
// writer, with no buffering, so a crash loses at most the line being written.
type Writer struct {
	mu     sync.Mutex
	w      io.Writer
	f      *os.File // set by Create; closed by Close
	err    error    // the first failed write; later writes are refused with it
	closed bool
	tee    func(line []byte)
}

// Tee has fn see each line written from now on (with its newline), in
// order, once it is in the transcript; fn must not block.
func (w *Writer) Tee(fn func(line []byte)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tee = fn
}

// Create creates (or truncates) the transcript file at path, with mode 0600
// as a transcript holds prompts. The parent directory must exist.
func Create(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create transcript: %w", err)
	}
	// OpenFile's mode applies only to a new file: an existing one keeps its
	// own, so set it (and the umask cannot widen it either way).
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("create transcript: %w", err)
	}
	return &Writer{w: f, f: f}, nil
}

// Append opens the transcript at path to add events after those it holds
// (a conversation continued). A last line cut short (a crash while writing
// it) is cut off first, so the next event starts a line of its own. The
// file must exist.
func Append(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("append to transcript: %w", err)
	}
	if err := dropTornLine(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("append to transcript: %w", err)
	}
	return &Writer{w: f, f: f}, nil
}

// dropTornLine truncates f after its last newline and leaves the offset at
// the end.
func dropTornLine(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	end := fi.Size()
	buf := make([]byte, 4096)
	for end > 0 {
		n := min(int64(len(buf)), end)
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			end = end - n + int64(i) + 1
			break
		}
		end -= n
	}
	if end != fi.Size() {
		if err := f.Truncate(end); err != nil {
			return err
		}
	}
	_, err = f.Seek(end, io.SeekStart)
	return err
}

// NewWriter returns a Writer on w. Close does not close w: its owner does.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w}
}

// Write writes e as one line, setting its Time to now if it is zero.
// After a failed write the transcript may end in a partial line, so every
// later Write is refused with the first error (which Close returns too).
func (w *Writer) Write(e Event) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // prompts are full of <, > and &: keep them readable
	// Encode ends the line with '\n'.
	if err := enc.Encode(e); err != nil {
		return fmt.Errorf("transcript: encode %s event: %w", e.Type, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("transcript: write after close")
	}
	if w.err != nil {
		return w.err
	}
	if _, err := w.w.Write(buf.Bytes()); err != nil {
		w.err = fmt.Errorf("transcript: write: %w", err)
		return w.err
	}
	if w.tee != nil {
		w.tee(buf.Bytes())
	}
	return nil
}

// Close syncs and closes the file made by Create (a Writer from NewWriter
// leaves its writer open). It returns the first error of any earlier Write,
// so a run that ignored one still learns at the end that its transcript is
// incomplete. Closing twice is harmless.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.err
	if w.f != nil {
		if serr := w.f.Sync(); serr != nil && err == nil {
			err = fmt.Errorf("transcript: sync: %w", serr)
		}
		if cerr := w.f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("transcript: close: %w", cerr)
		}
	}
	return err
}

// Read reads the events of a transcript. Lines may be of any length; blank
// lines are skipped. A line that is not a JSON event is an error naming its
// line number, and so is a last line cut short (a crash while writing it).
// On error the events before the bad line are returned with it.
func Read(r io.Reader) ([]Event, error) {
	br := bufio.NewReader(r)
	var events []Event
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return events, fmt.Errorf("line %d: %w", n, err)
		}
		last := err == io.EOF
		if len(bytes.TrimSpace(line)) > 0 {
			var e Event
			if perr := json.Unmarshal(line, &e); perr != nil {
				if last {
					return events, fmt.Errorf("line %d: truncated last line (did the run crash while writing it?): %v", n, perr)
				}
				return events, fmt.Errorf("line %d: not a JSON event: %v", n, perr)
			}
			if e.Type == "" {
				return events, fmt.Errorf("line %d: event has no type", n)
			}
			events = append(events, e)
		}
		if last {
			return events, nil
		}
	}
}

// ReadFile reads the transcript at path; see Read.
func ReadFile(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read transcript: %w", err)
	}
	defer f.Close()
	events, err := Read(f)
	if err != nil {
		return events, fmt.Errorf("read transcript %s: %w", path, err)
	}
	return events, nil
}

// Record wraps m so that every call is written to w as a model_call event
// (agent, request model and messages, reply content and reasoning, finish
// reason, usage, duration, or the error and its kind). The reply and error
// are returned unchanged, and a request's OnDelta and OnReasoning are
// passed through unchanged. The event's Time is when the call ended. A
// failed write does not fail the call: w keeps the error and its Close
// returns it.
//
// For a *model.Error the event's Error is its Message (the text without the
// "model <kind>:" prefix, which ErrorKind holds) and a non-zero HTTP status
// goes in Extra["status"], so a replay rebuilds the same error; any other
// error is recorded by its full text, with key-shaped strings redacted.
func Record(m model.Model, agent string, w *Writer) model.Model {
	return &recorder{m: m, agent: agent, w: w}
}

type recorder struct {
	m     model.Model
	agent string
	w     *Writer
}

func (r *recorder) Complete(ctx context.Context, req model.Request) (model.Reply, error) {
	start := time.Now()
	reply, err := r.m.Complete(ctx, req)
	dur := time.Since(start)

	e := Event{
		Type:       TypeModelCall,
		Time:       time.Now(),
		Agent:      r.agent,
		Model:      req.Model,
		Messages:   req.Messages,
		DurationMS: float64(dur) / float64(time.Millisecond),
	}
	if err != nil {
		e.ErrorKind = string(model.KindOf(err))
		var me *model.Error
		if errors.As(err, &me) {
			e.Error = me.Message
			if me.Status != 0 {
				e.Extra = map[string]any{ExtraStatus: me.Status}
			}
		} else {
			e.Error = model.Redact(err.Error())
		}
	} else {
		e.Content = reply.Content
		e.Reasoning = reply.Reasoning
		e.FinishReason = reply.FinishReason
		u := reply.Usage
		e.Usage = &u
		if reply.Model != req.Model {
			e.Extra = map[string]any{ExtraReplyModel: reply.Model}
		}
	}
	_ = r.w.Write(e) // kept by the Writer; see Record
	return reply, err
}
