// Package codeblock owns reading the fenced code blocks out of a model's Markdown message.
//
// It implements the CommonMark fenced code block rules, simplified for LLM
// output: list items are followed for their indentation only (a fence under
// "1. " or "- " is found however far the item indents it, and its body is
// unindented by as much), block quotes are not interpreted, only spaces
// count as indentation, and a body line less indented than its fence does
// not end the block. One shape models write that CommonMark lacks is
// accepted: a closing fence at the end of the last code line
// ("print(x)```") closes a block that no fence line closes.
package codeblock

import (
	"fmt"
	"strings"
)

// Languages the sandbox runs, after normalisation.
const (
	Python     = "python"
	Sh         = "sh"
	Bash       = "bash"
	JavaScript = "javascript"
)

// Block is one fenced code block of a message.
type Block struct {
	Index int // 0-based position among all fenced blocks of the message
	Line  int // 1-based line of the opening fence in the message
	// End is the 1-based line the block ends on: its closing fence, or its
	// last body line when the fence closed at the end of that line or was
	// never closed (Line itself for an unclosed fence with no body).
	End int
	// Tag is the info string's first word as written ("" when untagged),
	// e.g. "Python3". A pandoc-style wrapping such as "{.python}" or
	// "{python}" is removed, leaving "python".
	Tag string
	// Language is Tag normalised: Python for python/py/python3, Sh for
	// sh/shell, Bash for bash, JavaScript for javascript/js/node/nodejs
	// (case-insensitive); otherwise strings.ToLower(Tag); "" when untagged.
	Language string
	// Code is the body with LF line endings, without the fences and
	// without the indentation of the opening fence: the body lines joined
	// by "\n", plus a trailing "\n" when there is at least one line (""
	// for an empty block). The filename line is kept.
	Code string
	// Filename comes from a first body line that is a comment naming the
	// block's file, in the forms AutoGen accepts and SQL's:
	// "# filename: NAME", "// filename: NAME", "-- filename: NAME",
	// "/* filename: NAME */", "<!-- filename: NAME -->" (case-insensitive
	// key, spaces optional around it, the name trimmed); "" when absent.
	// It is NOT validated here.
	Filename string
	// Unclosed reports that the fence was never closed (the message ended
	// first, e.g. a reply cut off by max tokens).
	Unclosed bool
}

// runs reports whether the sandbox runs a normalised language.
func runs(language string) bool {
	switch language {
	case Python, Sh, Bash, JavaScript:
		return true
	}
	return false
}

// console reports whether a normalised language is a terminal session:
// commands after "$ " prompts mixed with their output, which is shown, not
// meant to be run as it stands.
func console(language string) bool {
	switch language {
	case "console", "shell-session", "shellsession", "terminal":
		return true
	}
	return false
}

// Runnable reports whether the sandbox should run the block: a language it
// runs and a closed fence.
func (b Block) Runnable() bool { return runs(b.Language) && !b.Unclosed }

// SaveOnly reports whether the block should be saved under its Filename
// and not run: a closed fence whose first line names a file, in a language
// the sandbox does not run. Untagged blocks are saved too: naming the file
// says what the model wants done with it, and saving runs nothing.
func (b Block) SaveOnly() bool { return !runs(b.Language) && b.Filename != "" && !b.Unclosed }

// FileContents is what a SaveOnly block saves: Code without its filename
// line, which tells the executor where to save and is no part of the file
// (a JSON file cannot hold a comment). It is Code when there is no
// Filename.
func (b Block) FileContents() string {
	if b.Filename == "" {
		return b.Code
	}
	_, rest, _ := strings.Cut(b.Code, "\n")
	return rest
}

// SkipReason says why a block is neither run nor saved ("untagged code
// block", "unsupported language \"ruby\"", "unclosed code fence", or why a
// console session is not run), "" when Runnable or SaveOnly. An unclosed
// fence is reported first when the block would have been run or saved,
// otherwise the language is.
func (b Block) SkipReason() string {
	switch {
	case b.Runnable() || b.SaveOnly():
		return ""
	case b.Unclosed && (runs(b.Language) || b.Filename != ""):
		return "unclosed code fence"
	case b.Language == "":
		return "untagged code block"
	case console(b.Language):
		return fmt.Sprintf("%q block: a terminal session (prompts and output) is shown, not run; put the commands alone in a sh block", b.Language)
	}
	return fmt.Sprintf("unsupported language %q", b.Language)
}

// Extract returns every fenced block of message, in order. It never panics.
func Extract(message string) []Block {
	return scan(splitLines(message), nil)
}

// ProseLines returns the lines of message outside every fenced block, in
// order: neither fence lines nor bodies, and nothing after an unclosed
// fence. CRLF and lone CR become line ends; each line is otherwise as
// written (indentation and list markers kept), so callers can still tell
// quotes and indented code apart. Fences are those Extract finds.
func ProseLines(message string) []string {
	var prose []string
	scan(splitLines(message), func(line string) { prose = append(prose, line) })
	return prose
}

// scan returns the fenced blocks of lines and, when prose is not nil,
// calls it with every line outside them. One walk serves Extract and
// ProseLines so that both always agree on what is code.
func scan(lines []string, prose func(line string)) []Block {
	var (
		blocks []Block
		items  listItems
	)
	for i := 0; i < len(lines); i++ {
		col, base := items.enter(lines[i])
		f, ok := openingFence(lines[i], col, base)
		if !ok {
			if prose != nil {
				prose(lines[i])
			}
			continue
		}
		items.para = false // text after a block cannot continue a paragraph before it
		body, used, closed := f.read(lines[i+1:])
		b := Block{Index: len(blocks), Line: i + 1, End: i + 1 + used, Tag: f.tag, Language: normalise(f.tag), Unclosed: !closed}
		if len(body) > 0 {
			b.Code = strings.Join(body, "\n") + "\n"
			b.Filename = filename(body[0])
		}
		blocks = append(blocks, b)
		i += used
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

// listItems follows the list items open at each line outside fences
// (CommonMark container indentation, simplified), so that a fence nested
// in an item is found at the item's indentation.
type listItems struct {
	cols []int // content column of each open item, innermost last
	// para: the last line was paragraph text, which the next line may
	// continue however little it is indented (a lazy continuation line).
	para bool
}

// top returns the content column of the innermost of the first n items, 0
// for none.
func (l *listItems) top(n int) int {
	if n == 0 {
		return 0
	}
	return l.cols[n-1]
}

// enter takes the next line outside any fence, updates the open items and
// returns where the line's content starts and the content column of the
// innermost item holding it (0 outside lists). A fence opens at col only
// if col-base is at most 3.
func (l *listItems) enter(line string) (col, base int) {
	ind := indentOf(line)
	if ind == len(line) { // blank: it ends a paragraph, not an item
		l.para = false
		return ind, l.top(len(l.cols))
	}
	held := len(l.cols) // the items the line is indented into
	for held > 0 && l.cols[held-1] > ind {
		held--
	}
	base = l.top(held)
	rest := line[ind:]
	if ind-base <= 3 {
		if content, start, ok := listMarker(line, ind); ok {
			l.cols = append(l.cols[:held], content)
			// "- 1. text" opens an item inside an item.
			for start-content <= 3 {
				c, s, ok := listMarker(line, start)
				if !ok {
					break
				}
				l.cols, content, start = append(l.cols, c), c, s
			}
			l.para = start < len(line) && !heading(line[start:])
			return start, content
		}
	}
	// A fence or a heading interrupts a paragraph; anything else, even a
	// line too indented to be either, continues it in whatever item it is.
	interrupts := ind-base <= 3 && (fenceRun(rest) || heading(rest))
	if l.para && !interrupts {
		return ind, l.top(len(l.cols))
	}
	l.cols = l.cols[:held]
	l.para = ind-base <= 3 && !interrupts // deeper is indented code, not a paragraph
	return ind, base
}

// listMarker reads a list item marker ("-", "+", "*", or 1-9 digits and
// "." or ")") at line[at:], followed by a space or the line's end, and
// returns the item's content column and where its content starts on this
// line (they differ only when 5 or more spaces follow the marker: the
// content is then indented code).
func listMarker(line string, at int) (content, start int, ok bool) {
	m := at
	switch {
	case m < len(line) && strings.IndexByte("-+*", line[m]) >= 0:
		m++
	default:
		for m < len(line) && m-at < 9 && line[m] >= '0' && line[m] <= '9' {
			m++
		}
		if m == at || m == len(line) || (line[m] != '.' && line[m] != ')') {
			return 0, 0, false
		}
		m++
	}
	spaces := indentOf(line[m:])
	switch {
	case m+spaces == len(line): // an item that starts empty
		return m + 1, len(line), true
	case spaces == 0:
		return 0, 0, false // "-x", "1.5": not a marker
	case spaces > 4:
		return m + 1, m + spaces, true
	}
	return m + spaces, m + spaces, true
}

// heading reports whether s (content without indentation) is an ATX
// heading, which never continues a paragraph.
func heading(s string) bool {
	level := len(s) - len(strings.TrimLeft(s, "#"))
	return level >= 1 && level <= 6 && (level == len(s) || s[level] == ' ' || s[level] == '\t')
}

// fenceRun reports whether s starts with three or more backticks or tildes.
func fenceRun(s string) bool {
	return strings.HasPrefix(s, "```") || strings.HasPrefix(s, "~~~")
}

// indentOf counts the leading spaces of line.
func indentOf(line string) int {
	return len(line) - len(strings.TrimLeft(line, " "))
}

// fence describes an opening fence.
type fence struct {
	char   byte   // '`' or '~'
	length int    // number of fence characters, at least 3
	indent int    // column of the fence characters: spaces removed from each body line
	base   int    // content column of the list item holding the fence, 0 outside lists
	tag    string // see Block.Tag
}

// fenceAt reads a run of at least 3 backticks or tildes at line[at:] and
// returns the rest of the line after it.
func fenceAt(line string, at int) (char byte, length int, rest string, ok bool) {
	if at >= len(line) || (line[at] != '`' && line[at] != '~') {
		return 0, 0, "", false
	}
	char = line[at]
	end := at
	for end < len(line) && line[end] == char {
		end++
	}
	if end-at < 3 {
		return 0, 0, "", false
	}
	return char, end - at, line[end:], true
}

// openingFence reads an opening fence whose characters start at col, in
// the list item whose content column is base.
func openingFence(line string, col, base int) (fence, bool) {
	if col < base || col-base > 3 {
		return fence{}, false // indented code, not a fence
	}
	char, length, info, ok := fenceAt(line, col)
	// A backtick in a backtick fence's info string would make inline code
	// like ```x``` look like a fence, so CommonMark rules it out.
	if !ok || (char == '`' && strings.ContainsRune(info, '`')) {
		return fence{}, false
	}
	return fence{char: char, length: length, indent: col, base: base, tag: tagOf(info)}, true
}

// closedBy reports whether line closes f: at most 3 spaces deeper than the
// item holding f, the same character, at least as many of them, and
// nothing but spaces or tabs after.
func (f fence) closedBy(line string) bool {
	ind := indentOf(line)
	if ind > f.base+3 {
		return false
	}
	char, length, rest, ok := fenceAt(line, ind)
	return ok && char == f.char && length >= f.length && strings.Trim(rest, " \t") == ""
}

// endsClosed returns code, line without a closing fence ending it after
// some code ("print(x)```"), and whether there was one.
func (f fence) endsClosed(line string) (code string, ok bool) {
	trimmed := strings.TrimRight(line, " \t")
	code = strings.TrimRight(trimmed, string(f.char))
	if len(trimmed)-len(code) < f.length {
		return "", false
	}
	code = strings.TrimRight(code, " \t")
	return code, strings.TrimSpace(code) != ""
}

// read returns the body of the block f opens, given the lines after its
// opening fence, how many of those lines the block takes (its closing fence
// included), and whether it is closed. When no fence line closes it, the
// first line that ends with a closing fence after some code does: models
// write "print(x)```", while a reply cut by its token limit has no such
// line and stays unclosed.
func (f fence) read(lines []string) (body []string, used int, closed bool) {
	last := -1 // the first line ending with a closing fence
	for k, line := range lines {
		if f.closedBy(line) {
			return f.strip(lines[:k]), k + 1, true
		}
		if last < 0 {
			if _, ok := f.endsClosed(line); ok {
				last = k
			}
		}
	}
	if last < 0 {
		return f.strip(lines), len(lines), false
	}
	body = f.strip(lines[:last+1])
	body[last], _ = f.endsClosed(body[last])
	return body, last + 1, true
}

// strip returns lines without up to f.indent leading spaces each: the body
// of an indented fence is indented relative to it (CommonMark rule).
func (f fence) strip(lines []string) []string {
	out := make([]string, len(lines))
	for k, line := range lines {
		out[k] = line[min(indentOf(line), f.indent):]
	}
	return out
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
	case "javascript", "js", "node", "nodejs":
		return JavaScript
	default:
		return lang // includes Bash
	}
}

// filename returns NAME from a first body line that is a comment naming
// the block's file (see Block.Filename), or "".
func filename(line string) string {
	line = strings.TrimSpace(line)
	for _, c := range [...]struct{ open, close string }{
		{"<!--", "-->"}, {"/*", "*/"}, {"//", ""}, {"--", ""}, {"#", ""},
	} {
		rest, ok := strings.CutPrefix(line, c.open)
		if !ok {
			continue
		}
		if rest, ok = strings.CutSuffix(rest, c.close); !ok {
			return "" // "/* filename: x" without "*/" comments out the rest
		}
		return directive(rest)
	}
	return ""
}

// directive returns NAME from the inside of a comment "filename: NAME".
func directive(comment string) string {
	rest := strings.TrimLeft(comment, " \t")
	const key = "filename"
	if len(rest) < len(key) || !strings.EqualFold(rest[:len(key)], key) {
		return ""
	}
	rest, ok := strings.CutPrefix(strings.TrimLeft(rest[len(key):], " \t"), ":")
	if !ok {
		return ""
	}
	return strings.TrimSpace(rest)
}
