package agents

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/model/fake"
	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/workspace"
)

const (
	pngMagic  = "\x89PNG\r\n\x1a\n"
	jpegMagic = "\xff\xd8\xff\xe0"
)

// TestVisionImages: an agent with vision gets the PNG and JPEG images the
// blocks of the latest report made, in block order, each named with its
// block; SVGs, fakes, symlinks, oversized files and images past the cap are
// named as not attached, and other files are not mentioned.
func TestVisionImages(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("plot.png", pngMagic+"plot")
	write("photo.JPG", jpegMagic+"photo")
	write("chart.svg", "<svg><script>alert(1)</script></svg>")
	write("fake.png", "not a png at all")
	write("big.png", pngMagic+strings.Repeat("x", MaxVisionImageBytes))
	write("data.csv", "a,b\n1,2\n")
	write(".hidden/cache.png", pngMagic+"cache")
	for i := range 4 {
		write(fmt.Sprintf("more/%d.png", i), pngMagic+fmt.Sprint(i))
	}
	write("old.png", pngMagic+"old")
	outside := filepath.Join(t.TempDir(), "secret.png")
	if err := os.WriteFile(outside, []byte(pngMagic+"SECRET"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"listed-link.png": "plot.png", "sneaky.png": outside} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	results := []sandbox.Result{
		{Language: "python", Files: workspace.Changes{Created: []string{"plot.png", "data.csv", "chart.svg", "fake.png", ".hidden/cache.png"}}},
		{Language: "python", Files: workspace.Changes{Created: []string{"listed-link.png", "sneaky.png", "big.png"},
			Modified: []string{"photo.JPG"}, Links: []string{"listed-link.png"}}},
		{Language: "python", Files: workspace.Changes{Created: []string{"more/0.png", "more/1.png", "more/2.png", "more/3.png"}}},
	}
	history := []Message{
		{Agent: UserName, Content: "plot it"},
		{Agent: "coder", Content: "```python\nplot()\n```"},
		{Agent: "executor", Content: "Execution report: old", Results: []sandbox.Result{{Files: workspace.Changes{Created: []string{"old.png"}}}}},
		{Agent: "coder", Content: "```python\nplot()\n```"},
		{Agent: "executor", Content: "Execution report: all 3 block(s) ran and exited 0.", Results: results},
	}

	m := fake.Replies("APPROVE", "APPROVE")
	if _, err := NewLLM("reviewer", "You review.", m, "r", WithVision(dir)).Step(context.Background(), history); err != nil {
		t.Fatal(err)
	}
	if _, err := NewLLM("coder", "You code.", m, "c").Step(context.Background(), history); err != nil {
		t.Fatal(err)
	}
	reqs := m.Requests()
	for _, msg := range reqs[1].Messages {
		if len(msg.Images) > 0 || strings.Contains(msg.Content, "Images the blocks made") {
			t.Errorf("an agent without vision was shown images: %+v", msg)
		}
	}
	msgs := reqs[0].Messages
	for i, msg := range msgs[:len(msgs)-1] {
		if len(msg.Images) > 0 {
			t.Errorf("message %d, not the latest report, has images", i)
		}
	}
	last := msgs[len(msgs)-1]
	want := []struct{ mime, data string }{
		{"image/png", pngMagic + "plot"},
		{"image/jpeg", jpegMagic + "photo"},
		{"image/png", pngMagic + "0"},
		{"image/png", pngMagic + "1"},
	}
	if len(last.Images) != len(want) {
		t.Fatalf("%d images, want %d; report:\n%s", len(last.Images), len(want), last.Content)
	}
	for i, w := range want {
		if img := last.Images[i]; img.MIME != w.mime || !bytes.Equal(img.Data, []byte(w.data)) || img.Size != len(w.data) {
			t.Errorf("image %d: %s %q, want %s %q", i+1, img.MIME, img.Data, w.mime, w.data)
		}
	}
	for _, line := range []string{
		`- image 1: "plot.png", made by block 1`,
		`- image 2: "photo.JPG", made by block 2`,
		`- image 3: "more/0.png", made by block 3`,
		`- image 4: "more/1.png", made by block 3`,
		`- "chart.svg", made by block 1: not attached (only PNG and JPEG images are sent)`,
		`- "fake.png", made by block 1: not attached (its content is not a png image)`,
		`- "listed-link.png", made by block 2: not attached (it is a symlink)`,
		`- "sneaky.png", made by block 2: not attached (it cannot be read as a regular file)`,
		`- "big.png", made by block 2: not attached (larger than 2097152 bytes)`,
		`- "more/2.png", made by block 3: not attached (at most 4 images are sent)`,
	} {
		if !strings.Contains(last.Content, line+"\n") && !strings.HasSuffix(last.Content, line) {
			t.Errorf("the report lacks %q:\n%s", line, last.Content)
		}
	}
	for _, absent := range []string{"data.csv", "cache.png", "SECRET", "old.png"} {
		if strings.Contains(last.Content, absent) {
			t.Errorf("the report names %q:\n%s", absent, last.Content)
		}
	}
}

// TestVisionNoImages: a report whose blocks made no image is sent as it is.
func TestVisionNoImages(t *testing.T) {
	m := fake.Replies("APPROVE")
	history := []Message{{Agent: "executor", Content: "Execution report: fine", Results: []sandbox.Result{{Stdout: "ok"}}}}
	if _, err := NewLLM("reviewer", "You review.", m, "r", WithVision(t.TempDir())).Step(context.Background(), history); err != nil {
		t.Fatal(err)
	}
	if got := m.Requests()[0].Messages[1]; got.Content != "Execution report: fine" || got.Images != nil {
		t.Errorf("got %+v", got)
	}
}
