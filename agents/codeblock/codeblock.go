// Package codeblock owns reading the fenced code blocks out of a model's Markdown message.
//
// It implements the CommonMark fenced code block rules, simplified for LLM
// output: container blocks (lists, block quotes) are not interpreted, and only
// spaces count as indentation.
package codeblock

import (
	"fmt"
	"strings"
)

// Languages the sandbox runs, after normalisation.
const (
	Python = "python"
	Sh     = "sh"
	Bash   = "bash"
)

// Block is one fenced code block of a message.
type Block struct {
	Index int // 0-based position among all fenced blocks of the message
	Line  int // 1-based line of the opening fence in the message
	// Tag is the info string's first word as written ("" when untagged),
	// e.g. "Python3". A pandoc-style wrapping such as "{.python}" or
	// "{python}" is removed, leaving "python".
	Tag string
	// Language is Tag normalised: Python for python/py/python3, Sh for
	// sh/shell, Bash for bash (case-insensitive); otherwise
	// strings.ToLower(Tag); "" when untagged.
	Language string
	// Code is the body with LF line endings, without the fences: the body
	// lines joined by "\n", plus a trailing "\n" when there is at least one
	// line ("" for an empty block). The "# filename:" line is kept.
	Code string
	// Filename comes from a first body line "# filename: NAME" (also
	// "#filename:NAME", case-insensitive key, surrounding spaces trimmed);
	// "" when absent. It is NOT validated here.
	Filename string
	// Unclosed reports that the fence was never closed (the message ended
	// first, e.g. a reply cut off by max tokens).
	Unclosed bool
}

// Runnable reports whether the sandbox should run the block: a known language and a closed fence.
func (b Block) Runnable() bool { return b.SkipReason() == "" }

// SkipReason says why a block is not run ("untagged code block",
// "unsupported language \"ruby\"", "unclosed code fence"), "" when Runnable.
// Language problems are reported before an unclosed fence.
func (b Block) SkipReason() string {
	switch {
	case b.Language == "":
		return "untagged code block"
	case b.Language != Python && b.Language != Sh && b.Language != Bash:
		return fmt.Sprintf("unsupported language %q", b.Language)
	case b.Unclosed:
		return "unclosed code fence"
	}
	return ""
}

// Extract returns every fenced block of message, in order. It never panics.
func Extract(message string) []Block {
	return scan(splitLines(message), nil)
}

// ProseLines returns the lines of message outside every fenced block, in
// order: neither fence lines nor bodies, and nothing after an unclosed
// fence. CRLF and lone CR become line ends; each line is otherwise as
// written (indentation kept), so callers can still tell quotes and
// indented code apart. Fences are those Extract finds.
func ProseLines(message string) []string {
	var prose []string
	scan(splitLines(message), func(line string) { prose = append(prose, line) })
	return prose
}

// scan returns the fenced blocks of lines and, when prose is not nil,
// calls it with every line outside them. One walk serves Extract and
// ProseLines so that both always agree on what is code.
func scan(lines []string, prose func(line string)) []Block {
	var blocks []Block
	for i := 0; i < len(lines); i++ {
		f, ok := openingFence(lines[i])
		if !ok {
			if prose != nil {
				prose(lines[i])
			}
			continue
		}
		b := Block{Index: len(blocks), Line: i + 1, Tag: f.tag, Language: normalise(f.tag), Unclosed: true}
		var body []string
		for i++; i < len(lines); i++ {
			if f.closedBy(lines[i]) {
				b.Unclosed = false
				break
			}
			body = append(body, stripSpaces(lines[i], f.indent))
		}
		if len(body) > 0 {
			b.Code = strings.Join(body, "\n") + "\n"
			b.Filename = filename(body[0])
		}
		blocks = append(blocks, b)
	}
	return blocks
}

// splitLines normalises CRLF and lone CR to LF and splits message into lines.
// A final "\n" terminates the last line rather than starting an empty one.
func splitLines(message string) []string {
	message = strings.ReplaceAll(message, "\r\n", "\n")
	message = strings.ReplaceAll(message, "\r", "\n")
	message = strings.TrimSuffix(message, "\n")
	if message == "" {
		return nil
	}
	return strings.Split(message, "\n")
}

// fence describes an opening fence.
type fence struct {
	char   byte   // '`' or '~'
	length int    // number of fence characters, at least 3
	indent int    // spaces before the fence, 0-3
	tag    string // see Block.Tag
}

// leadingFence splits line into its indentation (0-3 spaces) and a run of at
// least 3 backticks or tildes, returning the rest of the line after the run.
func leadingFence(line string) (indent int, char byte, length int, rest string, ok bool) {
	for indent < len(line) && line[indent] == ' ' {
		indent++
	}
	if indent > 3 || indent == len(line) {
		return 0, 0, 0, "", false
	}
	char = line[indent]
	if char != '`' && char != '~' {
		return 0, 0, 0, "", false
	}
	end := indent
	for end < len(line) && line[end] == char {
		end++
	}
	length = end - indent
	if length < 3 {
		return 0, 0, 0, "", false
	}
	return indent, char, length, line[end:], true
}

func openingFence(line string) (fence, bool) {
	indent, char, length, info, ok := leadingFence(line)
	// A backtick in a backtick fence's info string would make inline code
	// like ```x``` look like a fence, so CommonMark rules it out.
	if !ok || (char == '`' && strings.ContainsRune(info, '`')) {
		return fence{}, false
	}
	return fence{char: char, length: length, indent: indent, tag: tagOf(info)}, true
}

// closedBy reports whether line closes f: the same character, at least as
// many of them, and nothing but spaces or tabs after.
func (f fence) closedBy(line string) bool {
	_, char, length, rest, ok := leadingFence(line)
	return ok && char == f.char && length >= f.length && strings.Trim(rest, " \t") == ""
}

// tagOf returns the first word of an info string, with a pandoc-style
// "{.python}" or "{python}" wrapping removed.
func tagOf(info string) string {
	words := strings.Fields(info)
	if len(words) == 0 {
		return ""
	}
	tag := strings.TrimPrefix(words[0], "{")
	tag = strings.TrimSuffix(tag, "}")
	return strings.TrimPrefix(tag, ".")
}

func normalise(tag string) string {
	switch lang := strings.ToLower(tag); lang {
	case "python", "py", "python3":
		return Python
	case "sh", "shell":
		return Sh
	default:
		return lang // includes Bash
	}
}

// stripSpaces removes up to n leading spaces from line: the body of a fence
// indented by n spaces is indented relative to it (CommonMark rule).
func stripSpaces(line string, n int) string {
	i := 0
	for i < n && i < len(line) && line[i] == ' ' {
		i++
	}
	return line[i:]
}

// filename returns NAME from a directive line "# filename: NAME", or "".
func filename(line string) string {
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "#")
	if !ok {
		return ""
	}
	rest = strings.TrimLeft(rest, " \t")
	const key = "filename"
	if len(rest) < len(key) || !strings.EqualFold(rest[:len(key)], key) {
		return ""
	}
	rest, ok = strings.CutPrefix(strings.TrimLeft(rest[len(key):], " \t"), ":")
	if !ok {
		return ""
	}
	return strings.TrimSpace(rest)
}
