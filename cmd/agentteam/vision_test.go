package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/model/fakeserver"
	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/fake"
	"github.com/agentteam/agentteam/taskrun"
	"github.com/agentteam/agentteam/transcript"
	"github.com/agentteam/agentteam/workspace"
)

// plotSandboxes answers every block as a plotting script would: it writes
// png into the workspace ws and lists plot.png as created.
func plotSandboxes(t *testing.T, ws string, png []byte) *fakeSandboxes {
	return &fakeSandboxes{opener: fake.New(func(sandbox.Code) fake.Step {
		if err := os.WriteFile(filepath.Join(ws, "plot.png"), png, 0o644); err != nil {
			t.Error(err)
		}
		return fake.Step{Result: sandbox.Result{Language: "python", Files: workspace.Changes{Created: []string{"plot.png"}}}}
	})}
}

// TestReviewerVision: with --reviewer-vision, the reviewer's request at the
// model server carries the plot a block made as an image_url part, the
// coder's does not; the transcript records the image by hash and size, not
// its bytes; --replay reproduces the run, and diverges when the plot
// changes or vision is off.
func TestReviewerVision(t *testing.T) {
	srv := serveModels(t, fakeserver.Script{Models: map[string][]fakeserver.Step{
		"coder-m":    {{Content: "```python\nimport matplotlib\nplt.savefig('plot.png')\n```"}},
		"reviewer-m": {{Content: "The plot shows the line.\nAPPROVE"}},
	}})
	png := []byte("\x89PNG\r\n\x1a\n-the-plot-pixels-")
	dir := t.TempDir()
	run := func(png []byte, args ...string) (int, string, string) {
		ws := filepath.Join(t.TempDir(), "ws")
		if err := os.MkdirAll(ws, 0o755); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"run", "--quiet", "--coder-model", "coder-m", "--reviewer-model", "reviewer-m", "--workspace", ws}, args...)
		return cliFake(t, context.Background(), plotSandboxes(t, ws, png), dir, "", append(args, "Plot a line.")...)
	}
	rec := filepath.Join(dir, "rec.jsonl")
	if code, out, errOut := run(png, "--reviewer-vision", "--transcript", rec); code != ExitOK {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}

	reqs := srv.Requests()
	if len(reqs) != 2 || reqs[0].Model != "coder-m" || reqs[1].Model != "reviewer-m" {
		t.Fatalf("requests %+v", reqs)
	}
	for _, m := range reqs[0].Messages {
		if len(m.Images) > 0 {
			t.Errorf("the coder was sent an image: %+v", m)
		}
	}
	last := reqs[1].Messages[len(reqs[1].Messages)-1]
	if len(last.Images) != 1 || last.Images[0].MIME != "image/png" || !bytes.Equal(last.Images[0].Data, png) ||
		!strings.Contains(last.Content, `- image 1: "plot.png", made by block 1`) {
		t.Fatalf("the reviewer's last message: %q with %+v", last.Content, last.Images)
	}

	data, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(base64.StdEncoding.EncodeToString(png))) || bytes.Contains(data, []byte("the-plot-pixels")) {
		t.Error("the transcript holds the image's bytes")
	}
	events, err := transcript.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	var recorded int
	for _, e := range events {
		if e.Type == transcript.TypeModelCall && e.Agent == taskrun.Reviewer {
			img := e.Messages[len(e.Messages)-1].Images
			if len(img) != 1 || img[0].SHA256 != last.Images[0].SHA256 || img[0].Size != len(png) || img[0].Data != nil {
				t.Errorf("the transcript recorded %+v", img)
			}
			recorded++
		}
	}
	if recorded != 1 {
		t.Errorf("%d reviewer calls recorded, want 1", recorded)
	}

	for _, tc := range []struct {
		name string
		png  []byte
		args []string
		code int
		says string
	}{
		{"the same run", png, []string{"--reviewer-vision"}, ExitOK, ""},
		{"a changed plot", []byte("\x89PNG\r\n\x1a\n-other-pixels-"), []string{"--reviewer-vision"}, ExitFailure, "image 1 differs"},
		{"a changed plot, output ignored", []byte("\x89PNG\r\n\x1a\n-other-pixels-"), []string{"--reviewer-vision", "--replay-ignore-output"}, ExitOK, ""},
		{"vision off", png, nil, ExitFailure, "the recording has 1 image(s) but the request has 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--replay", rec, "--transcript", filepath.Join(t.TempDir(), "t.jsonl")}, tc.args...)
			code, out, errOut := run(tc.png, args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.says) {
				t.Fatalf("exit %d, want %d saying %q: %s %s", code, tc.code, tc.says, out, errOut)
			}
		})
	}
	if n := len(srv.Requests()); n != 2 {
		t.Errorf("the replays called the model server: %d requests", n)
	}
}

// TestQueuedTeamKeepsVision: a task sent to workers takes the submitter's
// --reviewer-vision with it, over the worker's own.
func TestQueuedTeamKeepsVision(t *testing.T) {
	for _, on := range []bool{true, false} {
		q := teamToQueue(taskrun.Team{ReviewerModel: "r", ReviewerVision: on, MaxTurns: 3})
		data, err := json.Marshal(q)
		if err != nil {
			t.Fatal(err)
		}
		var back queuedTeam
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if got := back.apply(taskrun.Team{ReviewerVision: !on}); got.ReviewerVision != on {
			t.Errorf("vision %v queued as %s arrived as %v", on, data, got.ReviewerVision)
		}
	}
}
