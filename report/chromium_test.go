package report

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// chromium finds Debian's chromium: a test that needs it skips under
// -short when it is missing and fails otherwise (.ci/run installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if testing.Short() {
		t.Skip("needs chromium: skipped under -short")
	}
	t.Fatal("this test needs a headless browser: apt-get install chromium")
	return ""
}

// browse runs headless chromium on the file with args (--dump-dom,
// --screenshot=...) and returns its standard output.
func browse(t *testing.T, file string, fragment string, args ...string) []byte {
	t.Helper()
	bin := chromium(t)
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=3000", "--hide-scrollbars"}, args...)
	all = append(all, "file://"+abs+fragment)
	cmd := exec.CommandContext(ctx, bin, all...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// dumpDOM is the page's DOM once loaded and its scripts have run.
func dumpDOM(t *testing.T, file, fragment string) string {
	t.Helper()
	return string(browse(t, file, fragment, "--dump-dom"))
}

// screenshot renders the page to a PNG and returns its path.
func screenshot(t *testing.T, file string, width, height int) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "shot.png")
	browse(t, file, "", "--screenshot="+out, "--window-size="+itoa(width)+","+itoa(height))
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("chromium made no screenshot: %v", err)
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

// colours counts the distinct colours of a PNG and says whether want is
// among them.
func colours(t *testing.T, file string, want [3]uint8) (int, bool) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	seen := map[[3]uint8]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8)}] = true
		}
	}
	return len(seen), seen[want]
}
