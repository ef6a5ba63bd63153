package report

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/transcript"
)

// plotColour is drawn in the fixture's plot and nowhere else on the page,
// so a screenshot showing it shows the plot.
var plotColour = [3]uint8{255, 0, 255}

// The hostile payloads would set the title or add a node with id pwned.
const (
	payload      = `document.title='pwned';document.body.appendChild(Object.assign(document.createElement('p'),{id:'pwned'}))`
	hostileName  = `<img src=x onerror=document.title='pwned'>.png`
	hostileSVG   = `<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" onload="` + payload + `"><script>` + payload + `</script><rect width="40" height="40" fill="#0f0"/></svg>`
	coderMessage = "Here is the plot. <script>" + payload + "</script> <img src=x onerror=\"" + payload + "\">\n\n" +
		"[click me](javascript:" + payload + ") and <javascript:alert(1)> and ![pic](http://example.invalid/x.png)\n\n" +
		"```python\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.savefig('plot.png')\n```\n\n" +
		"```python\nopen('evil.svg', 'w').write(SVG)\n```\n"
	executorMessage = "Execution report: all 2 block(s) ran and exited 0.\n\n" +
		"Block 1 (python): exit code 0\n<<<output n0nce stdout\n<script>" + payload + "</script>\nBlock 9 (python): exit code 0\noutput n0nce>>>\n\n" +
		"Block 2 (python): exit code 0\n(no output)\n\n" +
		"Files created in /workspace: " + hostileName + ", evil.svg, plot.png"
)

// writePNG writes a w×h PNG: white with a square of fill, like a plot.
func writePNG(t *testing.T, file string, w, h int, fill [3]uint8) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{255, 255, 255, 255}
			if x > w/4 && x < 3*w/4 && y > h/4 && y < 3*h/4 {
				c = color.RGBA{fill[0], fill[1], fill[2], 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runFixture writes a run's workspace (a plot, a hostile name, a hostile
// SVG) and returns its dir and transcript events, no engine needed.
func runFixture(t *testing.T) (string, []transcript.Event) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ws")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writePNG(t, filepath.Join(dir, "plot.png"), 320, 240, plotColour)
	writePNG(t, filepath.Join(dir, hostileName), 20, 20, [3]uint8{0, 128, 255})
	if err := os.WriteFile(filepath.Join(dir, "evil.svg"), []byte(hostileSVG), 0o644); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	u := &model.Usage{PromptTokens: 100, CompletionTokens: 20, TotalTokens: 120}
	events := []transcript.Event{
		{Type: "task", Time: t0, Content: "Plot y = x for x in 1..3 and save plot.png", Extra: map[string]any{"coder_model": "fake", "max_turns": 10}},
		{Type: "message", Time: t0.Add(time.Second), Agent: "coder", Content: coderMessage, Usage: u, DurationMS: 900},
		{Type: "message", Time: t0.Add(2 * time.Second), Agent: "executor", Content: executorMessage, Usage: &model.Usage{}, DurationMS: 1200},
		{Type: "message", Time: t0.Add(3 * time.Second), Agent: "reviewer", Content: "The plot is right. APPROVE", Usage: u, DurationMS: 500},
		{Type: "result", Time: t0.Add(4 * time.Second), Content: "approved by reviewer", Extra: map[string]any{"status": "approved", "turns": 3, "approved": true}},
	}
	return dir, events
}

func render(t *testing.T, events []transcript.Event, dir string, opts Options) string {
	t.Helper()
	var b bytes.Buffer
	if err := Run(context.Background(), &b, events, dir, opts); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestRunReportIsInert(t *testing.T) {
	dir, events := runFixture(t)
	page := render(t, events, dir, Options{})
	for _, bad := range []string{"<script", "<img src=x", "onerror=\"", "onload=", `href="javascript`, "http://example.invalid/x.png\"", "<svg"} {
		if strings.Contains(page, bad) {
			t.Errorf("the report holds %q unescaped", bad)
		}
	}
	// Every img is one of ours: a data URI of an allowed type.
	for _, m := range regexp.MustCompile(`<img [^>]*src="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if !regexp.MustCompile(`^data:image/(png|jpeg|gif|svg(\+|&#43;)xml);base64,`).MatchString(m[1]) {
			t.Errorf("img src %.60q is not a data URI", m[1])
		}
	}
	if n := strings.Count(page, "<img "); n != 3 {
		t.Errorf("%d images, want 3 (the plot, the hostile name, the SVG)", n)
	}
	if !strings.Contains(page, `<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;`) {
		t.Error("no Content-Security-Policy meta tag")
	}
	if regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).MatchString(page) {
		t.Error("the report refers to a URL outside itself")
	}
}

func TestRunReportPlacesImages(t *testing.T) {
	dir, events := runFixture(t)
	page := render(t, events, dir, Options{})
	block1 := strings.Index(page, "Block 1 (python)")
	block2 := strings.Index(page, "Block 2 (python)")
	plot := strings.Index(page, "<figcaption>plot.png")
	svg := strings.Index(page, "<figcaption>evil.svg")
	reviewer := strings.Index(page, `id="m3"`)
	switch {
	case block1 < 0 || block2 < 0 || plot < 0 || svg < 0 || reviewer < 0:
		t.Fatalf("missing: block 1 at %d, block 2 at %d, plot at %d, svg at %d, reviewer at %d", block1, block2, plot, svg, reviewer)
	case !(block1 < plot && plot < block2):
		t.Errorf("the plot (at %d) is not right after block 1 (%d..%d)", plot, block1, block2)
	case !(block2 < svg && svg < reviewer):
		t.Errorf("the SVG (at %d) is not after block 2 (%d) and before the reviewer (%d)", svg, block2, reviewer)
	}
	// A "Block 9" line inside block 1's output starts no block.
	if strings.Contains(page, `<div class="title">Block 9`) {
		t.Error("a line of output was taken for a block")
	}
}

func TestRunReportCapsImages(t *testing.T) {
	dir, events := runFixture(t)
	size := func(name string) int64 {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	// Names sort as the hostile one, evil.svg, plot.png: a total cap of
	// the first two leaves the plot out.
	firstTwo := size(hostileName) + size("evil.svg")
	tests := []struct {
		name     string
		opts     Options
		images   int
		wantNote string
	}{
		{"defaults", Options{}, 3, ""},
		{"one too big", Options{MaxImage: 300}, 1, "larger than 300 bytes"},
		{"all too big", Options{MaxImages: firstTwo}, 2, "would pass " + strconv.FormatInt(firstTwo, 10) + " bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := render(t, events, dir, tt.opts)
			if n := strings.Count(page, "<img "); n != tt.images {
				t.Errorf("%d images, want %d", n, tt.images)
			}
			if tt.wantNote != "" && !strings.Contains(page, tt.wantNote) {
				t.Errorf("no note %q", tt.wantNote)
			}
		})
	}
}

func TestRunReportRefusesFakeImage(t *testing.T) {
	dir, events := runFixture(t)
	if err := os.WriteFile(filepath.Join(dir, "plot.png"), []byte("<html><script>alert(1)</script>"), 0o644); err != nil {
		t.Fatal(err)
	}
	page := render(t, events, dir, Options{})
	if !strings.Contains(page, "its content is not a png image") {
		t.Error("an HTML file named .png was not refused")
	}
}

func TestLists(t *testing.T) {
	tail := []string{"Files created in /workspace: a.png, b, c.png (symlink), x, y.png", "Files deleted in /workspace: gone.png"}
	tests := []struct {
		name string
		want bool
	}{
		{"a.png", true}, {"y.png", true}, {"b", true}, {"c.png", false}, {".png", false}, {"gone.png", false}, {"a", false},
	}
	for _, tt := range tests {
		if got := lists(tail, tt.name); got != tt.want {
			t.Errorf("lists(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRunReportInChromium(t *testing.T) {
	dir, events := runFixture(t)
	file := filepath.Join(t.TempDir(), "run.html")
	if err := os.WriteFile(file, []byte(render(t, events, dir, Options{})), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := dumpDOM(t, file, "")
	title := regexp.MustCompile(`<title>([^<]*)</title>`).FindStringSubmatch(dom)
	if title == nil || title[1] != "agentteam run: Plot y = x for x in 1..3 and save plot.png" {
		t.Errorf("title %q: a hostile script ran or the title is wrong", title)
	}
	if strings.Contains(dom, `id="pwned"`) {
		t.Error("a hostile script added its node")
	}
	for _, want := range []string{`data-agent="coder"`, `data-agent="executor"`, `data-agent="reviewer"`, `<img src="data:image/png;base64,`, "Block 1 (python): exit code 0", "approved by reviewer"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the DOM lacks %q", want)
		}
	}
	shot := screenshot(t, file, 1000, 1400)
	n, plot := colours(t, shot, plotColour)
	if n < 8 {
		t.Errorf("the screenshot has %d colours: blank", n)
	}
	if !plot {
		t.Error("the screenshot does not show the plot")
	}
	if dst := os.Getenv("REPORT_SCREENSHOT"); dst != "" { // for the README
		data, _ := os.ReadFile(shot)
		os.WriteFile(dst, data, 0o644)
	}
}

// TestParseExecutorDeclined: a declined block is a block of its own (not
// passed), the user's note is its text, and the advice after the blocks is
// the message's tail, not part of the last block.
func TestParseExecutorDeclined(t *testing.T) {
	content := "Execution report: the user declined 1 block(s); of the other 1, 1 ran and exited 0.\n\n" +
		"Block 1 (sh): exit code 0\n(no output)\n\n" +
		"Block 2 (sh): declined by the user, not run\nNote from the user: \"keep the data\"\n\n" +
		"Declined blocks did not run, so nothing in them is verified: an approval counts only once code has run again. Follow the user's notes.\n\n" +
		"Files created in /workspace: a.txt"
	m := &message{}
	parseExecutor(m, content, nil)
	if len(m.Blocks) != 2 || !m.Blocks[0].OK || m.Blocks[1].OK || m.Blocks[1].Title != "Block 2 (sh): declined by the user, not run" {
		t.Fatalf("blocks %+v", m.Blocks)
	}
	if parts := m.Blocks[1].Parts; len(parts) != 1 || parts[0].Text != `Note from the user: "keep the data"` {
		t.Errorf("the declined block's parts %+v", parts)
	}
	if !strings.HasPrefix(m.Tail, "Declined blocks did not run") || !strings.Contains(m.Tail, "Files created in /workspace: a.txt") {
		t.Errorf("tail %q", m.Tail)
	}
}
