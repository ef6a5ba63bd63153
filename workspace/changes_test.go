//go:build linux

package workspace

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDiffCaps: 5,000 files with 200-byte names make a bounded Changes
// that keeps the first names in sorted order and counts the rest.
func TestDiffCaps(t *testing.T) {
	l := newLayout(t)
	l.write(t, "gone.txt", "x")
	l.write(t, "changed.txt", "x")
	before, err := l.ws.Snapshot(t.Context(), 0)
	must(t, err)
	must(t, os.Remove(filepath.Join(l.ws.Dir(), "gone.txt")))
	l.write(t, "changed.txt", "xy")
	var names []string
	for i := range 5000 {
		name := fmt.Sprintf("%05d", i) + strings.Repeat("n", 195)
		names = append(names, name)
		f, err := os.Create(filepath.Join(l.ws.Dir(), name))
		must(t, err)
		f.Close()
	}
	l.symlink(t, "/etc/passwd", "00000-link")
	names = append([]string{"00000-link"}, names...)
	after, err := l.ws.Snapshot(t.Context(), 0)
	must(t, err)

	c := Diff(before, after)
	listed, size := 0, 0
	for _, l := range [][]string{c.Created, c.Modified, c.Deleted} {
		listed += len(l)
		for _, n := range l {
			size += len(n)
		}
	}
	if listed > MaxListed || size > MaxListedBytes {
		t.Errorf("Diff lists %d names of %d bytes, over the caps (%d, %d)", listed, size, MaxListed, MaxListedBytes)
	}
	if total := 5001 + 1 + 1; listed+c.Omitted != total || c.Omitted < 4000 {
		t.Errorf("Diff lists %d and omits %d, want %d in all, most of them omitted", listed, c.Omitted, total)
	}
	if !slices.Equal(c.Created, names[:len(c.Created)]) {
		t.Errorf("Created is not the first names in sorted order: %.60q", c.Created)
	}
	// The one deleted and the one modified file are not crowded out.
	if !slices.Equal(c.Deleted, []string{"gone.txt"}) || !slices.Equal(c.Modified, []string{"changed.txt"}) {
		t.Errorf("Deleted %q, Modified %q; want [gone.txt] and [changed.txt] listed", c.Deleted, c.Modified)
	}
	if !slices.Equal(c.Links, []string{"00000-link"}) {
		t.Errorf("Links = %q, want [00000-link]", c.Links)
	}
	data, err := json.Marshal(c)
	must(t, err)
	if len(data) > 2*MaxListedBytes || !bytes.Contains(data, []byte(fmt.Sprintf(`"omitted":%d`, c.Omitted))) {
		t.Errorf("JSON of the changes is %d bytes: %.200s", len(data), data)
	}
}

// TestDiffLongName: a name longer than the whole byte budget is counted,
// not listed, and does not hide the other lists.
func TestDiffLongName(t *testing.T) {
	long := strings.Repeat("a/", MaxListedBytes/2) + "f"
	before := Snapshot{"old": {Path: "old", Mode: 0o644}}
	after := Snapshot{long: {Path: long, Mode: 0o644}}
	c := Diff(before, after)
	if len(c.Created) != 0 || c.Omitted != 1 || !slices.Equal(c.Deleted, []string{"old"}) {
		t.Errorf("Diff = %+v", c)
	}
}

func TestChangesJSONOmitsEmpty(t *testing.T) {
	data, err := json.Marshal(Changes{Deleted: []string{"x"}, Omitted: 3, Links: []string{"l"}, Sanitized: []string{"s"}, SanitizedCount: 1})
	want := `{"created":[],"modified":[],"deleted":["x"],"omitted":3,"links":["l"],"sanitized":["s"],"sanitized_count":1}`
	if err != nil || string(data) != want {
		t.Errorf("got %s, %v\nwant %s", data, err, want)
	}
}
