package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/agentteam/agentteam/agents/codeblock"
	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/sandbox"
)

// reporter prints exec's human report as blocks finish, and on a terminal
// each block's output as it runs; with JSON it stays silent (the JSON goes
// out at the end, one object).
type reporter struct {
	w     io.Writer
	quiet bool
	color bool
	tty   bool
	live  *liveOutput // the running block's output shown so far; nil off a terminal
}

func newReporter(s IO, json bool) *reporter {
	return &reporter{w: s.Out, quiet: json, color: s.color(), tty: s.OutIsTTY}
}

// wantsOutput reports whether the running block's output is shown live.
func (r *reporter) wantsOutput() bool { return r.tty && !r.quiet }

// output shows a piece of the running block's output: whole lines,
// escaped. exec draws no spinner, so a line without its end shows when a
// later piece comes after it waited partialWait, or when the block ends.
func (r *reporter) output(stream string, chunk []byte) {
	if r.live == nil {
		return
	}
	for _, l := range r.live.add(stream, chunk, time.Now()) {
		fmt.Fprintln(r.w, l.render(r.color))
	}
}

func (r *reporter) paint(code, s string) string {
	if !r.color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (r *reporter) start(b codeblock.Block) {
	if r.quiet {
		return
	}
	title := blockLabel(b)
	fmt.Fprintln(r.w, r.paint("1", "── "+title+" "+strings.Repeat("─", max(3, 50-len(title)))))
	if r.wantsOutput() {
		r.live = &liveOutput{}
	}
}

func (r *reporter) block(b ExecBlock) {
	if r.quiet {
		return
	}
	if b.Skipped {
		fmt.Fprintf(r.w, "%s block %d (%s, line %d): %s\n", r.paint("33", "skipped"), b.Index+1, safetext.Output(b.Language), b.Line, b.SkipReason)
		return
	}
	res := b.Result
	live := r.live
	r.live = nil
	if live != nil {
		// What was not shown live goes before the status line: the
		// block's output stays in one piece.
		for _, l := range live.due(time.Now(), true) {
			fmt.Fprintln(r.w, l.render(r.color))
		}
		for _, s := range []struct {
			name, text string
			total      int64
		}{{sandbox.Stdout, res.Stdout, res.StdoutBytes}, {sandbox.Stderr, res.Stderr, res.StderrBytes}} {
			if live.streamed(s.name) {
				for _, l := range live.restOf(s.name, s.text, s.total, r.color) {
					fmt.Fprintln(r.w, l)
				}
			}
		}
	}
	status := r.paint("32", "✓ passed")
	if !res.OK() {
		status = r.paint("31", "✗ failed")
	}
	line := fmt.Sprintf("%s  exit %d · %s", status, res.ExitCode, fmtMS(res.DurationMS))
	if flags := res.Flags(); len(flags) > 0 {
		line += " · " + strings.Join(flags, ", ")
	}
	if b.Saved {
		line = r.paint("32", "✓ saved, not run")
	}
	fmt.Fprintln(r.w, line)
	if live == nil || !live.streamed(sandbox.Stdout) {
		r.stream("stdout", res.Stdout, res.StdoutBytes)
	}
	if live == nil || !live.streamed(sandbox.Stderr) {
		r.stream("stderr", res.Stderr, res.StderrBytes)
	}
	if res.Error != "" {
		fmt.Fprintln(r.w, r.paint("31", "error: ")+safetext.Output(res.Error))
	}
	for _, l := range []struct {
		mark  string
		names []string
	}{{"+", res.Files.Created}, {"~", res.Files.Modified}, {"-", res.Files.Deleted}} {
		shown, more := shownNames(l.names)
		for _, name := range shown {
			fmt.Fprintln(r.w, r.paint("2", "  "+l.mark+" "+name))
		}
		if more > 0 {
			fmt.Fprintln(r.w, r.paint("2", fmt.Sprintf("  %s … and %d more", l.mark, more)))
		}
	}
}

// maxNamesShown caps a list of file names on the terminal: a block can
// make a hundred thousand files, and a report is read, not searched.
const maxNamesShown = 20

// shownNames returns the first maxNamesShown names, each escaped to one
// line (a name made in the sandbox may hold a newline and then text that
// looks like agentteam's own), and how many it left out.
func shownNames(names []string) ([]string, int) {
	shown := make([]string, 0, min(len(names), maxNamesShown))
	for _, n := range names[:min(len(names), maxNamesShown)] {
		shown = append(shown, safetext.Name(n))
	}
	return shown, len(names) - len(shown)
}

func (r *reporter) stream(name, text string, total int64) {
	if text == "" {
		return
	}
	head := name
	if int64(len(text)) < total {
		head = fmt.Sprintf("%s (%d bytes, cut)", name, total)
	}
	fmt.Fprintln(r.w, r.paint("2", head+":"))
	body := strings.TrimRight(safetext.Output(text), "\n")
	for _, l := range strings.Split(body, "\n") {
		fmt.Fprintln(r.w, "  "+l)
	}
}

func (r *reporter) summary(rep ExecReport) {
	ran, passed, saved := 0, 0, 0
	for _, b := range rep.Blocks {
		switch {
		case b.Saved:
			saved++
		case !b.Skipped:
			ran++
			if b.OK() {
				passed++
			}
		}
	}
	fmt.Fprintf(r.w, "\n%d of %d blocks run passed", passed, ran)
	if saved > 0 {
		fmt.Fprintf(r.w, " · %d saved", saved)
	}
	fmt.Fprintf(r.w, " · workspace %s\n", safetext.Name(rep.Workspace))
}

// blockLabel names a block for people: its number, its language (escaped:
// a tag is the model's text) and its file, saying when it is only saved.
func blockLabel(b codeblock.Block) string {
	lang := b.Language
	if lang == "" {
		lang = "untagged"
	}
	label := fmt.Sprintf("block %d · %s", b.Index+1, safetext.Name(lang))
	switch {
	case b.SaveOnly():
		label += " · save as " + safetext.Name(b.Filename)
	case b.Filename != "":
		label += " · " + safetext.Name(b.Filename)
	}
	return label
}

func fmtMS(ms float64) string {
	if ms >= 1000 {
		return fmt.Sprintf("%.2f s", ms/1000)
	}
	return fmt.Sprintf("%.0f ms", ms)
}
