package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/agents/codeblock"
	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/replay"
	"github.com/agentteam/agentteam/prompts"
	"github.com/agentteam/agentteam/sandbox"
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
	IO            IO
	Models        modelFlags
	Sandbox       sandboxFlags
	CoderModel    string
	ReviewerModel string
	MaxTurns      int
	Timeout       time.Duration
	TokenBudget   int
	HistoryBudget int
	Workspace     string
	Replay        string
	Transcript    string
	Prompts       string
	JSON          bool
	Quiet         bool
	Approve       bool
	Yes           bool
	Task          []string
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
run, 130 interrupted.`,
		Args: usageArgs(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Task = args
			st := settingsOrEmpty(s)
			opts.CoderModel = agentModel(cmd.Flags(), "coder-model", opts.CoderModel, "AGENTTEAM_CODER_MODEL", st)
			opts.ReviewerModel = agentModel(cmd.Flags(), "reviewer-model", opts.ReviewerModel, "AGENTTEAM_REVIEWER_MODEL", st)
			return runRun(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.CoderModel, "coder-model", DefaultModel, "the coder's model (env AGENTTEAM_CODER_MODEL)")
	f.StringVar(&opts.ReviewerModel, "reviewer-model", DefaultModel, "the reviewer's model (env AGENTTEAM_REVIEWER_MODEL)")
	f.IntVar(&opts.MaxTurns, "max-turns", 12, "stop after this many agent turns")
	f.DurationVar(&opts.Timeout, "timeout", 0, "stop the whole run after this long, e.g. 10m (default: no limit)")
	f.IntVar(&opts.TokenBudget, "token-budget", 0, "stop once the models reported this many tokens (default: no limit)")
	f.IntVar(&opts.HistoryBudget, "history-budget", 24000, "estimated tokens of history above which old execution reports are shortened")
	f.StringVar(&opts.Workspace, "workspace", "", "workspace directory (default: a new one under ./workspace)")
	f.StringVar(&opts.Replay, "replay", "", "answer every model call from this recorded transcript (no network, no key)")
	f.StringVar(&opts.Transcript, "transcript", "", "where to write the transcript (default: WORKSPACE.transcript.jsonl, beside the workspace)")
	f.StringVar(&opts.Prompts, "prompts", "", "directory with coder.md and/or reviewer.md overriding the built-in prompts")
	f.BoolVar(&opts.JSON, "json", false, "print one JSON object per event on stdout, the last a result")
	f.BoolVar(&opts.Quiet, "quiet", false, "print only the summary")
	f.BoolVar(&opts.Approve, "approve", false, "show each message's code and ask before running it (needs a terminal)")
	f.BoolVar(&opts.Yes, "yes", false, "with --approve: run without asking (for use without a terminal)")
	opts.Models.register(f)
	opts.Sandbox.registerAs(f, "exec-timeout")
	return cmd
}

func runRun(ctx context.Context, opts *RunOptions) error {
	if err := opts.check(); err != nil {
		return err
	}
	st, err := loadSettings(opts.IO)
	if err != nil {
		return err
	}
	cfg, err := opts.Sandbox.config(st)
	if err != nil {
		return err
	}
	pr, err := prompts.Load(opts.Prompts)
	if err != nil {
		return usageError("%v", err)
	}
	var rp *replay.Replay
	if opts.Replay != "" {
		if rp, err = replay.Load(opts.Replay); err != nil {
			return usageError("replay: %v", err)
		}
	}
	task, err := opts.task()
	if err != nil {
		return err
	}
	coderModel, reviewerModel, sampling, err := opts.models(st, rp)
	if err != nil {
		return err
	}

	// The engine and the image are checked before anything is written.
	d, err := sandbox.NewDocker(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Check(ctx); err != nil {
		return err
	}
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
	tw, err := transcript.Create(path)
	if err != nil {
		return fmt.Errorf("create transcript: %w", err)
	}
	defer tw.Close()
	tw.Write(transcript.Event{Type: eventTask, Content: task, Extra: map[string]any{
		"workspace": dir, "coder_model": opts.CoderModel, "reviewer_model": opts.ReviewerModel, "max_turns": opts.MaxTurns}})

	view := newRunView(opts.IO, opts.JSON, opts.Quiet)
	execOpts := []agents.ExecutorOption{agents.WithExecObserver(view)}
	if opts.Approve && !opts.Yes {
		execOpts = append(execOpts, agents.WithApprover(terminalApprover(opts.IO, view)))
	}
	executor := agents.NewExecutor(executorName, func(ctx context.Context) (sandbox.Session, error) {
		return d.NewSession(ctx, dir)
	}, execOpts...)
	defer executor.Close(context.WithoutCancel(ctx))

	llmOpts := []agents.LLMOption{agents.WithObserver(view), agents.WithSampling(sampling.temperature, sampling.maxTokens), agents.WithHistoryBudget(opts.HistoryBudget)}
	coder := agents.NewLLM(coderName, pr.Coder, transcript.Record(coderModel, coderName, tw), opts.CoderModel, llmOpts...)
	reviewer := agents.NewLLM(reviewerName, pr.Reviewer, transcript.Record(reviewerModel, reviewerName, tw), opts.ReviewerModel, llmOpts...)
	stop := []team.Condition{team.Approval(reviewerName, "APPROVE"), team.MaxTurns(opts.MaxTurns)}
	if opts.TokenBudget > 0 {
		stop = append(stop, team.TokenBudget(opts.TokenBudget))
	}
	tm := &team.Team{
		Agents:  []agents.Agent{coder, executor, reviewer},
		Stop:    team.AnyOf(stop...),
		Timeout: opts.Timeout,
		OnMessage: func(m agents.Message) {
			view.Message(m)
			if m.Agent != agents.UserName {
				tw.Write(transcript.Event{Type: eventMessage, Agent: m.Agent, Content: m.Content, Usage: &m.Usage,
					DurationMS: float64(m.Duration.Microseconds()) / 1000})
			}
		},
	}
	res, runErr := tm.Run(ctx, task)
	executor.Close(context.WithoutCancel(ctx)) // before the summary: no container outlives the run

	sum := RunSummary{Type: eventResult, Approved: res.Approved, StopReason: res.StopReason, Turns: res.Turns, Usage: res.Usage,
		DurationMS: res.Duration.Milliseconds(), Workspace: dir, Transcript: path, Files: listFiles(dir)}
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
	view.Summary(sum)
	if runErr != nil {
		return runErr
	}
	if sum.ExitCode != ExitOK {
		return &exitError{code: sum.ExitCode}
	}
	return nil
}

// check rejects contradictory flags before anything starts.
func (opts *RunOptions) check() error {
	switch {
	case opts.MaxTurns < 1:
		return usageError("--max-turns must be at least 1")
	case opts.Timeout < 0 || opts.TokenBudget < 0 || opts.HistoryBudget < 0:
		return usageError("--timeout, --token-budget and --history-budget cannot be negative")
	case opts.JSON && opts.Quiet:
		return usageError("--json and --quiet do not go together")
	case opts.Approve && !opts.Yes && !opts.IO.InIsTTY:
		return usageError("--approve asks on a terminal, and standard input is not one: add --yes to run without asking")
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

// models returns the coder's and the reviewer's models: the replay, or the
// configured backend.
func (opts *RunOptions) models(st settings, rp *replay.Replay) (model.Model, model.Model, modelSettings, error) {
	if rp != nil {
		return rp.Model(coderName), rp.Model(reviewerName), modelSettings{}, nil
	}
	ms, err := opts.Models.models(st, slog.Default())
	if err != nil {
		return nil, nil, ms, err
	}
	return ms.backend, ms.backend, ms, nil
}

// terminalApprover shows the blocks and asks y/N on the terminal.
func terminalApprover(s IO, view *runView) agents.Approver {
	in := bufio.NewReader(s.In)
	return func(ctx context.Context, blocks []codeblock.Block) (bool, error) {
		view.mu.Lock()
		defer view.mu.Unlock()
		fmt.Fprintf(s.ErrOut, "\nThe coder's message has %d block(s) to run:\n", len(blocks))
		for _, b := range blocks {
			fmt.Fprintf(s.ErrOut, "── block %d · %s ──\n%s\n", b.Index+1, b.Language, sandbox.Printable(strings.TrimRight(b.Code, "\n")))
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

// listFiles names the regular files the team left in the workspace.
func listFiles(dir string) []string {
	ws, err := workspace.Open(dir)
	if err != nil {
		return nil
	}
	defer ws.Close()
	snap, err := ws.Snapshot(10000)
	if err != nil && !errors.Is(err, workspace.ErrTooManyEntries) {
		return nil
	}
	var files []string
	for p, fi := range snap {
		if fi.Mode.IsRegular() && !workspace.Hidden(p) {
			files = append(files, p)
		}
	}
	slices.Sort(files)
	return files
}
