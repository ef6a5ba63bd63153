// Package safetext owns how text that came out of the sandbox or from a
// model is made safe to show: on a terminal, in a model's prompt, in a
// report. Program output keeps its line structure; names (file names,
// paths) are escaped to a single line, since a name printed outside a fence
// must never be able to look like the executor's own words.
package safetext

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Output renders hostile output so that it is safe on a terminal and in a
// model's prompt: invalid UTF-8 becomes U+FFFD, and control characters other
// than newline and tab (escape sequences such as ANSI colours or OSC 52
// clipboard writes, carriage returns that overwrite a line, NUL) are shown as
// visible escapes like \x1b instead of being passed through.
func Output(s string) string { return escape(s, true) }

// Name renders a file name or path made by the sandbox as one line: like
// Output, but newline and tab are escaped too (\n, \t), as is a backslash
// that would otherwise make an escape ambiguous, and invalid UTF-8 bytes are
// shown as \xNN so that two different names never print alike.
func Name(s string) string { return escape(s, false) }

// Line renders a message (an error, a reason) as one printable line for a
// summary or a record: like Output, with every run of white space, line
// breaks included, made one space.
func Line(s string) string { return strings.Join(strings.Fields(Output(s)), " ") }

func escape(s string, keepLines bool) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) && (!keepLines || r != '\n' && r != '\t') ||
			r == '\u2028' || r == '\u2029' || !keepLines && r == '\\' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			if keepLines {
				b.WriteRune(utf8.RuneError)
			} else {
				fmt.Fprintf(&b, `\x%02x`, s[i])
			}
		case keepLines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\\' && !keepLines:
			b.WriteString(`\\`)
		case r < 0x80 && unicode.IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
