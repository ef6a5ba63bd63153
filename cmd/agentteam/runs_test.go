package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/fakeserver"
	"github.com/agentteam/agentteam/taskrun"
	"github.com/agentteam/agentteam/transcript"
)

func TestSlug(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"Write a prime checker!", "write-a-prime-checker"},
		{"  Parse   CSV\nof dates, then sort them by year", "parse-csv-of-dates-then-sort"},
		{"```python\nprint(6*7)\n```", "python-print-6-7"},
		{"Ünïcode café", "n-code-caf"},
		{"!!!", ""},
		{"", ""},
		{strings.Repeat("abcdefghij", 6), "abcdefghijabcdefghijabcdefghijabcdefghij"},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
	} {
		if got := slug(tt.in); got != tt.want {
			t.Errorf("slug(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// runEntries lists the names under dir's runs directory.
func runEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, defaultRunsDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestRunDirectoryNames: a run's directory says when and what; a run that
// got no reply leaves its transcript but no empty directory.
func TestRunDirectoryNames(t *testing.T) {
	stamp := `^\d{8}-\d{6}-`
	for _, tc := range []struct {
		name    string
		coder   []fakeserver.Step
		args    []string
		stdin   string
		entries []string // patterns of what the runs directory holds
	}{
		{name: "run", coder: say("no code"), args: []string{"run", "--coder-model", "c", "--reviewer-model", "r", "Write a prime checker!"},
			entries: []string{stamp + `write-a-prime-checker-[0-9a-f]{6}$`, stamp + `write-a-prime-checker-[0-9a-f]{6}\.transcript\.jsonl$`}},
		{name: "run with no reply", coder: []fakeserver.Step{{Fault: &fakeserver.Fault{Status: 400, Message: "bad request"}}},
			args:    []string{"run", "--coder-model", "c", "--reviewer-model", "r", "Write a prime checker!"},
			entries: []string{stamp + `write-a-prime-checker-[0-9a-f]{6}\.transcript\.jsonl$`}},
		{name: "run of symbols", coder: say("no code"), args: []string{"run", "--coder-model", "c", "--reviewer-model", "r", "?!"},
			entries: []string{stamp + `run-[0-9a-f]{6}$`, stamp + `run-[0-9a-f]{6}\.transcript\.jsonl$`}},
		{name: "exec", args: []string{"exec", "-"}, stdin: "```sh\necho hi\n```\n",
			entries: []string{stamp + `exec-sh-echo-hi-[0-9a-f]{6}$`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			teamServer(t, tc.coder, say("APPROVE"))
			dir := t.TempDir()
			code, _, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, dir, tc.stdin, tc.args...)
			if code == ExitUsage {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			got := runEntries(t, dir)
			if len(got) != len(tc.entries) {
				t.Fatalf("runs directory holds %q, want %q", got, tc.entries)
			}
			for i, p := range tc.entries {
				if !regexp.MustCompile(p).MatchString(got[i]) {
					t.Errorf("entry %q does not match %s", got[i], p)
				}
			}
		})
	}
}

// writeRun makes a run under dir's runs directory: a workspace (unless
// noDir) and a transcript of events (none: no transcript).
func writeRun(t *testing.T, dir, id string, when time.Time, noDir bool, events ...transcript.Event) {
	t.Helper()
	base := filepath.Join(dir, defaultRunsDir, id)
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		t.Fatal(err)
	}
	if !noDir {
		if err := os.Mkdir(base, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(base, "main.py"), []byte("print(1)\n"), 0o644)
		os.Chtimes(base, when, when)
	}
	if len(events) == 0 {
		return
	}
	tw, err := transcript.Create(base + transcriptSuffix)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Time.IsZero() {
			e.Time = when
		}
		tw.Write(e)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(base+transcriptSuffix, when, when)
}

func taskEv(text string) transcript.Event {
	return transcript.Event{Type: taskrun.EventTask, Content: text}
}

func msgEv(agent, content string, tokens int) transcript.Event {
	return transcript.Event{Type: taskrun.EventMessage, Agent: agent, Content: content, Usage: &model.Usage{TotalTokens: tokens}}
}

func resultEv(status taskrun.Status, turns int, reason, errText string) transcript.Event {
	return transcript.Event{Type: taskrun.EventResult, Content: reason, Error: errText,
		Extra: map[string]any{"status": string(status), "turns": turns}}
}

// runsFixture is a runs directory with one run of each status (the
// running one's lock held as its run would), a batch task, an exec run, a
// torn transcript of a killed run and a symlink that is no run.
func runsFixture(t *testing.T) (string, time.Time) {
	t.Helper()
	dir := t.TempDir()
	now := time.Now().Add(-time.Hour).Truncate(time.Second)
	at := func(days int) time.Time { return now.Add(-time.Duration(days) * 24 * time.Hour) }
	writeRun(t, dir, "r-approved", at(0), false, taskEv("Write a prime checker\nwith tests"), msgEv("coder", "```python\nprint(2)\n```", 10),
		msgEv("executor", "exit 0\n\x1b]52;c;ZXZpbA==\x07evil", 0), msgEv("reviewer", "APPROVE", 5), resultEv(taskrun.Approved, 3, "reviewer said APPROVE", ""))
	writeRun(t, dir, "r-notapproved", at(1), false, taskEv("Sort"), msgEv("coder", "no", 7), resultEv(taskrun.NotApproved, 1, "max turns (1) reached", ""))
	writeRun(t, dir, "r-error", at(2), true, taskEv("Fail"), resultEv(taskrun.Failed, 0, "error", "coder: the server failed"))
	writeRun(t, dir, "r-interrupted", at(3), false, taskEv("Stop"), msgEv("coder", "hi", 1), resultEv(taskrun.Failed, 1, "interrupted", "interrupted"))
	writeRun(t, dir, "r-running", at(4), false, taskEv("Still going"), msgEv("coder", "hi", 2))
	lock, err := holdLock(filepath.Join(dir, defaultRunsDir, "r-running"+transcriptSuffix)) // as its run does
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() })
	writeRun(t, dir, "batch-b/task-1", at(5), false, taskEv("Batch task"), resultEv(taskrun.Approved, 3, "reviewer said APPROVE", ""))
	writeRun(t, dir, "r-exec", at(6), false)
	writeRun(t, dir, "r-torn", at(7), false, taskEv("Torn"), msgEv("coder", "hi", 4))
	f, err := os.OpenFile(filepath.Join(dir, defaultRunsDir, "r-torn"+transcriptSuffix), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"type":"result","con`)
	f.Close()
	os.Chtimes(filepath.Join(dir, defaultRunsDir, "r-torn"+transcriptSuffix), at(7), at(7))
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "precious"), []byte("x"), 0o644)
	if err := os.Symlink(outside, filepath.Join(dir, defaultRunsDir, "r-link")); err != nil {
		t.Fatal(err)
	}
	return dir, now
}

func TestRunsList(t *testing.T) {
	dir, now := runsFixture(t)
	code, out, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, dir, "", "runs", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got []runInfo
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r runInfo
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		got = append(got, r)
	}
	want := []struct {
		id, task, status string
		turns, tokens    int
		workspace        bool
	}{
		{"r-approved", "Write a prime checker", "approved", 3, 15, true},
		{"r-notapproved", "Sort", "not approved", 1, 7, true},
		{"r-error", "Fail", "error", 0, 0, false},
		{"r-interrupted", "Stop", "interrupted", 1, 1, true},
		{"r-running", "Still going", "running", 1, 2, true},
		{"batch-b/task-1", "Batch task", "approved", 3, 0, true},
		{"r-exec", "", "no transcript", 0, 0, true},
		{"r-torn", "Torn", "interrupted", 1, 4, true}, // killed mid-write: no process holds its lock
	}
	if len(got) != len(want) {
		t.Fatalf("listed %+v", got)
	}
	for i, w := range want {
		g := got[i]
		if g.ID != w.id || g.Task != w.task || g.Status != w.status || g.Turns != w.turns || g.Tokens != w.tokens || (g.Workspace != "") != w.workspace {
			t.Errorf("run %d = %+v, want %+v", i, g, w)
		}
	}
	if !got[0].Time.Equal(now) {
		t.Errorf("time %v, want %v", got[0].Time, now)
	}
	// The table says the same, newest first.
	_, out, _ = cliFake(t, context.Background(), &fakeSandboxes{}, dir, "", "runs")
	if !strings.Contains(out, "approved        3 turns      15 tok  Write a prime checker\n    r-approved\n") || strings.Index(out, "r-approved") > strings.Index(out, "r-torn") {
		t.Errorf("table:\n%s", out)
	}
}

func TestRunsShow(t *testing.T) {
	dir, _ := runsFixture(t)
	for _, tc := range []struct {
		arg      string
		code     int
		want     []string
		wantNone []string
	}{
		{arg: "r-approved", want: []string{"── task", "Write a prime checker\nwith tests", "── coder", "print(2)", "── executor", `\x1b]52;c;ZXZpbA==\x07evil`, "── reviewer", "approved · reviewer said APPROVE", "approved  3 turns  15 tokens"},
			wantNone: []string{"\x1b]52"}},
		{arg: filepath.Join(dir, defaultRunsDir, "r-error"+transcriptSuffix), want: []string{"Fail", "error · error · coder: the server failed"}},
		{arg: "batch-b/task-1", want: []string{"Batch task"}},
		{arg: "r-link", code: ExitUsage},
		{arg: "nope", code: ExitUsage},
		{arg: "r-exec", code: ExitFailure},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			code, out, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, dir, "", "runs", "show", tc.arg)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.wantNone {
				if strings.Contains(out, w) {
					t.Errorf("output has %q", w)
				}
			}
		})
	}
}

func TestRunsRmPrune(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		gone []string // IDs no longer listed
	}{
		{name: "rm two", args: []string{"rm", "r-approved", "batch-b/task-1"}, gone: []string{"r-approved", "batch-b/task-1"}},
		{name: "rm by path", args: []string{"rm", "PATH/r-notapproved"}, gone: []string{"r-notapproved"}},
		{name: "rm a transcript-only run", args: []string{"rm", "r-error"}, gone: []string{"r-error"}},
		{name: "rm running refused", args: []string{"rm", "r-running"}, code: ExitUsage},
		{name: "rm running forced", args: []string{"rm", "--force", "r-running"}, gone: []string{"r-running"}},
		{name: "rm symlink refused", args: []string{"rm", "r-link"}, code: ExitUsage},
		{name: "rm unknown removes none", args: []string{"rm", "r-approved", "nope"}, code: ExitUsage},
		{name: "prune days", args: []string{"prune", "--older-than", "4d"}, gone: []string{"r-running", "batch-b/task-1", "r-exec", "r-torn"}},
		{name: "prune hours", args: []string{"prune", "--older-than", "47h"}, gone: []string{"r-error", "r-interrupted", "r-running", "batch-b/task-1", "r-exec", "r-torn"}},
		{name: "prune dry run", args: []string{"prune", "--dry-run", "--older-than", "1d"}},
		{name: "prune without age", args: []string{"prune"}, code: ExitUsage},
		{name: "prune bad age", args: []string{"prune", "--older-than", "-3d"}, code: ExitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := runsFixture(t)
			before, _ := listRuns(filepath.Join(dir, defaultRunsDir))
			for i, a := range tc.args {
				tc.args[i] = strings.Replace(a, "PATH", filepath.Join(dir, defaultRunsDir), 1)
			}
			code, _, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, dir, "", append([]string{"runs"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, errOut)
			}
			after, _ := listRuns(filepath.Join(dir, defaultRunsDir))
			left := map[string]bool{}
			for _, r := range after {
				left[r.ID] = true
			}
			for _, id := range tc.gone {
				if left[id] {
					t.Errorf("%s is still listed", id)
				}
			}
			if len(after) != len(before)-len(tc.gone) {
				t.Errorf("%d runs left of %d, want %d gone", len(after), len(before), len(tc.gone))
			}
			if _, err := os.Stat(filepath.Join(dir, defaultRunsDir, "r-link", "precious")); err != nil {
				t.Errorf("the symlink's target lost its file: %v", err)
			}
			for _, id := range tc.gone {
				for _, p := range []string{id, id + transcriptSuffix} {
					if _, err := os.Lstat(filepath.Join(dir, defaultRunsDir, p)); err == nil {
						t.Errorf("%s is left", p)
					}
				}
			}
		})
	}
}

// TestRunsRmOddModes: a workspace the sandbox left unreadable, read-only
// and with a symlink out is removed, the symlink's target kept.
func TestRunsRmOddModes(t *testing.T) {
	dir, _ := runsFixture(t)
	ws := filepath.Join(dir, defaultRunsDir, "r-approved")
	outside := filepath.Join(t.TempDir(), "keep")
	os.WriteFile(outside, []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(ws, "deep", "er"), 0o755)
	os.WriteFile(filepath.Join(ws, "deep", "er", "f"), []byte("x"), 0o400)
	os.Symlink(outside, filepath.Join(ws, "deep", "link"))
	os.Chmod(filepath.Join(ws, "deep", "er"), 0)
	os.Chmod(filepath.Join(ws, "deep"), 0o500)
	code, _, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, dir, "", "runs", "rm", "r-approved")
	if _, err := os.Lstat(ws); code != 0 || err == nil {
		t.Fatalf("exit %d (%s); workspace left: %v", code, errOut, err)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Fatalf("the link's target is gone: %v", err)
	}
}

func TestParseAge(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"7d", 7 * 24 * time.Hour, true},
		{"36h", 36 * time.Hour, true},
		{"3600", time.Hour, true},
		{"0d", 0, false},
		{"-1d", 0, false},
		{"1.5d", 0, false},
		{"d", 0, false},
		{"soon", 0, false},
	} {
		got, err := parseAge(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseAge(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestRunContinue: a finished run goes on in its workspace with the whole
// conversation, and its transcript records both parts.
func TestRunContinue(t *testing.T) {
	srv := teamServer(t, say("v1 no code", "v2 no code"), say("Needs tests.", "APPROVE"))
	dir := t.TempDir()
	ctx := context.Background()
	code, events, errOut := runTeamOn(t, ctx, &fakeSandboxes{}, dir, "--max-turns", "3", "Write greet(name).")
	first := result(t, events)
	if code != ExitNotApproved {
		t.Fatalf("first part: exit %d: %s", code, errOut)
	}
	ws := first["workspace"].(string)
	os.WriteFile(filepath.Join(ws, "greet.py"), []byte("kept"), 0o644)
	id := filepath.Base(ws)

	code, events, errOut = runTeamOn(t, ctx, &fakeSandboxes{}, dir, "--continue", id, "Now", "add", "tests.")
	second := result(t, events)
	if code != ExitOK || second["workspace"] != ws || second["transcript"] != first["transcript"] || second["turns"] != 3.0 {
		t.Fatalf("second part: exit %d, result %v, stderr %s", code, second, errOut)
	}
	// The coder saw the first part before the follow-up.
	var seen []string
	for _, m := range srv.Requests()[2].Messages[1:] {
		seen = append(seen, m.Content)
	}
	if got := strings.Join(seen, "|"); !strings.HasPrefix(got, "Write greet(name).|v1 no code|") || !strings.HasSuffix(got, "|Needs tests.|Now add tests.") {
		t.Errorf("the coder's second request: %s", got)
	}
	if data, err := os.ReadFile(filepath.Join(ws, "greet.py")); err != nil || string(data) != "kept" {
		t.Errorf("the workspace changed: %v", err)
	}
	evs, err := transcript.ReadFile(first["transcript"].(string))
	var kinds []string
	for _, e := range evs {
		if e.Type == taskrun.EventTask {
			kinds = append(kinds, fmt.Sprint(e.Content, " continuation=", e.Extra[taskrun.ExtraContinuation] == true))
		}
	}
	if err != nil || strings.Join(kinds, ", ") != "Write greet(name). continuation=false, Now add tests. continuation=true" {
		t.Errorf("transcript tasks %q, err %v", kinds, err)
	}
	runs, _ := listRuns(filepath.Join(dir, defaultRunsDir))
	if len(runs) != 1 || runs[0].Status != "approved" || runs[0].Turns != 6 || runs[0].Task != "Write greet(name)." {
		t.Errorf("listed %+v", runs)
	}
	_, out, _ := cliFake(t, ctx, &fakeSandboxes{}, dir, "", "runs", "show", id)
	if !strings.Contains(out, "── continued") || strings.Index(out, "Needs tests.") > strings.Index(out, "Now add tests.") {
		t.Errorf("show:\n%s", out)
	}
}

func TestRunContinueRefused(t *testing.T) {
	dir, _ := runsFixture(t)
	teamServer(t, say("x"), say("APPROVE"))
	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		{"unknown run", []string{"--continue", "nope"}, "no run"},
		{"with --workspace", []string{"--continue", "r-approved", "--workspace", dir}, "--continue goes on"},
		{"running", []string{"--continue", "r-running"}, "is still running"},
		{"no transcript", []string{"--continue", "r-exec"}, "no transcript"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runTeamOn(t, context.Background(), &fakeSandboxes{}, dir, tc.args...)
			if code != ExitUsage || !strings.Contains(errOut, tc.says) {
				t.Fatalf("exit %d, stderr %q; want usage error saying %q", code, errOut, tc.says)
			}
		})
	}
}

// TestRunsLiveness: a run, or a batch's task, with no result is running
// while its process lives and interrupted once that process is killed
// (kill -9: nothing of it runs to say so). The locks are held by a real
// child process, as a run's are, and the kernel drops them when it dies.
func TestRunsLiveness(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Truncate(time.Second)
	writeRun(t, dir, "r-live", now, false, taskEv("Going on"), msgEv("coder", "hi", 2))
	writeRun(t, dir, "batch-x/t1", now.Add(-time.Minute), false, taskEv("Batch task"))
	runs := filepath.Join(dir, defaultRunsDir)
	var held []*os.File
	for _, p := range []string{filepath.Join(runs, "r-live"+transcriptSuffix), filepath.Join(runs, "batch-x")} {
		f, err := holdLock(p)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, f)
	}
	child := exec.Command("sleep", "600")
	child.ExtraFiles = held // the child's descriptors share the locks
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	for _, f := range held {
		f.Close() // now only the child holds them
	}
	statuses := func() string {
		t.Helper()
		code, out, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, dir, "", "runs", "--json")
		if code != ExitOK {
			t.Fatalf("runs: exit %d: %s", code, errOut)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var r runInfo
			json.Unmarshal([]byte(line), &r)
			got = append(got, r.ID+"="+r.Status)
		}
		return strings.Join(got, " ")
	}
	if got := statuses(); got != "r-live=running batch-x/t1=running" {
		t.Fatalf("while the process lives: %s", got)
	}
	if code, _, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, dir, "", "runs", "rm", "r-live"); code != ExitUsage {
		t.Fatalf("rm of a live run: exit %d: %s", code, errOut)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	if got := statuses(); got != "r-live=interrupted batch-x/t1=interrupted" {
		t.Fatalf("once it is killed: %s", got)
	}
	if code, _, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, dir, "", "runs", "rm", "r-live"); code != ExitOK {
		t.Fatalf("rm of a killed run: exit %d: %s", code, errOut)
	}
}

// TestRunRecordNames: a run never overwrites a transcript: beside a reused
// workspace it takes the next free name, a --transcript that exists is
// refused, a continued run writes its own; one that never started leaves
// none.
func TestRunRecordNames(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ws"+transcriptSuffix)
	var names []string
	for range 3 {
		rec, err := openRunRecord(path, false, false)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(rec.path, []byte("{}\n"), 0o600) // the run wrote to it
		if !lockHeld(rec.path) {
			t.Errorf("%s is not locked while its run runs", rec.path)
		}
		rec.close()
		if lockHeld(rec.path) {
			t.Errorf("%s is still locked after its run", rec.path)
		}
		names = append(names, filepath.Base(rec.path))
	}
	if got := strings.Join(names, " "); got != "ws.transcript.jsonl ws.2.transcript.jsonl ws.3.transcript.jsonl" {
		t.Fatalf("names %s", got)
	}
	_, err := openRunRecord(path, true, false)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != ExitUsage || !strings.Contains(err.Error(), "--transcript") {
		t.Fatalf("an existing --transcript: %v", err)
	}
	rec, err := openRunRecord(path, true, true)
	if err != nil || rec.path != path {
		t.Fatalf("continuing: %v %+v", err, rec)
	}
	rec.close()
	if data, _ := os.ReadFile(path); string(data) != "{}\n" {
		t.Fatalf("continuing changed the transcript: %q", data)
	}
	rec, err = openRunRecord(filepath.Join(dir, "never"+transcriptSuffix), false, false)
	if err != nil {
		t.Fatal(err)
	}
	rec.close()
	if _, err := os.Lstat(rec.path); err == nil {
		t.Fatal("a run that never started left its empty transcript")
	}
}

// TestFindRunRelative: a run is found by a relative path when the runs
// directory is relative too (IO.Dir "": the working directory).
func TestFindRunRelative(t *testing.T) {
	dir, _ := runsFixture(t)
	t.Chdir(dir)
	for _, arg := range []string{".agentteam/runs/r-approved", "./.agentteam/runs/r-approved.transcript.jsonl", filepath.Join(dir, defaultRunsDir, "r-approved")} {
		if r, err := findRun(defaultRunsDir, arg); err != nil || r.ID != "r-approved" {
			t.Errorf("findRun(%q) = %+v, %v", arg, r, err)
		}
	}
}

// TestHoldLockSymlink: a batch's --workspace may be a symlink the user
// made; its directory is locked.
func TestHoldLockSymlink(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "root")
	link := filepath.Join(t.TempDir(), "link")
	os.Mkdir(dir, 0o755)
	os.Symlink(dir, link)
	f, err := holdLock(link)
	if err != nil {
		t.Fatal(err)
	}
	if !lockHeld(dir) {
		t.Error("the directory is not locked")
	}
	f.Close()
	if lockHeld(dir) {
		t.Error("the directory is still locked")
	}
}
