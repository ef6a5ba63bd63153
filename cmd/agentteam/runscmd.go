package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/taskrun"
	"github.com/agentteam/agentteam/transcript"
	"github.com/agentteam/agentteam/workspace"
)

// RunsOptions are the inputs of `agentteam runs` and its subcommands.
type RunsOptions struct {
	IO        IO
	JSON      bool
	Force     bool          // rm: a run that looks still running too
	DryRun    bool          // prune: list, remove nothing
	OlderThan time.Duration // prune
	now       func() time.Time
}

func newRunsCmd(f *Factory) *cobra.Command {
	opts := &RunsOptions{IO: f.IO, now: time.Now}
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List, show and remove the runs under ./.agentteam/runs",
		Long: `Lists the runs under ./.agentteam/runs, and the tasks of its batch-NAME
directories, newest first: when, the task's first line, status (approved, not
approved, error, interrupted: stopped by Ctrl-C or its process killed, running:
its process is alive), turns, tokens and where. RUN is an ID as listed, or the path of a run's directory or
transcript.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runRunsList(opts) },
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON object per run")

	show := &cobra.Command{
		Use:   "show RUN",
		Short: "Show a run's conversation from its transcript (nothing is executed)",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE:  func(cmd *cobra.Command, args []string) error { return runRunsShow(opts, args[0]) },
	}
	rm := &cobra.Command{
		Use:   "rm RUN...",
		Short: "Remove runs: their workspaces and transcripts",
		Args:  usageArgs(cobra.MinimumNArgs(1)),
		RunE:  func(cmd *cobra.Command, args []string) error { return runRunsRm(cmd.Context(), opts, args) },
	}
	rm.Flags().BoolVar(&opts.Force, "force", false, "also remove a run that is still running")
	prune := &cobra.Command{
		Use:   "prune --older-than AGE",
		Short: "Remove the runs last changed more than AGE ago",
		Long: `Removes the runs (and batch tasks) whose transcript or directory was last
changed more than AGE ago. AGE is days (7d), a duration (36h, 90m) or seconds
(3600).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runRunsPrune(cmd.Context(), opts) },
	}
	prune.Flags().Var((*ageFlag)(&opts.OlderThan), "older-than", "remove runs last changed longer ago than this: 7d, 36h, 3600 (required)")
	prune.Flags().BoolVar(&opts.DryRun, "dry-run", false, "list what would be removed, remove nothing")
	cmd.AddCommand(show, rm, prune)
	return cmd
}

// root is the runs directory; it is not created.
func (opts *RunsOptions) root() string { return filepath.Join(opts.IO.Dir, defaultRunsDir) }

func runRunsList(opts *RunsOptions) error {
	runs, err := listRuns(opts.root())
	if err != nil {
		return err
	}
	w := opts.IO.Out
	if opts.JSON {
		enc := json.NewEncoder(w)
		for _, r := range runs {
			if err := enc.Encode(r); err != nil {
				return fmt.Errorf("write runs: %w", err)
			}
		}
		return nil
	}
	if len(runs) == 0 {
		fmt.Fprintf(opts.IO.ErrOut, "no runs under %s\n", safetext.Name(opts.root()))
		return nil
	}
	for _, r := range runs {
		task := safetext.Output(r.Task)
		if n := []rune(task); len(n) > 50 {
			task = string(n[:49]) + "…"
		}
		fmt.Fprintf(w, "%s  %-13s %3d turns %7d tok  %s\n    %s\n", r.Time.Local().Format("2006-01-02 15:04"), r.Status, r.Turns, r.Tokens,
			task, safetext.Name(r.ID))
	}
	return nil
}

// findRun is the listed run that arg names: its ID, or the path of its
// directory or transcript. Only listed runs are found, so nothing outside
// the runs directory, and no symlink, can be named.
func findRun(root, arg string) (runInfo, error) {
	runs, err := listRuns(root)
	if err != nil {
		return runInfo{}, err
	}
	abs, _ := filepath.Abs(arg)
	same := func(p string) bool { // root may be relative: the working directory
		a, err := filepath.Abs(p)
		return p != "" && err == nil && a == abs
	}
	for _, r := range runs {
		if r.ID == strings.TrimSuffix(arg, transcriptSuffix) || (abs != "" && (same(r.Workspace) || same(r.Transcript))) {
			return r, nil
		}
	}
	return runInfo{}, usageError("no run %s under %s (agentteam runs lists them)", safetext.Name(arg), safetext.Name(root))
}

func runRunsShow(opts *RunsOptions, arg string) error {
	r, err := findRun(opts.root(), arg)
	if err != nil {
		return err
	}
	if r.Transcript == "" {
		return &exitError{code: ExitFailure, err: fmt.Errorf("show run: %s has no transcript", safetext.Name(r.ID))}
	}
	view := newRunView(opts.IO, false, false)
	for _, e := range readTranscriptBounded(r.Transcript) {
		switch e.Type {
		case taskrun.EventTask:
			if e.Extra[taskrun.ExtraContinuation] == true {
				fmt.Fprintln(opts.IO.Out, "\n── continued "+strings.Repeat("─", 28))
			}
			view.Message(agents.Message{Agent: agents.UserName, Content: e.Content})
		case taskrun.EventMessage:
			view.Message(agents.Message{Agent: e.Agent, Content: e.Content})
		case taskrun.EventResult:
			line := resultStatus(e)
			if e.Content != "" {
				line += " · " + e.Content
			}
			if e.Error != "" {
				line += " · " + e.Error
			}
			fmt.Fprintf(opts.IO.Out, "\n%s\n", safetext.Output(line))
		}
	}
	fmt.Fprintf(opts.IO.Out, "\n%s  %d turns  %d tokens\n", r.Status, r.Turns, r.Tokens)
	if r.Workspace != "" {
		fmt.Fprintf(opts.IO.Out, "workspace %s\n", safetext.Name(r.Workspace))
	}
	return nil
}

func runRunsRm(ctx context.Context, opts *RunsOptions, args []string) error {
	var targets []runInfo
	for _, a := range args {
		r, err := findRun(opts.root(), a)
		if err != nil {
			return err
		}
		if r.Status == runRunning && !opts.Force {
			return usageError("run %s is still running (its process is alive): add --force to remove it anyway", safetext.Name(r.ID))
		}
		targets = append(targets, r)
	}
	for _, r := range targets {
		if err := removeRun(ctx, r); err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.Out, "removed %s\n", safetext.Name(r.ID))
	}
	return nil
}

func runRunsPrune(ctx context.Context, opts *RunsOptions) error {
	if opts.OlderThan <= 0 {
		return usageError("prune needs --older-than AGE (7d, 36h, 3600)")
	}
	runs, err := listRuns(opts.root())
	if err != nil {
		return err
	}
	cutoff, n := opts.now().Add(-opts.OlderThan), 0
	for _, r := range runs {
		if !lastChange(r).Before(cutoff) {
			continue
		}
		n++
		if opts.DryRun {
			fmt.Fprintf(opts.IO.Out, "would remove %s\n", safetext.Name(r.ID))
			continue
		}
		if err := removeRun(ctx, r); err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.Out, "removed %s\n", safetext.Name(r.ID))
	}
	verb := "removed"
	if opts.DryRun {
		verb = "would be removed (dry run: none was)"
	}
	fmt.Fprintf(opts.IO.ErrOut, "%d run(s) %s\n", n, verb)
	return nil
}

// lastChange is when r's transcript or directory last changed: a run
// still going keeps its transcript fresh, so prune leaves it alone.
func lastChange(r runInfo) time.Time {
	var t time.Time
	for _, p := range []string{r.Transcript, r.Workspace} {
		if fi, err := os.Lstat(p); p != "" && err == nil && fi.ModTime().After(t) {
			t = fi.ModTime()
		}
	}
	return t
}

// removeRun removes r's workspace (whatever modes the sandbox left in it,
// following no symlink) and then its transcript and patch.
func removeRun(ctx context.Context, r runInfo) error {
	if r.Workspace != "" {
		fi, err := os.Lstat(r.Workspace)
		if err != nil || !fi.IsDir() { // a directory then, not now: leave it
			return fmt.Errorf("remove run %s: its directory changed", safetext.Name(r.ID))
		}
		ws, err := workspace.Open(r.Workspace)
		if err != nil {
			return fmt.Errorf("remove run: %w", err)
		}
		// Directories the sandbox left unreadable are opened up first, so
		// the removal can enter them.
		_, serr := ws.Sanitize(ctx, 0o755)
		_, rerr := ws.RemoveNew(ctx, nil, 0)
		ws.Close()
		if err := os.Remove(r.Workspace); err != nil {
			return fmt.Errorf("remove run %s: %w", safetext.Name(r.ID), cmpErr(rerr, serr, err))
		}
	}
	if r.Transcript != "" {
		base := strings.TrimSuffix(r.Transcript, transcriptSuffix)
		for _, p := range []string{r.Transcript, base + ".patch", r.Transcript + ".patch"} {
			if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("remove run %s: %w", safetext.Name(r.ID), err)
			}
		}
	}
	return nil
}

// cmpErr is the first non-nil error: the cause before its consequence.
func cmpErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// ageFlag is a duration that also takes whole days (7d), as ages of runs
// are counted in days; plain numbers are seconds, as in every other flag.
type ageFlag time.Duration

func (a *ageFlag) String() string {
	if *a == 0 {
		return ""
	}
	return time.Duration(*a).String()
}

func (a *ageFlag) Type() string { return "age" }

func (a *ageFlag) Set(v string) error {
	d, err := parseAge(v)
	if err != nil {
		return fmt.Errorf("want days (7d), a duration (36h) or seconds: %w", err)
	}
	*a = ageFlag(d)
	return nil
}

func parseAge(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 || n > 100*365 {
			return 0, fmt.Errorf("invalid days %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return parseDuration(s)
}

// priorRun is the run that `run --continue` goes on with.
type priorRun struct {
	dir, transcript string
	history         []agents.Message
}

// loadPriorRun finds the run arg names and reads its conversation back:
// the tasks (the first and any follow-ups) and the agents' messages.
func loadPriorRun(s IO, arg string) (*priorRun, error) {
	root := filepath.Join(s.Dir, defaultRunsDir)
	r, err := findRun(root, arg)
	if err != nil {
		return nil, err
	}
	switch {
	case r.Transcript == "":
		return nil, usageError("run %s has no transcript to continue from", safetext.Name(r.ID))
	case r.Status == runRunning:
		return nil, usageError("run %s is still running: wait for it to end, or stop it, then continue it", safetext.Name(r.ID))
	}
	events, err := transcript.ReadFile(r.Transcript)
	if err != nil && len(events) == 0 {
		return nil, fmt.Errorf("continue run: %w", err)
	}
	// A torn last line lost at most the event being written; the rest is
	// the conversation.
	p := &priorRun{dir: strings.TrimSuffix(r.Transcript, transcriptSuffix), transcript: r.Transcript}
	for _, e := range events {
		switch e.Type {
		case taskrun.EventTask:
			p.history = append(p.history, agents.Message{Agent: agents.UserName, Content: e.Content})
		case taskrun.EventMessage:
			p.history = append(p.history, agents.Message{Agent: e.Agent, Content: e.Content, Declined: declinedBlocks(e)})
		}
	}
	if len(p.history) == 0 {
		return nil, usageError("run %s records no task to continue", safetext.Name(r.ID))
	}
	return p, nil
}

// declinedBlocks are the blocks a message event says the user declined.
func declinedBlocks(e transcript.Event) []int {
	list, _ := e.Extra[taskrun.ExtraDeclined].([]any)
	var out []int
	for _, v := range list {
		if n, ok := v.(float64); ok {
			out = append(out, int(n))
		}
	}
	return out
}

// messages is the conversation to continue; nil when there is none.
func (p *priorRun) messages() []agents.Message {
	if p == nil {
		return nil
	}
	return p.history
}
