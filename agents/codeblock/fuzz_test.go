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
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, message string) {
		blocks := Extract(message)

		norm := strings.ReplaceAll(message, "\r\n", "\n")
		norm = strings.ReplaceAll(norm, "\r", "\n")
		lines := strings.Split(strings.TrimSuffix(norm, "\n"), "\n")
		if norm == "" || norm == "\n" {
			lines = nil // a lone "\n" ends an empty message, it adds no line
		}

		prevEnd := 0 // last line (1-based) used by the previous block
		blockLines := 0
		for i, b := range blocks {
			if b.Index != i {
				t.Fatalf("block %d has Index %d", i, b.Index)
			}
			if b.Line <= prevEnd || b.Line > len(lines) {
				t.Fatalf("block %d: Line %d not after %d or beyond %d lines", i, b.Line, prevEnd, len(lines))
			}
			opening := lines[b.Line-1]
			fenceText := strings.TrimLeft(opening, " ")
			if !strings.HasPrefix(fenceText, "```") && !strings.HasPrefix(fenceText, "~~~") {
				t.Fatalf("block %d: line %d %q is not an opening fence", i, b.Line, opening)
			}
			// The body occupies the following lines, then the closing fence.
			prevEnd = b.Line + strings.Count(b.Code, "\n")
			if !b.Unclosed {
				prevEnd++
			}
			blockLines += prevEnd - b.Line + 1
			if prevEnd > len(lines) {
				t.Fatalf("block %d: ends at line %d beyond %d lines", i, prevEnd, len(lines))
			}
			if b.Unclosed && (i != len(blocks)-1 || prevEnd != len(lines)) {
				t.Fatalf("block %d: unclosed but does not run to the end of the message", i)
			}
			if b.Code != "" && !strings.HasSuffix(b.Code, "\n") {
				t.Fatalf("block %d: Code %q does not end with a newline", i, b.Code)
			}
			// Without indentation to strip, Code is verbatim message text; the
			// added "\n" covers a last line that the message left unterminated.
			if opening == fenceText && !strings.Contains(norm+"\n", b.Code) {
				t.Fatalf("block %d: Code %q not in normalised message %q", i, b.Code, norm)
			}
			if strings.ContainsRune(b.Code, '\r') || strings.ContainsRune(b.Tag, '\r') || strings.ContainsRune(b.Filename, '\r') {
				t.Fatalf("block %d: contains a CR: %+v", i, b)
			}
			if (b.Tag == "") != (b.Language == "") {
				t.Fatalf("block %d: Tag %q but Language %q", i, b.Tag, b.Language)
			}
			if b.Filename != "" {
				first, _, _ := strings.Cut(b.Code, "\n")
				if !strings.Contains(first, b.Filename) {
					t.Fatalf("block %d: Filename %q not in first line %q", i, b.Filename, first)
				}
			}
			if b.Runnable() != (b.SkipReason() == "") {
				t.Fatalf("block %d: Runnable %v but SkipReason %q", i, b.Runnable(), b.SkipReason())
			}
		}
		// Every line is either prose or part of exactly one block.
		if prose := len(ProseLines(message)); prose+blockLines != len(lines) {
			t.Fatalf("%d prose lines + %d block lines != %d lines", prose, blockLines, len(lines))
		}
	})
}
