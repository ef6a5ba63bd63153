package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestLiveOutputLines: chunks become whole lines, escaped, each marked by
// stream; a line without its end waits for it, up to partialWait, and a
// rune cut by the chunking waits for its end.
func TestLiveOutputLines(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type step struct {
		stream string // "" for a call of due
		chunk  string
		at     time.Duration
		all    bool // due(all)
		want   []string
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"lines across chunks", []step{
			{stream: "stdout", chunk: "a\nb", want: []string{"o:a"}},
			{stream: "stdout", chunk: "c\n\nd\n", want: []string{"o:bc", "o:", "o:d"}},
		}},
		{"escapes escaped", []step{
			{stream: "stdout", chunk: "\x1b[31mred\r\x1b]52;c;QUFB\x07\x00\xff\n", want: []string{`o:\x1b[31mred\x0d\x1b]52;c;QUFB\x07\x00` + "\uFFFD"}},
		}},
		{"streams apart", []step{
			{stream: "stdout", chunk: "out"},
			{stream: "stderr", chunk: "err\n", want: []string{"e:err"}},
			{stream: "stdout", chunk: "put\n", want: []string{"o:output"}},
		}},
		{"a line without its end", []step{
			{stream: "stdout", chunk: "prompt: "},
			{at: 500 * time.Millisecond},
			{at: 1100 * time.Millisecond, want: []string{"o:prompt: "}},
			{stream: "stdout", chunk: "yes\n", at: 1200 * time.Millisecond, want: []string{"o:yes"}},
		}},
		{"the next chunk brings a waiting line out", []step{
			{stream: "stderr", chunk: "50%"},
			{stream: "stdout", chunk: "x", at: 2 * time.Second, want: []string{"e:50%"}},
			{all: true, at: 2 * time.Second, want: []string{"o:x"}},
		}},
		{"a cut rune waits for its end", []step{
			{stream: "stdout", chunk: "caf\xc3"},
			{at: 2 * time.Second, want: []string{"o:caf"}},
			{stream: "stdout", chunk: "\xa9!\n", at: 2 * time.Second, want: []string{"o:é!"}},
		}},
		{"the end shows what is left, a cut rune too", []step{
			{stream: "stdout", chunk: "a\nb\xc3", want: []string{"o:a"}},
			{all: true, want: []string{"o:b\uFFFD"}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var l liveOutput
			for i, s := range tc.steps {
				var got []liveLine
				if s.stream != "" {
					got = l.add(s.stream, []byte(s.chunk), t0.Add(s.at))
				} else {
					got = l.due(t0.Add(s.at), s.all)
				}
				var shown []string
				for _, g := range got {
					shown = append(shown, map[bool]string{false: "o:", true: "e:"}[g.stderr]+g.text)
				}
				if strings.Join(shown, "|") != strings.Join(s.want, "|") {
					t.Fatalf("step %d: lines %q, want %q", i+1, shown, s.want)
				}
			}
		})
	}
}

// TestLiveOutputBudget: a flood shows maxLiveLines lines and a note, and
// the end of the block shows what was not seen: the few lines left whole,
// or the last endLines under a note.
func TestLiveOutputBudget(t *testing.T) {
	lines := func(from, to int) string {
		var b strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&b, "line %d\n", i)
		}
		return b.String()
	}
	cases := []struct {
		name   string
		n      int    // lines printed
		text   string // as the result keeps it; "" for all of them
		total  int64  // 0: len of all
		rest   []string
		noted  bool // the live lines end with the budget's note
		stderr bool
	}{
		{name: "all shown", n: 50, rest: nil},
		{name: "a few past the budget", n: maxLiveLines + 4, noted: true,
			rest: []string{"  line 200", "  line 201", "  line 202", "  line 203"}},
		{name: "many past the budget", n: 500, noted: true,
			rest: append([]string{"  [… stdout: 4390 bytes in all; the last lines:]"}, strings.Split(strings.TrimSuffix(strings.ReplaceAll(lines(490, 500), "line", "  line"), "\n"), "\n")...)},
		{name: "cut by the sandbox", n: 300, noted: true, text: lines(0, 20) + "\n[... 100 bytes omitted ...]\n" + lines(298, 300), total: 99999,
			rest: []string{"  [… stdout: 99999 bytes in all; the last lines:]", "  line 14", "  line 15", "  line 16", "  line 17", "  line 18", "  line 19", "  ", "  [... 100 bytes omitted ...]", "  line 298", "  line 299"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			all := lines(0, tc.n)
			text, total := all, int64(len(all))
			if tc.text != "" {
				text, total = tc.text, tc.total
			}
			var l liveOutput
			var shown []liveLine
			for _, line := range strings.SplitAfter(all, "\n") {
				shown = append(shown, l.add("stdout", []byte(line), time.Now())...)
			}
			shown = append(shown, l.due(time.Now(), true)...)
			want := min(tc.n, maxLiveLines)
			if tc.noted {
				want++
			}
			if len(shown) != want || tc.noted != shown[len(shown)-1].note {
				t.Fatalf("%d lines shown live (last %+v), want %d", len(shown), shown[len(shown)-1], want)
			}
			rest := l.restOf("stdout", text, total, false)
			if strings.Join(rest, "\n") != strings.Join(tc.rest, "\n") {
				t.Fatalf("rest:\n%s\nwant:\n%s", strings.Join(rest, "\n"), strings.Join(tc.rest, "\n"))
			}
		})
	}
}

func TestUTF8Carry(t *testing.T) {
	var c utf8Carry
	got := []string{c.take("stdout", []byte("a\xe2\x82")), c.take("stderr", []byte("\xe2")), c.take("stdout", []byte("\xac b")), c.rest("stderr"), c.rest("stdout")}
	want := []string{"a", "", "€ b", "\xe2", ""}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("%q, want %q", got, want)
	}
}
