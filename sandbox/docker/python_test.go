package docker

import (
	"context"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/sandbox"
)

// TestPythonBlockSemantics checks that a python block behaves as
// `python3 script.py` would, whichever interpreter (warm or cold) ran it.
func TestPythonBlockSemantics(t *testing.T) {
	d := newTestDocker(t, testConfig())
	s, _ := newTestSession(t, d)
	cases := []struct {
		name, file, code string
		exit             int
		stdout           string   // exact, when set
		stderrHas        []string // substrings of stderr
		stderrNot        []string
	}{
		{name: "main module", code: "import sys; print(__name__, sys.argv, __file__)", stdout: "__main__ ['<block>'] <block>\n"},
		{name: "clean globals", code: "print(sorted(k for k in globals() if not k.startswith('__')))", stdout: "[]\n"},
		{name: "traceback shows the block", code: "def f():\n    return 1/0\nf()", exit: 1,
			stderrHas: []string{"Traceback (most recent call last):", `File "<block>", line 2, in f`, "return 1/0", "ZeroDivisionError"},
			stderrNot: []string{"<string>", "_boot"}},
		{name: "syntax error", code: "print(", exit: 1, stderrHas: []string{"SyntaxError", `File "<block>", line 1`}, stderrNot: []string{"_boot"}},
		{name: "sys.exit", code: "import sys; sys.exit(7)", exit: 7},
		{name: "SystemExit message", code: "raise SystemExit('bye')", exit: 1, stderrHas: []string{"bye"}},
		{name: "no stdin", code: "input()", exit: 1, stderrHas: []string{"EOFError"}},
		{name: "unicode", code: "print('héllo ✓')", stdout: "héllo ✓\n"},
		// As from a file: the cookie, not UTF-8, decodes the two bytes of é.
		{name: "encoding cookie", code: "# -*- coding: latin-1 -*-\nprint(len('é'))", stdout: "2\n"},
		{name: "pickle a main class", code: "import pickle\nclass A: pass\nprint(type(pickle.loads(pickle.dumps(A()))).__name__)", stdout: "A\n"},
		{name: "multiprocessing", code: "from multiprocessing import Pool\nif __name__ == '__main__':\n    with Pool(2) as p: print(p.map(abs, [-1, -2]))", stdout: "[1, 2]\n"},
		{name: "save a module", file: "helper.py", code: "def triple(x):\n    return 3 * x\n", stdout: ""},
		{name: "import a saved module", code: "import helper; print(helper.triple(14))", stdout: "42\n"},
		{name: "script in a directory", file: "pkg/main.py", code: "import sys; print(__file__, sys.path[0])", stdout: "/workspace/pkg/main.py /workspace/pkg\n"},
		{name: "traceback of a saved file", file: "bad.py", code: "x = 1\nraise ValueError('boom')", exit: 1,
			stderrHas: []string{`File "/workspace/bad.py", line 2`, "raise ValueError('boom')"}},
		{name: "numpy", code: "import numpy as np; print(np.arange(4).sum())", stdout: "6\n"},
		{name: "threads match the cpu limit", code: "import os; print(os.environ['OMP_NUM_THREADS'])", stdout: "1\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := s.Run(context.Background(), sandbox.Code{Language: sandbox.Python, Source: tc.code, Filename: tc.file})
			if err != nil {
				t.Fatal(err)
			}
			if r.ExitCode != tc.exit || r.Error != "" {
				t.Fatalf("exit %d error %q, want exit %d; stderr:\n%s", r.ExitCode, r.Error, tc.exit, r.Stderr)
			}
			if tc.stderrHas == nil && r.Stdout != tc.stdout {
				t.Fatalf("stdout %q, want %q (stderr %q)", r.Stdout, tc.stdout, r.Stderr)
			}
			for _, w := range tc.stderrHas {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.Stderr)
				}
			}
			for _, w := range tc.stderrNot {
				if strings.Contains(r.Stderr, w) {
					t.Errorf("stderr shows %q:\n%s", w, r.Stderr)
				}
			}
		})
	}
}
