package sandbox

import (
	"fmt"
	"strings"
	"testing"
)

func TestCodeValidate(t *testing.T) {
	cases := []struct {
		code    Code
		wantErr string // "" : runs
	}{
		{Code{Language: Python}, ""},
		{Code{Language: Sh, Filename: "a.sh"}, ""},
		{Code{Language: Bash, Filename: "steps/b.sh"}, ""},
		{Code{Language: JavaScript, Filename: "app.js"}, ""},
		{Code{Language: "ruby"}, `unsupported language "ruby": the sandbox runs python, sh, bash and javascript`},
		{Code{Language: "js"}, `unsupported language "js"`}, // tags are normalised before the sandbox
		{Code{Language: "html", Filename: "index.html"}, `unsupported language "html"`},
		{Code{Language: ""}, `unsupported language ""`},
		{Code{Language: "Python"}, `unsupported language "Python"`},
		{Code{Language: "ruby", Filename: "../x.rb"}, "unsupported language"}, // the language first
		{Code{Language: Python, Filename: "../x.py"}, `refused filename: file name "../x.py" contains a ".." component`},
		{Code{Language: Python, Filename: "a/../../x.py"}, `refused filename: file name "a/../../x.py" contains a ".." component`},
		{Code{Language: Python, Filename: "/etc/x.py"}, "refused filename: file name \"/etc/x.py\" is absolute"},
		{Code{Language: Sh, Filename: "dir/"}, "refused filename: file name \"dir/\" ends with a slash"},
		{Code{Language: Sh, Filename: "."}, "refused filename: file name \".\" names the workspace itself"},
		{Code{Language: Sh, Filename: "a\nb.sh"}, "refused filename: file name \"a\\nb.sh\" contains a control character"},
		// A block to save: any language, but a local filename.
		{Code{Language: "html", Filename: "site/index.html", SaveOnly: true}, ""},
		{Code{Language: "", Filename: "notes.txt", SaveOnly: true}, ""},
		{Code{Language: Python, Filename: "a.py", SaveOnly: true}, ""},
		{Code{Language: "html", SaveOnly: true}, "nothing to save: a block to save needs a filename"},
		{Code{Language: "json", Filename: "../x.json", SaveOnly: true}, `refused filename: file name "../x.json" contains a ".." component`},
		{Code{Language: "css", Filename: "/etc/x.css", SaveOnly: true}, "refused filename: file name \"/etc/x.css\" is absolute"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s %s save %v", tc.code.Language, tc.code.Filename, tc.code.SaveOnly), func(t *testing.T) {
			err := tc.code.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one starting %q", err, tc.wantErr)
			}
		})
	}
}
