package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agentteam/agentteam/report"
	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/transcript"
)

// ReportOptions are report's flags and argument.
type ReportOptions struct {
	IO   IO
	Path string
	Out  string
	Open bool
}

const transcriptSuffix = ".transcript.jsonl"

func newReportCmd(f *Factory) *cobra.Command {
	opts := &ReportOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "report PATH",
		Short: "Write a self-contained HTML report of a run or a batch",
		Long: `Writes one HTML file that opens offline: for a run (PATH is its workspace or
its transcript) the task, every message with Markdown and code rendered, each
block's result and the images it made; for a batch (PATH is its results file)
a sortable, filterable table of its tasks, with each task's own report
written beside its transcript. Everything a model or a block made is shown
as inert text or images: no script of theirs runs.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Path = args[0]
			return runReport(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Out, "output", "o", "", "the HTML file to write (default: beside the run's workspace, or the results file's name with .html)")
	cmd.Flags().BoolVar(&opts.Open, "open", false, "open the report in the default browser")
	return cmd
}

func runReport(ctx context.Context, opts *ReportOptions) error {
	path := opts.abs(opts.Path)
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	var out string
	switch {
	case fi.IsDir():
		out, err = writeRunReport(ctx, path+transcriptSuffix, path, opts.abs(opts.Out))
	case isResults(path):
		out, err = writeBatchReport(ctx, opts, path, opts.abs(opts.Out))
	default:
		out, err = writeRunReport(ctx, path, "", opts.abs(opts.Out))
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(opts.IO.Out, safetext.Name(out))
	if opts.Open {
		openBrowser(opts.IO, out)
	}
	return nil
}

func (o *ReportOptions) abs(p string) string {
	if p == "" || filepath.IsAbs(p) || o.IO.Dir == "" {
		return p
	}
	return filepath.Join(o.IO.Dir, p)
}

// isResults says whether the file's first line is a results record (an
// id, no event type) rather than a transcript event.
func isResults(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var line struct {
			Type *string `json:"type"`
			ID   any     `json:"id"`
		}
		return json.Unmarshal(sc.Bytes(), &line) == nil && line.Type == nil && line.ID != nil
	}
	return false
}

// writeRunReport renders the run of the transcript tr, its images from
// the workspace dir ("": the one beside the transcript, else the one its
// task event names), to out ("": DIR.html beside the workspace).
func writeRunReport(ctx context.Context, tr, dir, out string) (string, error) {
	events, err := transcript.ReadFile(tr)
	if err != nil && len(events) == 0 {
		return "", fmt.Errorf("report: %w", err)
	}
	// A transcript cut short (a crash) still shows what it holds.
	if dir == "" {
		dir = workspaceOf(tr, events)
	}
	if out == "" {
		out = strings.TrimSuffix(tr, ".jsonl") + ".html"
		if dir != "" {
			out = dir + ".html"
		}
	}
	href, _ := relHref(filepath.Dir(out), tr)
	var b bytes.Buffer
	if err := report.Run(ctx, &b, events, dir, report.Options{TranscriptHref: href}); err != nil {
		return "", err
	}
	return out, writeReportFile(out, b.Bytes())
}

// workspaceOf is the run's workspace: beside the transcript, else the one
// its task event names, if it is there.
func workspaceOf(tr string, events []transcript.Event) string {
	if d, ok := strings.CutSuffix(tr, transcriptSuffix); ok && isDir(d) {
		return d
	}
	if len(events) > 0 && events[0].Type == "task" {
		if d, ok := events[0].Extra["workspace"].(string); ok && isDir(d) {
			return d
		}
	}
	return ""
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// writeBatchReport renders the results file and each task's run report
// beside its transcript; a task whose report cannot be written is listed
// without a link.
func writeBatchReport(ctx context.Context, opts *ReportOptions, results, out string) (string, error) {
	recs, err := report.ReadResults(results)
	if err != nil {
		return "", err
	}
	if out == "" {
		out = strings.TrimSuffix(results, filepath.Ext(results)) + ".html"
	}
	rows := make([]report.Row, len(recs))
	for i, r := range recs {
		rows[i].Record = r
		tr := r.Transcript
		if tr != "" && !filepath.IsAbs(tr) && !fileExists(tr) {
			tr = filepath.Join(filepath.Dir(results), tr)
		}
		if tr == "" || !fileExists(tr) {
			continue
		}
		runOut, err := writeRunReport(ctx, tr, "", "")
		if err != nil {
			fmt.Fprintf(opts.IO.ErrOut, "agentteam: report of task %s: %s\n", safetext.Name(r.ID), safetext.Output(err.Error()))
			continue
		}
		rows[i].Href, _ = relHref(filepath.Dir(out), runOut)
	}
	var b bytes.Buffer
	if err := report.Batch(&b, filepath.Base(results), rows); err != nil {
		return "", err
	}
	return out, writeReportFile(out, b.Bytes())
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// relHref is target as a relative URL from dir: a path, never a scheme.
func relHref(dir, target string) (string, error) {
	rel, err := filepath.Rel(dir, target)
	if err != nil {
		return "", err
	}
	u := url.URL{Path: filepath.ToSlash(rel)}
	return u.String(), nil
}

// writeReportFile writes the report whole or not at all, readable only by
// its owner as it holds the prompts, like the transcript.
func writeReportFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".report-*.html")
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// openBrowser opens the report without waiting for the browser; failing
// to is a note, not an error: the file is written.
func openBrowser(s IO, path string) {
	opener := "xdg-open"
	if runtime.GOOS == "darwin" {
		opener = "open"
	}
	cmd := exec.Command(opener, path)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(s.ErrOut, "agentteam: cannot open the report: %v\n", err)
		return
	}
	go cmd.Wait() // reap it
}

// writeReportAfter writes a finished run's report and says where, on
// stderr (stdout may carry --json lines); a report that cannot be written
// is a warning, never the run's failure.
func writeReportAfter(ctx context.Context, s IO, transcriptPath, dir string) {
	out, err := writeRunReport(context.WithoutCancel(ctx), transcriptPath, dir, "")
	if err != nil {
		fmt.Fprintln(s.ErrOut, "agentteam: "+safetext.Line(err.Error()))
		return
	}
	fmt.Fprintln(s.ErrOut, "report "+safetext.Name(out))
}
