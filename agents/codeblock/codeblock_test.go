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
			want:    []Block{{Index: 0, Line: 3, Tag: "python", Language: Python, Code: "print('hi')\n"}},
		},
		{
			name:    "CRLF and lone CR",
			message: "intro\r\n```sh\r\necho a\recho b\r\n```\r\n",
			want:    []Block{{Index: 0, Line: 2, Tag: "sh", Language: Sh, Code: "echo a\necho b\n"}},
		},
		{
			name:    "untagged",
			message: "```\nls\n```",
			want:    []Block{{Index: 0, Line: 1, Code: "ls\n"}},
		},
		{
			name:    "unknown language",
			message: "```ruby\nputs 1\n```\n",
			want:    []Block{{Index: 0, Line: 1, Tag: "ruby", Language: "ruby", Code: "puts 1\n"}},
		},
		{
			name:    "tilde fence, backticks inside and in info string",
			message: "~~~bash `x`\necho ```\n```\n~~~\n",
			want:    []Block{{Index: 0, Line: 1, Tag: "bash", Language: Bash, Code: "echo ```\n```\n"}},
		},
		{
			name:    "tilde fence not closed by backticks",
			message: "~~~py\nx = 1\n```\n",
			want:    []Block{{Index: 0, Line: 1, Tag: "py", Language: Python, Code: "x = 1\n```\n", Unclosed: true}},
		},
		{
			name:    "longer fence contains a shorter one",
			message: "````markdown\n```python\nprint(1)\n```\n````\n",
			want:    []Block{{Index: 0, Line: 1, Tag: "markdown", Language: "markdown", Code: "```python\nprint(1)\n```\n"}},
		},
		{
			name:    "closing fence may be longer and indented, with trailing spaces",
			message: "```sh\necho\n  `````   \nafter\n",
			want:    []Block{{Index: 0, Line: 1, Tag: "sh", Language: Sh, Code: "echo\n"}},
		},
		{
			name:    "fence with info string does not close",
			message: "```python\nx\n```python\n",
			want:    []Block{{Index: 0, Line: 1, Tag: "python", Language: Python, Code: "x\n```python\n", Unclosed: true}},
		},
		{
			name:    "indented fence strips up to its indentation from the body",
			message: "1. Step:\n  ```python\n  if x:\n      y()\n z\nw\n  ```\n",
			want:    []Block{{Index: 0, Line: 2, Tag: "python", Language: Python, Code: "if x:\n    y()\nz\nw\n"}},
		},
		{
			name:    "four spaces is not a fence",
			message: "    ```python\n    x\n    ```\n",
			want:    nil,
		},
		{
			name:    "unclosed fence runs to the end",
			message: "```python\nfor i in range(10):\n    print(i",
			want:    []Block{{Index: 0, Line: 1, Tag: "python", Language: Python, Code: "for i in range(10):\n    print(i\n", Unclosed: true}},
		},
		{
			name:    "unclosed fence with nothing after it",
			message: "text\n```bash\n",
			want:    []Block{{Index: 0, Line: 2, Tag: "bash", Language: Bash, Unclosed: true}},
		},
		{
			name:    "two blocks in order",
			message: "a\n```python\n# filename: a.py\nx\n```\nb\n\n~~~sh\necho\n~~~\n",
			want: []Block{
				{Index: 0, Line: 2, Tag: "python", Language: Python, Code: "# filename: a.py\nx\n", Filename: "a.py"},
				{Index: 1, Line: 8, Tag: "sh", Language: Sh, Code: "echo\n"},
			},
		},
		{
			name:    "empty block",
			message: "```python\n```\n",
			want:    []Block{{Index: 0, Line: 1, Tag: "python", Language: Python}},
		},
		{
			name:    "block of one empty line",
			message: "```python\n\n```\n",
			want:    []Block{{Index: 0, Line: 1, Tag: "python", Language: Python, Code: "\n"}},
		},
		{
			name:    "info string with extra words",
			message: "```python title=x.py\npass\n```\n",
			want:    []Block{{Index: 0, Line: 1, Tag: "python", Language: Python, Code: "pass\n"}},
		},
		{
			name:    "backtick in a backtick fence's info string is not a fence",
			message: "```py`x\nprint(1)\n```\n",
			// The first line is text; the last line opens an unclosed fence.
			want: []Block{{Index: 0, Line: 3, Unclosed: true}},
		},
		{
			name:    "pandoc {.python}",
			message: "``` {.python .numberLines}\npass\n```\n",
			want:    []Block{{Index: 0, Line: 1, Tag: "python", Language: Python, Code: "pass\n"}},
		},
		{
			name:    "pandoc {python}",
			message: "```{python}\npass\n```\n",
			want:    []Block{{Index: 0, Line: 1, Tag: "python", Language: Python, Code: "pass\n"}},
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
		{"C++ comment form not recognised", "// filename: main.c\n", ""},
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
	tests := []struct {
		name  string
		block Block
		want  string
	}{
		{"python", Block{Language: Python}, ""},
		{"sh", Block{Language: Sh}, ""},
		{"bash", Block{Language: Bash}, ""},
		{"untagged", Block{}, "untagged code block"},
		{"ruby", Block{Tag: "Ruby", Language: "ruby"}, `unsupported language "ruby"`},
		{"unclosed", Block{Language: Python, Unclosed: true}, "unclosed code fence"},
		{"language reported before unclosed", Block{Language: "ruby", Unclosed: true}, `unsupported language "ruby"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.block.SkipReason(); got != tt.want {
				t.Errorf("SkipReason() = %q, want %q", got, tt.want)
			}
			if got, want := tt.block.Runnable(), tt.want == ""; got != want {
				t.Errorf("Runnable() = %v, want %v", got, want)
			}
		})
	}
}

// TestSkipReasonFromExtract checks the reasons end to end on a typical reply.
func TestSkipReasonFromExtract(t *testing.T) {
	msg := "```python\nprint(1)\n```\n```\nplain\n```\n```ruby\nputs 1\n```\n```sh\necho cut off"
	want := []string{"", "untagged code block", `unsupported language "ruby"`, "unclosed code fence"}
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
