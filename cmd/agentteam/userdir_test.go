package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/fake"
)

// reusedWorkspace is a directory of the user's, with files of their own
// and the transcript of an earlier run beside it, and sandboxes whose one
// block creates new.py and deletes old.txt in it, as uid 10001.
func reusedWorkspace(t *testing.T) (dir, ws string, fs *fakeSandboxes) {
	t.Helper()
	dir = t.TempDir()
	ws = filepath.Join(dir, "ws")
	for name, body := range map[string]string{"mine.txt": "mine", "old.txt": "old", "data/keep.csv": "a,b", ".hidden": "h"} {
		os.MkdirAll(filepath.Dir(filepath.Join(ws, name)), 0o755)
		if err := os.WriteFile(filepath.Join(ws, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(ws+transcriptSuffix, []byte("earlier\n"), 0o600)
	fs = &fakeSandboxes{owner: func() (int, int) { return 10001, 10001 }, opener: fake.New(func(sandbox.Code) fake.Step {
		os.WriteFile(filepath.Join(ws, "new.py"), []byte("print(1)\n"), 0o644)
		os.Remove(filepath.Join(ws, "old.txt"))
		return fake.Step{Result: sandbox.Result{Language: "python"}}
	})}
	return dir, ws, fs
}

// TestReusedWorkspace: a --workspace that holds the user's files is
// allowed; the summary lists what the team made (not the user's files),
// what it deleted and how many it left alone; the earlier transcript is
// kept and the run writes the next name; what the sandbox's user is given
// is said once on stderr, before the run.
func TestReusedWorkspace(t *testing.T) {
	dir, ws, fs := reusedWorkspace(t)
	teamServer(t, say("```python\nprint(1)\n```", "```python\nprint(2)\n```"), say("APPROVE", "APPROVE"))
	code, events, errOut := runTeamOn(t, context.Background(), fs, dir, "--workspace", ws, "Add new.py.")
	res := result(t, events)
	files, _ := json.Marshal(res["files"])
	deleted, _ := json.Marshal(res["files_deleted"])
	if code != ExitOK || string(files) != `["new.py"]` || string(deleted) != `["old.txt"]` || res["files_existing"] != 2.0 {
		t.Fatalf("exit %d, result %v, stderr %s", code, res, errOut)
	}
	if res["transcript"] != filepath.Join(dir, "ws.2"+transcriptSuffix) {
		t.Errorf("transcript %v", res["transcript"])
	}
	if data, _ := os.ReadFile(ws + transcriptSuffix); string(data) != "earlier\n" {
		t.Errorf("the earlier transcript was overwritten: %q", data)
	}
	uid, gid := os.Geteuid(), os.Getegid()
	wantLine := "agentteam: the sandbox runs as uid 10001, not as root: " + ws + " is lent to it for the run (its files stay yours) and given back to " +
		strconv.Itoa(uid) + ":" + strconv.Itoa(gid) + " at the end, with the files made in it\n"
	if errOut != wantLine {
		t.Errorf("stderr %q\nwant   %q", errOut, wantLine)
	}

	// Again, as a person reads it: the third transcript, and the summary's
	// workspace line (new.py is the user's now: there before this run).
	os.WriteFile(filepath.Join(ws, "old.txt"), []byte("old"), 0o644)
	teamServer(t, say("```python\nprint(1)\n```"), say("APPROVE"))
	code, out, errOut := cliFake(t, context.Background(), fs, dir, "", "run", "--coder-model", "c", "--reviewer-model", "r", "--workspace", ws, "Again.")
	want := "workspace " + ws + ": new.py · deleted old.txt · 2 files there before the run left as they were\ntranscript " + filepath.Join(dir, "ws.3"+transcriptSuffix) + "\n"
	if code != ExitOK || !strings.HasSuffix(out, want) || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("exit %d\nstdout %s\nwant suffix %s\nstderr %s", code, out, want, errOut)
	}

	// An existing --transcript is refused before anything runs.
	code, _, errOut = cliFake(t, context.Background(), fs, dir, "", "run", "--coder-model", "c", "--reviewer-model", "r", "--workspace", ws,
		"--transcript", ws+transcriptSuffix, "Again.")
	if code != ExitUsage || !strings.Contains(errOut, "exists, and no run overwrites a file") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// TestReusedWorkspaceQuiet: agentteam's own user running the sandbox (not
// root) says nothing about owners; nor does --quiet.
func TestReusedWorkspaceQuiet(t *testing.T) {
	dir, ws, fs := reusedWorkspace(t)
	fs.owner = func() (int, int) { return -1, -1 }
	teamServer(t, say("```python\nprint(1)\n```"), say("APPROVE"))
	code, _, errOut := runTeamOn(t, context.Background(), fs, dir, "--workspace", ws, "Add new.py.")
	if code != ExitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// TestGiveBack: run as root, a directory the engine gave the sandbox's
// user goes back to its owner with its mode, with what that user made in
// it (setuid bits dropped); the user's own files and anyone else's are
// left as they are.
func TestGiveBack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it gives files to other users")
	}
	const userID, sandboxID, otherID = 1234, 10001, 4321
	ws := filepath.Join(t.TempDir(), "ws")
	os.Mkdir(ws, 0o750)
	os.WriteFile(filepath.Join(ws, "mine.txt"), []byte("mine"), 0o644)
	for _, p := range []string{ws, filepath.Join(ws, "mine.txt")} {
		os.Lchown(p, userID, userID)
	}
	u, err := openUserDir(context.Background(), ws, func() (int, int) { return sandboxID, sandboxID }, 1000)
	if err != nil || !u.giveBack {
		t.Fatalf("%v %+v", err, u)
	}
	// What the engine and the sandbox do.
	os.Lchown(ws, sandboxID, sandboxID)
	os.Chmod(ws, 0o777)
	os.Mkdir(filepath.Join(ws, "pkg"), 0o755)
	os.WriteFile(filepath.Join(ws, "pkg", "tool"), []byte("#!/bin/sh\n"), 0o755)
	os.Symlink("/etc/passwd", filepath.Join(ws, "link"))
	os.WriteFile(filepath.Join(ws, "other"), nil, 0o644)
	for _, p := range []string{"pkg", "pkg/tool", "link"} {
		os.Lchown(filepath.Join(ws, p), sandboxID, sandboxID)
	}
	os.Chmod(filepath.Join(ws, "pkg", "tool"), 0o755|os.ModeSetuid)
	os.Lchown(filepath.Join(ws, "other"), otherID, otherID)

	tf, ok := u.finish(context.Background())
	if !ok || strings.Join(tf.files, " ") != "other pkg/tool" || tf.existing != 1 {
		t.Errorf("team files %+v, %v", tf, ok)
	}
	owner := func(p string) (uint32, os.FileMode) {
		fi, err := os.Lstat(filepath.Join(ws, p))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Uid, fi.Mode()
	}
	for p, want := range map[string]uint32{".": userID, "mine.txt": userID, "pkg": userID, "pkg/tool": userID, "link": userID, "other": otherID} {
		if got, _ := owner(p); got != want {
			t.Errorf("%s belongs to %d, want %d", p, got, want)
		}
	}
	if _, mode := owner("."); mode.Perm() != 0o750 {
		t.Errorf("the directory's mode is %v, want 0750", mode)
	}
	if _, mode := owner("pkg/tool"); mode&os.ModeSetuid != 0 {
		t.Errorf("pkg/tool kept its setuid bit: %v", mode)
	}
	if fi, err := os.Stat("/etc/passwd"); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("a symlink's target changed owner")
	}
}

// TestExecReusedWorkspace: exec in a directory of the user's says once what
// the sandbox's user is lent, and runs there.
func TestExecReusedWorkspace(t *testing.T) {
	dir, ws, fs := reusedWorkspace(t)
	code, out, errOut := cliFake(t, context.Background(), fs, dir, "```python\nprint(1)\n```\n", "exec", "--workspace", ws, "-")
	if code != ExitOK || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "agentteam: the sandbox runs as uid 10001, not as root: "+ws+" is lent to it") {
		t.Fatalf("exit %d\nstdout %s\nstderr %q", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(ws, "new.py")); err != nil {
		t.Fatalf("the block did not run in the workspace: %v", err)
	}
}
