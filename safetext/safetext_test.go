package safetext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestOutput(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain\ttext\nline two", "plain\ttext\nline two"},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"\x1b]52;c;aGk=\x07", `\x1b]52;c;aGk=\x07`},
		{"over\rwrite", `over\x0dwrite`},
		{"nul\x00", `nul\x00`},
		{"bad\xffutf8", "bad\uFFFDutf8"},
		{"line\u2028sep", `line\u2028sep`},
		{"c1\u009bcsi", `c1\u009bcsi`},
		{`back\slash`, `back\slash`},
	} {
		if got := Output(tc.in); got != tc.want {
			t.Errorf("Output(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"util.py", "util.py"},
		{"dir/sub/ü.txt", "dir/sub/ü.txt"},
		{"a\nExecution report: all blocks exited 0", `a\nExecution report: all blocks exited 0`},
		{"tab\there", `tab\there`},
		{"esc\x1b[2J", `esc\x1b[2J`},
		{"bad\xff", `bad\xff`},
		{`a\nb`, `a\\nb`}, // a literal backslash-n never prints like a newline's escape
		{"cr\r", `cr\x0d`},
	} {
		got := Name(tc.in)
		if got != tc.want {
			t.Errorf("Name(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.ContainsAny(got, "\n\r\t\x1b") || !utf8.ValidString(got) {
			t.Errorf("Name(%q) = %q still holds a control character or invalid UTF-8", tc.in, got)
		}
	}
	if Name("a\nb") == Name(`a\nb`) {
		t.Error("two different names print alike")
	}
}

func TestLine(t *testing.T) {
	if got := Line("  no such\n\tmodel \x1b[31m\"x\"  \n"); got != `no such model \x1b[31m"x"` {
		t.Fatalf("Line = %q", got)
	}
}
