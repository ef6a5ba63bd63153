package codeblock

import (
	"reflect"
	"testing"
)

func TestExtract(t *testing.T) {
	tests := []struct {
		name    string
		message string
		want    []Block
	}{
		{
			name:    "no blocks, inline code ignored",
			message: "Run `print(1)` or ``x`` yourself.\n",
			want:    nil,
		},
		{
			name:    "text around a python block",
			message: "Here is the code:\n\n```python\nprint('hi')\n```\n\nRun it.\n",
			want:    []Block{{Index: 0, Line: 3, End: 5, Tag: "python", Language: Python, Code: "print('hi')\n"}},
		},
		{
			name:    "CRLF and lone CR",
			message: "intro\r\n```sh\r\necho a\recho b\r\n```\r\n",
			want:    []Block{{Index: 0, Line: 2, End: 5, Tag: "sh", Language: Sh, Code: "echo a\necho b\n"}},
		},
		{
			name:    "untagged",
			message: "```\nls\n```",
			want:    []Block{{Index: 0, Line: 1, End: 3, Code: "ls\n"}},
		},
		{
			name:    "unknown language",
			message: "```ruby\nputs 1\n```\n",
			want:    []Block{{Index: 0, Line: 1, End: 3, Tag: "ruby", Language: "ruby", Code: "puts 1\n"}},
		},
		{
			name:    "tilde fence, backticks inside and in info string",
			message: "~~~bash `x`\necho ```\n```\n~~~\n",
			want:    []Block{{Index: 0, Line: 1, End: 4, Tag: "bash", Language: Bash, Code: "echo ```\n```\n"}},
		},
		{
			name:    "tilde fence not closed by backticks",
			message: "~~~py\nx = 1\n```\n",
			want:    []Block{{Index: 0, Line: 1, End: 3, Tag: "py", Language: Python, Code: "x = 1\n```\n", Unclosed: true}},
		},
		{
			name:    "longer fence contains a shorter one",
			message: "````markdown\n```python\nprint(1)\n```\n````\n",
			want:    []Block{{Index: 0, Line: 1, End: 5, Tag: "markdown", Language: "markdown", Code: "```python\nprint(1)\n```\n"}},
		},
		{
			name:    "closing fence may be longer and indented, with trailing spaces",
			message: "```sh\necho\n  `````   \nafter\n",
			want:    []Block{{Index: 0, Line: 1, End: 3, Tag: "sh", Language: Sh, Code: "echo\n"}},
		},
		{
			name:    "fence with info string does not close",
			message: "```python\nx\n```python\n",
			want:    []Block{{Index: 0, Line: 1, End: 3, Tag: "python", Language: Python, Code: "x\n```python\n", Unclosed: true}},
		},
		{
			name:    "indented fence strips up to its indentation from the body",
			message: "1. Step:\n  ```python\n  if x:\n      y()\n z\nw\n  ```\n",
			want:    []Block{{Index: 0, Line: 2, End: 7, Tag: "python", Language: Python, Code: "if x:\n    y()\nz\nw\n"}},
		},
		{
			name:    "four spaces is not a fence",
			message: "    ```python\n    x\n    ```\n",
			want:    nil,
		},
		{
			name:    "unclosed fence runs to the end",
			message: "```python\nfor i in range(10):\n    print(i",
			want:    []Block{{Index: 0, Line: 1, End: 3, Tag: "python", Language: Python, Code: "for i in range(10):\n    print(i\n", Unclosed: true}},
		},
		{
			name:    "unclosed fence with nothing after it",
			message: "text\n```bash\n",
			want:    []Block{{Index: 0, Line: 2, End: 2, Tag: "bash", Language: Bash, Unclosed: true}},
		},
		{
			name:    "two blocks in order",
			message: "a\n```python\n# filename: a.py\nx\n```\nb\n\n~~~sh\necho\n~~~\n",
			want: []Block{
				{Index: 0, Line: 2, End: 5, Tag: "python", Language: Python, Code: "# filename: a.py\nx\n", Filename: "a.py"},
				{Index: 1, Line: 8, End: 10, Tag: "sh", Language: Sh, Code: "echo\n"},
			},
		},
		{
			name:    "empty block",
			message: "```python\n```\n",
			want:    []Block{{Index: 0, Line: 1, End: 2, Tag: "python", Language: Python}},
		},
		{
			name:    "block of one empty line",
			message: "```python\n\n```\n",
			want:    []Block{{Index: 0, Line: 1, End: 3, Tag: "python", Language: Python, Code: "\n"}},
		},
		{
			name:    "info string with extra words",
			message: "```python title=x.py\npass\n```\n",
			want:    []Block{{Index: 0, Line: 1, End: 3, Tag: "python", Language: Python, Code: "pass\n"}},
		},
		{
			name:    "backtick in a backtick fence's info string is not a fence",
			message: "```py`x\nprint(1)\n```\n",
			// The first line is text; the last line opens an unclosed fence.
			want: []Block{{Index: 0, Line: 3, End: 3, Unclosed: true}},
		},
		{
			name:    "pandoc {.python}",
			message: "``` {.python .numberLines}\npass\n```\n",
			want:    []Block{{Index: 0, Line: 1, End: 3, Tag: "python", Language: Python, Code: "pass\n"}},
		},
		{
			name:    "pandoc {python}",
			message: "```{python}\npass\n```\n",
			want:    []Block{{Index: 0, Line: 1, End: 3, Tag: "python", Language: Python, Code: "pass\n"}},
		},
		// A closing fence at the end of the last code line.
		{
			name:    "trailing fence closes a block no fence line closes",
			message: "```python\nx = 1\nprint(x)```\n",
			want:    []Block{{Index: 0, Line: 1, End: 3, Tag: "python", Language: Python, Code: "x = 1\nprint(x)\n"}},
		},
		{
			name:    "trailing fences, prose between",
			message: "```python\nprint(x)```\nThen:\n```sh\nls```\nDone.\n",
			want: []Block{
				{Index: 0, Line: 1, End: 2, Tag: "python", Language: Python, Code: "print(x)\n"},
				{Index: 1, Line: 4, End: 5, Tag: "sh", Language: Sh, Code: "ls\n"},
			},
		},
		{
			name:    "trailing fence with spaces around it, longer than the opening",
			message: "```sh\necho hi  `````  \n",
			want:    []Block{{Index: 0, Line: 1, End: 2, Tag: "sh", Language: Sh, Code: "echo hi\n"}},
		},
		{
			name:    "the first trailing fence closes; the rest is prose",
			message: "```sh\necho a```\necho b```\n",
			want:    []Block{{Index: 0, Line: 1, End: 2, Tag: "sh", Language: Sh, Code: "echo a\n"}},
		},
		{
			name:    "a fence line closes the block, so a trailing fence before it is code",
			message: "```md\nuse x```\nmore\n```\n",
			want:    []Block{{Index: 0, Line: 1, End: 4, Tag: "md", Language: "md", Code: "use x```\nmore\n"}},
		},
		{
			name:    "trailing fence shorter than the opening does not close",
			message: "````sh\necho ```\n",
			want:    []Block{{Index: 0, Line: 1, End: 2, Tag: "sh", Language: Sh, Code: "echo ```\n", Unclosed: true}},
		},
		{
			name:    "trailing fence of the other character does not close",
			message: "~~~sh\necho ```\n",
			want:    []Block{{Index: 0, Line: 1, End: 2, Tag: "sh", Language: Sh, Code: "echo ```\n", Unclosed: true}},
		},
		{
			name:    "a fence indented 4 with nothing before it is neither a fence line nor a trailing fence",
			message: "```sh\nls\n    ```\n",
			want:    []Block{{Index: 0, Line: 1, End: 3, Tag: "sh", Language: Sh, Code: "ls\n    ```\n", Unclosed: true}},
		},
		// Fences in list items.
		{
			name:    "fences indented 4 under ordered items",
			message: "1. Save this:\n\n    ```python\n    # filename: a.py\n    print(1)\n    ```\n2. Run it:\n    ```sh\n    python a.py\n    ```\n",
			want: []Block{
				{Index: 0, Line: 3, End: 6, Tag: "python", Language: Python, Code: "# filename: a.py\nprint(1)\n", Filename: "a.py"},
				{Index: 1, Line: 8, End: 10, Tag: "sh", Language: Sh, Code: "python a.py\n"},
			},
		},
		{
			name:    "fence under a bullet item, 5 spaces after a blank line",
			message: "- item\n\n     ```python\n     x\n     ```\n",
			want:    []Block{{Index: 0, Line: 3, End: 5, Tag: "python", Language: Python, Code: "x\n"}},
		},
		{
			name:    "nested items",
			message: "1. Outer\n   - inner:\n       ```sh\n         echo deep\n       ```\n",
			want:    []Block{{Index: 0, Line: 3, End: 5, Tag: "sh", Language: Sh, Code: "  echo deep\n"}},
		},
		{
			name:    "a lazy continuation line keeps the item open",
			message: "1. Create the file\nand save it:\n    ```python\n    x = 1\n    ```\n",
			want:    []Block{{Index: 0, Line: 3, End: 5, Tag: "python", Language: Python, Code: "x = 1\n"}},
		},
		{
			name:    "an item opening an item on one line",
			message: "- 1. nested:\n       ```sh\n       ls\n       ```\n",
			want:    []Block{{Index: 0, Line: 2, End: 4, Tag: "sh", Language: Sh, Code: "ls\n"}},
		},
		{
			name:    "fence on the item's marker line",
			message: "- ```sh\n  ls\n  ```\n",
			want:    []Block{{Index: 0, Line: 1, End: 3, Tag: "sh", Language: Sh, Code: "ls\n"}},
		},
		{
			name:    "closing fence up to 3 deeper than the item",
			message: "1. a\n   ```sh\n   ls\n      ```\n",
			want:    []Block{{Index: 0, Line: 2, End: 4, Tag: "sh", Language: Sh, Code: "ls\n"}},
		},
		{
			name:    "a body line less indented than the item stays in the block",
			message: "1. Install:\n   ```bash\npip install x\n   ```\n",
			want:    []Block{{Index: 0, Line: 2, End: 4, Tag: "bash", Language: Bash, Code: "pip install x\n"}},
		},
		{
			name:    "fence indented 4 after a paragraph, outside lists, is text",
			message: "Text\n    ```python\n    x\n    ```\n",
			want:    nil,
		},
		{
			name:    "a paragraph after a blank line ends the list",
			message: "- item\n\nParagraph.\n\n    ```python\n    x\n    ```\n",
			want:    nil,
		},
		{
			name:    "a heading ends the list",
			message: "1. item\n# Heading\n    ```python\n    x\n    ```\n",
			want:    nil,
		},
		{
			name:    "indented 4 deeper than the item is indented code",
			message: "- item\n\n      ```python\n      x\n      ```\n",
			want:    nil,
		},
		{
			name:    "5 spaces after the marker make indented code",
			message: "-      ```sh\n       ls\n       ```\n",
			want:    nil,
		},
		{
			name:    "not list markers",
			message: "-x\n1.5\n**bold**\n    ```sh\n    ls\n    ```\n",
			want:    nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Extract(tt.message)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Extract(%q)\n got %+v\nwant %+v", tt.message, got, tt.want)
			}
		})
	}
}

func TestProseLines(t *testing.T) {
	tests := []struct {
		name    string
		message string
		want    []string
	}{
		{name: "empty", message: "", want: nil},
		{name: "no fences, CRLF and lone CR", message: "a\r\n  b\rc\n", want: []string{"a", "  b", "c"}},
		{name: "fence lines and body are not prose", message: "a\n```python\nx\n```\nb", want: []string{"a", "b"}},
		{name: "tilde fence", message: "~~~\nx\n~~~\nb\n", want: []string{"b"}},
		{name: "4-backtick fence wraps a ``` line", message: "````\n```\nx\n```\n````\nb\n", want: []string{"b"}},
		{name: "tilde fence not closed by backticks", message: "~~~\n```\nx\n~~~\nb", want: []string{"b"}},
		{name: "closing fence may be longer and indented", message: "```\nx\n  `````  \nb", want: []string{"b"}},
		{name: "shorter fence does not close", message: "````\nx\n```\nb", want: nil},
		{name: "unclosed fence runs to the end", message: "a\n```sh\nx\n\nb\n", want: []string{"a"}},
		{name: "four spaces is not a fence", message: "    ```\nx\n    ```\n", want: []string{"    ```", "x", "    ```"}},
		{name: "backtick in info string is not a fence", message: "```x``` inline\nb", want: []string{"```x``` inline", "b"}},
		{name: "blank prose lines are kept", message: "a\n\n```\n```\n\nb", want: []string{"a", "", "", "b"}},
		{name: "trailing fence", message: "a\n```sh\nls```\nb\n", want: []string{"a", "b"}},
		{name: "list items are prose, their fences not", message: "1. Save:\n    ```sh\n    ls\n    ```\n2. Done", want: []string{"1. Save:", "2. Done"}},
		{name: "fence on a marker line", message: "- ```sh\n  ls\n  ```\nb", want: []string{"b"}},
		{name: "indented code outside lists", message: "- a\n\nb\n    ```\n    x", want: []string{"- a", "", "b", "    ```", "    x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ProseLines(tt.message); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ProseLines(%q)\n got %q\nwant %q", tt.message, got, tt.want)
			}
		})
	}
}

func TestLanguage(t *testing.T) {
	tests := []struct{ tag, want string }{
		{"python", Python},
		{"py", Python},
		{"python3", Python},
		{"PY", Python},
		{"Python3", Python},
		{"sh", Sh},
		{"shell", Sh},
		{"Shell", Sh},
		{"bash", Bash},
		{"BASH", Bash},
		{"javascript", JavaScript},
		{"js", JavaScript},
		{"JS", JavaScript},
		{"node", JavaScript},
		{"NodeJS", JavaScript},
		{"typescript", "typescript"},
		{"console", "console"},
		{"Ruby", "ruby"},
		{"python2", "python2"},
		{"zsh", "zsh"},
	}
	for _, tt := range tests {
		blocks := Extract("```" + tt.tag + "\nx\n```\n")
		if len(blocks) != 1 {
			t.Fatalf("tag %q: got %d blocks, want 1", tt.tag, len(blocks))
		}
		b := blocks[0]
		if b.Tag != tt.tag || b.Language != tt.want {
			t.Errorf("tag %q: got Tag %q Language %q, want Tag %q Language %q", tt.tag, b.Tag, b.Language, tt.tag, tt.want)
		}
	}
}

func TestFilename(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"with space", "# filename: main.py\n", "main.py"},
		{"without space", "#filename:main.py\n", "main.py"},
		{"uppercase key", "# FILENAME: run.sh\n", "run.sh"},
		{"mixed case, surrounding spaces", "#  FileName :  dir/a b.py  \n", "dir/a b.py"},
		{"not validated", "# filename: ../../etc/passwd\n", "../../etc/passwd"},
		{"empty name", "# filename:\n", ""},
		{"not the first line", "import os\n# filename: main.py\n", ""},
		{"first line is blank", "\n# filename: main.py\n", ""},
		{"other comment", "# file name: main.py\n", ""},
		{"no colon", "# filename main.py\n", ""},
		{"C++ comment", "// filename: main.c\n", "main.c"},
		{"C comment", "/* filename: style.css */\n", "style.css"},
		{"C comment without spaces", "/*FILENAME:style.css*/\n", "style.css"},
		{"C comment not closed", "/* filename: style.css\n", ""},
		{"HTML comment", "<!-- filename: site/index.html -->\n", "site/index.html"},
		{"HTML comment without spaces", "<!--filename:index.html-->\n", "index.html"},
		{"HTML comment not closed", "<!-- filename: index.html\n", ""},
		{"SQL comment", "-- Filename: schema.sql\n", "schema.sql"},
		{"YAML document start is no comment", "--- filename: x.yaml\n", ""},
		{"a comment without the key", "# Python code\n", ""},
		{"shebang", "#!/bin/sh\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blocks := Extract("```python\n" + tt.body + "```\n")
			if len(blocks) != 1 {
				t.Fatalf("got %d blocks, want 1", len(blocks))
			}
			if got := blocks[0].Filename; got != tt.want {
				t.Errorf("Filename = %q, want %q", got, tt.want)
			}
			if got := blocks[0].Code; got != tt.body {
				t.Errorf("Code = %q, want %q (directive line kept)", got, tt.body)
			}
		})
	}
}

func TestSkipReason(t *testing.T) {
	const run, save = "run", "save" // the verdicts other than a skip reason
	console := `"console" block: a terminal session (prompts and output) is shown, not run; put the commands alone in a sh block`
	tests := []struct {
		name  string
		block Block
		want  string // run, save, or the skip reason
	}{
		{"python", Block{Language: Python}, run},
		{"sh", Block{Language: Sh}, run},
		{"bash", Block{Language: Bash}, run},
		{"javascript", Block{Language: JavaScript}, run},
		{"python with a filename is run, not only saved", Block{Language: Python, Filename: "a.py"}, run},
		{"untagged", Block{}, "untagged code block"},
		{"untagged with a filename", Block{Filename: "notes.txt"}, save},
		{"html with a filename", Block{Tag: "HTML", Language: "html", Filename: "index.html"}, save},
		{"html without one", Block{Tag: "HTML", Language: "html"}, `unsupported language "html"`},
		{"ruby", Block{Tag: "Ruby", Language: "ruby"}, `unsupported language "ruby"`},
		{"console", Block{Language: "console"}, console},
		{"console naming a file is saved like any other", Block{Language: "console", Filename: "session.txt"}, save},
		{"unclosed", Block{Language: Python, Unclosed: true}, "unclosed code fence"},
		{"unclosed javascript", Block{Language: JavaScript, Unclosed: true}, "unclosed code fence"},
		{"unclosed block to save", Block{Language: "json", Filename: "a.json", Unclosed: true}, "unclosed code fence"},
		{"unclosed untagged block to save", Block{Filename: "a.txt", Unclosed: true}, "unclosed code fence"},
		{"language reported before unclosed", Block{Language: "ruby", Unclosed: true}, `unsupported language "ruby"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason := tt.block.SkipReason()
			got := reason
			switch {
			case tt.block.Runnable() && tt.block.SaveOnly():
				t.Fatalf("both Runnable and SaveOnly")
			case tt.block.Runnable():
				got = run
			case tt.block.SaveOnly():
				got = save
			}
			if got != tt.want || (got == run || got == save) != (reason == "") {
				t.Errorf("got %q (SkipReason %q), want %q", got, reason, tt.want)
			}
		})
	}
}

func TestFileContents(t *testing.T) {
	tests := []struct{ name, message, want string }{
		{"html", "```html\n<!-- filename: a.html -->\n<p>hi</p>\n```\n", "<p>hi</p>\n"},
		{"json cannot hold the comment", "```json\n// filename: package.json\n{}\n```\n", "{}\n"},
		{"the filename line alone", "```\n# filename: empty.txt\n```\n", ""},
		{"no filename: the whole body", "```html\n<p>hi</p>\n```\n", "<p>hi</p>\n"},
		{"trailing fence", "```css\n/* filename: a.css */\nb {}```\n", "b {}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blocks := Extract(tt.message)
			if len(blocks) != 1 {
				t.Fatalf("got %d blocks, want 1", len(blocks))
			}
			if got := blocks[0].FileContents(); got != tt.want {
				t.Errorf("FileContents() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSkipReasonFromExtract checks the reasons end to end on a typical reply.
func TestSkipReasonFromExtract(t *testing.T) {
	msg := "```python\nprint(1)\n```\n```\nplain\n```\n```ruby\nputs 1\n```\n```html\n<!-- filename: a.html -->\n```\n```sh\necho cut off"
	want := []string{"", "untagged code block", `unsupported language "ruby"`, "", "unclosed code fence"}
	blocks := Extract(msg)
	if len(blocks) != len(want) {
		t.Fatalf("got %d blocks, want %d", len(blocks), len(want))
	}
	for i, b := range blocks {
		if got := b.SkipReason(); got != want[i] {
			t.Errorf("block %d: SkipReason() = %q, want %q", i, got, want[i])
		}
	}
}
