package main

import (
	"bufio"
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
	"github.com/agentteam/agentteam/transcript"
)

// teamServer serves the coder's and the reviewer's replies from their own
// queues, reached through the environment as a user would.
func teamServer(t *testing.T, coder, reviewer []fakeserver.Step) *fakeserver.Server {
	t.Helper()
	return serveModels(t, fakeserver.Script{Models: map[string][]fakeserver.Step{"c": coder, "r": reviewer}})
}

func say(s ...string) []fakeserver.Step {
	out := make([]fakeserver.Step, len(s))
	for i, c := range s {
		out[i] = fakeserver.Step{Content: c}
	}
	return out
}

// runTeam runs `agentteam run --json` in dir and returns the exit status
// and the events it printed.
func runTeam(t *testing.T, ctx context.Context, dir string, args ...string) (int, []map[string]any, string) {
	t.Helper()
	return runTeamOn(t, ctx, nil, dir, args...)
}

// runTeamOn is runTeam on fake sandboxes (nil: the real engine).
func runTeamOn(t *testing.T, ctx context.Context, fs *fakeSandboxes, dir string, args ...string) (int, []map[string]any, string) {
	t.Helper()
	args = append([]string{"run", "--json", "--coder-model", "c", "--reviewer-model", "r"}, args...)
	var code int
	var out, errOut string
	if fs != nil {
		code, out, errOut = cliFake(t, ctx, fs, dir, "", args...)
	} else {
		code, out, errOut = cli(t, ctx, dir, "", args...)
	}
	var events []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("stdout line is not JSON: %v: %q", err, sc.Text())
		}
		if ev["type"] == nil {
			t.Fatalf("event without a type: %q", sc.Text())
		}
		events = append(events, ev)
	}
	return code, events, errOut
}

func result(t *testing.T, events []map[string]any) map[string]any {
	t.Helper()
	if len(events) == 0 || events[len(events)-1]["type"] != "result" {
		t.Fatalf("the last event is not the result: %v", events)
	}
	return events[len(events)-1]
}

const fixedCode = "```python\n# filename: greet.py\ndef greet(name):\n    return f'hello {name}'\n```\n```python\nfrom greet import greet\nprint(greet('team'))\n```"

func TestRunApprovedFirstTry(t *testing.T) {
	requireDocker(t)
	srv := teamServer(t, say(fixedCode), say("It prints hello team.\nAPPROVE"))
	dir := t.TempDir()
	code, events, errOut := runTeam(t, context.Background(), dir, "Write greet(name).")
	res := result(t, events)
	if code != ExitOK || res["approved"] != true || res["turns"] != 3.0 || res["stop_reason"] != "reviewer said APPROVE" {
		t.Fatalf("exit %d, result %v, stderr %s", code, res, errOut)
	}
	var types []string
	for _, e := range events {
		if e["type"] != "output" { // pieces as the program wrote them: the live output tests count them
			types = append(types, e["type"].(string)+":"+asString(e["agent"]))
		}
	}
	want := "message:user message:coder block_start:executor block:executor block_start:executor block:executor message:executor message:reviewer result:"
	if strings.Join(types, " ") != want {
		t.Fatalf("events %v, want %s", types, want)
	}
	ws := res["workspace"].(string)
	if data, err := os.ReadFile(filepath.Join(ws, "greet.py")); err != nil || !strings.Contains(string(data), "def greet") {
		t.Fatalf("greet.py not in the workspace: %v", err)
	}
	// The reviewer saw the execution report with the program's output.
	rev := srv.Requests()[1]
	if rev.Model != "r" || !strings.Contains(rev.Messages[3].Content, "hello team") || rev.Messages[3].Name != "executor" {
		t.Fatalf("the reviewer's request: %+v", rev.Messages)
	}
	// The transcript is complete and beside the workspace.
	evs, err := transcript.ReadFile(res["transcript"].(string))
	if err != nil || evs[0].Type != "task" || evs[len(evs)-1].Type != "result" || !strings.HasPrefix(res["transcript"].(string), ws) {
		t.Fatalf("transcript: %v, %d events", err, len(evs))
	}
	assertNoContainers(t, dockerClient(t))
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}

// TestRunFixedOnSecondTry: the coder sees the failure, the reviewer the
// success; a file from the first turn is read in a later one.
func TestRunFixedOnSecondTry(t *testing.T) {
	requireDocker(t)
	broken := "```python\n# filename: data.txt\n```\n```python\nopen('data.txt', 'w').write('42')\nraise SystemExit('boom: not yet')\n```"
	fixed := "```python\nprint('read', open('data.txt').read())\n```"
	srv := teamServer(t, say(broken, fixed), say("It failed with boom. Fix it.", "It read 42.\nAPPROVE"))
	code, events, errOut := runTeam(t, context.Background(), t.TempDir(), "Make it work.")
	res := result(t, events)
	if code != ExitOK || res["turns"] != 6.0 {
		t.Fatalf("exit %d, result %v, stderr %s", code, res, errOut)
	}
	reqs := srv.Requests()
	var coder2, reviewer2 string
	for _, r := range reqs {
		last := r.Messages[len(r.Messages)-1].Content
		switch {
		case r.Model == "c" && len(r.Messages) > 2:
			coder2 = strings.Join([]string{r.Messages[len(r.Messages)-2].Content, last}, "\n")
		case r.Model == "r" && len(r.Messages) > 4:
			reviewer2 = last
		}
	}
	if !strings.Contains(coder2, "boom: not yet") || !strings.Contains(coder2, "exit code 1") {
		t.Fatalf("the coder did not see the failure:\n%s", coder2)
	}
	if !strings.Contains(reviewer2, "read 42") || !strings.Contains(reviewer2, "exited 0") {
		t.Fatalf("the reviewer did not see the success:\n%s", reviewer2)
	}
}

func TestRunStopsWithoutApproval(t *testing.T) {
	requireDocker(t)
	t.Run("max turns", func(t *testing.T) {
		teamServer(t, say("no code here", "still none"), say("Please write code.", "Code, please."))
		code, events, _ := runTeam(t, context.Background(), t.TempDir(), "--max-turns", "4", "Do something.")
		res := result(t, events)
		if code != ExitNotApproved || res["approved"] != false || res["stop_reason"] != "max turns (4) reached" || res["exit_code"] != 3.0 {
			t.Fatalf("exit %d, result %v", code, res)
		}
		// The executor said there was no code, and asked for a block.
		var execMsg string
		for _, e := range events {
			if e["type"] == "message" && e["agent"] == "executor" {
				execMsg = e["content"].(string)
			}
		}
		if !strings.Contains(execMsg, "No code was run") || !strings.Contains(execMsg, "fenced block") {
			t.Fatalf("executor message %q", execMsg)
		}
	})
	t.Run("block times out", func(t *testing.T) {
		srv := teamServer(t, say("```sh\necho waiting\nsleep 30\n```"), say("It timed out."))
		code, _, _ := runTeam(t, context.Background(), t.TempDir(), "--max-turns", "3", "--exec-timeout", "1s", "Wait.")
		rev := srv.Requests()[1].Messages
		if code != ExitNotApproved || !strings.Contains(rev[len(rev)-1].Content, "timed out") || !strings.Contains(rev[len(rev)-1].Content, "waiting") {
			t.Fatalf("exit %d; the reviewer saw %q", code, rev[len(rev)-1].Content)
		}
	})
	t.Run("whole-run timeout", func(t *testing.T) {
		teamServer(t, []fakeserver.Step{{Content: "slow", DelayMS: 5000}}, nil)
		start := time.Now()
		code, events, _ := runTeam(t, context.Background(), t.TempDir(), "--timeout", "500ms", "Be quick.")
		if res := result(t, events); code != ExitNotApproved || res["stop_reason"] != "timeout (500ms) reached" || time.Since(start) > 4*time.Second {
			t.Fatalf("exit %d, result %v after %s", code, res, time.Since(start))
		}
	})
}

func TestRunInterrupted(t *testing.T) {
	requireDocker(t)
	teamServer(t, say("```sh\necho started\nsleep 60\n```"), nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(2*time.Second, cancel)
	code, events, errOut := runTeam(t, ctx, t.TempDir(), "Sleep.")
	res := result(t, events)
	if code != ExitInterrupted || res["stop_reason"] != "interrupted" || !strings.Contains(errOut, "interrupted") {
		t.Fatalf("exit %d, result %v, stderr %q", code, res, errOut)
	}
	evs, err := transcript.ReadFile(res["transcript"].(string))
	if err != nil || evs[len(evs)-1].Type != "result" {
		t.Fatalf("transcript not complete: %v", err)
	}
	assertNoContainers(t, dockerClient(t))
}

func TestRunErrors(t *testing.T) {
	t.Run("model error", func(t *testing.T) {
		teamServer(t, []fakeserver.Step{{Fault: &fakeserver.Fault{Status: 401, Code: "invalid_api_key", Message: "Incorrect API key provided"}}}, nil)
		code, events, errOut := runTeamOn(t, context.Background(), &fakeSandboxes{}, t.TempDir(), "Task.")
		if res := result(t, events); code != ExitFailure || !strings.Contains(errOut, "the key was refused (HTTP 401): Incorrect API key provided; check OPENAI_API_KEY") || res["error"] == nil {
			t.Fatalf("exit %d, stderr %q, result %v", code, errOut, res)
		}
	})
	t.Run("no key for OpenAI", func(t *testing.T) {
		t.Setenv("OPENAI_API_KEY", "")
		t.Setenv("OPENAI_BASE_URL", "")
		t.Setenv("AGENTTEAM_PROVIDER", "")
		t.Setenv("AZURE_OPENAI_ENDPOINT", "")
		code, _, errOut := cli(t, context.Background(), t.TempDir(), "", "run", "Task.")
		if code != ExitFailure || !strings.Contains(errOut, "no API key for openai") || strings.Contains(errOut, "model authentication") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		// With --json the end has its result line even so.
		code, out, _ := cli(t, context.Background(), t.TempDir(), "", "run", "--json", "Task.")
		var res RunSummary
		if err := json.Unmarshal([]byte(out), &res); code != ExitFailure || err != nil || res.Type != "result" || res.ExitCode != ExitFailure ||
			!strings.Contains(res.Error, "no API key for openai") || res.Time == "" {
			t.Fatalf("--json: exit %d, stdout %q (%v)", code, out, err)
		}
	})
	t.Run("no image", func(t *testing.T) {
		requireDocker(t)
		teamServer(t, nil, nil)
		dir := t.TempDir()
		code, _, errOut := cli(t, context.Background(), dir, "", "run", "--image", "agentteam-no-such-image:1", "Task.")
		if entries, _ := os.ReadDir(filepath.Join(dir, defaultRunsDir)); code != ExitSandbox || !strings.Contains(errOut, "make image") || len(entries) != 0 {
			t.Fatalf("exit %d, stderr %q, workspace entries %d", code, errOut, len(entries))
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no task", []string{"run"}, "no task"},
		{"max turns zero", []string{"run", "--max-turns", "0", "x"}, "--max-turns"},
		{"json and quiet", []string{"run", "--json", "--quiet", "x"}, "do not go together"},
		{"approve without a terminal", []string{"run", "--approve", "x"}, "--yes"},
		{"missing replay", []string{"run", "--replay", "/nonexistent.jsonl"}, "replay:"},
		{"bad prompts dir", []string{"run", "--prompts", "/nonexistent", "x"}, "prompts directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			teamServer(t, nil, nil)
			code, _, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, t.TempDir(), "", tc.args...)
			if code != ExitUsage || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
		})
	}
}

// TestRunReplay replays the recorded demo through the real sandbox with no
// network and no key, and a tampered copy fails saying where.
func TestRunReplay(t *testing.T) {
	requireDocker(t)
	t.Setenv("OPENAI_API_KEY", "")
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1") // nothing there: replay must not call it
	demo, err := filepath.Abs("../../examples/demo.transcript.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	code, events, errOut := runTeam(t, context.Background(), t.TempDir(), "--replay", demo)
	if res := result(t, events); code != ExitOK || res["approved"] != true || res["turns"] != 6.0 {
		t.Fatalf("exit %d, result %v, stderr %s", code, res, errOut)
	}
	data, _ := os.ReadFile(demo)
	tampered := filepath.Join(t.TempDir(), "tampered.jsonl")
	os.WriteFile(tampered, []byte(strings.Replace(string(data), `[('to', 2), ('be', 2)]`, `[('to', 3)]`, -1)), 0o600)
	code, _, errOut = runTeam(t, context.Background(), t.TempDir(), "--replay", tampered)
	if code != ExitFailure || !strings.Contains(errOut, "replay_diverged: reviewer call 2") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestRunLiveView(t *testing.T) {
	requireDocker(t)
	teamServer(t, say("```sh\nprintf 'esc \\033]52;c;eA==\\007 done\\n'\n```"), say("Fine.\nAPPROVE"))
	code, out, errOut := cli(t, context.Background(), t.TempDir(), "", "run", "--coder-model", "c", "--reviewer-model", "r", "Print.")
	if code != ExitOK {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	for _, want := range []string{"── task", "── coder", "── executor", "✓ block 1 · sh · exit 0", `esc \x1b]52;c;eA==\x07 done`, "── reviewer", "✓ approved", "tokens: coder"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("raw control characters reached the output: %q", out)
	}
}

// TestRunModelQuirks: a team meets real servers' failures as model errors
// (one line, exit 1, the run stopped and recorded), and a reasoning
// model's thinking is shown and recorded but never sent to a model.
func TestRunModelQuirks(t *testing.T) {
	code := "```sh\necho hi\n```"
	for _, tc := range []struct {
		name            string
		coder, reviewer []fakeserver.Step
		says, kind      string
	}{
		{name: "error frame in the coder's stream",
			coder: []fakeserver.Step{{Content: "```sh\necho ha", Error: &fakeserver.StreamError{Message: "Provider disconnected unexpectedly", Code: "server_error", Shape: "in_chunk"}}},
			says:  `coder: model "c" (the server at URL): the server failed: Provider disconnected unexpectedly`, kind: "server_error"},
		{name: "coder cut by the content filter",
			coder: []fakeserver.Step{{Content: "```sh\necho ha", FinishReason: "content_filter"}},
			says:  `coder: model "c" (the server at URL): blocked by the content filter: the server's content filter stopped the reply after 13 characters`, kind: "content_filter"},
		{name: "reviewer thinks and never answers", coder: []fakeserver.Step{{Content: code}},
			reviewer: []fakeserver.Step{{Reasoning: "It prints hi, which is", FinishReason: "length"}},
			says:     `reviewer: model "r" (the server at URL): an empty reply: the reply has no text: the token limit was reached while the model was still reasoning`, kind: "empty_reply"},
		{name: "string error from the reviewer's server", coder: []fakeserver.Step{{Content: code}},
			reviewer: []fakeserver.Step{{Fault: &fakeserver.Fault{Status: 500, Message: "llama runner process has terminated", Shape: "string"}}},
			says:     `reviewer: model "r" (the server at URL): the server failed (HTTP 500): llama runner process has terminated`, kind: "server_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := teamServer(t, tc.coder, tc.reviewer)
			tc.says = strings.Replace(tc.says, "URL", srv.URL, 1)
			exit, events, errOut := runTeamOn(t, context.Background(), &fakeSandboxes{}, t.TempDir(), "Say hi.")
			res := result(t, events)
			if exit != ExitFailure || !strings.Contains(errOut, tc.says) || strings.Count(errOut, "\n") != 1 ||
				res["stop_reason"] != "error" || !strings.Contains(asString(res["error"]), tc.says) {
				t.Fatalf("exit %d, stderr %q, result %v; want an error saying %q", exit, errOut, res, tc.says)
			}
			evs, err := transcript.ReadFile(res["transcript"].(string))
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, e := range evs {
				if e.Type == transcript.TypeModelCall && e.ErrorKind != "" {
					kinds = append(kinds, e.ErrorKind)
				}
			}
			if len(kinds) != 1 || kinds[0] != tc.kind {
				t.Fatalf("the transcript records the failed calls as %q", kinds)
			}
		})
	}
}

func TestRunReasoning(t *testing.T) {
	srv := teamServer(t,
		[]fakeserver.Step{{Content: "```sh\necho hi\n```", Reasoning: "CODER-THOUGHT: a shell line will do.", ReasoningField: "think"}},
		[]fakeserver.Step{{Content: "It prints hi.\nAPPROVE", Reasoning: "REVIEWER-THOUGHT: the output matches.", ReasoningField: "reasoning"}})
	exit, events, errOut := runTeamOn(t, context.Background(), &fakeSandboxes{}, t.TempDir(), "Say hi.")
	res := result(t, events)
	if exit != ExitOK || res["approved"] != true {
		t.Fatalf("exit %d, result %v, stderr %s", exit, res, errOut)
	}
	got := map[string]string{}
	for _, e := range events {
		if e["type"] == "message" {
			got[asString(e["agent"])] = asString(e["reasoning"])
			if strings.Contains(asString(e["content"]), "THOUGHT") {
				t.Errorf("reasoning in the content of %v", e)
			}
		}
	}
	if got["coder"] != "CODER-THOUGHT: a shell line will do.\n" || got["reviewer"] != "REVIEWER-THOUGHT: the output matches." || got["executor"] != "" {
		t.Fatalf("message reasoning %q", got)
	}
	for _, r := range srv.Requests() {
		for _, m := range r.Messages {
			if strings.Contains(m.Content, "THOUGHT") {
				t.Fatalf("a model was sent reasoning: %q", m.Content)
			}
		}
	}
	evs, err := transcript.ReadFile(res["transcript"].(string))
	if err != nil {
		t.Fatal(err)
	}
	recorded := 0
	for _, e := range evs {
		if e.Type == transcript.TypeModelCall && strings.Contains(e.Reasoning, "-THOUGHT: ") && !strings.Contains(e.Content, "THOUGHT") {
			recorded++
		}
	}
	if recorded != 2 {
		t.Fatalf("%d model calls recorded their reasoning apart, want 2", recorded)
	}
}

// TestReplayEndsAsRecorded: a replay given no limit flags takes the
// recorded ones, so a run that a limit stopped replays to the same end
// instead of asking for a reply the transcript does not have; a flag
// still wins over the recording.
func TestReplayEndsAsRecorded(t *testing.T) {
	usage := &fakeserver.Usage{PromptTokens: 90, CompletionTokens: 10, TotalTokens: 100}
	for _, tc := range []struct {
		name       string
		record     []string // flags of the recorded run
		replay     []string // flags of the replay
		code       int
		stopReason string
	}{
		{"max turns", []string{"--max-turns", "4"}, nil, ExitNotApproved, "max turns (4) reached"},
		{"token budget", []string{"--token-budget", "250"}, nil, ExitNotApproved, "token budget (250) reached with 300 tokens"},
		{"max turns flag wins", []string{"--max-turns", "4"}, []string{"--max-turns", "6"}, ExitFailure, "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps := func(n int) []fakeserver.Step {
				s := make([]fakeserver.Step, n)
				for i := range s {
					s[i] = fakeserver.Step{Content: fmt.Sprintf("reply %d, no code", i+1), Usage: usage}
				}
				return s
			}
			teamServer(t, steps(5), steps(5))
			dir := t.TempDir()
			ws := filepath.Join(dir, "ws")
			code, events, errOut := runTeamOn(t, context.Background(), &fakeSandboxes{}, dir, append(tc.record, "--workspace", ws, "Never finish.")...)
			rec := result(t, events)
			if code != ExitNotApproved {
				t.Fatalf("recording: exit %d, result %v, stderr %s", code, rec, errOut)
			}
			t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1") // nothing there: the replay must not call it
			args := append(tc.replay, "--workspace", filepath.Join(dir, "ws2"), "--replay", ws+".transcript.jsonl")
			code, events, errOut = runTeamOn(t, context.Background(), &fakeSandboxes{}, dir, args...)
			res := result(t, events)
			if code != tc.code || res["stop_reason"] != tc.stopReason || res["exit_code"] != float64(tc.code) {
				t.Fatalf("replay: exit %d, result %v, stderr %s", code, res, errOut)
			}
			if tc.code == ExitNotApproved && (res["turns"] != rec["turns"] || res["stop_reason"] != rec["stop_reason"]) {
				t.Fatalf("replay ended after %v turns (%v), the recording after %v (%v)", res["turns"], res["stop_reason"], rec["turns"], rec["stop_reason"])
			}
		})
	}
}

// TestRunEventsStamped: every --json event and every transcript event has
// its time (RFC 3339, UTC, milliseconds), and blocks are numbered from 1
// among the message's blocks everywhere: the block events of both, the
// screen and the executor's report.
func TestRunEventsStamped(t *testing.T) {
	rfc3339ms := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	code := "```\nprose, skipped\n```\n```sh\necho hi\n```"
	teamServer(t, say(code), say("APPROVE"))
	dir := t.TempDir()
	status, events, errOut := runTeamOn(t, context.Background(), &fakeSandboxes{}, dir, "--workspace", filepath.Join(dir, "ws"), "Say hi.")
	if status != ExitOK {
		t.Fatalf("exit %d, stderr %s", status, errOut)
	}
	var blocks []any
	for _, e := range events {
		if s, _ := e["time"].(string); !rfc3339ms.MatchString(s) {
			t.Errorf("%s event's time %q", e["type"], e["time"])
		}
		if e["type"] == "block" {
			blocks = append(blocks, e["index"])
		}
		if e["type"] == "message" && e["agent"] == "executor" && !strings.Contains(e["content"].(string), "\nBlock 2 (sh): exit code 0") {
			t.Errorf("the report does not number the block 2:\n%s", e["content"])
		}
	}
	if len(blocks) != 1 || blocks[0] != 2.0 {
		t.Errorf("block events' indexes %v, want [2]", blocks)
	}
	data, err := os.ReadFile(filepath.Join(dir, "ws.transcript.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e struct {
			Type  string
			Time  string
			Extra map[string]any
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil || !rfc3339ms.MatchString(e.Time) {
			t.Errorf("transcript line %s: time %q, %v", line, e.Time, err)
		}
		if strings.HasPrefix(e.Type, "block") && e.Extra["index"] != 2.0 {
			t.Errorf("transcript %s event's index %v, want 2", e.Type, e.Extra["index"])
		}
		if e.Type != "model_call" {
			types = append(types, e.Type)
		}
	}
	if want := "task message block_start block message message result"; strings.Join(types, " ") != want {
		t.Errorf("transcript events %v, want %s", types, want)
	}
}
