package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/agentteam/agentteam/agents/codeblock"
	"github.com/agentteam/agentteam/safetext"
)

// reporter prints exec's human report as blocks finish; with JSON it stays
// silent (the JSON goes out at the end).
type reporter struct {
	w     io.Writer
	quiet bool
	color bool
}

func newReporter(s IO, json bool) *reporter {
	return &reporter{w: s.Out, quiet: json, color: s.color()}
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
	r.stream("stdout", res.Stdout, res.StdoutBytes)
	r.stream("stderr", res.Stderr, res.StderrBytes)
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
