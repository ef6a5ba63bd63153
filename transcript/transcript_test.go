package transcript_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/fake"
	"github.com/agentteam/agentteam/transcript"
)

func sampleEvents() []transcript.Event {
	t0 := time.Date(2025, 3, 4, 5, 6, 7, 890123456, time.UTC)
	return []transcript.Event{
		{
			Type: transcript.TypeModelCall, Time: t0, Agent: "coder", Model: "gpt-x",
			Messages: []model.Message{{Role: model.RoleSystem, Content: "be <brief> & right"}, {Role: model.RoleUser, Name: "lead", Content: "line1\nline2 \"quoted\""}},
			Content:  "ok\n", FinishReason: "stop",
			Usage:      &model.Usage{PromptTokens: 10, CompletionTokens: 2, TotalTokens: 12, Known: true},
			DurationMS: 12.5,
		},
		{
			Type: transcript.TypeModelCall, Time: t0.Add(time.Second).In(time.FixedZone("X", 3600)), Agent: "reviewer",
			Error: "slow down", ErrorKind: string(model.KindRateLimited),
		},
		{Type: "message", Time: t0.Add(2 * time.Second), Agent: "coder", Content: "héllo ✓", Extra: map[string]any{"to": "executor", "n": float64(3), "ok": true}},
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := transcript.NewWriter(&buf)
	want := sampleEvents()
	for _, e := range want {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("line %d is not valid JSON: %s", i+1, l)
		}
	}
	if !strings.HasSuffix(buf.String(), "\n") {
		t.Error("the last line does not end with a newline")
	}
	if !strings.Contains(lines[0], "<brief> & right") {
		t.Errorf("HTML characters escaped, want them readable: %s", lines[0])
	}

	got, err := transcript.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d events, want %d", len(got), len(want))
	}
	for i := range want {
		// Written to the millisecond (TestTimeFormat).
		if !got[i].Time.Equal(want[i].Time.Truncate(time.Millisecond)) {
			t.Errorf("event %d: time %v, want %v", i, got[i].Time, want[i].Time)
		}
		g, w := got[i], want[i]
		g.Time, w.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func TestWriteSetsZeroTime(t *testing.T) {
	var buf bytes.Buffer
	w := transcript.NewWriter(&buf)
	before := time.Now().Truncate(time.Millisecond) // as written
	if err := w.Write(transcript.Event{Type: "result"}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	got, err := transcript.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Time.Before(before) || got[0].Time.After(after) {
		t.Fatalf("time %v not set to now (between %v and %v)", got, before, after)
	}
}

// TestTimeFormat: every event is written with its time in UTC to the
// millisecond, always three digits, right after its type; transcripts
// written before, in local time with nanoseconds, read back the same.
func TestTimeFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		time time.Time
		want string
	}{
		{"utc", time.Date(2026, 11, 29, 10, 15, 0, 123456789, time.UTC), "2026-11-29T10:15:00.123Z"},
		{"local zone", time.Date(2026, 11, 29, 11, 15, 0, 123456789, time.FixedZone("CET", 3600)), "2026-11-29T10:15:00.123Z"},
		{"whole second", time.Date(2026, 11, 29, 10, 15, 0, 0, time.UTC), "2026-11-29T10:15:00.000Z"},
		{"tenths", time.Date(2026, 11, 29, 10, 15, 0, 100_000_000, time.UTC), "2026-11-29T10:15:00.100Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := transcript.NewWriter(&buf)
			if err := w.Write(transcript.Event{Type: "result", Time: tc.time, Content: "a <b> & c"}); err != nil {
				t.Fatal(err)
			}
			want := `{"type":"result","time":"` + tc.want + `","content":"a <b> & c"}` + "\n"
			if buf.String() != want {
				t.Fatalf("wrote %s want %s", buf.String(), want)
			}
			if got := transcript.FormatTime(tc.time); got != tc.want {
				t.Fatalf("FormatTime %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("old transcripts", func(t *testing.T) {
		old := `{"type":"task","time":"2026-11-29T04:06:10.394553085Z","content":"x"}` + "\n" +
			`{"type":"result","time":"2026-11-29T05:06:10.3945+01:00","content":"y"}` + "\n"
		evs, err := transcript.Read(strings.NewReader(old))
		want := time.Date(2026, 11, 29, 4, 6, 10, 394553085, time.UTC)
		if err != nil || len(evs) != 2 || !evs[0].Time.Equal(want) || !evs[1].Time.Equal(want.Truncate(100*time.Microsecond)) {
			t.Fatalf("read %+v, %v", evs, err)
		}
	})
}

func TestHugeLineRoundTrips(t *testing.T) {
	var buf bytes.Buffer
	w := transcript.NewWriter(&buf)
	big := strings.Repeat("0123456789abcde\n", 1<<16) // 1 MiB
	if err := w.Write(transcript.Event{Type: transcript.TypeModelCall, Content: big}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(transcript.Event{Type: "result", Content: "after"}); err != nil {
		t.Fatal(err)
	}
	got, err := transcript.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Content != big || got[1].Content != "after" {
		t.Fatalf("1 MiB line did not round-trip (got %d events)", len(got))
	}
}

func TestReadErrors(t *testing.T) {
	good := `{"type":"message","time":"2025-01-01T00:00:00Z","content":"hi"}`
	tests := []struct {
		name    string
		input   string
		want    []string // substrings of the error
		wantN   int      // events returned with the error
		wantErr bool
	}{
		{name: "blank lines skipped", input: "\n" + good + "\n\n  \n" + good + "\n", wantN: 2},
		{name: "CRLF line endings", input: good + "\r\n" + good + "\r\n", wantN: 2},
		{name: "complete last line without newline", input: good + "\n" + good, wantN: 2},
		{name: "empty input", input: "", wantN: 0},
		{name: "bad line in the middle", input: good + "\n\n{not json}\n" + good + "\n", wantErr: true, want: []string{"line 3", "not a JSON event"}, wantN: 1},
		{name: "not an object", input: good + "\n42\n", wantErr: true, want: []string{"line 2"}, wantN: 1},
		{name: "no type", input: `{"content":"x"}` + "\n", wantErr: true, want: []string{"line 1", "no type"}},
		{name: "truncated last line", input: good + "\n" + good + "\n" + good[:30], wantErr: true, want: []string{"line 3", "truncated"}, wantN: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := transcript.Read(strings.NewReader(tt.input))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if len(got) != tt.wantN {
				t.Errorf("got %d events, want %d", len(got), tt.wantN)
			}
		})
	}
}

func TestConcurrentWritesStayWholeLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.jsonl")
	w, err := transcript.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 8, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// Long enough that a torn write would show.
				c := fmt.Sprintf("g%d-i%d-", g, i) + strings.Repeat(string(rune('a'+g)), 5000)
				if err := w.Write(transcript.Event{Type: "message", Agent: fmt.Sprint(g), Content: c}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := transcript.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != goroutines*each {
		t.Fatalf("read %d events, want %d", len(got), goroutines*each)
	}
	next := map[string]int{}
	for _, e := range got {
		var g, i int
		if _, err := fmt.Sscanf(e.Content, "g%d-i%d-", &g, &i); err != nil {
			t.Fatalf("bad content %.40q: %v", e.Content, err)
		}
		if e.Agent != fmt.Sprint(g) || !strings.HasSuffix(e.Content, strings.Repeat(string(rune('a'+g)), 5000)) {
			t.Fatalf("event mixes writers: agent %s, content %.40q", e.Agent, e.Content)
		}
		if i != next[e.Agent] {
			t.Fatalf("goroutine %d: event %d came after %d", g, i, next[e.Agent]-1)
		}
		next[e.Agent]++
	}
}

func TestCreate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.jsonl")
	// An existing, wider file is truncated and narrowed.
	if err := os.WriteFile(path, []byte("old stuff\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := transcript.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(transcript.Event{Type: "message", Content: "new"}); err != nil {
		t.Fatal(err)
	}
	// Written straight through: readable before Close.
	got, err := transcript.ReadFile(path)
	if err != nil || len(got) != 1 || got[0].Content != "new" {
		t.Fatalf("before close: %v, %v", got, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.Write(transcript.Event{Type: "message"}); err == nil {
		t.Error("Write after Close succeeded")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	for _, p := range []string{filepath.Join(dir, "fresh.jsonl")} {
		w, err := transcript.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("new file mode %v (%v), want 0600", fi.Mode().Perm(), err)
		}
	}
	if _, err := transcript.Create(filepath.Join(dir, "missing", "t.jsonl")); err == nil {
		t.Error("Create in a missing directory succeeded")
	}
	if _, err := transcript.ReadFile(filepath.Join(dir, "nope.jsonl")); err == nil {
		t.Error("ReadFile of a missing file succeeded")
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	f.n++
	if f.n > 1 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriteErrorIsSticky(t *testing.T) {
	fw := &failWriter{}
	w := transcript.NewWriter(fw)
	if err := w.Write(transcript.Event{Type: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(transcript.Event{Type: "b"}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("second write: %v, want disk full", err)
	}
	if err := w.Write(transcript.Event{Type: "c"}); err == nil {
		t.Fatal("write after a failed write succeeded")
	}
	if fw.n != 2 {
		t.Errorf("writer called %d times, want 2 (no writes after a failure)", fw.n)
	}
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Close = %v, want the write error", err)
	}
}

func TestRecord(t *testing.T) {
	msgs := []model.Message{{Role: model.RoleSystem, Content: "you code"}, {Role: model.RoleUser, Content: "write hello.py"}}
	tests := []struct {
		name      string
		m         model.Model
		wantReply model.Reply
		wantErr   string
		check     func(t *testing.T, e transcript.Event)
	}{
		{
			name: "reply",
			m: fake.New(fake.Step{Delay: 2 * time.Millisecond, Reply: model.Reply{
				Content: "print('hi') # greet", Reasoning: "A greeting is asked.", FinishReason: "stop", Model: "gpt-x-2025",
				Usage: model.Usage{PromptTokens: 7, CompletionTokens: 3, TotalTokens: 10, Known: true},
			}}),
			wantReply: model.Reply{
				Content: "print('hi') # greet", Reasoning: "A greeting is asked.", FinishReason: "stop", Model: "gpt-x-2025",
				Usage: model.Usage{PromptTokens: 7, CompletionTokens: 3, TotalTokens: 10, Known: true},
			},
			check: func(t *testing.T, e transcript.Event) {
				if e.Content != "print('hi') # greet" || e.Reasoning != "A greeting is asked." || e.FinishReason != "stop" {
					t.Errorf("content %q reasoning %q finish %q", e.Content, e.Reasoning, e.FinishReason)
				}
				if e.Usage == nil || *e.Usage != (model.Usage{PromptTokens: 7, CompletionTokens: 3, TotalTokens: 10, Known: true}) {
					t.Errorf("usage %+v", e.Usage)
				}
				if e.Extra[transcript.ExtraReplyModel] != "gpt-x-2025" {
					t.Errorf("reply model not kept: %v", e.Extra)
				}
				if e.Error != "" || e.ErrorKind != "" {
					t.Errorf("error recorded for a reply: %q %q", e.Error, e.ErrorKind)
				}
			},
		},
		{
			name:    "model error",
			m:       fake.New(fake.Step{Delay: 2 * time.Millisecond, Err: &model.Error{Kind: model.KindRateLimited, Status: 429, Message: "slow down"}}),
			wantErr: "model rate_limited (HTTP 429): slow down",
			check: func(t *testing.T, e transcript.Event) {
				if e.Error != "slow down" || e.ErrorKind != string(model.KindRateLimited) {
					t.Errorf("error %q kind %q", e.Error, e.ErrorKind)
				}
				if e.Extra[transcript.ExtraStatus] != float64(429) {
					t.Errorf("status not kept: %v", e.Extra)
				}
				if e.Content != "" || e.Usage != nil {
					t.Errorf("reply recorded for an error: %q %+v", e.Content, e.Usage)
				}
			},
		},
		{
			name:    "plain error",
			m:       fake.New(fake.Step{Delay: 2 * time.Millisecond, Err: errors.New("boom with key=abcdefghijklmnopqrstuvwxyz")}),
			wantErr: "boom",
			check: func(t *testing.T, e transcript.Event) {
				if e.Error != "boom with key=[redacted]" || e.ErrorKind != "" {
					t.Errorf("error %q kind %q", e.Error, e.ErrorKind)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := transcript.NewWriter(&buf)
			m := transcript.Record(tt.m, "coder", w)
			var pieces []string
			reply, err := m.Complete(context.Background(), model.Request{
				Model: "gpt-x", Messages: msgs, OnDelta: func(d string) { pieces = append(pieces, d) },
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if reply != tt.wantReply {
					t.Errorf("reply %+v, want %+v", reply, tt.wantReply)
				}
				if strings.Join(pieces, "") != tt.wantReply.Content || len(pieces) < 2 {
					t.Errorf("OnDelta not passed through: %q", pieces)
				}
			}
			events, rerr := transcript.Read(&buf)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if len(events) != 1 {
				t.Fatalf("%d events, want 1", len(events))
			}
			e := events[0]
			if e.Type != transcript.TypeModelCall || e.Agent != "coder" || e.Model != "gpt-x" {
				t.Errorf("type %q agent %q model %q", e.Type, e.Agent, e.Model)
			}
			if !reflect.DeepEqual(e.Messages, msgs) {
				t.Errorf("messages %+v, want %+v", e.Messages, msgs)
			}
			if e.DurationMS <= 0 {
				t.Errorf("duration %v, want > 0", e.DurationMS)
			}
			if e.Time.IsZero() {
				t.Error("no time")
			}
			tt.check(t, e)
		})
	}
}

func TestRecordCancelled(t *testing.T) {
	var buf bytes.Buffer
	m := transcript.Record(fake.New(fake.Step{Delay: time.Hour}), "executor", transcript.NewWriter(&buf))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := m.Complete(ctx, model.Request{Messages: []model.Message{{Role: model.RoleUser, Content: "x"}}})
	if model.KindOf(err) != model.KindCanceled {
		t.Fatalf("err = %v, want cancelled", err)
	}
	events, rerr := transcript.Read(&buf)
	if rerr != nil || len(events) != 1 || events[0].ErrorKind != string(model.KindCanceled) {
		t.Fatalf("events %+v, %v", events, rerr)
	}
}

func TestAppend(t *testing.T) {
	for _, tc := range []struct{ name, before, want string }{
		{"whole lines", `{"type":"task"}` + "\n", "task result"},
		{"torn last line", `{"type":"task"}` + "\n" + `{"type":"mess`, "task result"},
		{"only a torn line", `{"type":"mess`, "result"},
		{"empty", "", "result"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "t.jsonl")
			if err := os.WriteFile(path, []byte(tc.before), 0o600); err != nil {
				t.Fatal(err)
			}
			w, err := transcript.Append(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(transcript.Event{Type: "result"}); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			events, err := transcript.ReadFile(path)
			var types []string
			for _, e := range events {
				types = append(types, e.Type)
			}
			if err != nil || strings.Join(types, " ") != tc.want {
				t.Fatalf("events %v, err %v; want %s", types, err, tc.want)
			}
		})
	}
	if _, err := transcript.Append(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("Append made a missing transcript")
	}
}

// Tee sees each line as written to the transcript, in order, and none
// that could not be written.
func TestTee(t *testing.T) {
	var file, teed bytes.Buffer
	w := transcript.NewWriter(&file)
	w.Tee(func(line []byte) { teed.Write(line) })
	for _, typ := range []string{"task", "message", "result"} {
		if err := w.Write(transcript.Event{Type: typ}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if teed.String() != file.String() || strings.Count(teed.String(), "\n") != 3 {
		t.Errorf("teed %q, wrote %q", teed.String(), file.String())
	}
	if err := w.Write(transcript.Event{Type: "late"}); err == nil || strings.Contains(teed.String(), "late") {
		t.Errorf("a write after close: %v, teed %q", err, teed.String())
	}
}
