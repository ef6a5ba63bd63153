package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sourcegraph/conc/stream"
	"github.com/spf13/cobra"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/replay"
	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/docker"
)

// BatchOptions are the inputs of `agentteam batch`.
type BatchOptions struct {
	IO IO
	teamOptions
	replayFlags
	File       string
	Jobs       int
	Containers int
	Root       string
	Results    string
	JSON       bool
	Hosts      []string
}

func newBatchCmd(s IO) *cobra.Command {
	opts := &BatchOptions{IO: s}
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
			opts.resolveModels(cmd, s)
			return runBatch(cmd.Context(), opts)
		},
	}
	opts.teamOptions.register(cmd)
	f := cmd.Flags()
	f.IntVarP(&opts.Jobs, "jobs", "j", 4, "teams at once")
	f.IntVar(&opts.Containers, "max-containers", max(2, 2*runtime.NumCPU()), "sandbox containers alive at once")
	f.StringVar(&opts.Root, "workspace", "", "directory for the tasks' workspaces (default: ./workspace/batch-NAME)")
	f.StringVar(&opts.Results, "results", "", "results file (default: NAME.results.jsonl beside TASKS.jsonl)")
	opts.replayFlags.register(cmd, "directory of recorded transcripts, ID.transcript.jsonl or ID.jsonl per task: no network, no key")
	f.BoolVar(&opts.JSON, "json", false, "print each task's result line on stdout as it is written")
	f.StringArrayVar(&opts.Hosts, "docker-host", nil, "an engine to spread tasks over (repeat: unix://, tcp:// with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH, ssh://); default: DOCKER_HOST")
	return cmd
}

// batchTask is one line of the tasks file.
type batchTask struct {
	ID     string
	Task   string
	Fields map[string]json.RawMessage // the whole line, echoed in the result
	Coder  string
	Review string
}

// BatchResult is what a results line holds besides the task's own fields.
type BatchResult struct {
	ID           string                 `json:"id"`
	Status       string                 `json:"status"` // approved, not_approved, error
	Approved     bool                   `json:"approved"`
	StopReason   string                 `json:"stop_reason"`
	Turns        int                    `json:"turns"`
	Tokens       int                    `json:"tokens"`
	Usage        map[string]model.Usage `json:"usage"`
	DurationMS   int64                  `json:"duration_ms"`
	LastExitCode *int                   `json:"last_exit_code"`
	Workspace    string                 `json:"workspace"`
	Transcript   string                 `json:"transcript"`
	Engine       string                 `json:"engine,omitempty"`
	Error        string                 `json:"error,omitempty"`
	ExitCode     int                    `json:"exit_code"`
}

func runBatch(ctx context.Context, opts *BatchOptions) error {
	if err := opts.teamOptions.check(); err != nil {
		return err
	}
	if opts.Jobs < 1 || opts.Containers < 1 {
		return usageError("--jobs and --max-containers must be at least 1")
	}
	tasks, err := readTasks(opts.File)
	if err != nil {
		return err
	}
	name := strings.TrimSuffix(filepath.Base(opts.File), filepath.Ext(opts.File))
	if opts.Results == "" {
		opts.Results = filepath.Join(filepath.Dir(opts.File), name+".results.jsonl")
	}
	if opts.Root == "" {
		opts.Root = filepath.Join(opts.IO.Dir, "workspace", "batch-"+name)
	}
	if err := opts.replayFlags.check(); err != nil {
		return err
	}
	if opts.Replay != "" {
		if st, err := os.Stat(opts.Replay); err != nil || !st.IsDir() {
			return usageError("--replay %s: not a directory of transcripts", opts.Replay)
		}
	}
	done, err := finishedResults(opts.Results)
	if err != nil {
		return err
	}
	runner, err := opts.teamOptions.runner(ctx, opts.IO, opts.Replay != "")
	if err != nil {
		return err
	}
	defer runner.docker.Close()
	if err := os.MkdirAll(opts.Root, 0o755); err != nil {
		return fmt.Errorf("create batch workspace: %w", err)
	}
	fleet, err := opts.fleet(ctx, runner)
	if err != nil {
		return err
	}
	defer func() {
		fleet.Close(context.WithoutCancel(ctx))
		for i := range max(1, len(opts.Hosts)) {
			os.Remove(filepath.Join(opts.Root, fmt.Sprintf(".slots-%d", i)))
		}
	}()
	runner.sandboxes = fleet
	engines := max(1, len(opts.Hosts))
	out, err := os.OpenFile(opts.Results, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open results: %w", err)
	}
	defer out.Close()

	// Tasks already in the results are skipped; their results still count
	// in the summary and the exit status, which describe the whole set.
	var todo []batchTask
	var earlier []BatchResult
	for _, t := range tasks {
		if r, ok := done[t.ID]; ok {
			earlier = append(earlier, r)
		} else {
			todo = append(todo, t)
		}
	}
	prog := newProgress(opts.IO, opts.JSON, len(todo), len(earlier))
	var results []BatchResult
	var writeErr error
	s := stream.New().WithMaxGoroutines(opts.Jobs)
	for _, t := range todo {
		if ctx.Err() != nil {
			break
		}
		s.Go(func() stream.Callback {
			res, interrupted := opts.runTask(ctx, runner, t, fleet, engines)
			return func() {
				if interrupted {
					return // not finished: a later run does it again
				}
				line, err := resultLine(t, res)
				if err == nil {
					_, err = out.Write(append(line, '\n'))
				}
				if err != nil && writeErr == nil {
					writeErr = fmt.Errorf("write results: %w", err)
				}
				if opts.JSON {
					opts.IO.Out.Write(append(line, '\n'))
				}
				results = append(results, res)
				prog.add(res)
			}
		})
	}
	s.Wait()
	prog.finish()
	all := append(earlier, results...)
	printBatchSummary(opts, all, len(results), len(earlier))
	switch {
	case writeErr != nil:
		return writeErr
	case ctx.Err() != nil:
		return ctx.Err()
	}
	code := ExitOK
	for _, r := range all {
		switch {
		case r.Status == "error":
			code = ExitFailure
		case r.Status == "not_approved" && code == ExitOK:
			code = ExitNotApproved
		}
	}
	if code != ExitOK {
		return &exitError{code: code}
	}
	return nil
}

// runTask runs one task's team, again on another engine (from scratch, in
// a new workspace) when its engine is lost under it.
func (opts *BatchOptions) runTask(ctx context.Context, runner *teamRunner, t batchTask, fleet *docker.Fleet, engines int) (BatchResult, bool) {
	for attempt := 1; ; attempt++ {
		res, interrupted, err := opts.attempt(ctx, runner, t)
		if errors.Is(err, sandbox.ErrEngineUnavailable) && attempt < engines && fleet.Up() > 0 && ctx.Err() == nil {
			slog.Warn("task lost its engine; running it again on another", "task", t.ID, "attempt", attempt)
			continue
		}
		return res, interrupted
	}
}

// fleet prepares the engines: the --docker-host ones, or the environment's.
// Containers are reused from task to task, reset and checked in between:
// the engine creates and removes only a few per second.
func (opts *BatchOptions) fleet(ctx context.Context, runner *teamRunner) (*docker.Fleet, error) {
	dockers := []*docker.Backend{runner.docker}
	for i, h := range opts.Hosts {
		if i == 0 {
			// The first replaces the environment's engine.
			runner.docker.Close()
		}
		d, err := docker.New(ctx, runner.cfg, docker.WithHost(h))
		if err == nil {
			if err = d.Check(ctx); err != nil {
				d.Close()
			}
		}
		if err != nil {
			return nil, fmt.Errorf("engine %s: %w", h, err)
		}
		d.StartSweep(ctx)
		if i == 0 {
			dockers, runner.docker = []*docker.Backend{d}, d
		} else {
			dockers = append(dockers, d)
		}
	}
	var members []docker.FleetMember
	for i, d := range dockers {
		pool, err := d.NewPool(filepath.Join(opts.Root, fmt.Sprintf(".slots-%d", i)), opts.Containers)
		if err != nil {
			return nil, err
		}
		members = append(members, docker.FleetMember{Name: d.Host(), Pool: pool, Capacity: opts.Containers})
	}
	return docker.NewFleet(slog.Default(), members...), nil
}

// attempt runs one task's team once. A panic or an error is that task's
// result, never the batch's end; interrupted reports a task cut short by
// Ctrl-C.
func (opts *BatchOptions) attempt(ctx context.Context, runner *teamRunner, t batchTask) (res BatchResult, interrupted bool, runErr error) {
	start := time.Now()
	res = BatchResult{ID: t.ID, Status: "error", ExitCode: ExitFailure}
	defer func() {
		if p := recover(); p != nil {
			res.Error = fmt.Sprintf("internal error: %v", p)
			res.Status, res.ExitCode = "error", ExitFailure
		}
		if res.DurationMS == 0 {
			res.DurationMS = time.Since(start).Milliseconds()
		}
	}()
	dir, err := uniqueDir(opts.Root, t.ID)
	if err != nil {
		res.Error = err.Error()
		return res, false, nil
	}
	res.Workspace, res.Transcript = dir, dir+".transcript.jsonl"
	coder, reviewer := runner.backend, runner.backend
	if opts.Replay != "" {
		rp, err := loadTaskReplay(opts.Replay, t.ID, opts.replayOptions()...)
		if err != nil {
			res.Error = err.Error()
			return res, false, nil
		}
		coder, reviewer = runner.models(rp)
	}
	tr := *runner
	tr.opts.CoderModel = cmp.Or(t.Coder, runner.opts.CoderModel)
	tr.opts.ReviewerModel = cmp.Or(t.Review, runner.opts.ReviewerModel)
	sum, err := tr.run(ctx, taskRun{task: t.Task, dir: dir, transcript: res.Transcript, coder: coder, reviewer: reviewer,
		view: newRunView(IO{Out: io.Discard}, false, true), extra: map[string]any{"id": t.ID}})
	if err != nil && ctx.Err() != nil {
		return res, true, err
	}
	res.Approved, res.StopReason, res.Turns, res.Usage = sum.Approved, sum.StopReason, sum.Turns, sum.Usage
	res.DurationMS, res.LastExitCode, res.ExitCode, res.Error = sum.DurationMS, sum.LastExitCode, sum.ExitCode, sum.Error
	res.Engine = sum.Engine
	for _, u := range sum.Usage {
		res.Tokens += u.TotalTokens
	}
	switch {
	case err != nil:
		res.Status = "error"
		if res.Error == "" {
			res.Error = oneLine(err.Error())
		}
	case sum.Approved:
		res.Status = "approved"
	default:
		res.Status = "not_approved"
	}
	return res, false, err
}

// readTasks reads and checks the tasks file; any bad line is a usage error
// that names it.
func readTasks(path string) ([]batchTask, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageError("read tasks: %v", err)
	}
	defer f.Close()
	var tasks []batchTask
	seen := map[string]int{}
	r := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			t, perr := parseTask(line)
			if perr != nil {
				return nil, usageError("%s line %d: %v", path, n, perr)
			}
			if first, dup := seen[t.ID]; dup {
				return nil, usageError("%s line %d: id %q was already used on line %d", path, n, t.ID, first)
			}
			seen[t.ID] = n
			tasks = append(tasks, t)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, usageError("read tasks: %v", err)
		}
	}
	if len(tasks) == 0 {
		return nil, usageError("%s has no task", path)
	}
	return tasks, nil
}

func parseTask(line []byte) (batchTask, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		return batchTask{}, fmt.Errorf("not a JSON object: %v", err)
	}
	t := batchTask{Fields: fields}
	var id any
	if err := json.Unmarshal(fields["id"], &id); err != nil || id == nil {
		return t, errors.New(`no "id"`)
	}
	switch v := id.(type) {
	case string:
		t.ID = v
	case float64:
		t.ID = strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return t, errors.New(`"id" must be a string or a number`)
	}
	if strings.TrimSpace(t.ID) == "" {
		return t, errors.New(`"id" is empty`)
	}
	if err := json.Unmarshal(fields["task"], &t.Task); err != nil || strings.TrimSpace(t.Task) == "" {
		return t, errors.New(`no "task" text`)
	}
	for key, dst := range map[string]*string{"coder_model": &t.Coder, "reviewer_model": &t.Review} {
		if raw, ok := fields[key]; ok {
			if err := json.Unmarshal(raw, dst); err != nil {
				return t, fmt.Errorf("%q must be a string", key)
			}
		}
	}
	return t, nil
}

// finishedResults reads the results already in a results file, by task id.
// A torn last line (a crash mid-write) does not count.
func finishedResults(path string) (map[string]BatchResult, error) {
	done := map[string]BatchResult{}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return done, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		// The id as any (a hand-edited file may hold a number); the outer
		// field wins over the embedded one.
		var r struct {
			BatchResult
			ID any `json:"id"`
		}
		if json.Unmarshal(line, &r) != nil || r.ID == nil {
			continue
		}
		r.BatchResult.ID = fmt.Sprint(r.ID)
		done[r.BatchResult.ID] = r.BatchResult
	}
	return done, nil
}

// resultLine is the task's own fields with the result's on top.
func resultLine(t batchTask, r BatchResult) ([]byte, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, err
	}
	for k, v := range t.Fields {
		if _, taken := fields[k]; !taken {
			fields[k] = v
		}
	}
	return json.Marshal(fields)
}

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// uniqueDir makes a new directory for a task under root, named after its
// id (made safe), with a suffix when an earlier attempt left one.
func uniqueDir(root, id string) (string, error) {
	base := strings.Trim(unsafeID.ReplaceAllString(id, "_"), "._")
	if base == "" || len(base) > 80 {
		base = fmt.Sprintf("task-%x", []byte(id))
		if len(base) > 80 {
			base = base[:80]
		}
	}
	for i := 1; i < 1000; i++ {
		dir := filepath.Join(root, base)
		if i > 1 {
			dir += "." + strconv.Itoa(i)
		}
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return filepath.Abs(dir)
		}
		if !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("create workspace: %w", err)
		}
	}
	return "", fmt.Errorf("create workspace: too many attempts for task %q", id)
}

func loadTaskReplay(dir, id string, opts ...replay.Option) (*replay.Replay, error) {
	base := unsafeID.ReplaceAllString(id, "_")
	for _, name := range []string{base + ".transcript.jsonl", base + ".jsonl"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return replay.Load(p, opts...)
		}
	}
	return nil, fmt.Errorf("no recorded transcript for task %q in %s", id, dir)
}

// progress draws a one-line progress bar on a terminal.
type progress struct {
	mu                           sync.Mutex
	w                            io.Writer
	on                           bool
	total, skipped               int
	done, approved, notApp, errs int
	start                        time.Time
}

func newProgress(s IO, json bool, total, skipped int) *progress {
	p := &progress{w: s.Out, on: s.OutIsTTY && !json, total: total, skipped: skipped, start: time.Now()}
	p.draw()
	return p
}

func (p *progress) add(r BatchResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	switch r.Status {
	case "approved":
		p.approved++
	case "not_approved":
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
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d · %d approved · %d not · %d errors · %.2f/s · %s left\x1b[K",
		strings.Repeat("█", filled), strings.Repeat("░", width-filled), p.done, p.total, p.approved, p.notApp, p.errs, rate, left)
}

func (p *progress) finish() {
	if p.on {
		fmt.Fprintln(p.w)
	}
}

// printBatchSummary prints the table at the end (on stdout, or on stderr
// when stdout carries the JSON lines) for every task of the set: those run
// now and those skipped, from the results file.
func printBatchSummary(opts *BatchOptions, results []BatchResult, ran, skipped int) {
	w := opts.IO.Out
	if opts.JSON {
		w = opts.IO.ErrOut
	}
	var approved, notApp, errs, tokens int
	var times []int64
	for _, r := range results {
		switch r.Status {
		case "approved":
			approved++
		case "not_approved":
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
}
