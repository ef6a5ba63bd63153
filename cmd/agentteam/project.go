package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/agentteam/agentteam/project"
	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/taskrun"
	"github.com/agentteam/agentteam/transcript"
)

// EventChanges is the transcript's and --json's event for the change set
// of a run on the user's project; EventApply says what became of it.
const (
	EventChanges = "changes"
	EventApply   = "apply"
)

// Bounds of what a project run shows and records.
const (
	maxChangesListed = 1000    // changes in the event; all of them are applied
	maxChangesShown  = 200     // lines of the list on the terminal
	maxDiffShown     = 2000    // lines of the diff printed without a pager
	maxDiffPaged     = 8 << 20 // bytes of the diff given to a pager
	pageAfterLines   = 40      // a longer diff on a terminal goes through a pager
)

// projectFlags are run's flags for working on the user's own project.
type projectFlags struct {
	Project string
	Apply   bool
	Branch  string
}

func (p *projectFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&p.Project, "project", "", "work on a copy of this directory, never on it; show the changes at the end and apply them only if asked")
	fl.BoolVar(&p.Apply, "apply", false, "with --project: write an approved run's changes into the project")
	fl.StringVar(&p.Branch, "branch", "", "with --project in a git repository: commit an approved run's changes to this new branch, leaving the work tree and index alone")
}

// projectDir is the --project directory, a relative one taken from the
// command's working directory.
func projectDir(s IO, dir string) string {
	if dir != "" && !filepath.IsAbs(dir) && s.Dir != "" {
		return filepath.Join(s.Dir, dir)
	}
	return dir
}

func (p projectFlags) check(s IO, workspaceFlag string) error {
	switch {
	case p.Project == "" && (p.Apply || p.Branch != ""):
		return usageError("--apply and --branch go with --project")
	case p.Project == "":
		return nil
	case workspaceFlag != "":
		return usageError("--project and --workspace do not go together: a project run works on a new copy of the project")
	case p.Apply && p.Branch != "":
		return usageError("--apply and --branch do not go together: pick one")
	}
	fi, err := os.Stat(projectDir(s, p.Project))
	if err != nil {
		return usageError("--project: %v", err)
	}
	if !fi.IsDir() {
		return usageError("--project: %s is not a directory", p.Project)
	}
	return nil
}

// projectRun is a run on a copy of the user's project: the copy, the
// team's first message, and at the end the change set, its patch and what
// the user decides.
type projectRun struct {
	flags projectFlags
	io    IO
	copy  *project.Copy
	task  string // the team's first message
	patch string // where the patch is saved

	cs       *project.ChangeSet
	csErr    error
	left     []string // changed in the project since the copy, left out of the patch
	patchErr error
	// conflicts are the files the change set would write that changed in
	// the project since the copy.
	conflicts []string
}

// startProject copies the project into the run's fresh workspace dir and
// composes the team's first message. It returns nil when the run is not on
// a project. A replay with no task of its own reuses the recorded first
// message, overview included, as it is.
func startProject(ctx context.Context, opts *RunOptions, sb *sandboxes, dir, task, transcriptPath, guide string) (*projectRun, error) {
	if opts.Project == "" {
		return nil, nil
	}
	uid, gid := -1, -1
	if sb.Owner != nil {
		uid, gid = sb.Owner()
	}
	base, err := filepath.Abs(filepath.Join(opts.IO.Dir, filepath.Dir(defaultRunsDir)))
	if err != nil {
		return nil, err
	}
	c, err := project.CopyIn(ctx, projectDir(opts.IO, opts.Project), dir, project.CopyOptions{UID: uid, GID: gid, Skip: []string{base}})
	if err == nil && opts.Branch != "" {
		if !c.Git {
			err = usageError("--branch needs a git repository, and %s is not in one", safetext.Name(c.Dir))
		} else if cerr := project.CheckBranch(ctx, c.Dir, opts.Branch); cerr != nil {
			err = usageError("--branch: %v", cerr)
		}
	}
	if err != nil {
		os.RemoveAll(dir) // the run's own new directory: a copy that is no use
		if errors.Is(err, project.ErrTooLarge) {
			return nil, usageError("--project: %v", err)
		}
		return nil, err
	}
	// Beside the transcript: run-X.transcript.jsonl, run-X.patch.
	p := &projectRun{flags: opts.projectFlags, io: opts.IO, copy: c, task: task, patch: transcriptPath + ".patch"}
	if base, ok := strings.CutSuffix(transcriptPath, ".transcript.jsonl"); ok {
		p.patch = base + ".patch"
	}
	if len(opts.Task) > 0 || opts.Replay == "" {
		p.task = c.Prompt(task, guide)
	}
	return p, nil
}

// extra is what the transcript's task event records of the project.
func (p *projectRun) extra() map[string]any {
	if p == nil {
		return nil
	}
	return map[string]any{"project": map[string]any{"dir": p.copy.Dir, "git": p.copy.Git, "head": p.copy.Head,
		"files": len(p.copy.Files), "bytes": p.copy.Bytes}}
}

// finish is taskrun's Finish: once the team has stopped, it reads the
// change set, saves the patch and records both in the transcript.
func (p *projectRun) finish(ctx context.Context) func(taskrun.Outcome) []transcript.Event {
	if p == nil {
		return nil
	}
	return func(taskrun.Outcome) []transcript.Event {
		ctx := context.WithoutCancel(ctx) // an interrupted run still shows what it changed
		p.cs, p.csErr = p.copy.Changes(ctx)
		if p.csErr == nil {
			p.left, p.patchErr = p.copy.SavePatch(p.patch, p.cs)
			if p.patchErr == nil {
				p.conflicts, p.patchErr = p.copy.Conflicts(p.cs)
			}
		}
		return []transcript.Event{{Type: EventChanges, Extra: p.record()}}
	}
}

// record is the change set as the transcript and --json give it.
func (p *projectRun) record() map[string]any {
	r := map[string]any{"project": p.copy.Dir}
	if p.csErr != nil {
		r["error"] = taskrun.ErrorText(context.Background(), p.csErr)
		return r
	}
	list := p.cs.Changes
	if len(list) > maxChangesListed {
		r["changes_omitted"] = len(list) - maxChangesListed
		list = list[:maxChangesListed]
	}
	r["changes"] = list
	if list == nil {
		r["changes"] = []project.Change{}
	}
	r["ignored"] = p.cs.Ignored
	var runs []string
	for _, ch := range p.cs.RunningCode() {
		runs = append(runs, ch.Path)
	}
	r["runs_code"] = orEmpty(runs)
	r["conflicts"] = orEmpty(p.conflicts)
	if p.patchErr != nil {
		r["error"] = taskrun.ErrorText(context.Background(), p.patchErr)
	} else {
		r["patch"] = p.patch
		if len(p.left) > 0 {
			r["left_out_of_patch"] = p.left
		}
	}
	return r
}

func orEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// conclude ends a project run: it shows the change set and the diff, warns
// about changes that run code, applies or commits them as the flags or the
// user say, and returns the command's error. With --json the events come
// in order, changes, apply, result: the result stays last.
func (p *projectRun) conclude(ctx context.Context, view *runView, sum RunSummary, runErr error) error {
	if !view.json {
		view.Summary(sum)
		p.show(view)
	} else {
		view.mu.Lock()
		ev := p.record()
		ev["type"] = EventChanges
		view.emit(ev)
		view.mu.Unlock()
	}
	applyEv, applyErr := p.decide(ctx, view, sum, runErr)
	if view.json {
		view.mu.Lock()
		if applyEv != nil {
			applyEv["type"] = EventApply
			view.emit(applyEv)
		}
		view.mu.Unlock()
		if applyErr != nil && runErr == nil {
			sum.ExitCode = ExitFailure
		}
		view.Summary(sum)
	}
	switch {
	case runErr != nil:
		return onceSaid(runErr, view.json, sum.ExitCode)
	case applyErr != nil:
		return applyErr
	case sum.ExitCode != ExitOK:
		return &exitError{code: sum.ExitCode}
	}
	return nil
}

// decide applies, commits or asks, and says what it did as an apply event
// (nil when nothing was asked for).
func (p *projectRun) decide(ctx context.Context, view *runView, sum RunSummary, runErr error) (map[string]any, error) {
	asked := p.flags.Apply || p.flags.Branch != ""
	ev := map[string]any{"project": p.copy.Dir, "applied": false}
	if p.flags.Branch != "" {
		ev["branch"] = p.flags.Branch
	}
	say := func(format string, args ...any) {
		if !view.json {
			fmt.Fprintf(view.w, format+"\n", args...)
		}
	}
	notApplied := func(why string) (map[string]any, error) {
		say("Not applied: %s.%s", why, p.patchHint())
		ev["reason"] = why
		if !asked {
			return nil, nil
		}
		return ev, nil
	}
	switch {
	case p.csErr != nil || p.patchErr != nil:
		err := errors.Join(p.csErr, p.patchErr)
		if asked {
			ev["error"] = taskrun.ErrorText(ctx, err)
			return ev, fmt.Errorf("read the changes: %w", err)
		}
		return nil, nil
	case len(p.cs.Applicable()) == 0:
		say("No changes to apply.")
		ev["reason"] = "no changes"
		if !asked {
			return nil, nil
		}
		return ev, nil
	case runErr != nil || ctx.Err() != nil:
		return notApplied("the run ended with an error")
	case asked && !sum.Approved:
		return notApplied("the reviewer did not approve the run")
	case len(p.conflicts) > 0:
		err := &project.ConflictError{Dir: p.copy.Dir, Paths: p.conflicts}
		say("Cannot apply: %v.%s", err, p.patchHint())
		if !asked {
			return nil, nil
		}
		ev["error"] = err.Error()
		return ev, fmt.Errorf("apply: %w", err)
	case asked:
	case p.io.InIsTTY && p.io.OutIsTTY && !view.json:
		if !p.ask(ctx, view, sum.Approved) {
			return notApplied("you said no")
		}
	default:
		say("Not applied.%s Or run again with --apply or --branch NAME.", p.patchHint())
		return nil, nil
	}
	if p.flags.Branch != "" {
		commit, err := p.copy.Branch(ctx, p.cs, p.flags.Branch, p.commitMessage(sum))
		if err != nil {
			ev["error"] = taskrun.ErrorText(ctx, err)
			return ev, err
		}
		ev["applied"], ev["commit"] = true, commit
		say("%s committed to the new branch %s (%s); your work tree and index are as they were: git switch %s to see it.",
			view.paint("1;32", "✓"), safetext.Name(p.flags.Branch), commit[:min(len(commit), 12)], safetext.Name(p.flags.Branch))
		return ev, nil
	}
	done, err := p.copy.Apply(ctx, p.cs)
	ev["written"], ev["deleted"], ev["modes"] = done.Written, done.Deleted, done.Modes
	if err != nil {
		ev["error"] = taskrun.ErrorText(ctx, err)
		var ce *project.ConflictError
		if errors.As(err, &ce) {
			return ev, fmt.Errorf("apply: %w", err)
		}
		return ev, err
	}
	ev["applied"] = true
	say("%s applied to %s: %d written, %d deleted, %d mode changes.", view.paint("1;32", "✓"),
		safetext.Name(p.copy.Dir), done.Written, done.Deleted, done.Modes)
	return ev, nil
}

// patchHint says where the patch is and how to apply it by hand.
func (p *projectRun) patchHint() string {
	if p.patchErr != nil || p.csErr != nil {
		return ""
	}
	return fmt.Sprintf(" The patch is %s (git apply it in the project).", safetext.Name(p.patch))
}

// commitMessage is the branch commit's message: the task's first line and
// where the run is recorded.
func (p *projectRun) commitMessage(sum RunSummary) string {
	first, _, _ := strings.Cut(strings.TrimSpace(p.task), "\n")
	if len(first) > 72 {
		first = first[:69] + "..."
	}
	return fmt.Sprintf("%s\n\nMade by an agentteam run (%s): %s\nTranscript: %s\n", strings.ToValidUTF8(first, "?"), sum.StopReason,
		map[bool]string{true: "approved", false: "not approved"}[sum.Approved], sum.Transcript)
}

// show prints the change set, the diff (paged when long on a terminal),
// and last, loudly, the changes that run code on the user's machine.
func (p *projectRun) show(view *runView) {
	w := view.w
	fmt.Fprintf(w, "\n%s\n", view.paint("1;37", "── changes to "+safetext.Name(p.copy.Dir)+" "+strings.Repeat("─", 10)))
	if p.csErr != nil {
		fmt.Fprintf(w, "%s could not read the changes: %s\n", view.paint("1;31", "✗"), safetext.Line(p.csErr.Error()))
		return
	}
	if len(p.cs.Changes) == 0 {
		fmt.Fprintln(w, "none")
	}
	for i, ch := range p.cs.Changes {
		if i == maxChangesShown {
			fmt.Fprintf(w, "  … and %d more (see the patch)\n", len(p.cs.Changes)-i)
			break
		}
		fmt.Fprintln(w, "  "+changeLine(view, ch))
	}
	if n := p.cs.Ignored; n > 0 {
		fmt.Fprintf(w, "  (%d created files left out: tool caches, or ignored by the project's .gitignore)\n", n)
	}
	if p.patchErr != nil {
		fmt.Fprintf(w, "%s could not write the patch: %s\n", view.paint("1;31", "✗"), safetext.Line(p.patchErr.Error()))
		return
	}
	if len(p.cs.Applicable()) > 0 && !view.quiet {
		p.showDiff(view)
	}
	if runs := p.cs.RunningCode(); len(runs) > 0 {
		fmt.Fprintf(w, "\n%s\n", view.paint("1;33", fmt.Sprintf("⚠ %d change(s) run code on your machine when you next build, test or open the project:", len(runs))))
		for _, ch := range runs {
			fmt.Fprintf(w, "    %s: %s\n", view.paint("1;33", safetext.Name(ch.Path)), ch.RunsCode)
		}
		fmt.Fprintln(w, "  Read them in the diff before you apply.")
	}
	fmt.Fprintln(w)
}

// changeLine is one change of the list: a letter (A, M, D), the path and
// what else there is to know.
func changeLine(view *runView, ch project.Change) string {
	letter := map[project.Op]string{project.Created: "A", project.Modified: "M", project.Deleted: "D"}[ch.Op]
	s := letter + " " + safetext.Name(ch.Path)
	if ch.Target != "" {
		s += " → " + safetext.Name(ch.Target)
	}
	switch {
	case ch.OldMode != "" && ch.Op != project.Deleted:
		s += fmt.Sprintf(" (mode %s → %s)", ch.OldMode, ch.Mode)
	case ch.Op == project.Created && ch.Mode == "100755":
		s += " (executable)"
	}
	if ch.Binary {
		s += " (binary)"
	}
	if ch.Note != "" {
		s += " (" + ch.Note + ")"
	}
	switch {
	case ch.Refused != "":
		return view.paint("1;31", "✗ "+s+" · refused: "+ch.Refused)
	case ch.RunsCode != "":
		return view.paint("1;33", s+" · ⚠ runs code: "+ch.RunsCode)
	}
	return s
}

// showDiff prints the saved patch, coloured on a terminal, escaped as
// program output is, through a pager when it is long and a pager is there.
func (p *projectRun) showDiff(view *runView) {
	f, err := os.Open(p.patch)
	if err != nil {
		fmt.Fprintf(view.w, "could not read the patch: %v\n", err)
		return
	}
	defer f.Close()
	var lines []string
	size := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	binary := false
	for sc.Scan() && size < maxDiffPaged {
		l := sc.Text()
		switch {
		case l == "GIT binary patch":
			// Base-85 lines are no use to read: the patch has them.
			binary = true
			lines = append(lines, view.paint("2", "(binary contents: in the patch)"))
			continue
		case binary && !strings.HasPrefix(l, "diff --git ") && !strings.HasPrefix(l, "# "):
			continue
		}
		binary = false
		lines = append(lines, colorDiffLine(view, safetext.Output(l)))
		size += len(l) + 1
	}
	fmt.Fprintln(view.w)
	if view.tty && len(lines) > pageAfterLines && p.page(strings.Join(lines, "\n")+"\n") {
		return
	}
	for i, l := range lines {
		if i == maxDiffShown {
			fmt.Fprintf(view.w, "[… %d more lines: see the patch]\n", len(lines)-i)
			break
		}
		fmt.Fprintln(view.w, l)
	}
}

func colorDiffLine(view *runView, l string) string {
	switch {
	case strings.HasPrefix(l, "diff --git"), strings.HasPrefix(l, "--- "), strings.HasPrefix(l, "+++ "):
		return view.paint("1", l)
	case strings.HasPrefix(l, "@@"):
		return view.paint("36", l)
	case strings.HasPrefix(l, "+"):
		return view.paint("32", l)
	case strings.HasPrefix(l, "-"):
		return view.paint("31", l)
	case strings.HasPrefix(l, "#"):
		return view.paint("1;33", l)
	}
	return l
}

// page shows text through $PAGER (else less) and reports whether it could.
func (p *projectRun) page(text string) bool {
	pager := p.io.getenv("PAGER")
	if pager == "" {
		if _, err := exec.LookPath("less"); err != nil {
			return false
		}
		pager = "less"
	}
	cmd := exec.Command("sh", "-c", pager)
	cmd.Stdin = strings.NewReader(text)
	cmd.Stdout = terminalOf(p.io.Out)
	cmd.Stderr = p.io.ErrOut
	cmd.Env = os.Environ()
	if p.io.getenv("LESS") == "" {
		// Quit at once when it fits, keep the colours, leave the diff on
		// the screen for the question that follows.
		cmd.Env = append(cmd.Env, "LESS=FRX")
	}
	return cmd.Run() == nil
}

// terminalOf is the file under stdout's guard, so that a pager sees the
// terminal itself rather than a pipe.
func terminalOf(w io.Writer) io.Writer {
	if g, ok := w.(*stdoutGuard); ok {
		return g.w
	}
	return w
}

// ask asks whether to apply the changes, on the terminal.
func (p *projectRun) ask(ctx context.Context, view *runView, approved bool) bool {
	q := fmt.Sprintf("Apply these changes to %s? [y/N] ", safetext.Name(p.copy.Dir))
	if !approved {
		q = fmt.Sprintf("The reviewer did not approve this run. Apply its changes to %s anyway? [y/N] ", safetext.Name(p.copy.Dir))
	}
	fmt.Fprint(p.io.ErrOut, q)
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(p.io.In).ReadString('\n')
		answer <- strings.ToLower(strings.TrimSpace(line))
	}()
	select {
	case a := <-answer:
		return a == "y" || a == "yes"
	case <-ctx.Done():
		return false
	}
}

// batchProjects prepares the tasks of a batch that name a "project": each
// works on its own copy (a relative path is from the tasks file's
// directory), carries the overview in its first message, and its results
// line gets a "changes" summary and the patch beside its transcript. skip
// are agentteam's own directories, never copied. A batch applies nothing:
// the patches are for a person to read and apply.
func batchProjects(tasksFile string, skip []string, sb *sandboxes, guide string) func(context.Context, taskrun.Item, string, string) (taskrun.Prepared, error) {
	return func(ctx context.Context, it taskrun.Item, dir, transcriptPath string) (taskrun.Prepared, error) {
		if it.Project == "" {
			return taskrun.Prepared{Text: it.Text}, nil
		}
		src := it.Project
		if !filepath.IsAbs(src) {
			src = filepath.Join(filepath.Dir(tasksFile), src)
		}
		uid, gid := -1, -1
		if sb.Owner != nil {
			uid, gid = sb.Owner()
		}
		c, err := project.CopyIn(ctx, src, dir, project.CopyOptions{UID: uid, GID: gid, Skip: skip})
		if err != nil {
			return taskrun.Prepared{}, err
		}
		p := &projectRun{copy: c, task: c.Prompt(it.Text, guide), patch: strings.TrimSuffix(transcriptPath, ".transcript.jsonl") + ".patch"}
		return taskrun.Prepared{Text: p.task, Extra: p.extra(), Finish: p.finish(ctx), Record: func() map[string]any {
			return map[string]any{"changes": p.summary()}
		}}, nil
	}
}

// summary is the change set in a batch's results line: counts, the paths
// that run code, and the patch.
func (p *projectRun) summary() map[string]any {
	if p.cs == nil && p.csErr == nil {
		return map[string]any{"error": "the team did not run to its end"}
	}
	rec := p.record()
	r := map[string]any{}
	for _, k := range []string{"patch", "error", "conflicts", "runs_code"} {
		if v, ok := rec[k]; ok {
			r[k] = v
		}
	}
	if p.cs == nil {
		return r
	}
	counts := map[project.Op]int{}
	refused := 0
	for _, ch := range p.cs.Changes {
		if ch.Refused != "" {
			refused++
		} else {
			counts[ch.Op]++
		}
	}
	r["created"], r["modified"], r["deleted"], r["refused"] = counts[project.Created], counts[project.Modified], counts[project.Deleted], refused
	return r
}
