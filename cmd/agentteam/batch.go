package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/replay"
	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/taskrun"
)

// BatchOptions are the inputs of `agentteam batch`.
type BatchOptions struct {
	IO IO
	f  *Factory
	teamOptions
	replayFlags
	File       string
	Jobs       int
	Containers int
	Root       string
	Results    string
	JSON       bool
	Events     bool // print the running tasks' transcript events on stdout
	Hosts      []string
	queueFlags
	// RetryErrors runs again the tasks whose record is an error.
	RetryErrors bool
	Report      bool // write the HTML report at the end
}

func newBatchCmd(f *Factory) *cobra.Command {
	opts := &BatchOptions{IO: f.IO, f: f}
	cmd := &cobra.Command{
		Use:   "batch [flags] TASKS.jsonl",
		Short: "Run a team on every task of a JSON Lines file, several at once",
		Long: `Runs one team per task of TASKS.jsonl (one object per line: {"id": ..., "task": ...};
other fields are kept and echoed, and "coder_model" / "reviewer_model" override the
flags for that task), several at once, each with its own sandbox and workspace.
Results go to a JSON Lines file, one line per finished task, in the order of the
tasks; running the same command again skips the tasks already in it. Ctrl-C
stops starting tasks, cancels the running ones, removes their containers and
keeps what finished.

Exit status: 0 every task approved, 3 some not approved, 1 some task failed with
an error, 2 usage error, 4 the sandbox cannot run, 130 interrupted, 141 stdout
closed (| head; it stops as on Ctrl-C and keeps what finished).`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			return runBatch(cmd.Context(), opts)
		},
	}
	opts.teamOptions.register(cmd)
	fl := cmd.Flags()
	fl.IntVarP(&opts.Jobs, "jobs", "j", 4, "teams at once")
	fl.IntVar(&opts.Containers, "max-containers", max(2, 2*runtime.NumCPU()), "sandbox containers alive at once")
	fl.StringVar(&opts.Root, "workspace", "", "directory for the tasks' workspaces (default: ./.agentteam/runs/batch-NAME)")
	fl.StringVar(&opts.Results, "results", "", "results file (default: NAME.results.jsonl beside TASKS.jsonl)")
	opts.replayFlags.register(cmd, "directory of recorded transcripts, ID.transcript.jsonl or ID.jsonl per task: no network, no key")
	fl.BoolVar(&opts.JSON, "json", false, "print each task's result line on stdout as it is written")
	fl.BoolVar(&opts.Events, "events", false, `print each running task's transcript events on stdout as they happen, one JSON object per line: {"task": ID, "event": {...}} (with --queue nats://..., as the workers send them)`)
	fl.BoolVar(&opts.RetryErrors, "retry-errors", false, "run again the tasks whose result is an error (a model outage, say)")
	fl.BoolVar(&opts.Report, "report", false, "also write an HTML report of the set (and of each task) beside the results file and print its path")
	fl.StringArrayVar(&opts.Hosts, "docker-host", nil, "an engine to spread tasks over (repeat: unix://, tcp:// with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH, ssh://); default: DOCKER_HOST")
	opts.queueFlags.register(cmd)
	return cmd
}

// machineOut says stdout carries JSON lines (results, events): the
// summary and the progress go elsewhere.
func (opts *BatchOptions) machineOut() bool { return opts.JSON || opts.Events }

// eventPrinter prints tasks' live events (transcript lines) on w as JSON
// lines, {"task": ID, "event": {...}}, one whole line at a time.
func eventPrinter(w io.Writer) func(id string, line []byte) {
	return func(id string, line []byte) {
		line = bytes.TrimSpace(line)
		if !json.Valid(line) {
			return // not a transcript line: not passed on
		}
		data, err := json.Marshal(struct {
			Task  string          `json:"task"`
			Event json.RawMessage `json:"event"`
		}{id, line})
		if err == nil {
			w.Write(append(data, '\n'))
		}
	}
}

// lineWriter lets one Write through at a time: each is a whole line.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func runBatch(ctx context.Context, opts *BatchOptions) error {
	if opts.Events {
		// Events and result lines come from many goroutines: one whole
		// line at a time.
		opts.IO.Out = &lineWriter{w: opts.IO.Out}
	}
	if err := opts.teamOptions.check(); err != nil {
		return err
	}
	if opts.Jobs < 1 {
		return usageError("invalid --jobs %d: want 1 or more", opts.Jobs)
	}
	if opts.Containers < 1 {
		return usageError("invalid --max-containers %d: want 1 or more", opts.Containers)
	}
	items, err := taskrun.ReadTasks(opts.File)
	if err != nil {
		return usageError("%v", strings.TrimPrefix(err.Error(), taskrun.ErrTasks.Error()+": "))
	}
	name := strings.TrimSuffix(filepath.Base(opts.File), filepath.Ext(opts.File))
	if opts.Results == "" {
		opts.Results = filepath.Join(filepath.Dir(opts.File), name+".results.jsonl")
	}
	if opts.Root == "" {
		root, err := runsDir(opts.IO)
		if err != nil {
			return err
		}
		opts.Root = filepath.Join(root, "batch-"+name)
	}
	if err := opts.replayFlags.check(); err != nil {
		return err
	}
	if opts.Replay != "" {
		if st, err := os.Stat(opts.Replay); err != nil || !st.IsDir() {
			return usageError("--replay %s: not a directory of transcripts", opts.Replay)
		}
	}
	if _, err := taskrun.ReadRecords(opts.Results); err != nil {
		return err // before any engine is opened
	}
	if err := opts.queueFlags.check(); err != nil {
		return err
	}
	if opts.Events && opts.Detach {
		return usageError("--events shows the tasks as they run, and --detach does not wait for them: drop one")
	}
	if err := os.MkdirAll(opts.Root, 0o755); err != nil {
		return fmt.Errorf("create workspace root: %w", err)
	}
	lock, err := holdLock(opts.Root) // says to runs that the tasks without a result are going on
	if err != nil {
		return err
	}
	defer lock.Close()
	if opts.queueFlags.remote() {
		return runBatchRemote(ctx, opts, items)
	}
	runner, err := opts.teamOptions.runner(ctx, opts.f, opts.Replay != "")
	if err != nil {
		return err
	}
	sb, err := openPool(ctx, opts.f, runner, opts.Hosts, opts.Root, opts.Containers)
	if err != nil {
		return err
	}
	defer sb.Close(context.WithoutCancel(ctx))

	var prog *progress
	b := &taskrun.Batch{Items: items, Root: opts.Root, Results: opts.Results, Jobs: opts.Jobs, Team: runner.team,
		Sandboxes: sb, Attempts: sb.Engines, EnginesUp: sb.Up, RetryErrors: opts.RetryErrors, StopAfter: stopAfterConfigErrors,
		Models: func(it taskrun.Item) (model.Model, model.Model, error) {
			if opts.Replay == "" {
				return runner.backend, runner.backend, nil
			}
			rp, err := loadTaskReplay(opts.Replay, it.ID, opts.replayOptions()...)
			if err != nil {
				return nil, nil, err
			}
			coder, reviewer := runner.models(rp)
			return coder, reviewer, nil
		},
		ExitCode: taskExitCode(ctx),
		TaskTeam: func(it taskrun.Item, team taskrun.Team) (taskrun.Team, error) {
			if opts.Replay == "" {
				return team, nil
			}
			// Each replayed task ends as its recording did (see run).
			p, err := taskReplayPath(opts.Replay, it.ID)
			if err != nil {
				return team, err
			}
			team.MaxTurns, team.TokenBudget, err = recordedLimits(p, opts.teamOptions.changed, team.MaxTurns, team.TokenBudget)
			if err != nil {
				return team, err
			}
			return team, team.Check()
		},
		Prepare: batchProjects(opts.File, []string{filepath.Join(opts.IO.Dir, filepath.Dir(defaultRunsDir)), opts.Root}, sb, runner.team.Prompts.Project),
		OnRecord: func(r taskrun.Record, line []byte) {
			if opts.JSON {
				opts.IO.Out.Write(append(line, '\n'))
			}
			prog.add(r)
		},
	}
	done, _ := taskrun.ReadRecords(opts.Results)
	todo := len(b.Todo(done))
	if opts.Events {
		print := eventPrinter(opts.IO.Out)
		b.Lines = func(it taskrun.Item, line []byte) { print(it.ID, line) }
	}
	prog = newProgress(opts.IO, opts.f.line, opts.machineOut(), todo, len(items)-todo)
	if opts.Queue != "off" {
		ids := make([]string, len(items))
		for i, it := range items {
			ids[i] = it.ID
		}
		lq, err := startLocalQueue(ctx, opts.queueFlags.config(), queueBatchName(opts.File, opts.Results), b, ids)
		if err != nil {
			return err
		}
		defer lq.close()
		b.Execute = func(ctx context.Context, it taskrun.Item) (taskrun.Record, []byte, bool, error) {
			return lq.execute(ctx, it, b.Team)
		}
	}
	sum, err := b.Run(ctx)
	prog.finish()
	printBatchSummary(opts, sum)
	if opts.Report {
		if out, rerr := writeBatchReport(ctx, &ReportOptions{IO: opts.IO}, opts.Results, ""); rerr != nil {
			fmt.Fprintln(opts.IO.ErrOut, "agentteam: "+safetext.Line(rerr.Error()))
		} else {
			fmt.Fprintln(opts.IO.ErrOut, "report "+safetext.Name(out))
		}
	}
	return setExit(sum, err)
}

// setExit is a set's exit status: its error, else its worst task's.
func setExit(sum taskrun.Summary, err error) error {
	if err != nil {
		return err
	}
	switch sum.Worst() {
	case taskrun.Failed:
		return &exitError{code: ExitFailure}
	case taskrun.NotApproved:
		return &exitError{code: ExitNotApproved}
	}
	return nil
}

// openPool opens the engines' pools of reused containers under root, its
// directory made first. Containers are reused from task to task, reset and
// checked in between: the engine creates and removes only a few per second.
func openPool(ctx context.Context, f *Factory, runner *teamRunner, hosts []string, root string, containers int) (*sandboxes, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("create workspace root: %w", err)
	}
	req := runner.sandboxRequest(f)
	req.Hosts, req.PoolRoot, req.PoolSize = hosts, root, containers
	return f.OpenSandbox(ctx, req)
}

func loadTaskReplay(dir, id string, opts ...replay.Option) (*replay.Replay, error) {
	p, err := taskReplayPath(dir, id)
	if err != nil {
		return nil, err
	}
	return replay.Load(p, opts...)
}

// taskReplayPath is task id's recorded transcript in dir.
func taskReplayPath(dir, id string) (string, error) {
	base := taskrun.SafeName(id)
	for _, name := range []string{base + ".transcript.jsonl", base + ".jsonl"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no recorded transcript for task %q in %s", id, dir)
}

// progress draws a one-line progress bar on a terminal.
type progress struct {
	mu                           sync.Mutex
	line                         *statusLine
	on                           bool
	total, skipped               int
	done, approved, notApp, errs int
	start                        time.Time
}

func newProgress(s IO, line *statusLine, json bool, total, skipped int) *progress {
	p := &progress{line: line, on: s.OutIsTTY && !json && line != nil, total: total, skipped: skipped, start: time.Now()}
	p.draw()
	return p
}

func (p *progress) add(r taskrun.Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	switch r.Status {
	case taskrun.Approved:
		p.approved++
	case taskrun.NotApproved:
		p.notApp++
	default:
		p.errs++
	}
	p.drawLocked()
}

func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drawLocked()
}

func (p *progress) drawLocked() {
	if !p.on || p.total == 0 {
		return
	}
	const width = 30
	filled := width * p.done / p.total
	elapsed := time.Since(p.start)
	rate := float64(p.done) / max(elapsed.Seconds(), 0.001)
	left := "?"
	if p.done > 0 {
		left = time.Duration(float64(p.total-p.done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	p.line.set(fmt.Sprintf("[%s%s] %d/%d · %d approved · %d not · %d errors · %.2f/s · %s left",
		strings.Repeat("█", filled), strings.Repeat("░", width-filled), p.done, p.total, p.approved, p.notApp, p.errs, rate, left))
}

func (p *progress) finish() {
	if p.on {
		p.line.keep()
	}
}

// printBatchSummary prints the table at the end (on stdout, or on stderr
// when stdout carries the JSON lines) for every task of the set: those run
// now and those skipped, from the results file.
func printBatchSummary(opts *BatchOptions, sum taskrun.Summary) {
	results, ran, skipped := sum.Records, sum.Ran, sum.Skipped
	w := opts.IO.Out
	if opts.machineOut() {
		w = opts.IO.ErrOut
	}
	var approved, notApp, errs, tokens int
	var times []int64
	for _, r := range results {
		switch r.Status {
		case taskrun.Approved:
			approved++
		case taskrun.NotApproved:
			notApp++
		default:
			errs++
		}
		tokens += r.Tokens
		times = append(times, r.DurationMS)
	}
	slices.Sort(times)
	pct := func(p float64) string {
		if len(times) == 0 {
			return "-"
		}
		return fmtMS(float64(times[min(len(times)-1, int(p*float64(len(times))))]))
	}
	fmt.Fprintf(w, "\n%-14s %d", "tasks run", ran)
	if skipped > 0 {
		fmt.Fprintf(w, " (%d already in the results, skipped)", skipped)
	}
	fmt.Fprintf(w, "\n%-14s %d\n%-14s %d\n%-14s %d\n", "approved", approved, "not approved", notApp, "errors", errs)
	fmt.Fprintf(w, "%-14s p50 %s · p95 %s\n%-14s %d\n%-14s %s\n", "task time", pct(0.5), pct(0.95), "tokens", tokens, "results", safetext.Output(opts.Results))
	printFailed(w, results, opts.RetryErrors)
}
