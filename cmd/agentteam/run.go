package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/agents/codeblock"
	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/replay"
	"github.com/agentteam/agentteam/prompts"
	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/docker"
	"github.com/agentteam/agentteam/team"
	"github.com/agentteam/agentteam/transcript"
	"github.com/agentteam/agentteam/workspace"
)

// Agent names of the default team.
const (
	coderName    = "coder"
	executorName = "executor"
	reviewerName = "reviewer"
)

// Transcript event types the run adds to the model layer's.
const (
	eventTask    = "task"
	eventMessage = "message"
	eventResult  = "result"
)

// RunOptions are the inputs of `agentteam run`.
type RunOptions struct {
	IO IO
	teamOptions
	replayFlags
	Workspace  string
	Transcript string
	JSON       bool
	Quiet      bool
	Approve    bool
	Yes        bool
	Task       []string
}

func newRunCmd(s IO) *cobra.Command {
	opts := &RunOptions{IO: s}
	cmd := &cobra.Command{
		Use:   "run [flags] TASK...|-",
		Short: "Run the coder, executor and reviewer on a task until the reviewer approves",
		Long: `Runs a team on TASK (or on standard input with -): the coder writes code, the
executor runs its code blocks in the hardened sandbox, the reviewer checks the
results; they take turns until the reviewer answers APPROVE on a line of its own
or a limit stops them. Every run writes a transcript that --replay can play
back with no network; with --replay and no TASK, the recorded task is used.

Exit status: 0 approved, 3 stopped without approval (max turns, timeout, token
budget), 1 an error (model, no key, ...), 2 usage error, 4 the sandbox cannot
run, 130 interrupted, 141 stdout closed (| head; it stops as on Ctrl-C).`,
		Args: usageArgs(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Task = args
			opts.resolveModels(cmd, s)
			return runRun(cmd.Context(), opts)
		},
	}
	opts.teamOptions.register(cmd)
	f := cmd.Flags()
	f.StringVar(&opts.Workspace, "workspace", "", "workspace directory (default: a new one under ./workspace)")
	opts.replayFlags.register(cmd, "answer every model call from this recorded transcript (no network, no key)")
	f.StringVar(&opts.Transcript, "transcript", "", "where to write the transcript (default: WORKSPACE.transcript.jsonl, beside the workspace)")
	f.BoolVar(&opts.JSON, "json", false, "print one JSON object per event on stdout, the last a result")
	f.BoolVar(&opts.Quiet, "quiet", false, "print only the summary")
	f.BoolVar(&opts.Approve, "approve", false, "show each message's code and ask before running it (needs a terminal)")
	f.BoolVar(&opts.Yes, "yes", false, "with --approve: run without asking (for use without a terminal)")
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
	task, err := opts.task()
	if err != nil {
		return err
	}
	runner, err := opts.teamOptions.runner(ctx, opts.IO, opts.Replay != "")
	if err != nil {
		return err
	}
	defer runner.docker.Close()
	coder, reviewer := runner.models(rp)

	ws, err := openWorkspace(opts.IO, opts.Workspace)
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
	view := newRunView(opts.IO, opts.JSON, opts.Quiet)
	if opts.Approve && !opts.Yes {
		runner.approve = terminalApprover(opts.IO, view)
	}
	sum, runErr := runner.run(ctx, taskRun{task: task, dir: dir, transcript: path, coder: coder, reviewer: reviewer, view: view})
	view.Summary(sum)
	if runErr != nil {
		return runErr
	}
	if sum.ExitCode != ExitOK {
		return &exitError{code: sum.ExitCode}
	}
	return nil
}

// teamOptions are the settings `run` and `batch` share.
type teamOptions struct {
	Models        modelFlags
	Sandbox       sandboxFlags
	CoderModel    string
	ReviewerModel string
	MaxTurns      int
	Timeout       time.Duration
	TokenBudget   int
	HistoryBudget int
	Prompts       string
}

func (o *teamOptions) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.CoderModel, "coder-model", DefaultModel, "the coder's model (env AGENTTEAM_CODER_MODEL)")
	f.StringVar(&o.ReviewerModel, "reviewer-model", DefaultModel, "the reviewer's model (env AGENTTEAM_REVIEWER_MODEL)")
	f.IntVar(&o.MaxTurns, "max-turns", 12, "stop after this many agent turns")
	f.DurationVar(&o.Timeout, "timeout", 0, "stop a team after this long, e.g. 10m (default: no limit)")
	f.IntVar(&o.TokenBudget, "token-budget", 0, "stop a team once its models reported this many tokens (default: no limit)")
	f.IntVar(&o.HistoryBudget, "history-budget", 24000, "estimated tokens of history above which old execution reports are shortened")
	f.StringVar(&o.Prompts, "prompts", "", "directory with coder.md and/or reviewer.md overriding the built-in prompts")
	o.Models.register(f)
	o.Sandbox.registerAs(f, "exec-timeout")
}

// resolveModels names the agents' models from flags, environment and .env.
func (o *teamOptions) resolveModels(cmd *cobra.Command, s IO) {
	st := settingsOrEmpty(s)
	o.CoderModel = agentModel(cmd.Flags(), "coder-model", o.CoderModel, "AGENTTEAM_CODER_MODEL", st)
	o.ReviewerModel = agentModel(cmd.Flags(), "reviewer-model", o.ReviewerModel, "AGENTTEAM_REVIEWER_MODEL", st)
}

func (o *teamOptions) check() error {
	switch {
	case o.MaxTurns < 1:
		return usageError("--max-turns must be at least 1")
	case o.Timeout < 0 || o.TokenBudget < 0 || o.HistoryBudget < 0:
		return usageError("--timeout, --token-budget and --history-budget cannot be negative")
	}
	return nil
}

// teamRunner holds what the teams of a run or a batch share.
type teamRunner struct {
	opts     teamOptions
	cfg      docker.Config
	docker   *docker.Backend
	prompts  prompts.Prompts
	backend  model.Model // nil when replaying
	sampling modelSettings
	approve  agents.Approver
	// sandboxes opens the teams' sessions: the engine itself for a run,
	// a pool of reused containers for a batch.
	sandboxes sandbox.Opener
}

// runner checks the settings, the model backend (unless replaying) and the
// sandbox (engine and image) before anything is written.
func (o *teamOptions) runner(ctx context.Context, s IO, replaying bool) (*teamRunner, error) {
	st, err := loadSettings(s)
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
	r := &teamRunner{opts: *o, prompts: pr, cfg: cfg}
	if !replaying {
		ms, err := o.Models.models(st, slog.Default())
		if err != nil {
			return nil, err
		}
		r.backend, r.sampling = ms.backend, ms
	}
	d, err := docker.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := d.Check(ctx); err != nil {
		d.Close()
		return nil, err
	}
	d.StartSweep(ctx) // the containers of killed runs; never waited for
	r.docker, r.sandboxes = d, d
	return r, nil
}

// models returns the coder's and the reviewer's models: the replay's, or
// the backend.
func (r *teamRunner) models(rp *replay.Replay) (model.Model, model.Model) {
	if rp != nil {
		return rp.Model(coderName), rp.Model(reviewerName)
	}
	return r.backend, r.backend
}

// taskRun is one team on one task.
type taskRun struct {
	task       string
	dir        string // the workspace
	transcript string
	coder      model.Model
	reviewer   model.Model
	view       *runView
	extra      map[string]any // more fields for the transcript's task event
}

// run plays one team to its end and writes its transcript; the summary
// holds the exit status. The sandbox container is gone when it returns.
func (r *teamRunner) run(ctx context.Context, t taskRun) (RunSummary, error) {
	tw, err := transcript.Create(t.transcript)
	if err != nil {
		return RunSummary{ExitCode: ExitFailure}, fmt.Errorf("create transcript: %w", err)
	}
	defer tw.Close()
	info := map[string]any{"workspace": t.dir, "coder_model": r.opts.CoderModel, "reviewer_model": r.opts.ReviewerModel, "max_turns": r.opts.MaxTurns}
	for k, v := range t.extra {
		info[k] = v
	}
	tw.Write(transcript.Event{Type: eventTask, Content: t.task, Extra: info})

	execOpts := []agents.ExecutorOption{agents.WithExecObserver(t.view)}
	if r.approve != nil {
		execOpts = append(execOpts, agents.WithApprover(r.approve))
	}
	executor := agents.NewExecutor(executorName, r.session(t.dir), execOpts...)
	defer executor.Close(context.WithoutCancel(ctx))

	o := r.opts
	llmOpts := []agents.LLMOption{agents.WithObserver(t.view), agents.WithSampling(r.sampling.temperature, r.sampling.maxTokens), agents.WithHistoryBudget(o.HistoryBudget)}
	coder := agents.NewLLM(coderName, r.prompts.Coder, transcript.Record(t.coder, coderName, tw), o.CoderModel, llmOpts...)
	reviewer := agents.NewLLM(reviewerName, r.prompts.Reviewer, transcript.Record(t.reviewer, reviewerName, tw), o.ReviewerModel, llmOpts...)
	stop := []team.Condition{team.Approval(reviewerName, "APPROVE"), team.MaxTurns(o.MaxTurns)}
	if o.TokenBudget > 0 {
		stop = append(stop, team.TokenBudget(o.TokenBudget))
	}
	var lastBlock *sandbox.Result
	tm := &team.Team{
		Agents:  []agents.Agent{coder, executor, reviewer},
		Stop:    team.AnyOf(stop...),
		Timeout: o.Timeout,
		OnMessage: func(m agents.Message) {
			t.view.Message(m)
			if n := len(m.Results); n > 0 {
				lastBlock = &m.Results[n-1]
			}
			if m.Agent != agents.UserName {
				tw.Write(transcript.Event{Type: eventMessage, Agent: m.Agent, Content: m.Content, Usage: &m.Usage,
					DurationMS: float64(m.Duration.Microseconds()) / 1000})
			}
		},
	}
	res, runErr := tm.Run(ctx, t.task)
	engine := ""
	if e, ok := executor.Started().(sandbox.EngineNamer); ok {
		engine = e.Engine()
	}
	executor.Close(context.WithoutCancel(ctx)) // before the summary: no container outlives the run

	sum := RunSummary{Type: eventResult, Approved: res.Approved, StopReason: res.StopReason, Turns: res.Turns, Usage: res.Usage,
		DurationMS: res.Duration.Milliseconds(), Workspace: t.dir, Transcript: t.transcript, Engine: engine}
	sum.Files, sum.FilesOmitted = listFiles(t.dir)
	if lastBlock != nil {
		code := lastBlock.ExitCode
		sum.LastExitCode = &code
	}
	switch {
	case runErr != nil:
		sum.ExitCode, sum.Error = exitStatus(ctx, runErr)
	case res.Approved:
		sum.ExitCode = ExitOK
	default:
		sum.ExitCode = ExitNotApproved
	}
	tw.Write(transcript.Event{Type: eventResult, Content: res.StopReason, Error: sum.Error,
		Extra: map[string]any{"approved": res.Approved, "turns": res.Turns, "exit_code": sum.ExitCode}})
	return sum, runErr
}

// session opens a task's sandbox session in dir.
func (r *teamRunner) session(dir string) func(ctx context.Context) (sandbox.Session, error) {
	return func(ctx context.Context) (sandbox.Session, error) {
		return r.sandboxes.NewSession(ctx, dir)
	}
}

// check rejects contradictory flags before anything starts.
func (opts *RunOptions) check() error {
	if err := opts.teamOptions.check(); err != nil {
		return err
	}
	if err := opts.replayFlags.check(); err != nil {
		return err
	}
	switch {
	case opts.JSON && opts.Quiet:
		return usageError("--json and --quiet do not go together")
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
func (opts *RunOptions) task() (string, error) {
	task := strings.TrimSpace(strings.Join(opts.Task, " "))
	if task == "-" {
		data, err := io.ReadAll(io.LimitReader(opts.IO.In, 1<<20))
		if err != nil {
			return "", usageError("read task: %v", err)
		}
		task = strings.TrimSpace(string(data))
	}
	if task == "" && opts.Replay != "" {
		events, err := transcript.ReadFile(opts.Replay)
		if err != nil {
			return "", usageError("replay: %v", err)
		}
		for _, e := range events {
			if e.Type == eventTask {
				return e.Content, nil
			}
		}
		return "", usageError("replay: %s records no task; give the task as arguments", opts.Replay)
	}
	if task == "" {
		return "", usageError("no task: give it as arguments, or - to read it from standard input")
	}
	return task, nil
}

// terminalApprover shows the blocks and asks y/N on the terminal.
func terminalApprover(s IO, view *runView) agents.Approver {
	in := bufio.NewReader(s.In)
	return func(ctx context.Context, blocks []codeblock.Block) (bool, error) {
		view.mu.Lock()
		defer view.mu.Unlock()
		fmt.Fprintf(s.ErrOut, "\nThe coder's message has %d block(s) to run:\n", len(blocks))
		for _, b := range blocks {
			fmt.Fprintf(s.ErrOut, "── block %d · %s ──\n%s\n", b.Index+1, b.Language, safetext.Output(strings.TrimRight(b.Code, "\n")))
		}
		fmt.Fprint(s.ErrOut, "Run them in the sandbox? [y/N] ")
		answer := make(chan string, 1)
		go func() {
			line, _ := in.ReadString('\n')
			answer <- strings.ToLower(strings.TrimSpace(line))
		}()
		select {
		case a := <-answer:
			return a == "y" || a == "yes", nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// Bounds of listFiles.
const (
	maxFilesListed = 200  // names in a run's summary
	maxFilesWalked = 5000 // directory entries looked at
	maxFilesDepth  = 32   // directory levels descended
)

// listFiles names the regular files the team left in the workspace, sorted,
// at most maxFilesListed of them, and counts the others it found. The walk
// is bounded (entries, depth) and follows no symlink: the sandbox made what
// it walks. Hidden files and directories (.git, __pycache__) are left out.
func listFiles(dir string) (files []string, omitted int) {
	ws, err := workspace.Open(dir)
	if err != nil {
		return nil, 0
	}
	defer ws.Close()
	files, _, _ = ws.Files(context.Background(), maxFilesWalked, maxFilesDepth) // what it found before any error
	if len(files) > maxFilesListed {
		omitted, files = len(files)-maxFilesListed, files[:maxFilesListed]
	}
	return files, omitted
}
