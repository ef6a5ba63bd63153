package sandbox

import (
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
		{Code{Language: "ruby"}, `unsupported language "ruby": the sandbox runs python, sh and bash`},
		{Code{Language: ""}, `unsupported language ""`},
		{Code{Language: "Python"}, `unsupported language "Python"`},
		{Code{Language: "ruby", Filename: "../x.rb"}, "unsupported language"}, // the language first
		{Code{Language: Python, Filename: "../x.py"}, `refused filename: file name "../x.py" contains a ".." component`},
		{Code{Language: Python, Filename: "a/../../x.py"}, `refused filename: file name "a/../../x.py" contains a ".." component`},
		{Code{Language: Python, Filename: "/etc/x.py"}, "refused filename: file name \"/etc/x.py\" is absolute"},
		{Code{Language: Sh, Filename: "dir/"}, "refused filename: file name \"dir/\" ends with a slash"},
		{Code{Language: Sh, Filename: "."}, "refused filename: file name \".\" names the workspace itself"},
		{Code{Language: Sh, Filename: "a\nb.sh"}, "refused filename: file name \"a\\nb.sh\" contains a control character"},
	}
	for _, tc := range cases {
		t.Run(tc.code.Language+" "+tc.code.Filename, func(t *testing.T) {
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
