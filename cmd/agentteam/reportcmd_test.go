package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/model/fakeserver"
	"github.com/agentteam/agentteam/transcript"
)

// reportFixture writes a run as a batch leaves it (ROOT/ID and
// ROOT/ID.transcript.jsonl) with a plot, and a results file naming it.
func reportFixture(t *testing.T) (root, results string) {
	t.Helper()
	root = t.TempDir()
	ws := filepath.Join(root, "t1")
	if err := os.Mkdir(ws, 0o755); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	img.Set(1, 1, color.RGBA{255, 0, 0, 255})
	var b bytes.Buffer
	png.Encode(&b, img)
	writeFile(t, ws, "plot.png", b.String())
	tw, err := transcript.Create(ws + ".transcript.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []transcript.Event{
		{Type: "task", Content: "Plot it", Extra: map[string]any{"workspace": ws}},
		{Type: "message", Agent: "coder", Content: "```python\nplt.savefig('plot.png')\n```"},
		{Type: "message", Agent: "executor", Content: "Execution report: all 1 block(s) ran and exited 0.\n\nBlock 1 (python): exit code 0\n(no output)\n\nFiles created in /workspace: plot.png"},
		{Type: "result", Content: "reviewer said APPROVE", Extra: map[string]any{"status": "approved", "turns": 3}},
	} {
		tw.Write(e)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	line, _ := json.Marshal(map[string]any{"id": "t1", "status": "approved", "turns": 3, "duration_ms": 1500,
		"workspace": ws, "transcript": ws + ".transcript.jsonl"})
	missing, _ := json.Marshal(map[string]any{"id": "t2", "status": "error", "transcript": filepath.Join(root, "gone.transcript.jsonl")})
	results = writeFile(t, root, "results.jsonl", string(line)+"\n"+string(missing)+"\n")
	return root, results
}

func TestReportCommand(t *testing.T) {
	root, results := reportFixture(t)
	ws := filepath.Join(root, "t1")
	tests := []struct {
		name string
		args []string
		out  string   // the file written
		want []string // in it
	}{
		{"workspace", []string{ws}, ws + ".html", []string{`<img src="data:image/png;base64,`, "Block 1 (python)", `href="t1.transcript.jsonl"`}},
		{"transcript", []string{ws + ".transcript.jsonl"}, ws + ".html", []string{`<img src="data:image/png;base64,`}},
		{"output flag", []string{"-o", "r.html", ws}, filepath.Join(root, "r.html"), []string{"reviewer said APPROVE"}},
		{"results", []string{results}, filepath.Join(root, "results.html"), []string{`<a href="t1.html">t1</a>`, "<td data-v=\"t2\">t2</td>", "<script nonce="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli(t, context.Background(), root, "", append([]string{"report"}, tt.args...)...)
			if code != ExitOK || strings.TrimSpace(out) != tt.out {
				t.Fatalf("exit %d, stdout %q, want %q; stderr %s", code, out, tt.out, errOut)
			}
			fi, err := os.Stat(tt.out)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600: it holds the prompts", fi.Mode().Perm())
			}
			data, _ := os.ReadFile(tt.out)
			for _, w := range tt.want {
				if !strings.Contains(string(data), w) {
					t.Errorf("the report lacks %q", w)
				}
			}
		})
	}
}

func TestReportCommandErrors(t *testing.T) {
	root := t.TempDir()
	notJSON := writeFile(t, root, "x.jsonl", "not json\n")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no path", []string{"report"}, ExitUsage, "accepts 1 arg"},
		{"missing", []string{"report", filepath.Join(root, "nope")}, ExitFailure, "no such file"},
		{"not a transcript", []string{"report", notJSON}, ExitFailure, "not a JSON event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := cli(t, context.Background(), root, "", tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, tt.code, tt.want)
			}
		})
	}
}

// TestReportOfMatplotlibRun: a real run whose block draws a matplotlib
// plot; its report shows the PNG inline after that block.
func TestReportOfMatplotlibRun(t *testing.T) {
	requireDocker(t)
	plot := "```python\nimport matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.savefig('plot.png')\nprint('saved')\n```"
	teamServer(t, say(plot), say("The plot is there.\nAPPROVE"))
	dir := t.TempDir()
	code, events, errOut := runTeam(t, context.Background(), dir, "Plot squares to plot.png.")
	res := result(t, events)
	if code != ExitOK {
		t.Fatalf("run: exit %d, result %v, stderr %s", code, res, errOut)
	}
	ws := res["workspace"].(string)
	code, out, errOut := cli(t, context.Background(), dir, "", "report", ws)
	if code != ExitOK {
		t.Fatalf("report: exit %d, stderr %s", code, errOut)
	}
	data, err := os.ReadFile(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	page := string(data)
	block := strings.Index(page, "Block 1 (python): exit code 0")
	img := strings.Index(page, `<img src="data:image/png;base64,iVBORw0KGgo`)
	reviewer := strings.Index(page, `data-agent="reviewer"`)
	if block < 0 || img < block || reviewer < img {
		t.Errorf("block at %d, plot at %d, reviewer at %d: the plot is not inline after its block", block, img, reviewer)
	}
}

// TestRunAndBatchReport: --report writes the HTML report when the run (or
// the set) ends and says where on stderr, leaving stdout's JSON alone.
func TestRunAndBatchReport(t *testing.T) {
	teamServer(t, say("```python\nprint('hi')\n```"), say("Fine.\nAPPROVE"))
	dir := t.TempDir()
	code, out, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, dir, "", "run", "--json", "--report",
		"--coder-model", "c", "--reviewer-model", "r", "--workspace", filepath.Join(dir, "ws"), "Say hi.")
	if code != ExitOK || !strings.Contains(errOut, "report "+filepath.Join(dir, "ws.html")) || strings.Contains(out, "report ") {
		t.Fatalf("run: exit %d, stderr %q", code, errOut)
	}
	if page, err := os.ReadFile(filepath.Join(dir, "ws.html")); err != nil || !strings.Contains(string(page), "Content-Security-Policy") {
		t.Fatalf("run report: %v", err)
	}

	serveModels(t, fakeserver.Script{Models: map[string][]fakeserver.Step{"c": say("no code"), "r": say("APPROVE")}})
	tasks := writeFile(t, dir, "tasks.jsonl", `{"id": "one", "task": "x"}`+"\n")
	code, _, errOut = cliFake(t, context.Background(), &fakeSandboxes{}, dir, "", "batch", "--report", "--coder-model", "c", "--reviewer-model", "r", tasks)
	if code != ExitOK || !strings.Contains(errOut, "report "+filepath.Join(dir, "tasks.results.html")) {
		t.Fatalf("batch: exit %d, stderr %q", code, errOut)
	}
}
