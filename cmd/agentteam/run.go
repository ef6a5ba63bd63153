package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/replay"
	"github.com/agentteam/agentteam/prompts"
	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/sandbox/docker"
	"github.com/agentteam/agentteam/taskrun"
	"github.com/agentteam/agentteam/transcript"
)

// RunOptions are the inputs of `agentteam run`.
type RunOptions struct {
	IO     IO
	Report bool // write the HTML report at the end
	f      *Factory
	// summarized: the run's result went out (with --json, its last line).
	summarized bool
	teamOptions
	replayFlags
	projectFlags
	Workspace  string
	Transcript string
	JSON       bool
	Quiet      bool
	Approve    bool
	Yes        bool
	Continue   string // a run to continue: its ID or path
	Task       []string
}

func newRunCmd(f *Factory) *cobra.Command {
	opts := &RunOptions{IO: f.IO, f: f}
	cmd := &cobra.Command{
		Use:   "run [flags] TASK...|-\n  agentteam run --continue RUN [FOLLOW-UP...|-]",
		Short: "Run the coder, executor and reviewer on a task until the reviewer approves",
		Long: `Runs a team on TASK (or on standard input with -): the coder writes code, the
executor runs its code blocks in the hardened sandbox, the reviewer checks the
results; they take turns until the reviewer answers APPROVE on a line of its own
or a limit stops them. Every run writes a transcript that --replay can play
back with no network; with --replay and no TASK, the recorded task is used,
and without --max-turns or --token-budget the recorded limits, so that the
replay ends as the recorded run did.

The models: OpenAI's by default, with the key in OPENAI_API_KEY; or a local
server (--provider ollama, vllm, llamacpp, lmstudio) or any OpenAI-compatible
one (--base-url). Every setting can also come from a .env file in the current
directory (see .env.example); the environment wins over it, a flag over both.

With --continue RUN (an ID from agentteam runs, or a run's path) the team
continues that finished or interrupted conversation in the same workspace:
the agents see every earlier message, then FOLLOW-UP (default: "Continue
where you left off."). Its events are appended to the run's transcript after
a task event marked continuation.

With --approve, each block is shown before it runs, and you answer y (run it),
n (do not, then an optional note for the coder), a (run it and the rest of the
message) or q (stop the run). A reviewer's APPROVE does not end the run while
a block you declined is the last word on code: code must run again first.

Exit status: 0 approved, 3 stopped without approval (max turns, timeout, token
budget, q at --approve), 1 an error (model, no key, ...), 2 usage error, 4 the
sandbox cannot run, 130 interrupted, 141 stdout closed (| head; it stops as on
Ctrl-C).`,
		Args: usageArgs(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Task = args
			err := runRun(cmd.Context(), opts)
			if err != nil && opts.JSON && !opts.summarized {
				// Every end has its result line, one that came before the
				// team started too (no key, a bad setting, no engine).
				code, line := exitStatus(cmd.Context(), err)
				newRunView(opts.IO, true, false).Summary(RunSummary{Type: taskrun.EventResult, StopReason: "error", Error: line, ExitCode: code})
			}
			return err
		},
	}
	opts.teamOptions.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&opts.Workspace, "workspace", "", "workspace directory (default: a new one under ./.agentteam/runs)")
	opts.replayFlags.register(cmd, "answer every model call from this recorded transcript (no network, no key)")
	fl.StringVar(&opts.Transcript, "transcript", "", "where to write the transcript (default: WORKSPACE.transcript.jsonl, beside the workspace)")
	fl.BoolVar(&opts.JSON, "json", false, "print one JSON object per event on stdout, the last a result")
	fl.BoolVar(&opts.Quiet, "quiet", false, "print only the summary")
	fl.BoolVar(&opts.Approve, "approve", false, "show each block and ask before running it: yes, no (with a note to the coder), all remaining, quit (needs a terminal)")
	fl.BoolVar(&opts.Yes, "yes", false, "with --approve: run without asking (for use without a terminal)")
	fl.BoolVar(&opts.Report, "report", false, "also write an HTML report of the run beside its transcript and print its path (agentteam report does it later)")
	fl.StringVar(&opts.Continue, "continue", "", "continue the conversation of this run (see agentteam runs) with the arguments as the follow-up")
	opts.projectFlags.register(fl)
	return cmd
}

func runRun(ctx context.Context, opts *RunOptions) error {
	if err := opts.check(); err != nil {
		return err
	}
	var rp *replay.Replay
	if opts.Replay != "" {
		var err error
		if rp, err = replay.Load(opts.Replay, opts.replayOptions()...); err != nil {
			return usageError("replay: %v", err)
		}
	}
	task, err := opts.task(ctx)
	if err != nil {
		return err
	}
	if rp != nil {
		if opts.MaxTurns, opts.TokenBudget, err = recordedLimits(opts.Replay, opts.teamOptions.changed, opts.MaxTurns, opts.TokenBudget); err != nil {
			return err
		}
		if err := opts.teamOptions.check(); err != nil {
			return err
		}
	}
	var prior *priorRun
	if opts.Continue != "" {
		if prior, err = loadPriorRun(opts.IO, opts.Continue); err != nil {
			return err
		}
		opts.Workspace, opts.Transcript = prior.dir, prior.transcript
	}
	runner, err := opts.teamOptions.runner(ctx, opts.f, opts.Replay != "")
	if err != nil {
		return err
	}
	sb, err := opts.f.OpenSandbox(ctx, runner.sandboxRequest(opts.f))
	if err != nil {
		return err
	}
	defer sb.Close(context.WithoutCancel(ctx))
	coder, reviewer := runner.models(rp)

	reused := isDir(opts.Workspace) // the user's directory, or the run continued
	ws, err := openWorkspace(opts.IO, opts.Workspace, slug(task))
	if err != nil {
		return err
	}
	dir := ws.Dir()
	ws.Close()
	path := opts.Transcript
	if path == "" {
		// Beside the workspace, not in it: a block can neither read nor
		// delete the record of its own run.
		path = dir + ".transcript.jsonl"
	}
	rec, err := openRunRecord(path, opts.Transcript != "", prior != nil)
	if err != nil {
		return err
	}
	defer rec.close()
	path = rec.path
	proj, err := startProject(ctx, opts, sb, dir, task, path, runner.team.Prompts.Project)
	if err != nil {
		return err
	}
	if proj != nil {
		task = proj.task
	}
	var reusedDir *userDir
	if reused {
		owner := sb.Owner
		if prior != nil {
			owner = nil // a run directory of agentteam's own, not the user's
		}
		if reusedDir, err = openUserDir(ctx, dir, owner, int(runner.cfg.WorkspaceEntries)); err != nil {
			return err
		}
	}
	slog.Debug("starting the team", "workspace", dir, "transcript", path, "coder_model", runner.team.CoderModel,
		"reviewer_model", runner.team.ReviewerModel, "max_turns", runner.team.MaxTurns, "endpoint", endpointOf(runner.backend))
	view := newRunView(opts.IO, opts.JSON, opts.Quiet)
	view.line = opts.f.line
	coder, reviewer = view.watch(taskrun.Coder, coder), view.watch(taskrun.Reviewer, reviewer)
	cfg := runner.team
	if opts.Approve && !opts.Yes {
		cfg.Approve = terminalApprover(opts.IO, view)
	}
	out, runErr := taskrun.Run(ctx, sb, cfg, taskrun.Task{Text: task, Dir: dir, Transcript: path, Coder: coder, Reviewer: reviewer,
		Observer: view, Extra: proj.extra(), Finish: proj.finish(ctx), History: prior.messages(), ResultExtra: func(o taskrun.Outcome) map[string]any {
			return map[string]any{"exit_code": taskExitCode(ctx)(o)}
		}})
	out.Err = runErr
	teamMade, told := reusedDir.finish(ctx)
	if told {
		out.Files, out.FilesOmitted = teamMade.files, teamMade.omitted
	}
	// A run that never got a reply (model unreachable, Ctrl-C at once)
	// leaves no empty directory, only its transcript saying why.
	if out.Turns == 0 && proj == nil && opts.Workspace == "" && removeIfEmpty(dir) {
		out.Workspace = ""
	}
	sum := runSummary(ctx, out)
	sum.FilesDeleted, sum.FilesExisting = teamMade.deleted, teamMade.existing
	if opts.Report {
		defer writeReportAfter(ctx, opts.IO, path, out.Workspace)
	}
	opts.summarized = true
	if proj != nil {
		return proj.conclude(ctx, view, sum, runErr)
	}
	view.Summary(sum)
	if runErr != nil {
		return onceSaid(runErr, opts.JSON, sum.ExitCode)
	}
	if sum.ExitCode != ExitOK {
		return &exitError{code: sum.ExitCode}
	}
	return nil
}

// onceSaid is the error to return once the summary has said err: nothing
// more to print, but the exit status, unless the summary went out as JSON
// (stdout), when stderr still gets its one line.
func onceSaid(err error, json bool, code int) error {
	if json {
		return err
	}
	return &exitError{code: code}
}

// taskExitCode gives a finished task's exit status, as run's would be.
func taskExitCode(ctx context.Context) func(taskrun.Outcome) int {
	return func(o taskrun.Outcome) int {
		code, _ := outcomeStatus(ctx, o)
		return code
	}
}

// outcomeStatus is a task's exit status and the line that says why.
func outcomeStatus(ctx context.Context, o taskrun.Outcome) (int, string) {
	switch o.Status {
	case taskrun.Approved:
		return ExitOK, ""
	case taskrun.NotApproved:
		return ExitNotApproved, ""
	}
	if o.Err == nil {
		return ExitFailure, ""
	}
	return exitStatus(ctx, o.Err)
}

// runSummary is what a run prints last.
func runSummary(ctx context.Context, o taskrun.Outcome) RunSummary {
	sum := RunSummary{Type: taskrun.EventResult, Approved: o.Status == taskrun.Approved, StopReason: o.StopReason, Turns: o.Turns,
		Usage: o.Usage, DurationMS: o.Duration.Milliseconds(), Workspace: o.Workspace, Transcript: o.Transcript,
		Files: o.Files, FilesOmitted: o.FilesOmitted, LastExitCode: o.LastExitCode, Engine: o.Engine}
	sum.ExitCode, sum.Error = outcomeStatus(ctx, o)
	return sum
}

// teamOptions are the settings `run` and `batch` share.
type teamOptions struct {
	Models        modelFlags
	Sandbox       sandboxFlags
	Agents        settingFlags // the coder's and the reviewer's models
	MaxTurns      int
	Timeout       time.Duration
	TokenBudget   int
	HistoryBudget int
	Prompts       string
	// changed says whether a flag was given (a replay takes the recorded
	// limits of those that were not).
	changed func(name string) bool
}

func (o *teamOptions) register(cmd *cobra.Command) {
	f := cmd.Flags()
	o.changed = f.Changed
	o.Agents.add(f, "AGENTTEAM_CODER_MODEL")
	o.Agents.add(f, "AGENTTEAM_REVIEWER_MODEL")
	o.Agents.add(f, "AGENTTEAM_REVIEWER_VISION")
	f.IntVar(&o.MaxTurns, "max-turns", 12, "stop after this many agent turns")
	f.Var((*durationFlag)(&o.Timeout), "timeout", "stop a team after this long: seconds (600) or a duration (10m) (default: no limit)")
	f.IntVar(&o.TokenBudget, "token-budget", 0, "stop a team once its models reported this many tokens (default: no limit)")
	f.IntVar(&o.HistoryBudget, "history-budget", 24000, "estimated tokens of history above which old execution reports are shortened")
	f.StringVar(&o.Prompts, "prompts", "", "directory with coder.md, reviewer.md and/or project.md overriding the built-in prompts")
	o.Models.register(f)
	o.Sandbox.registerAs(f, "exec-timeout")
}

func (o *teamOptions) check() error {
	switch {
	case o.MaxTurns < 1:
		return usageError("invalid --max-turns %d: want 1 or more", o.MaxTurns)
	case o.TokenBudget < 0:
		return usageError("invalid --token-budget %d: want 0 (no limit) or more", o.TokenBudget)
	case o.HistoryBudget < 0:
		return usageError("invalid --history-budget %d: want 0 (never shorten) or more", o.HistoryBudget)
	}
	return nil
}

// teamRunner holds what the teams of a run or a batch share.
type teamRunner struct {
	team    taskrun.Team
	cfg     docker.Config
	host    string      // DOCKER_HOST from the environment or .env
	backend model.Model // nil when replaying
}

// runner resolves the settings, the prompts and the model backend (unless
// replaying) before anything is written or started.
func (o *teamOptions) runner(ctx context.Context, f *Factory, replaying bool) (*teamRunner, error) {
	st, err := f.Settings()
	if err != nil {
		return nil, err
	}
	cfg, err := o.Sandbox.config(st)
	if err != nil {
		return nil, err
	}
	pr, err := prompts.Load(o.Prompts)
	if err != nil {
		return nil, usageError("%v", err)
	}
	coder, reviewer := st.agentModels(o.Agents)
	vision, err := st.reviewerVision(o.Agents)
	if err != nil {
		return nil, err
	}
	r := &teamRunner{cfg: cfg, host: dockerHost(st), team: taskrun.Team{CoderModel: coder, ReviewerModel: reviewer, ReviewerVision: vision,
		MaxTurns: o.MaxTurns, Timeout: o.Timeout, TokenBudget: o.TokenBudget, HistoryBudget: o.HistoryBudget, Prompts: pr}}
	if !replaying {
		ms, err := o.Models.models(f, st, slog.Default())
		if err != nil {
			return nil, err
		}
		r.backend, r.team.Temperature, r.team.MaxTokens = ms.backend, ms.temperature, ms.maxTokens
	}
	endpoint := endpointOf(r.backend) // "" for a replay: it has none
	r.team.Explain = func(err error, coder, reviewer string) error {
		return explainModelError(err, map[string]string{taskrun.Coder: coder, taskrun.Reviewer: reviewer}, endpoint)
	}
	return r, nil
}

// sandboxRequest is the sandbox of a run: one engine, no pool.
func (r *teamRunner) sandboxRequest(*Factory) sandboxRequest {
	return sandboxRequest{Config: r.cfg, DefaultHost: r.host}
}

// models returns the coder's and the reviewer's models: the replay's, or
// the backend.
func (r *teamRunner) models(rp *replay.Replay) (model.Model, model.Model) {
	if rp != nil {
		return rp.Model(taskrun.Coder), rp.Model(taskrun.Reviewer)
	}
	return r.backend, r.backend
}

// check rejects contradictory flags before anything starts.
func (opts *RunOptions) check() error {
	if err := opts.teamOptions.check(); err != nil {
		return err
	}
	if err := opts.replayFlags.check(); err != nil {
		return err
	}
	if err := opts.projectFlags.check(opts.IO, opts.Workspace); err != nil {
		return err
	}
	switch {
	case opts.JSON && opts.Quiet:
		return usageError("--json and --quiet do not go together")
	case opts.Continue != "" && (opts.Workspace != "" || opts.Transcript != "" || opts.Replay != "" || opts.Project != ""):
		return usageError("--continue goes on in the run's own workspace and transcript: without --workspace, --transcript, --replay and --project")
	case opts.Approve && !opts.Yes && !opts.IO.InIsTTY:
		return usageError("--approve asks on a terminal, and standard input is not one: add --yes to run without asking")
	}
	return nil
}

// replayFlags are --replay and --replay-ignore-output, which run and batch
// share.
type replayFlags struct {
	Replay string // a transcript (run), a directory of them (batch)
	// IgnoreOutput lets program output differ from the recording.
	IgnoreOutput bool
}

func (r *replayFlags) register(cmd *cobra.Command, replayHelp string) {
	f := cmd.Flags()
	f.StringVar(&r.Replay, "replay", "", replayHelp)
	f.BoolVar(&r.IgnoreOutput, "replay-ignore-output", false,
		"with --replay: let the program output in the executor's reports differ from the recording (code that prints times or random numbers)")
}

func (r replayFlags) check() error {
	if r.IgnoreOutput && r.Replay == "" {
		return usageError("--replay-ignore-output goes with --replay")
	}
	return nil
}

// replayOptions are the replay options the flags ask for.
func (r replayFlags) replayOptions() []replay.Option {
	if r.IgnoreOutput {
		return []replay.Option{replay.IgnoreProgramOutput()}
	}
	return nil
}

// task is the task from the arguments, standard input, or the replayed
// transcript.
func (opts *RunOptions) task(ctx context.Context) (string, error) {
	task := strings.TrimSpace(strings.Join(opts.Task, " "))
	if task == "-" {
		data, err := readInput(ctx, opts.IO, "task", 1<<20)
		if err != nil {
			return "", err
		}
		task = strings.TrimSpace(data)
	}
	if task == "" && opts.Replay != "" {
		e, err := recordedTask(opts.Replay)
		if err != nil {
			return "", err
		}
		if e == nil {
			return "", usageError("replay: %s records no task; give the task as arguments", opts.Replay)
		}
		return e.Content, nil
	}
	if task == "" && opts.Continue != "" {
		return "Continue where you left off.", nil
	}
	if task == "" {
		return "", usageError("no task: give it as arguments, or - to read it from standard input")
	}
	return task, nil
}

// recordedTask is the first task event of a transcript; nil when it has
// none.
func recordedTask(path string) (*transcript.Event, error) {
	events, err := transcript.ReadFile(path)
	if err != nil {
		return nil, usageError("replay: %v", err)
	}
	for _, e := range events {
		if e.Type == taskrun.EventTask {
			return &e, nil
		}
	}
	return nil, nil
}

// recordedLimits is the turn limit and the token budget recorded in the
// transcript at path, where a flag (changed) did not give them: a replay
// then stops where the recorded run stopped, the same way, instead of
// asking for a reply the recording does not have. A transcript that
// records none keeps maxTurns and tokenBudget.
func recordedLimits(path string, changed func(string) bool, maxTurns, tokenBudget int) (int, int, error) {
	e, err := recordedTask(path)
	if err != nil || e == nil {
		return maxTurns, tokenBudget, err
	}
	for _, l := range []struct {
		flag, key string
		v         *int
	}{{"max-turns", taskrun.ExtraMaxTurns, &maxTurns}, {"token-budget", taskrun.ExtraTokenBudget, &tokenBudget}} {
		if changed != nil && changed(l.flag) {
			continue
		}
		if n, ok := e.Extra[l.key].(float64); ok && n >= 0 && n == float64(int(n)) {
			*l.v = int(n)
		}
	}
	return maxTurns, tokenBudget, nil
}

// terminalApprover shows each block on the terminal (stderr) before it
// runs and asks what to do with it: run it, decline it with an optional
// note to the coder, run it and the rest of the message, or quit the run.
// The end of standard input quits: a closed terminal says no more.
func terminalApprover(s IO, view *runView) agents.Approver {
	in := &lineReader{r: s.In}
	w := s.ErrOut
	return func(ctx context.Context, ask agents.Ask) (agents.Decision, error) {
		view.mu.Lock()
		defer view.mu.Unlock()
		if !view.json && !view.quiet {
			view.turnOf(taskrun.Executor) // the question under the executor's header
		}
		b := ask.Block
		number := fmt.Sprintf("block %d of %d", b.Index+1, ask.Blocks)
		rest := strings.TrimPrefix(blockLabel(b), fmt.Sprintf("block %d", b.Index+1))
		fmt.Fprintf(w, "\n── %s%s ──\n%s\n", number, rest, safetext.Output(strings.TrimRight(b.Code, "\n")))
		question := "Run " + number + "?"
		if b.SaveOnly() {
			question = "Save " + number + " as " + safetext.Name(b.Filename) + "?"
		}
		choices := " [y]es / [n]o / [a]ll remaining / [q]uit run: "
		if ask.Left == 0 {
			choices = " [y]es / [n]o / [q]uit run: "
		}
		for {
			fmt.Fprint(w, question+choices)
			line, err := in.readLine(ctx)
			switch {
			case errors.Is(err, io.EOF) && line == "":
				fmt.Fprintln(w, "\nNo answer (end of input): stopping the run.")
				return agents.Decision{Action: agents.Quit}, nil
			case err != nil && !errors.Is(err, io.EOF):
				fmt.Fprintln(w)
				return agents.Decision{}, err
			}
			switch strings.ToLower(strings.TrimSpace(line)) {
			case "y", "yes":
				return agents.Decision{Action: agents.Run}, nil
			case "a", "all":
				return agents.Decision{Action: agents.RunRest}, nil
			case "q", "quit":
				fmt.Fprintln(w, "Stopping the run: nothing more runs.")
				return agents.Decision{Action: agents.Quit}, nil
			case "n", "no":
				fmt.Fprint(w, "Note for the coder (why not, or what to do instead; Enter for none): ")
				note, err := in.readLine(ctx)
				if err != nil && !errors.Is(err, io.EOF) {
					fmt.Fprintln(w)
					return agents.Decision{}, err
				}
				return agents.Decision{Action: agents.Decline, Note: strings.TrimSpace(note)}, nil
			}
			fmt.Fprintln(w, "Answer y to run it, n not to, a to run it and the rest of this message, q to stop the run.")
		}
	}
}

// lineReader reads answers from the terminal a line at a time. It reads
// byte by byte, so that nothing past the line is taken from later
// questions (the project's "Apply these changes?"), and at most one read
// is in flight: a read left waiting by a cancelled question is the next
// question's.
type lineReader struct {
	r       io.Reader
	pending chan lineRead
}

type lineRead struct {
	line string
	err  error
}

// maxAnswer bounds a line kept from the terminal; the rest of a longer
// line is read and dropped.
const maxAnswer = 4096

func (l *lineReader) readLine(ctx context.Context) (string, error) {
	if l.pending == nil {
		ch := make(chan lineRead, 1)
		go func() {
			var line []byte
			var b [1]byte
			for {
				n, err := l.r.Read(b[:])
				if n == 1 && b[0] == '\n' {
					ch <- lineRead{line: strings.TrimSuffix(string(line), "\r")}
					return
				}
				if n == 1 && len(line) < maxAnswer {
					line = append(line, b[0])
				}
				if err != nil {
					ch <- lineRead{line: string(line), err: err}
					return
				}
			}
		}()
		l.pending = ch
	}
	select {
	case r := <-l.pending:
		l.pending = nil
		return r.line, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
