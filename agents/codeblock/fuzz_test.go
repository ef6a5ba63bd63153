package codeblock

import (
	"strings"
	"testing"
)

func FuzzExtract(f *testing.F) {
	seeds := []string{
		"",
		"no code here, just `inline` text",
		"Here is the script:\n\n```python\n# filename: main.py\nprint('hello')\n```\n\nRun it with `python main.py`.\n",
		"First install:\r\n```bash\r\npip install requests\r\n```\r\nThen:\r\n```py\r\nimport requests\r\n```\r\n",
		"```sh\necho one\n```\n```ruby\nputs 2\n```\n```\nuntagged\n```\n",
		"````markdown\n```python\nprint(1)\n```\n````\n",
		"~~~ {.python .numberLines}\nx = 1\n~~~\n",
		"1. Step one:\n   ```shell\n   ls -la\n     cd /tmp\n   ```\n",
		"Sure! Here's the code:\n```python\nfor i in range(10):\n    print(i",
		"```py`x\nnot a fence\n```",
		"```python title=\"x.py\"\n#FILENAME:x.py\npass\n```",
		"    ```python\n    indented code, not a fence\n    ```\n",
		"```\n```\n```\n",
		"\r\r```bash\r\recho\r```",
		// Closing fences at the end of a code line.
		"```python\nx = 1\nprint(x)```\n\nThat prints 1.\n",
		"```python\nprint(1)```\nThen:\n```sh\nls  ````  \n```\n",
		"````sh\necho ```\n",
		"~~~sh\necho ```\necho~~~~",
		// Fences in list items, and indented code that is not.
		"1. Save this:\n\n    ```html\n    <!-- filename: index.html -->\n    <p>hi</p>\n    ```\n2. Run:\n    ```js\n    console.log(1)\n    ```\n",
		"- a\n  - b\n    1) c\n       ```sh\n         ls\n       ```\n",
		"- ```sh\n  ls\n  ```\n* 1. ~~~\n     x\n",
		"1. item\nlazy text\n    ```py\n    x\n```\n# Heading\n    ```py\n",
		"-      ```sh\n       ls\n       ```\n\nText\n    ```\n",
		"```css\n/* filename: a.css */\nb {}\n```\n```json\n// filename: a.json\n{}```\n```sql\n-- filename: q.sql\n```\n",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	for _, m := range realMessages(f) {
		f.Add(m.Content)
	}
	f.Fuzz(checkExtract)
}

// checkExtract checks what holds of Extract and ProseLines for any message.
func checkExtract(t *testing.T, message string) {
	t.Helper()
	blocks := Extract(message)

	norm := strings.ReplaceAll(message, "\r\n", "\n")
	norm = strings.ReplaceAll(norm, "\r", "\n")
	lines := strings.Split(strings.TrimSuffix(norm, "\n"), "\n")
	if norm == "" || norm == "\n" {
		lines = nil // a lone "\n" ends an empty message, it adds no line
	}

	prevEnd := 0 // last line (1-based) of the previous block
	blockLines := 0
	for i, b := range blocks {
		if b.Index != i {
			t.Fatalf("block %d has Index %d", i, b.Index)
		}
		if b.Line <= prevEnd || b.End < b.Line || b.End > len(lines) {
			t.Fatalf("block %d: lines %d-%d not after %d or beyond %d lines", i, b.Line, b.End, prevEnd, len(lines))
		}
		prevEnd = b.End
		blockLines += b.End - b.Line + 1
		opening := lines[b.Line-1]
		if !strings.Contains(opening, "```") && !strings.Contains(opening, "~~~") {
			t.Fatalf("block %d: line %d %q is not an opening fence", i, b.Line, opening)
		}
		if b.Code != "" && !strings.HasSuffix(b.Code, "\n") {
			t.Fatalf("block %d: Code %q does not end with a newline", i, b.Code)
		}
		// The body fills the lines after the opening fence, up to the
		// closing fence line or, for a fence closed at the end of the
		// last code line or never closed, up to End itself.
		code := strings.Split(strings.TrimSuffix(b.Code, "\n"), "\n")
		if b.Code == "" {
			code = nil
		}
		switch n := len(code); {
		case b.Unclosed && (i != len(blocks)-1 || b.End != len(lines) || n != b.End-b.Line):
			t.Fatalf("block %d: unclosed but does not run to the end of the message", i)
		case !b.Unclosed && n != b.End-b.Line-1 && n != b.End-b.Line:
			t.Fatalf("block %d: %d code lines in lines %d-%d", i, n, b.Line, b.End)
		case !b.Unclosed && n == b.End-b.Line:
			// Closed at the end of its last code line: that line is
			// the code, then only a fence of one character.
			last := strings.TrimLeft(strings.TrimRight(lines[b.End-1], " \t"), " ")
			fence, ok := strings.CutPrefix(last, strings.TrimLeft(code[n-1], " "))
			fence = strings.TrimLeft(fence, " \t")
			if !ok || strings.TrimSpace(code[n-1]) == "" || len(fence) < 3 ||
				strings.Trim(fence, "`") != "" && strings.Trim(fence, "~") != "" {
				t.Fatalf("block %d: closed on line %q, which is not code then a fence", i, lines[b.End-1])
			}
		}
		// Each code line is its message line, less indentation and a
		// closing fence at its end.
		for k, c := range code {
			if !strings.Contains(lines[b.Line+k], c) {
				t.Fatalf("block %d: code line %q not in message line %q", i, c, lines[b.Line+k])
			}
		}
		if strings.ContainsRune(b.Code, '\r') || strings.ContainsRune(b.Tag, '\r') || strings.ContainsRune(b.Filename, '\r') {
			t.Fatalf("block %d: contains a CR: %+v", i, b)
		}
		if (b.Tag == "") != (b.Language == "") {
			t.Fatalf("block %d: Tag %q but Language %q", i, b.Tag, b.Language)
		}
		if b.Filename != "" {
			first, _, _ := strings.Cut(b.Code, "\n")
			if !strings.Contains(first, b.Filename) || !strings.Contains(strings.ToLower(first), "filename") {
				t.Fatalf("block %d: Filename %q not named in first line %q", i, b.Filename, first)
			}
			if !strings.HasSuffix(b.Code, b.FileContents()) || len(b.FileContents()) >= len(b.Code) {
				t.Fatalf("block %d: FileContents %q is not Code %q less its first line", i, b.FileContents(), b.Code)
			}
		}
		// A block is run, saved, or skipped with a reason: one of them.
		verdicts := 0
		for _, v := range []bool{b.Runnable(), b.SaveOnly(), b.SkipReason() != ""} {
			if v {
				verdicts++
			}
		}
		if verdicts != 1 {
			t.Fatalf("block %d: Runnable %v, SaveOnly %v, SkipReason %q", i, b.Runnable(), b.SaveOnly(), b.SkipReason())
		}
		if (b.Runnable() || b.SaveOnly()) && b.Unclosed {
			t.Fatalf("block %d: unclosed but run or saved", i)
		}
	}
	// Every line is either prose or part of exactly one block.
	if prose := len(ProseLines(message)); prose+blockLines != len(lines) {
		t.Fatalf("%d prose lines + %d block lines != %d lines", prose, blockLines, len(lines))
	}
}
