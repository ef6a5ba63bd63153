package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/taskrun"
)

// ReadResults reads a results file's records in the file's order; a task
// recorded twice keeps its place and its last record. Lines that are not
// records are skipped, as taskrun.ReadRecords does.
func ReadResults(path string) ([]taskrun.Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	var out []taskrun.Record
	at := map[string]int{}
	for _, line := range bytes.Split(data, []byte("\n")) {
		var r struct {
			taskrun.Record
			ID any `json:"id"`
		}
		if json.Unmarshal(line, &r) != nil || r.ID == nil {
			continue
		}
		r.Record.ID = fmt.Sprint(r.ID)
		if i, ok := at[r.Record.ID]; ok {
			out[i] = r.Record
			continue
		}
		at[r.Record.ID] = len(out)
		out = append(out, r.Record)
	}
	if len(out) == 0 {
		return nil, errors.New("read results: no task records in " + path)
	}
	return out, nil
}

// Row is one task of a batch report: its record and the link to its run
// report, relative to the batch report ("": none).
type Row struct {
	taskrun.Record
	Href string
}

type batchPage struct {
	Nonce, CSP string
	CSS        template.CSS
	Script     template.JS
	Title      string
	Rows       []batchRow
	Summary    []kv
	Statuses   []string
	Charts     []template.HTML
}

type batchRow struct {
	ID, Status, Engine, Exit, Duration string
	Turns, Tokens                      int
	DurationMS                         int64
	ExitSort                           int
	Href                               template.URL
	StopReason, Error                  string
}

// Batch writes the report of a batch: a table of its tasks, sortable and
// filterable by a small nonce'd script (or a fragment such as
// #sort=-duration&status=error), its summary and two inline SVG charts.
func Batch(w io.Writer, title string, rows []Row) error {
	nonce, err := newNonce()
	if err != nil {
		return err
	}
	p := &batchPage{Nonce: nonce, CSP: csp(nonce), CSS: template.CSS(baseCSS + batchCSS), Script: template.JS(batchScript), Title: safetext.Name(title)}
	counts := map[string]int{}
	var durations []int64
	tokens := 0
	for _, r := range rows {
		br := batchRow{ID: safetext.Name(r.ID), Status: safetext.Name(string(r.Status)), Engine: safetext.Name(r.Engine),
			Turns: r.Turns, Tokens: r.Tokens, DurationMS: r.DurationMS, ExitSort: math.MinInt32,
			Duration: fmtDuration(r.DurationMS), StopReason: safetext.Output(r.StopReason), Error: safetext.Output(r.Error)}
		if r.LastExitCode != nil {
			br.Exit, br.ExitSort = fmt.Sprint(*r.LastExitCode), *r.LastExitCode
		}
		if r.Href != "" {
			br.Href = template.URL(r.Href) //nolint:gosec // a relative path the caller built; html/template escapes it in the attribute
		}
		p.Rows = append(p.Rows, br)
		counts[br.Status]++
		durations = append(durations, r.DurationMS)
		tokens += r.Tokens
	}
	p.Statuses = sortedKeys(counts)
	p.Summary = append(p.Summary, kv{"tasks", fmt.Sprint(len(rows))})
	for _, s := range p.Statuses {
		p.Summary = append(p.Summary, kv{s, fmt.Sprint(counts[s])})
	}
	slices.Sort(durations)
	p.Summary = append(p.Summary,
		kv{"p50 duration", fmtDuration(percentile(durations, 50))},
		kv{"p95 duration", fmtDuration(percentile(durations, 95))},
		kv{"tokens", fmt.Sprint(tokens)})
	p.Charts = []template.HTML{statusChart(p.Statuses, counts), histogram(durations, 10)}
	if err := batchTemplate.Execute(w, p); err != nil {
		return fmt.Errorf("write batch report: %w", err)
	}
	return nil
}

// percentile is the nearest-rank percentile of sorted values (0 for none).
func percentile(sorted []int64, p int) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(float64(p) / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func fmtDuration(ms int64) string {
	return (time.Duration(ms) * time.Millisecond).Round(100 * time.Millisecond).String()
}

// Chart colours by status; others are grey.
var statusFill = map[string]string{"approved": "#1a7f37", "not_approved": "#bf8700", "error": "#cf222e"}

// statusChart is a bar per status. Labels are escaped: a hand-edited
// results file may hold any status.
func statusChart(statuses []string, counts map[string]int) template.HTML {
	const w, barH, gap, labelW = 420, 22, 6, 130
	most := 1
	for _, s := range statuses {
		most = max(most, counts[s])
	}
	h := len(statuses)*(barH+gap) + gap
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" id="status-chart" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="tasks by status">`, w, h, w, h)
	for i, s := range statuses {
		y := gap + i*(barH+gap)
		bw := max(1, (w-labelW-50)*counts[s]/most)
		fill := statusFill[s]
		if fill == "" {
			fill = "#8c959f"
		}
		fmt.Fprintf(&b, `<text x="0" y="%d" font-size="13">%s</text><rect x="%d" y="%d" width="%d" height="%d" fill="%s"/><text x="%d" y="%d" font-size="13">%d</text>`,
			y+16, template.HTMLEscapeString(s), labelW, y, bw, barH, fill, labelW+bw+5, y+16, counts[s])
	}
	b.WriteString("</svg>")
	return template.HTML(b.String()) //nolint:gosec // built here, labels escaped
}

// histogram is the tasks' durations in n equal bins.
func histogram(sorted []int64, n int) template.HTML {
	const w, h, base = 420, 160, 130
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" id="duration-chart" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="duration histogram">`, w, h, w, h)
	if len(sorted) > 0 {
		lo, hi := sorted[0], sorted[len(sorted)-1]
		width := max(1, (hi-lo+int64(n)-1)/int64(n))
		bins := make([]int, n)
		for _, d := range sorted {
			bins[min(int((d-lo)/width), n-1)]++
		}
		most := slices.Max(bins)
		bw := (w - 20) / n
		for i, c := range bins {
			bh := (base - 20) * c / max(most, 1)
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#0969da"><title>%s–%s: %d</title></rect>`,
				10+i*bw, base-bh, bw-2, bh, fmtDuration(lo+int64(i)*width), fmtDuration(lo+int64(i+1)*width), c)
		}
		fmt.Fprintf(&b, `<text x="10" y="%d" font-size="12">%s</text><text x="%d" y="%d" font-size="12" text-anchor="end">%s</text>`,
			base+18, fmtDuration(lo), w-10, base+18, fmtDuration(hi))
	}
	b.WriteString("</svg>")
	return template.HTML(b.String()) //nolint:gosec // built here from numbers
}
