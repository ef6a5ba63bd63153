package project

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrompt(t *testing.T) {
	dir := newRepo(t, map[string]string{
		"calc.py": "x\n", "tests/test_calc.py": "y\n",
		"README.md": "# Calc\n\nAdds numbers.\n" + strings.Repeat("more\n", 100),
	})
	c := copyOf(t, dir)
	got := c.Prompt("Make the failing test pass.", "Work on the copy.")
	want := "Make the failing test pass.\n\n---\nWork on the copy.\n\n" +
		"The project, a git repository, is copied to /workspace without its .git: 3 files:\n" +
		"  README.md\n  calc.py\n  tests/test_calc.py\n\n" +
		"The start of README.md:\n\n# Calc\n\nAdds numbers.\n" + strings.Repeat("more\n", 36) + "more\n[…]"
	if got != want {
		t.Fatalf("prompt:\n%s\nwant:\n%s", got, want)
	}
	if again := copyOf(t, dir).Prompt("Make the failing test pass.", "Work on the copy."); again != got {
		t.Fatal("the prompt of the same project differs: a replay would diverge")
	}
}

// TestOverviewLarge: past a few dozen files, the overview sums up the
// directories, within bounds.
func TestOverviewLarge(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p")
	write(t, dir, "setup.py", "x\n")
	for d := range 50 {
		for f := range 3 {
			write(t, dir, fmt.Sprintf("d%02d/f%d.py", d, f), "x\n")
		}
	}
	o := copyOf(t, dir).Overview()
	for _, want := range []string{"The project is copied to /workspace: 151 files; at the top:\n  setup.py\n  d00/ (3 files)\n",
		"  d39/ (3 files)\n  … and 10 more directories"} {
		if !strings.Contains(o, want) {
			t.Errorf("overview lacks %q:\n%s", want, o)
		}
	}
	if strings.Contains(o, "d40/") || strings.Count(o, "\n") > 45 {
		t.Errorf("overview not bounded:\n%s", o)
	}
}
