package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agentteam/agentteam/model/fakeserver"
	"github.com/agentteam/agentteam/taskrun"
	"github.com/agentteam/agentteam/transcript"
)

// batchFixture writes n tasks, each with its own coder and reviewer model
// on one fake server: every 5th task's code fails (not approved), task 7's
// model errors, the rest are approved.
func batchFixture(t *testing.T, n int, slowBlocks bool) (dir, tasksFile string) {
	t.Helper()
	models := map[string][]fakeserver.Step{}
	var lines []string
	for i := 0; i < n; i++ {
		c, r := fmt.Sprintf("c%d", i), fmt.Sprintf("r%d", i)
		code := fmt.Sprintf("```python\nprint(%d * %d)\n```", i, i)
		if slowBlocks {
			code = "```sh\nsleep 30\n```"
		}
		switch {
		case i == 7:
			models[c] = []fakeserver.Step{{Fault: &fakeserver.Fault{Status: 401, Code: "invalid_api_key", Message: "Incorrect API key provided"}}}
		case i%5 == 4:
			models[c] = say("```python\nraise SystemExit('nope')\n```")
			models[r] = say("It failed.")
		default:
			models[c] = say(code)
			models[r] = say(fmt.Sprintf("It printed %d.\nAPPROVE", i*i))
		}
		lines = append(lines, fmt.Sprintf(`{"id": "task-%02d", "task": "Square %d.", "coder_model": %q, "reviewer_model": %q, "level": %d}`, i, i, c, r, i%3))
	}
	serveModels(t, fakeserver.Script{Models: models})
	dir = t.TempDir()
	return dir, writeFile(t, dir, "tasks.jsonl", strings.Join(lines, "\n")+"\n")
}

func readResults(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("results line is not JSON: %q", line)
		}
		out = append(out, r)
	}
	return out
}

func TestBatch(t *testing.T) {
	requireDocker(t)
	dir, tasks := batchFixture(t, 22, false)
	code, out, errOut := cli(t, context.Background(), dir, "", "batch", "-j", "4", "--max-turns", "3", "--json", tasks)
	if code != ExitFailure { // task 7 errored
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	results := readResults(t, filepath.Join(dir, "tasks.results.jsonl"))
	if len(results) != 22 || strings.Count(out, "\n") != 22 {
		t.Fatalf("%d results, %d stdout lines", len(results), strings.Count(out, "\n"))
	}
	for i, r := range results {
		want := "approved"
		switch {
		case i == 7:
			want = "error"
		case i%5 == 4:
			want = "not_approved"
		}
		if r["id"] != fmt.Sprintf("task-%02d", i) || r["status"] != want || r["level"] != float64(i%3) || r["task"] != fmt.Sprintf("Square %d.", i) {
			t.Errorf("result %d: id %v status %v (want %s) level %v", i, r["id"], r["status"], want, r["level"])
		}
		if want == "approved" && (r["last_exit_code"] != 0.0 || r["turns"] != 3.0 || r["tokens"] == 0.0) {
			t.Errorf("result %d: %v", i, r)
		}
		if want == "error" && (r["error_kind"] != "authentication" || !strings.Contains(fmt.Sprint(r["error"]), "the key was refused")) {
			t.Errorf("result %d error %v", i, r["error"])
		}
		if ws := fmt.Sprint(r["workspace"]); want != "error" && !strings.HasSuffix(ws, fmt.Sprintf("task-%02d", i)) {
			t.Errorf("result %d workspace %s", i, ws)
		}
	}
	if !strings.Contains(errOut, "approved       17") || !strings.Contains(errOut, "not approved   4") || !strings.Contains(errOut, "errors         1") {
		t.Errorf("summary:\n%s", errOut)
	}
	assertNoContainers(t, dockerClient(t))

	// Resume: every task is in the results, so none runs again; the
	// summary and the exit status still describe the whole set.
	code, out, _ = cli(t, context.Background(), dir, "", "batch", tasks)
	if code != ExitFailure || !strings.Contains(out, "tasks run      0 (22 already in the results, skipped)") ||
		!strings.Contains(out, "approved       17") || !strings.Contains(out, "errors         1") {
		t.Fatalf("resume: exit %d\n%s", code, out)
	}
	if n := len(readResults(t, filepath.Join(dir, "tasks.results.jsonl"))); n != 22 {
		t.Fatalf("resume added results: %d", n)
	}
}

func TestBatchResumeAfterInterrupt(t *testing.T) {
	requireDocker(t)
	dir, tasks := batchFixture(t, 6, true)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(3*time.Second, cancel)
	code, _, errOut := cli(t, ctx, dir, "", "batch", "-j", "2", "--max-turns", "3", "--exec-timeout", "60s", tasks)
	if code != ExitInterrupted {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	assertNoContainers(t, dockerClient(t))
	// Only task 7 (a model error) could have finished; nothing interrupted was written.
	for _, r := range readResultsOrNone(t, filepath.Join(dir, "tasks.results.jsonl")) {
		if r["status"] != "error" {
			t.Fatalf("an interrupted task was written as finished: %v", r)
		}
	}
}

func readResultsOrNone(t *testing.T, path string) []map[string]any {
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	return readResults(t, path)
}

func TestBatchReplay(t *testing.T) {
	requireDocker(t)
	t.Setenv("OPENAI_API_KEY", "")
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1") // nothing there
	dir := t.TempDir()
	rec := filepath.Join(dir, "recorded")
	os.Mkdir(rec, 0o755)
	demo, _ := os.ReadFile("../../examples/demo.transcript.jsonl")
	os.WriteFile(filepath.Join(rec, "demo.transcript.jsonl"), demo, 0o600)
	events, err := transcript.ReadFile(filepath.Join(rec, "demo.transcript.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	task, _ := json.Marshal(events[0].Content)
	tasks := writeFile(t, dir, "tasks.jsonl", `{"id": "demo", "task": `+string(task)+"}\n"+`{"id": "missing", "task": "no recording"}`+"\n")
	code, _, errOut := cli(t, context.Background(), dir, "", "batch", "--replay", rec, tasks)
	results := readResults(t, filepath.Join(dir, "tasks.results.jsonl"))
	if code != ExitFailure || len(results) != 2 || results[0]["status"] != "approved" || results[1]["status"] != "error" ||
		!strings.Contains(fmt.Sprint(results[1]["error"]), "no recorded transcript") {
		t.Fatalf("exit %d, results %v, stderr %s", code, results, errOut)
	}
}

func TestBatchUsageErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ name, tasks, want string }{
		{"not JSON", "{\"id\": 1, \"task\": \"a\"}\nnot json\n", "line 2: not a JSON object"},
		{"no id", "{\"task\": \"a\"}\n", `line 1: no "id"`},
		{"no task", "{\"id\": \"a\"}\n", `line 1: no "task" text`},
		{"duplicate id", "{\"id\": \"a\", \"task\": \"x\"}\n\n{\"id\": \"a\", \"task\": \"y\"}\n", `line 3: id "a" was already used on line 1`},
		{"empty", "\n", "has no task"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := cli(t, context.Background(), dir, "", "batch", writeFile(t, dir, "t.jsonl", tc.tasks))
			if code != ExitUsage || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
		})
	}
	code, _, errOut := cli(t, context.Background(), dir, "", "batch", "-j", "0", writeFile(t, dir, "ok.jsonl", `{"id": 1, "task": "x"}`))
	if code != ExitUsage || !strings.Contains(errOut, "--jobs") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// TestBatchConfigErrorsAndRetry: a refused key stops the starting of
// tasks after a few with one line; the summary lists the failed tasks;
// --retry-errors then runs them again, and a torn last line is cut first.
func TestBatchConfigErrorsAndRetry(t *testing.T) {
	refused := fakeserver.Step{Fault: &fakeserver.Fault{Status: 401, Code: "invalid_api_key", Message: "Incorrect API key provided"}}
	serveModels(t, fakeserver.Script{Models: map[string][]fakeserver.Step{
		"c": append([]fakeserver.Step{refused, refused, refused}, say("no code", "no code", "no code", "no code", "no code")...),
		"r": say("APPROVE", "APPROVE", "APPROVE", "APPROVE", "APPROVE"),
	}})
	dir := t.TempDir()
	var lines []string
	for i := 1; i <= 5; i++ {
		lines = append(lines, fmt.Sprintf(`{"id": "t%d", "task": "Task %d."}`, i, i))
	}
	tasks := writeFile(t, dir, "tasks.jsonl", strings.Join(lines, "\n")+"\n")
	args := []string{"batch", "-j", "1", "--coder-model", "c", "--reviewer-model", "r", tasks}
	code, out, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, dir, "", args...)
	if code != ExitFailure || strings.Count(errOut, "\n") != 1 ||
		!strings.Contains(errOut, "agentteam: stopped starting tasks: 3 in a row failed alike, 2 not started") ||
		!strings.Contains(errOut, `coder: model "c" (the server at http://127.0.0.1:`) ||
		!strings.Contains(errOut, "): the key was refused (HTTP 401): Incorrect API key provided; check OPENAI_API_KEY") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	// Each failed task: one plain line naming the model and the server,
	// with no kind's name ("authentication") in it.
	if !regexp.MustCompile(`failed tasks:\n  t1  coder: model "c" \(the server at http://127\.0\.0\.1:\d+/v1\): the key was refused \(HTTP 401\): Incorrect API key provided; check OPENAI_API_KEY or AZURE_OPENAI_API_KEY\n  t2  `).MatchString(out) ||
		strings.Contains(out, "authentication") || !strings.Contains(out, "--retry-errors") || strings.Contains(out, "  t4  ") {
		t.Fatalf("summary:\n%s", out)
	}
	results := filepath.Join(dir, "tasks.results.jsonl")
	f, _ := os.OpenFile(results, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"id": "t4", "sta`) // a crash mid-write
	f.Close()

	code, out, errOut = cliFake(t, context.Background(), &fakeSandboxes{}, dir, "", append(args[:len(args)-1], "--retry-errors", tasks)...)
	if code != ExitOK || !strings.Contains(errOut, "agentteam: the results file ended in a torn line; removed it") ||
		!strings.Contains(out, "approved       5") || strings.Contains(out, "failed tasks") {
		t.Fatalf("retry: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	for _, r := range readResults(t, results) { // every line whole
		if r["id"] == nil {
			t.Fatalf("a line without an id: %v", r)
		}
	}
}

func TestPrintFailed(t *testing.T) {
	var recs []taskrun.Record
	for i := range 23 {
		recs = append(recs, taskrun.Record{ID: fmt.Sprint("t", i), Status: taskrun.Failed, Error: "boom\nsecond line " + strings.Repeat("x", 2*maxReasonShown)})
	}
	recs = append(recs, taskrun.Record{ID: "ok", Status: taskrun.Approved})
	var b bytes.Buffer
	printFailed(&b, recs, true)
	got := b.String()
	if strings.Count(got, "\n  t") != 20 || !strings.Contains(got, "  … and 3 more") || strings.Contains(got, "ok") ||
		!strings.Contains(got, "  t0  boom second line xxx") || strings.Contains(got, strings.Repeat("x", maxReasonShown)) {
		t.Fatalf("%s", got)
	}
}
