package replay_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/fake"
	"github.com/agentteam/agentteam/model/replay"
	"github.com/agentteam/agentteam/transcript"
)

func msgs(pairs ...string) []model.Message {
	var out []model.Message
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, model.Message{Role: pairs[i], Content: pairs[i+1]})
	}
	return out
}

type call struct {
	agent string
	req   model.Request
}

// record runs calls through transcript.Record around the given models and
// returns the events read back from the transcript, and the live replies.
func record(t *testing.T, models map[string]model.Model, calls []call) ([]transcript.Event, []model.Reply, []error) {
	t.Helper()
	var buf bytes.Buffer
	w := transcript.NewWriter(&buf)
	rec := map[string]model.Model{}
	for agent, m := range models {
		rec[agent] = transcript.Record(m, agent, w)
	}
	var replies []model.Reply
	var errs []error
	for _, c := range calls {
		r, err := rec[c.agent].Complete(context.Background(), c.req)
		replies = append(replies, r)
		errs = append(errs, err)
	}
	if err := w.Write(transcript.Event{Type: "result", Content: "done"}); err != nil {
		t.Fatal(err)
	}
	events, err := transcript.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return events, replies, errs
}

var twoAgentCalls = []call{
	{"coder", model.Request{Model: "m", Messages: msgs(model.RoleSystem, "you code", model.RoleUser, "task: hello")}},
	{"reviewer", model.Request{Model: "m", Messages: msgs(model.RoleSystem, "you review", model.RoleUser, "review hello.py")}},
	{"coder", model.Request{Model: "m", Messages: msgs(model.RoleSystem, "you code", model.RoleUser, "task: hello", model.RoleAssistant, "line one\nline two\n", model.RoleUser, "ran in 12 ms")}},
	{"reviewer", model.Request{Model: "m", Messages: msgs(model.RoleSystem, "you review", model.RoleUser, "again")}},
	{"coder", model.Request{Model: "m", Messages: msgs(model.RoleUser, "last")}},
}

func twoAgentModels() map[string]model.Model {
	return map[string]model.Model{
		"coder":    fake.Replies("line one\nline two\n", "fixed\nnow\nall good", "bye"),
		"reviewer": fake.New(fake.Step{Reply: model.Reply{Content: "LGTM", FinishReason: "stop", Model: "srv-2"}}, fake.Step{Reply: model.Reply{Content: "ok"}}),
	}
}

func TestReplayMatchesRecording(t *testing.T) {
	events, live, _ := record(t, twoAgentModels(), twoAgentCalls)
	r := replay.New(events)
	if got, want := r.Remaining(), map[string]int{"coder": 3, "reviewer": 2}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Remaining = %v, want %v", got, want)
	}
	for i, c := range twoAgentCalls {
		reply, err := r.Model(c.agent).Complete(context.Background(), c.req)
		if err != nil {
			t.Fatalf("call %d (%s): %v", i+1, c.agent, err)
		}
		if reply != live[i] {
			t.Errorf("call %d (%s): replayed %+v, recorded %+v", i+1, c.agent, reply, live[i])
		}
	}
	if got := r.Remaining(); len(got) != 0 {
		t.Errorf("Remaining after the replay = %v, want empty", got)
	}
	// Spot-check what the live run gave, so the comparison above means something.
	if live[1].Model != "srv-2" || live[3].Usage.Known || !live[0].Usage.Known || live[4].Content != "bye" {
		t.Errorf("unexpected live replies: %+v", live)
	}
}

func TestReplayPerAgentOrderIsIndependent(t *testing.T) {
	events, live, _ := record(t, twoAgentModels(), twoAgentCalls)
	r := replay.New(events)
	// All of the reviewer's calls first, then the coder's: each agent keeps its own order.
	order := []int{1, 3, 0, 2, 4}
	for _, i := range order {
		c := twoAgentCalls[i]
		reply, err := r.Model(c.agent).Complete(context.Background(), c.req)
		if err != nil || reply != live[i] {
			t.Errorf("call %d (%s): %+v, %v; want %+v", i+1, c.agent, reply, err, live[i])
		}
	}
}

func TestReplayStreaming(t *testing.T) {
	events, live, _ := record(t, twoAgentModels(), twoAgentCalls)
	r := replay.New(events)
	for i, c := range twoAgentCalls {
		var pieces []string
		req := c.req
		req.OnDelta = func(d string) { pieces = append(pieces, d) }
		reply, err := r.Model(c.agent).Complete(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(pieces, "") != reply.Content || reply.Content != live[i].Content {
			t.Errorf("call %d: pieces %q, content %q", i+1, pieces, reply.Content)
		}
		if want := strings.Count(strings.TrimSuffix(reply.Content, "\n"), "\n") + 1; len(pieces) != want {
			t.Errorf("call %d: %d pieces %q, want %d (split after each newline)", i+1, len(pieces), pieces, want)
		}
	}
}

func TestReplayDiverged(t *testing.T) {
	long := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 10)
	recorded := []call{
		{"coder", model.Request{Messages: msgs(model.RoleUser, "first")}},
		{"coder", model.Request{Messages: msgs(model.RoleSystem, "sys", model.RoleUser, long+"cat"+long)}},
	}
	tests := []struct {
		name string
		msgs []model.Message
		want []string
		// excerpts longer than this (recorded or now) fail
		maxExcerpt int
	}{
		{
			name:       "changed content",
			msgs:       msgs(model.RoleSystem, "sys", model.RoleUser, long+"cow"+long),
			want:       []string{"coder", "call 2", "message 2 (user)", `recorded "...`, `cat`, `now "...`, `cow`},
			maxExcerpt: 90,
		},
		{
			name: "changed role",
			msgs: msgs(model.RoleSystem, "sys", model.RoleAssistant, long+"cat"+long),
			want: []string{"coder", "call 2", "message 2", "user", "assistant"},
		},
		{
			name: "extra message",
			msgs: msgs(model.RoleSystem, "sys", model.RoleUser, long+"cat"+long, model.RoleUser, "and more"),
			want: []string{"coder", "call 2", "2 message(s)", "has 3", "message 3 (user)", `"and more"`},
		},
		{
			name: "missing message",
			msgs: msgs(model.RoleSystem, "sys"),
			want: []string{"coder", "call 2", "2 message(s)", "has 1", "message 2 (user)", "missing"},
		},
		{
			name:       "difference at the start",
			msgs:       msgs(model.RoleSystem, "SYS", model.RoleUser, long+"cat"+long),
			want:       []string{"call 2", "message 1 (system)", `recorded "sys", now "SYS"`},
			maxExcerpt: 10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, _, _ := record(t, map[string]model.Model{"coder": fake.Replies("a", "b")}, recorded)
			r := replay.New(events)
			m := r.Model("coder")
			if _, err := m.Complete(context.Background(), recorded[0].req); err != nil {
				t.Fatal(err)
			}
			_, err := m.Complete(context.Background(), model.Request{Messages: tt.msgs})
			if model.KindOf(err) != model.KindReplayDiverged {
				t.Fatalf("err = %v, want replay_diverged", err)
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error does not contain %q:\n%s", s, err)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines:\n%s", err)
			}
			if tt.maxExcerpt > 0 {
				for _, q := range quoted(err.Error()) {
					if len(q) > tt.maxExcerpt {
						t.Errorf("excerpt of %d bytes, want at most %d: %q", len(q), tt.maxExcerpt, q)
					}
				}
			}
			// A diverged call is not consumed: the recorded request still replays.
			if got := r.Remaining()["coder"]; got != 1 {
				t.Errorf("Remaining = %d after divergence, want 1", got)
			}
			if reply, err := m.Complete(context.Background(), recorded[1].req); err != nil || reply.Content != "b" {
				t.Errorf("recorded request after divergence: %+v, %v", reply, err)
			}
		})
	}
}

// quoted returns the "..." strings in s (no escaped quotes expected).
func quoted(s string) []string {
	parts := strings.Split(s, `"`)
	var out []string
	for i := 1; i < len(parts); i += 2 {
		out = append(out, parts[i])
	}
	return out
}

func TestReplayExhausted(t *testing.T) {
	events, _, _ := record(t, twoAgentModels(), twoAgentCalls)
	r := replay.New(events)
	reviewer := r.Model("reviewer")
	for _, i := range []int{1, 3} {
		if _, err := reviewer.Complete(context.Background(), twoAgentCalls[i].req); err != nil {
			t.Fatal(err)
		}
	}
	_, err := reviewer.Complete(context.Background(), twoAgentCalls[3].req)
	if model.KindOf(err) != model.KindReplayExhausted {
		t.Fatalf("err = %v, want replay_exhausted", err)
	}
	want := "the transcript has no recorded reply left for reviewer (it recorded 2 call(s))"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	// An agent the transcript never saw.
	_, err = r.Model("planner").Complete(context.Background(), twoAgentCalls[0].req)
	if model.KindOf(err) != model.KindReplayExhausted || !strings.Contains(err.Error(), "planner (it recorded 0 call(s))") {
		t.Errorf("unknown agent: %v", err)
	}
	if got, want := r.Remaining(), map[string]int{"coder": 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("Remaining = %v, want %v", got, want)
	}
}

func TestReplayRecordedErrors(t *testing.T) {
	calls := []call{
		{"executor", model.Request{Messages: msgs(model.RoleUser, "one")}},
		{"executor", model.Request{Messages: msgs(model.RoleUser, "two")}},
		{"executor", model.Request{Messages: msgs(model.RoleUser, "three")}},
	}
	m := fake.New(
		fake.Step{Err: &model.Error{Kind: model.KindRateLimited, Status: 429, Message: "slow down"}},
		fake.Step{Err: errors.New("connection reset")},
		fake.Step{Reply: model.Reply{Content: "finally"}},
	)
	events, _, liveErrs := record(t, map[string]model.Model{"executor": m}, calls)
	r := replay.New(events)
	tests := []struct {
		kind    model.Kind
		text    string
		content string
	}{
		{kind: model.KindRateLimited, text: liveErrs[0].Error()}, // the same text as the live error
		{kind: model.KindServer, text: "connection reset"},       // no kind recorded: a server error
		{content: "finally"},
	}
	for i, tt := range tests {
		reply, err := r.Model("executor").Complete(context.Background(), calls[i].req)
		if tt.kind == "" {
			if err != nil || reply.Content != tt.content {
				t.Errorf("call %d: %+v, %v", i+1, reply, err)
			}
			continue
		}
		if model.KindOf(err) != tt.kind {
			t.Errorf("call %d: err %v, want kind %s", i+1, err, tt.kind)
			continue
		}
		if !strings.Contains(err.Error(), tt.text) {
			t.Errorf("call %d: err %q, want it to contain %q", i+1, err, tt.text)
		}
	}
}

func TestReplayCancelled(t *testing.T) {
	events, _, _ := record(t, twoAgentModels(), twoAgentCalls)
	r := replay.New(events)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.Model("coder").Complete(ctx, twoAgentCalls[0].req)
	if model.KindOf(err) != model.KindCanceled || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want cancelled wrapping context.Canceled", err)
	}
	if r.Remaining()["coder"] != 3 {
		t.Errorf("a cancelled call consumed a recorded one")
	}
}

func TestVolatileDifferencesDoNotDiverge(t *testing.T) {
	recorded := []call{{"executor", model.Request{Messages: msgs(
		model.RoleSystem, "\n\nwork in /tmp/run-20250101-120000-abcdef/ws  \r\n",
		model.RoleUser, "exit 0 after 12 ms\r\ntests took 1.5s\rtotal 0.25 s, build 340ms\t\n\n",
	)}}}
	now := msgs(
		model.RoleSystem, "work in /tmp/run-20260707-235959-0f9e8d/ws",
		model.RoleUser, "exit 0 after 7ms\ntests took 30 s\ntotal 12.125s, build 2 ms",
	)
	events, _, _ := record(t, map[string]model.Model{"executor": fake.Replies("ok")}, recorded)
	r := replay.New(events)
	reply, err := r.Model("executor").Complete(context.Background(), model.Request{Messages: now})
	if err != nil || reply.Content != "ok" {
		t.Fatalf("volatile differences diverged: %+v, %v", reply, err)
	}

	// A difference outside the tolerance still diverges.
	events, _, _ = record(t, map[string]model.Model{"executor": fake.Replies("ok")}, recorded)
	r = replay.New(events)
	changed := append([]model.Message(nil), now...)
	changed[1].Content = strings.Replace(changed[1].Content, "exit 0", "exit 1", 1)
	if _, err := r.Model("executor").Complete(context.Background(), model.Request{Messages: changed}); model.KindOf(err) != model.KindReplayDiverged {
		t.Fatalf("exit 0 vs exit 1: err = %v, want replay_diverged", err)
	}
}

func TestIgnoreProgramOutput(t *testing.T) {
	report := func(exit, stdout, stderr, nonce string) string {
		return "Execution report: block 1 of 1 failed.\n\nBlock 1 (python): exit code " + exit + "\n" +
			"<<<output " + nonce + " stdout\n" + stdout + "\noutput " + nonce + ">>>\n" +
			"<<<output " + nonce + " stderr\n" + stderr + "\noutput " + nonce + ">>>\n\nFiles created: out.csv"
	}
	recorded := []call{{"reviewer", model.Request{Messages: msgs(
		model.RoleUser, "Sample 3 numbers.",
		model.RoleUser, report("1", "0.1392\n0.8841\n0.5120", "Traceback: seed 4711", "1a2b3c4d"),
	)}}}
	tests := []struct {
		name    string
		now     string
		strict  bool // diverges without the option
		ignored bool // diverges with it
	}{
		{"other output", report("1", "0.9\n0.2\n0.4\nand a line more", "Traceback: seed 99", "0f0f0f0f"), true, false},
		{"empty output", report("1", "", "", "0f0f0f0f"), true, false},
		{"the same output", report("1", "0.1392\n0.8841\n0.5120", "Traceback: seed 4711", "99999999"), false, false},
		{"another exit code", report("0", "0.1392\n0.8841\n0.5120", "Traceback: seed 4711", "1a2b3c4d"), true, true},
		{"other files", strings.Replace(report("1", "x", "y", "1a2b3c4d"), "out.csv", "out.json", 1), true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := msgs(model.RoleUser, "Sample 3 numbers.", model.RoleUser, tc.now)
			for _, c := range []struct {
				opts []replay.Option
				want bool
			}{{nil, tc.strict}, {[]replay.Option{replay.IgnoreProgramOutput()}, tc.ignored}} {
				events, _, _ := record(t, map[string]model.Model{"reviewer": fake.Replies("ok")}, recorded)
				_, err := replay.New(events, c.opts...).Model("reviewer").Complete(context.Background(), model.Request{Messages: now})
				if diverged := model.KindOf(err) == model.KindReplayDiverged; diverged != c.want || (!diverged && err != nil) {
					t.Errorf("with %d option(s): err = %v, want diverged = %v", len(c.opts), err, c.want)
				}
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"CRLF", "a\r\nb\r\n", "a\nb"},
		{"output fence nonce", "<<<output 1a2b3c4d stdout\nhi\noutput 1a2b3c4d>>>", "<<<output <nonce> stdout\nhi\noutput <nonce>>>>"},
		{"not a fence", "output 1a2b3c4d is data", "output 1a2b3c4d is data"},
		{"lone CR", "a\rb", "a\nb"},
		{"trailing spaces and tabs", "a  \t\nb\t\n c ", "a\nb\n c"},
		{"leading and trailing blank lines", "\n \n\ta\n\nb\n\n\t\n", "\ta\n\nb"},
		{"inner blank lines kept", "a\n\n\nb", "a\n\n\nb"},
		{"ms with space", "took 12 ms.", "took <duration>."},
		{"ms no space", "took 340ms", "took <duration>"},
		{"decimal s", "in 1.5s,", "in <duration>,"},
		{"decimal s with space", "(0.25 s)", "(<duration>)"},
		{"several", "a 1s b 2.0 ms c", "a <duration> b <duration> c"},
		{"bare number not masked", "exit status 12", "exit status 12"},
		{"number then word not masked", "12 files in 3 dirs", "12 files in 3 dirs"},
		{"seconds not masked", "waited 5 seconds", "waited 5 seconds"},
		{"msg not masked", "sent 12 msgs", "sent 12 msgs"},
		{"no number not masked", "it's ms and s", "it's ms and s"},
		{"number inside a word not masked", "sha abc12ms x", "sha abc12ms x"},
		{"run dir", "/tmp/run-20250101-120000-abcdef/out.txt", "/tmp/<run>/out.txt"},
		{"run dir bare", "run-20991231-235959-0a1b2c", "<run>"},
		{"run dir wrong hex length", "run-20250101-120000-abcde", "run-20250101-120000-abcde"},
		{"run dir non-hex", "run-20250101-120000-abcxyz", "run-20250101-120000-abcxyz"},
		{"empty", "", ""},
		{"only blank", "\r\n  \n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := replay.Normalize(tt.in); got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "transcript.jsonl")
	w, err := transcript.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	m := transcript.Record(fake.Replies("hi"), "coder", w)
	req := model.Request{Messages: msgs(model.RoleUser, "hello")}
	if _, err := m.Complete(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := replay.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if reply, err := r.Model("coder").Complete(context.Background(), req); err != nil || reply.Content != "hi" {
		t.Fatalf("%+v, %v", reply, err)
	}

	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte(`{"type":"model_call"}`+"\n{oops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := replay.Load(bad); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("Load of a bad transcript: %v, want an error naming line 2", err)
	}
	if _, err := replay.Load(filepath.Join(dir, "missing.jsonl")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestReplayConcurrentAgents(t *testing.T) {
	var calls []call
	for i := range 20 {
		for _, agent := range []string{"a", "b", "c"} {
			calls = append(calls, call{agent, model.Request{Messages: msgs(model.RoleUser, agent+string(rune('A'+i)))}})
		}
	}
	contents := make([]string, 20)
	for i := range contents {
		contents[i] = "reply " + string(rune('A'+i))
	}
	events, _, _ := record(t, map[string]model.Model{"a": fake.Replies(contents...), "b": fake.Replies(contents...), "c": fake.Replies(contents...)}, calls)
	r := replay.New(events)
	var wg sync.WaitGroup
	for _, agent := range []string{"a", "b", "c"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := r.Model(agent)
			for i := range 20 {
				reply, err := m.Complete(context.Background(), model.Request{Messages: msgs(model.RoleUser, agent+string(rune('A'+i)))})
				if err != nil || reply.Content != contents[i] {
					t.Errorf("%s call %d: %+v, %v", agent, i+1, reply, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(r.Remaining()) != 0 {
		t.Errorf("Remaining = %v", r.Remaining())
	}
}

// The replay never waits: a call past the end returns at once.
func TestReplayNeverHangs(t *testing.T) {
	r := replay.New(nil)
	done := make(chan error, 1)
	go func() {
		_, err := r.Model("coder").Complete(context.Background(), model.Request{})
		done <- err
	}()
	select {
	case err := <-done:
		if model.KindOf(err) != model.KindReplayExhausted {
			t.Errorf("err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("replay hung")
	}
}

// A transcript written by hand (or by an older version): no usage, no extra.
func TestReplayPlainEvents(t *testing.T) {
	in := `{"type":"message","agent":"coder","content":"not a call"}
{"type":"model_call","agent":"coder","model":"gpt-x","messages":[{"role":"user","content":"hi"}],"content":"hello","finish_reason":"length"}
{"type":"model_call","agent":"coder","messages":[{"role":"user","content":"again"}],"error":"too long","error_kind":"context_too_long"}
`
	events, err := transcript.Read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	r := replay.New(events)
	if got := r.Remaining(); !reflect.DeepEqual(got, map[string]int{"coder": 2}) {
		t.Fatalf("Remaining = %v: only model_call events count", got)
	}
	m := r.Model("coder")
	reply, err := m.Complete(context.Background(), model.Request{Messages: msgs(model.RoleUser, "hi")})
	want := model.Reply{Content: "hello", FinishReason: "length", Model: "gpt-x"}
	if err != nil || reply != want {
		t.Errorf("%+v, %v; want %+v (usage unknown)", reply, err, want)
	}
	_, err = m.Complete(context.Background(), model.Request{Messages: msgs(model.RoleUser, "again")})
	var me *model.Error
	if !errors.As(err, &me) || me.Kind != model.KindContextTooLong || me.Message != "too long" {
		t.Errorf("err = %#v", err)
	}
}

func TestDivergenceMessageExample(t *testing.T) {
	events := []transcript.Event{{Type: transcript.TypeModelCall, Agent: "reviewer", Messages: msgs(model.RoleSystem, "s", model.RoleUser, "Review:\n"+strings.Repeat("x = 1\n", 40)+"y = 2\n"+strings.Repeat("z = 3\n", 40))}}
	_, err := replay.New(events).Model("reviewer").Complete(context.Background(), model.Request{Messages: msgs(model.RoleSystem, "s", model.RoleUser, "Review:\n"+strings.Repeat("x = 1\n", 40)+"y = 22\n"+strings.Repeat("z = 3\n", 40))})
	t.Log(err)
	want := `model replay_diverged: reviewer call 1: message 2 (user) differs: recorded "...`
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), `y = 2\nz = 3`) || !strings.Contains(err.Error(), `y = 22\nz = 3`) {
		t.Errorf("err = %v", err)
	}
}

// TestReplayImages: a recorded call with images replays when the run sends
// the same pictures (compared by SHA-256: the transcript holds no bytes) and
// diverges when one changes, goes, or comes; with IgnoreProgramOutput any
// picture of the same type will do, but not a missing one.
func TestReplayImages(t *testing.T) {
	plot := model.NewImage("image/png", []byte("\x89PNG\r\n\x1a\nplot-v1"))
	withImages := func(imgs ...model.Image) []model.Message {
		m := msgs(model.RoleSystem, "You review.", model.RoleUser, "Block 1 made plot.png (image 1).")
		m[1].Images = imgs
		return m
	}
	other := model.NewImage("image/png", []byte("\x89PNG\r\n\x1a\nplot-v2"))
	jpeg := model.NewImage("image/jpeg", []byte("\xff\xd8\xffplot-v1"))
	tests := []struct {
		name            string
		now             []model.Message
		strict, ignored bool // diverges without the option, with it
		says            string
	}{
		{"the same image", withImages(model.NewImage("image/png", append([]byte(nil), plot.Data...))), false, false, ""},
		{"a changed image", withImages(other), true, false, "image 1 differs"},
		{"another type", withImages(jpeg), true, true, "image 1 is image/png in the recording but image/jpeg now"},
		{"no image", withImages(), true, true, "1 image(s) but the request has 0"},
		{"one image more", withImages(plot, plot), true, true, "1 image(s) but the request has 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range []struct {
				opts []replay.Option
				want bool
			}{{nil, tc.strict}, {[]replay.Option{replay.IgnoreProgramOutput()}, tc.ignored}} {
				events, _, _ := record(t, map[string]model.Model{"reviewer": fake.Replies("APPROVE")},
					[]call{{"reviewer", model.Request{Messages: withImages(plot)}}})
				if got := events[0].Messages[1].Images; len(got) != 1 || got[0].Data != nil || got[0].SHA256 != plot.SHA256 || got[0].Size != plot.Size {
					t.Fatalf("the transcript recorded %+v, want only the digest and size of %+v", got, plot)
				}
				_, err := replay.New(events, c.opts...).Model("reviewer").Complete(context.Background(), model.Request{Messages: tc.now})
				diverged := model.KindOf(err) == model.KindReplayDiverged
				if diverged != c.want || (!diverged && err != nil) || (diverged && !strings.Contains(err.Error(), tc.says)) {
					t.Errorf("with %d option(s): err = %v, want diverged = %v saying %q", len(c.opts), err, c.want, tc.says)
				}
			}
		})
	}
}
