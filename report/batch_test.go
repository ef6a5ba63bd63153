package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/taskrun"
)

const hostileID = `<img src=x onerror="document.title='pwned'">`

// fakeBatch is a HumanEval-sized batch: 164 tasks of every status, one
// with a hostile id, in an order that is not by duration.
func fakeBatch() []Row {
	statuses := []taskrun.Status{taskrun.Approved, taskrun.Approved, taskrun.NotApproved, taskrun.Failed}
	var rows []Row
	for i := range 164 {
		code := i % 3
		r := Row{Record: taskrun.Record{ID: fmt.Sprintf("HumanEval/%d", i), Status: statuses[i%len(statuses)], Turns: 1 + i%7,
			Tokens: 1000 + 13*i, DurationMS: int64((i*37)%164) * 250, LastExitCode: &code, Engine: "runc", StopReason: "stopped"}}
		if i == 5 {
			r.ID = hostileID
			r.StopReason = "<script>document.title='pwned'</script>"
		}
		if i%10 == 0 {
			r.Href = "runs/" + strconv.Itoa(i) + ".html"
		}
		rows = append(rows, r)
	}
	return rows
}

func renderBatch(t *testing.T, rows []Row) string {
	t.Helper()
	var b bytes.Buffer
	if err := Batch(&b, "results.jsonl", rows); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		in   []int64
		p    int
		want int64
	}{
		{nil, 50, 0},
		{[]int64{7}, 95, 7},
		{[]int64{1, 2, 3, 4}, 50, 2},
		{[]int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, 95, 19},
		{[]int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, 50, 10},
	}
	for _, tt := range tests {
		if got := percentile(tt.in, tt.p); got != tt.want {
			t.Errorf("percentile(%v, %d) = %d, want %d", tt.in, tt.p, got, tt.want)
		}
	}
}

func TestReadResults(t *testing.T) {
	file := filepath.Join(t.TempDir(), "results.jsonl")
	data := `{"id":"b","status":"error","duration_ms":5}
not json
{"id":7,"status":"approved"}
{"id":"b","status":"approved","duration_ms":9}
`
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadResults(file)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%d %s %s %d %s", len(recs), recs[0].ID, recs[0].Status, recs[0].DurationMS, recs[1].ID)
	if want := "2 b approved 9 7"; got != want {
		t.Errorf("records %q, want %q", got, want)
	}
	os.WriteFile(file, []byte("{\"type\":\"task\"}\n"), 0o644)
	if _, err := ReadResults(file); err == nil {
		t.Error("a transcript was read as results")
	}
}

func TestBatchReportIsInert(t *testing.T) {
	page := renderBatch(t, fakeBatch())
	if n := strings.Count(page, "<script"); n != 1 {
		t.Errorf("%d scripts, want only the report's own", n)
	}
	if !regexp.MustCompile(`<script nonce="[A-Za-z0-9_-]{20,}">`).MatchString(page) {
		t.Error("the report's script has no nonce")
	}
	if strings.Contains(page, "<img") || strings.Contains(page, "onerror=\"") {
		t.Error("a hostile id is in the page unescaped")
	}
	for _, want := range []string{"<td>164</td>", `id="status-chart"`, `id="duration-chart"`, `href="runs/10.html"`, "p95 duration"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// rowValues are the data-v of column col of the table's rows in DOM
// order, the hidden rows left out.
func rowValues(t *testing.T, dom string, col int) []int {
	t.Helper()
	body := dom[strings.Index(dom, `id="tasks"`):]
	var out []int
	for _, tr := range regexp.MustCompile(`(?s)<tr([^>]*)>(.*?)</tr>`).FindAllStringSubmatch(body, -1) {
		if strings.Contains(tr[1], "hidden") {
			continue
		}
		cells := regexp.MustCompile(`<td data-v="([^"]*)"`).FindAllStringSubmatch(tr[2], -1)
		if len(cells) == 0 { // the heading, the summary
			continue
		}
		n, err := strconv.Atoi(cells[col][1])
		if err != nil {
			t.Fatalf("cell %q: %v", cells[col][1], err)
		}
		out = append(out, n)
	}
	return out
}

func TestBatchReportInChromium(t *testing.T) {
	rows := fakeBatch()
	file := filepath.Join(t.TempDir(), "results.html")
	if err := os.WriteFile(file, []byte(renderBatch(t, rows)), 0o644); err != nil {
		t.Fatal(err)
	}
	const duration = 4 // the column, counting those with data-v
	tests := []struct {
		fragment string
		rows     int
		desc     bool
	}{
		{"#sort=duration", 164, false},
		{"#sort=-duration", 164, true},
		{"#sort=-duration&status=error", 41, true},
		{"#sort=duration&q=humaneval/1", 75, false}, // 1, 10..19, 100..163
	}
	for _, tt := range tests {
		t.Run(tt.fragment, func(t *testing.T) {
			dom := dumpDOM(t, file, tt.fragment)
			if strings.Contains(dom, "pwned</title>") || strings.Contains(dom, `id="pwned"`) {
				t.Error("a hostile script ran")
			}
			got := rowValues(t, dom, duration)
			if len(got) != tt.rows {
				t.Errorf("%d rows shown, want %d", len(got), tt.rows)
			}
			sorted := slices.IsSorted(got)
			if tt.desc {
				slices.Reverse(got)
				sorted = slices.IsSorted(got)
			}
			if !sorted {
				t.Errorf("rows not sorted by duration (desc %v): %v", tt.desc, got)
			}
			if !strings.Contains(dom, `data-sort="`+strings.TrimPrefix(strings.SplitN(tt.fragment, "&", 2)[0], "#sort=")+`"`) {
				t.Error("the script did not record the sort")
			}
		})
	}
	shot := screenshot(t, file, 1000, 900)
	if n, _ := colours(t, shot, [3]uint8{}); n < 8 {
		t.Errorf("the screenshot has %d colours: blank", n)
	}
}
