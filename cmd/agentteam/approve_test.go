package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/agents/codeblock"
	"github.com/agentteam/agentteam/transcript"
)

// TestTerminalApprover: each block is shown escaped under its number and
// asked about; n asks for a note, a runs the rest, q and the end of input
// stop the run, anything else asks again; nothing past an answer's line
// is read (a later question may need it).
func TestTerminalApprover(t *testing.T) {
	py := codeblock.Extract("```sh\necho a\n```\n```python\nprint('\x1b[2J hi')\n```\n```sh\necho c\n```")[1]
	html := codeblock.Extract("```html\n<!-- filename: a.html -->\n<p>hi</p>\n```")[0]
	for _, tc := range []struct {
		name  string
		ask   agents.Ask
		input string
		want  agents.Decision
		shown []string // on stderr
		not   []string
		rest  string // input left unread
	}{
		{name: "yes", ask: agents.Ask{Block: py, Blocks: 3, Left: 1}, input: "y\nnext answer\n", want: agents.Decision{Action: agents.Run},
			shown: []string{"\n── block 2 of 3 · python ──\nprint('\\x1b[2J hi')\n", "Run block 2 of 3? [y]es / [n]o / [a]ll remaining / [q]uit run: "},
			not:   []string{"\x1b[2J"}, rest: "next answer\n"},
		{name: "no, with a note", ask: agents.Ask{Block: py, Blocks: 3, Left: 1}, input: "n\n  use pathlib instead  \nrest\n",
			want:  agents.Decision{Action: agents.Decline, Note: "use pathlib instead"},
			shown: []string{"Note for the coder (why not, or what to do instead; Enter for none): "}, rest: "rest\n"},
		{name: "no, without a note", ask: agents.Ask{Block: py, Blocks: 3, Left: 1}, input: "No\n\n", want: agents.Decision{Action: agents.Decline}},
		{name: "no, then the end of input", ask: agents.Ask{Block: py, Blocks: 3, Left: 1}, input: "n\n", want: agents.Decision{Action: agents.Decline}},
		{name: "all remaining", ask: agents.Ask{Block: py, Blocks: 3, Left: 1}, input: "A\n", want: agents.Decision{Action: agents.RunRest}},
		{name: "quit", ask: agents.Ask{Block: py, Blocks: 3, Left: 1}, input: "quit\n", want: agents.Decision{Action: agents.Quit},
			shown: []string{"Stopping the run"}},
		{name: "end of input quits", ask: agents.Ask{Block: py, Blocks: 3, Left: 1}, input: "", want: agents.Decision{Action: agents.Quit},
			shown: []string{"No answer (end of input): stopping the run."}},
		{name: "a last line without a newline", ask: agents.Ask{Block: py, Blocks: 3, Left: 1}, input: "y", want: agents.Decision{Action: agents.Run}},
		{name: "CRLF", ask: agents.Ask{Block: py, Blocks: 3, Left: 1}, input: "y\r\n", want: agents.Decision{Action: agents.Run}},
		{name: "anything else asks again", ask: agents.Ask{Block: py, Blocks: 3, Left: 1}, input: "maybe\n\ny\n", want: agents.Decision{Action: agents.Run},
			shown: []string{"Answer y to run it, n not to, a to run it and the rest of this message, q to stop the run."}},
		{name: "the last block offers no all", ask: agents.Ask{Block: py, Blocks: 2, Left: 0}, input: "y\n", want: agents.Decision{Action: agents.Run},
			shown: []string{"Run block 2 of 2? [y]es / [n]o / [q]uit run: "}, not: []string{"[a]ll"}},
		{name: "a file to save", ask: agents.Ask{Block: html, Blocks: 1}, input: "y\n", want: agents.Decision{Action: agents.Run},
			shown: []string{"── block 1 of 1 · html · save as a.html ──", "Save block 1 of 1 as a.html? [y]es / [n]o / [q]uit run: "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.NewReader(tc.input)
			var out, errOut bytes.Buffer
			approve := terminalApprover(IO{In: in, ErrOut: &errOut}, newRunView(IO{Out: &out}, false, false))
			got, err := approve(context.Background(), tc.ask)
			if err != nil || got != tc.want {
				t.Fatalf("decision %+v, err %v; want %+v\nshown:\n%s", got, err, tc.want, errOut.String())
			}
			for _, s := range tc.shown {
				if !strings.Contains(errOut.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut.String())
				}
			}
			for _, s := range tc.not {
				if strings.Contains(errOut.String(), s) {
					t.Errorf("stderr has %q:\n%s", s, errOut.String())
				}
			}
			if rest, _ := io.ReadAll(in); string(rest) != tc.rest {
				t.Errorf("input left %q, want %q", rest, tc.rest)
			}
		})
	}
}

// TestTerminalApproverCancelled: Ctrl-C while the question waits ends it
// with the context's error, and the read left waiting is the next
// question's, not lost.
func TestTerminalApproverCancelled(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	var out, errOut bytes.Buffer
	approve := terminalApprover(IO{In: r, ErrOut: &errOut}, newRunView(IO{Out: &out}, false, false))
	ask := agents.Ask{Block: codeblock.Extract("```sh\necho\n```")[0], Blocks: 1}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := approve(ctx, ask); err != context.Canceled {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	go w.Write([]byte("y\n"))
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second) // a lost answer fails, not hangs
	defer cancel()
	if d, err := approve(ctx, ask); err != nil || d.Action != agents.Run {
		t.Fatalf("next question: %+v, %v", d, err)
	}
}

// runApprove runs `agentteam run --json --approve` on fake sandboxes with
// stdin a terminal that answers with input.
func runApprove(t *testing.T, dir, input string, args ...string) (int, []map[string]any, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	f := newFactory(IO{In: strings.NewReader(input), InIsTTY: true, Out: &out, ErrOut: &errOut, Dir: dir, Getenv: os.Getenv})
	f.OpenSandbox = (&fakeSandboxes{}).OpenSandbox
	args = append([]string{"run", "--json", "--approve", "--coder-model", "c", "--reviewer-model", "r"}, args...)
	code := mainWith(context.Background(), args, f)
	var events []map[string]any
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("stdout line is not JSON: %v: %q", err, sc.Text())
		}
		events = append(events, ev)
	}
	return code, events, errOut.String()
}

// TestRunApprove: --approve asks block by block; a declined block and the
// user's note reach the coder, and a reviewer's APPROVE right after a
// declined turn does not end the run approved (nothing of it ran); one
// after code has run again does. q stops the run cleanly: exit 3, "stopped
// by the user", the transcript complete.
func TestRunApprove(t *testing.T) {
	twoBlocks := "```sh\necho one\n```\n```sh\nrm -rf data\n```"
	t.Run("declined, then approved once code ran", func(t *testing.T) {
		srv := teamServer(t, say(twoBlocks, "Fine, no deletion:\n```sh\necho one\n```"), say("APPROVE", "APPROVE"))
		code, events, errOut := runApprove(t, t.TempDir(), "y\nn\nkeep the data\ny\n", "Tidy up.")
		res := result(t, events)
		if code != ExitOK || res["approved"] != true || res["turns"] != 6.0 {
			t.Fatalf("exit %d, result %v, stderr %s", code, res, errOut)
		}
		for _, want := range []string{"Run block 1 of 2?", "Run block 2 of 2?", "rm -rf data", "Note for the coder", "Run block 1 of 1?"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errOut)
			}
		}
		// The coder's second request holds the executor's report of the decline.
		reqs := srv.Requests()
		var second string
		for _, r := range reqs {
			if r.Model == "c" {
				second = r.Messages[len(r.Messages)-2].Content // the report; the reviewer's APPROVE is last
			}
		}
		for _, want := range []string{"Block 2 (sh): declined by the user, not run\nNote from the user: \"keep the data\"", "Block 1 (sh): exit code 0"} {
			if !strings.Contains(second, want) {
				t.Errorf("the coder's second request lacks %q:\n%s", want, second)
			}
		}
		var declined []any
		for _, e := range events {
			if e["type"] == "message" && e["agent"] == "executor" && declined == nil {
				declined, _ = e["declined"].([]any)
			}
		}
		if len(declined) != 1 || declined[0] != 2.0 {
			t.Errorf("the executor's first message event declined %v, want [2]", declined)
		}
		evs, err := transcript.ReadFile(res["transcript"].(string))
		if err != nil {
			t.Fatal(err)
		}
		var recorded []any
		for _, e := range evs {
			if e.Type == "message" && e.Agent == "executor" && recorded == nil {
				recorded, _ = e.Extra["declined"].([]any)
			}
		}
		if len(recorded) != 1 || recorded[0] != 2.0 {
			t.Errorf("the transcript's first executor message declined %v, want [2]", recorded)
		}
	})
	t.Run("declined, and the reviewer approves anyway", func(t *testing.T) {
		teamServer(t, say(twoBlocks, "Nothing more to run."), say("APPROVE", "APPROVE"))
		code, events, errOut := runApprove(t, t.TempDir(), "n\n\nn\n\n", "--max-turns", "6", "Tidy up.")
		if res := result(t, events); code != ExitNotApproved || res["approved"] != false || res["stop_reason"] != "max turns (6) reached" {
			t.Fatalf("exit %d, result %v, stderr %s", code, res, errOut)
		}
	})
	for _, tc := range []struct{ name, input string }{{"quit", "y\nq\n"}, {"end of input", "y\n"}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := teamServer(t, say(twoBlocks), say("APPROVE"))
			code, events, errOut := runApprove(t, t.TempDir(), tc.input, "Tidy up.")
			res := result(t, events)
			if code != ExitNotApproved || res["approved"] != false || res["stop_reason"] != "stopped by the user" || res["turns"] != 2.0 || res["error"] != nil {
				t.Fatalf("exit %d, result %v, stderr %s", code, res, errOut)
			}
			if n := len(srv.Requests()); n != 1 {
				t.Errorf("%d model requests, want the coder's one", n)
			}
			evs, err := transcript.ReadFile(res["transcript"].(string))
			if err != nil || evs[len(evs)-1].Type != "result" || evs[len(evs)-1].Content != "stopped by the user" || evs[len(evs)-1].Extra["exit_code"] != 3.0 {
				t.Fatalf("transcript ends %+v, %v", evs[len(evs)-1], err)
			}
			if m := evs[len(evs)-2]; m.Type != "message" || !strings.Contains(m.Content, "the user stopped the run at block 2 of 2") {
				t.Fatalf("the executor's last message %+v", m)
			}
		})
	}
}

// TestRunContinueAfterDecline: the transcript records which blocks the
// user declined, so a conversation continued after a decline does not end
// approved before code has run again.
func TestRunContinueAfterDecline(t *testing.T) {
	teamServer(t, say("```sh\nrm -rf data\n```\n```sh\necho two\n```", "Nothing to run now."), say("APPROVE"))
	dir := t.TempDir()
	code, events, errOut := runApprove(t, dir, "n\nno deleting\nq\n", "Tidy up.")
	first := result(t, events)
	if code != ExitNotApproved || first["stop_reason"] != "stopped by the user" {
		t.Fatalf("first part: exit %d, result %v, stderr %s", code, first, errOut)
	}
	code, events, errOut = runTeamOn(t, context.Background(), &fakeSandboxes{}, dir, "--max-turns", "3", "--continue", filepath.Base(first["workspace"].(string)))
	if res := result(t, events); code != ExitNotApproved || res["stop_reason"] != "max turns (3) reached" {
		t.Fatalf("continued: exit %d, result %v, stderr %s", code, res, errOut)
	}
}
