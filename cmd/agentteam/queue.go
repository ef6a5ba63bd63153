package main

import (
	"cmp"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/agentteam/agentteam/prompts"
	"github.com/agentteam/agentteam/queue"
	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/taskrun"
	"github.com/agentteam/agentteam/workspace"
)

// queueFlags are batch's flags for running a set through a queue.
type queueFlags struct {
	Queue    string // "" or "local": an embedded server and local workers; "off": no queue; else nats:// URLs
	AckWait  time.Duration
	Attempts int
	Detach   bool // submit and exit: the results wait on the queue
	Attach   bool // submit nothing, collect what a detached run submitted
}

func (q *queueFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&q.Queue, "queue", "local", `where the tasks run, through NATS JetStream: "local" (an embedded server and workers in this process, nothing to install), nats://HOST:PORT[,...] (workers started with "agentteam worker"), or "off" (teams run here without a queue)`)
	fl.DurationVar(&q.AckWait, "queue-ack-wait", 30*time.Second, "with --queue: a task whose worker stopped heartbeating for this long goes to another")
	fl.IntVar(&q.Attempts, "queue-attempts", 3, "with --queue: deliveries of a task before it is recorded as an error")
	fl.BoolVar(&q.Detach, "detach", false, "with --queue nats://...: submit the tasks and exit; --attach collects their results later")
	fl.BoolVar(&q.Attach, "attach", false, "with --queue nats://...: submit nothing, collect the results of the tasks a --detach run submitted")
	fl.MarkHidden("queue-ack-wait")
}

// check refuses flags that do not go together.
func (q queueFlags) check() error {
	switch {
	case q.Detach && q.Attach:
		return usageError("--detach and --attach do not go together: detach to submit, attach to collect")
	case (q.Detach || q.Attach) && !q.remote():
		return usageError("--detach and --attach need --queue nats://HOST:PORT (the results wait there)")
	}
	if q.remote() {
		for _, u := range strings.Split(q.Queue, ",") {
			if scheme, _, ok := strings.Cut(strings.TrimSpace(u), "://"); !ok || (scheme != "nats" && scheme != "tls") {
				return usageError("invalid --queue %q: want local, off, or nats://HOST:PORT[,nats://…]", safetext.Line(q.Queue))
			}
		}
	}
	return nil
}

func (q queueFlags) remote() bool { return q.Queue != "" && q.Queue != "local" && q.Queue != "off" }

func (q queueFlags) config() queue.Config {
	return queue.Config{AckWait: q.AckWait, Attempts: q.Attempts}
}

// queuedTask is a task's message: its tasks-file line and the submitter's
// team settings. Keys and endpoints never travel: workers use their own.
type queuedTask struct {
	Line json.RawMessage `json:"line"`
	Team queuedTeam      `json:"team"`
}

type queuedTeam struct {
	CoderModel     string          `json:"coder_model,omitempty"`
	ReviewerModel  string          `json:"reviewer_model,omitempty"`
	ReviewerVision bool            `json:"reviewer_vision,omitempty"`
	MaxTurns       int             `json:"max_turns"`
	TimeoutMS      int64           `json:"timeout_ms,omitempty"`
	TokenBudget    int             `json:"token_budget,omitempty"`
	HistoryBudget  int             `json:"history_budget,omitempty"`
	Prompts        prompts.Prompts `json:"prompts"`
}

func teamToQueue(t taskrun.Team) queuedTeam {
	return queuedTeam{CoderModel: t.CoderModel, ReviewerModel: t.ReviewerModel, ReviewerVision: t.ReviewerVision, MaxTurns: t.MaxTurns, TimeoutMS: t.Timeout.Milliseconds(),
		TokenBudget: t.TokenBudget, HistoryBudget: t.HistoryBudget, Prompts: t.Prompts}
}

// apply sets the queued settings on a worker's team (its sampling stays).
func (q queuedTeam) apply(t taskrun.Team) taskrun.Team {
	t.CoderModel, t.ReviewerModel, t.MaxTurns, t.Timeout = q.CoderModel, q.ReviewerModel, q.MaxTurns, time.Duration(q.TimeoutMS)*time.Millisecond
	t.TokenBudget, t.HistoryBudget, t.Prompts = q.TokenBudget, q.HistoryBudget, q.Prompts
	t.ReviewerVision = q.ReviewerVision
	return t
}

var unsafeBatch = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// queueBatchName names a set on the queue: the tasks file's name and its
// results file's path, so two sets never share results.
func queueBatchName(tasksFile, results string) string {
	abs, _ := filepath.Abs(results)
	sum := sha256.Sum256([]byte(abs))
	name := strings.Trim(unsafeBatch.ReplaceAllString(strings.TrimSuffix(filepath.Base(tasksFile), filepath.Ext(tasksFile)), "_"), "_")
	return fmt.Sprintf("%.40s-%s", name, hex.EncodeToString(sum[:6]))
}

// queueJobs is the set's tasks not yet in the results file, as messages.
func queueJobs(items []taskrun.Item, done map[string]taskrun.Record, team taskrun.Team) ([]queue.Task, []string, error) {
	var tasks []queue.Task
	var ids []string
	for _, it := range items {
		if _, ok := done[it.ID]; ok {
			continue
		}
		line, err := json.Marshal(it.Fields)
		if err != nil {
			return nil, nil, fmt.Errorf("encode task %s: %w", it.ID, err)
		}
		body, err := json.Marshal(queuedTask{Line: line, Team: teamToQueue(team)})
		if err != nil {
			return nil, nil, fmt.Errorf("encode task %s: %w", it.ID, err)
		}
		tasks = append(tasks, queue.Task{ID: it.ID, Body: body})
		ids = append(ids, it.ID)
	}
	return tasks, ids, nil
}

// collectResults takes the set's results off the queue into the results
// file, one line per task id, each acked once written; fix, when set,
// rewrites a result's line first (a shipped transcript saved locally).
func collectResults(ctx context.Context, q *queue.Queue, batch string, b *taskrun.Batch, ids []string,
	fix func(queue.Result) ([]byte, error)) (taskrun.Summary, error) {
	var sum taskrun.Summary
	done, err := taskrun.ReadRecords(b.Results)
	if err != nil {
		return sum, err
	}
	for _, it := range b.Items {
		if r, ok := done[it.ID]; ok {
			sum.Records = append(sum.Records, r)
			sum.Skipped++
		}
	}
	out, err := os.OpenFile(b.Results, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return sum, fmt.Errorf("open results: %w", err)
	}
	err = q.Collect(ctx, batch, ids, func(r queue.Result) error {
		line := r.Record
		if fix != nil {
			var err error
			if line, err = fix(r); err != nil {
				return err
			}
		}
		var rec taskrun.Record
		if err := json.Unmarshal(line, &rec); err != nil {
			return fmt.Errorf("read record: %w", err)
		}
		if _, err := out.Write(append(line, '\n')); err != nil {
			return fmt.Errorf("write results: %w", err)
		}
		sum.Records = append(sum.Records, rec)
		sum.Ran++
		if b.OnRecord != nil {
			b.OnRecord(rec, line)
		}
		return nil
	})
	if cerr := out.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("write results: %w", cerr)
	}
	return sum, err
}

// localQueue runs a set's tasks through an embedded JetStream server (its
// store beside the workspaces, for this run only) and in-process workers
// that share the batch's sandbox pool and models: each task travels as on
// many machines, while taskrun.Batch.Run keeps the set's order, resume,
// retries and stops.
type localQueue struct {
	srv   *queue.Server
	nc    *nats.Conn
	q     *queue.Queue
	name  string
	store string

	mu      sync.Mutex
	waiting map[string]chan queue.Result

	stop context.CancelFunc
	wg   sync.WaitGroup
}

// startLocalQueue starts the server and b's workers, and collects the
// results of ids (the tasks b.Run may hand it) for Execute's callers.
func startLocalQueue(ctx context.Context, cfg queue.Config, name string, b *taskrun.Batch, ids []string) (*localQueue, error) {
	l := &localQueue{name: name, store: filepath.Join(b.Root, ".queue"), waiting: map[string]chan queue.Result{}}
	// The results file is the set's record; what an earlier run left on
	// the queue is of no use and must not be collected as this run's.
	if err := os.RemoveAll(l.store); err != nil {
		return nil, fmt.Errorf("remove old queue store: %w", err)
	}
	var err error
	// In-process only: a port, even on loopback, would let another local
	// user put tasks before this batch's workers, who run them with this
	// user's model key.
	if l.srv, err = queue.StartServer(queue.ServerOptions{StoreDir: l.store, InProcess: true}); err != nil {
		return nil, err
	}
	if l.nc, err = l.srv.Connect("agentteam batch"); err != nil {
		l.close()
		return nil, err
	}
	cfg.Memory = true // the results file is the set's record; this queue lives as long as the batch
	if l.q, err = queue.Open(ctx, l.nc, cfg); err != nil {
		l.close()
		return nil, err
	}
	slog.Debug("tasks go through an embedded queue, in this process only", "store", l.store)
	// The workers stop with ctx (a cancel cuts their tasks short, as
	// b.Run's are) or at close; the collector only at close, so that a
	// task finishing as ctx ends is still recorded.
	workCtx, stopWork := context.WithCancel(ctx)
	collectCtx, stopCollect := context.WithCancel(context.WithoutCancel(ctx))
	l.stop = func() { stopWork(); stopCollect() }
	worker := *b
	worker.Execute = nil // the worker runs the team here
	h := &taskHandler{batch: func(queuedTeam) *taskrun.Batch { return &worker }}
	l.wg.Go(func() { l.q.Work(workCtx, b.Jobs, h) })
	l.wg.Go(func() {
		err := l.q.Collect(collectCtx, name, ids, func(r queue.Result) error {
			l.mu.Lock()
			ch := l.waiting[r.ID]
			delete(l.waiting, r.ID)
			l.mu.Unlock()
			if ch != nil {
				ch <- r
			}
			return nil
		})
		if err != nil && collectCtx.Err() == nil {
			slog.Warn("the local queue stopped collecting results", "err", err)
		}
	})
	return l, nil
}

// execute submits one task and waits for its result; a cancel while it
// waits leaves it unfinished (no record), as b.Run would.
func (l *localQueue) execute(ctx context.Context, it taskrun.Item, team taskrun.Team) (taskrun.Record, []byte, bool, error) {
	tasks, _, err := queueJobs([]taskrun.Item{it}, nil, team)
	if err != nil {
		return taskrun.Record{}, nil, false, err
	}
	ch := make(chan queue.Result, 1)
	l.mu.Lock()
	l.waiting[it.ID] = ch
	l.mu.Unlock()
	if err := l.q.Submit(ctx, l.name, tasks); err != nil {
		if ctx.Err() != nil {
			return taskrun.Record{}, nil, true, ctx.Err()
		}
		return taskrun.Record{ID: it.ID, Status: taskrun.Failed, Error: taskrun.ErrorText(ctx, err), ExitCode: ExitFailure}, nil, false, err
	}
	select {
	case r := <-ch:
		var rec taskrun.Record
		if err := json.Unmarshal(r.Record, &rec); err != nil {
			return taskrun.Record{}, nil, false, fmt.Errorf("read record: %w", err)
		}
		return rec, r.Record, false, nil
	case <-ctx.Done():
		return taskrun.Record{}, nil, true, ctx.Err()
	}
}

// close stops the workers and the collector, the server, and removes the
// store.
func (l *localQueue) close() {
	if l.stop != nil {
		l.stop()
		l.wg.Wait()
	}
	if l.nc != nil {
		l.nc.Close()
	}
	if l.srv != nil {
		l.srv.Close()
	}
	os.RemoveAll(l.store)
}

// runBatchRemote submits a set to a queue others' workers serve and
// collects its results here; this machine needs no engine and no model
// key.
func runBatchRemote(ctx context.Context, opts *BatchOptions, items []taskrun.Item) error {
	if opts.Replay != "" {
		return usageError("--replay runs locally: drop --queue or use --queue local")
	}
	for _, it := range items {
		if it.Project != "" {
			return usageError("task %s has a project, which is on this machine: use --queue local", it.ID)
		}
	}
	st, err := opts.f.Settings()
	if err != nil {
		return err
	}
	pr, err := prompts.Load(opts.teamOptions.Prompts)
	if err != nil {
		return usageError("%v", err)
	}
	coder, reviewer := st.agentModels(opts.teamOptions.Agents)
	vision, err := st.reviewerVision(opts.teamOptions.Agents)
	if err != nil {
		return err
	}
	team := taskrun.Team{CoderModel: coder, ReviewerModel: reviewer, ReviewerVision: vision, MaxTurns: opts.MaxTurns, Timeout: opts.Timeout,
		TokenBudget: opts.TokenBudget, HistoryBudget: opts.HistoryBudget, Prompts: pr}
	if err := os.MkdirAll(opts.Root, 0o755); err != nil {
		return fmt.Errorf("create batch workspace: %w", err)
	}
	nc, err := opts.f.dialQueueAs(opts.Queue, "agentteam batch")
	if err != nil {
		return err
	}
	defer nc.Close()
	q, err := queue.Open(ctx, nc, opts.queueFlags.config())
	if err != nil {
		return err
	}
	done, err := taskrun.ReadRecords(opts.Results)
	if err != nil {
		return err
	}
	tasks, ids, err := queueJobs(items, done, team)
	if err != nil {
		return err
	}
	name := queueBatchName(opts.File, opts.Results)
	if opts.Events && !opts.Detach {
		// Before the tasks go out: a worker may start one at once, and
		// events are not kept for a listener that comes later.
		stop, err := q.Events(name, eventPrinter(opts.IO.Out))
		if err != nil {
			return err
		}
		defer stop()
	}
	if !opts.Attach {
		if err := q.Submit(ctx, name, tasks); err != nil {
			return err
		}
	}
	if opts.Detach {
		fmt.Fprintf(opts.IO.ErrOut, "submitted %d tasks to %s (%d already in the results); collect their results with:\n  agentteam batch --queue %s --attach %s\n",
			len(tasks), opts.Queue, len(items)-len(ids), opts.Queue, opts.File)
		return nil
	}
	prog := newProgress(opts.IO, opts.f.line, opts.machineOut(), len(ids), len(items)-len(ids))
	b := &taskrun.Batch{Items: items, Root: opts.Root, Results: opts.Results, OnRecord: func(r taskrun.Record, line []byte) {
		if opts.JSON {
			opts.IO.Out.Write(append(line, '\n'))
		}
		prog.add(r)
	}}
	sum, err := collectResults(ctx, q, name, b, ids, func(r queue.Result) ([]byte, error) { return saveShipped(ctx, q, opts.Root, r) })
	prog.finish()
	if ctx.Err() != nil && !opts.Attach {
		// Queued tasks are dropped and the workers stop the running
		// ones; what finished waits on the queue for the next run of this
		// command. One that only watches (--attach) leaves the set running.
		q.Cancel(context.WithoutCancel(ctx), name)
	}
	printBatchSummary(opts, sum)
	return setExit(sum, err)
}

// receivedBytes and receivedEntries bound a workspace a worker sends
// back, unpacked: the worker is trusted to run the team, not what the
// team's code left.
const (
	receivedBytes   = 1 << 30
	receivedEntries = 100_000
)

// saveShipped puts what a worker sent with a result on this machine, where
// a local run would have: the workspace in ROOT/ID (unpacked safely), the
// transcript beside it; the line's "workspace" and "transcript" then name
// them. What could not be received is said in "workspace_note", and the
// line keeps the worker's paths.
func saveShipped(ctx context.Context, q *queue.Queue, root string, r queue.Result) ([]byte, error) {
	if len(r.Transcript) == 0 && r.Worker == "" && r.Workspace == "" && r.WorkspaceNote == "" {
		return r.Record, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(r.Record, &fields); err != nil {
		return nil, fmt.Errorf("read record: %w", err)
	}
	set := func(k string, v any) { fields[k], _ = json.Marshal(v) }
	if r.Worker != "" {
		set("worker", r.Worker)
	}
	note := r.WorkspaceNote
	if len(r.Transcript) > 0 || r.Workspace != "" {
		dir, err := taskrun.UniqueDir(root, r.ID) // the name a local run would give
		if err != nil {
			return nil, err
		}
		received := false
		if r.Workspace != "" {
			if err := receiveWorkspace(ctx, q, r.Workspace, dir); err != nil {
				note = "not received: " + err.Error()
			} else {
				set("worker_workspace", fields["workspace"])
				set("workspace", dir)
				received = true
			}
		}
		if !received {
			os.RemoveAll(dir) // only the transcript is here
		}
		if len(r.Transcript) > 0 {
			path := dir + ".transcript.jsonl"
			if err := os.WriteFile(path, r.Transcript, 0o644); err != nil {
				return nil, fmt.Errorf("save transcript: %w", err)
			}
			set("transcript", path)
		}
	}
	if note != "" {
		set("workspace_note", note)
	}
	return json.Marshal(fields)
}

// receiveWorkspace fetches a workspace a worker sent (a gzipped tar) and
// unpacks it into dir, then deletes it from the queue.
func receiveWorkspace(ctx context.Context, q *queue.Queue, name, dir string) error {
	tmp, err := os.CreateTemp(filepath.Dir(dir), ".receive-*")
	if err != nil {
		return fmt.Errorf("receive workspace: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := q.GetFile(ctx, name, tmp, receivedBytes); err != nil {
		return err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("receive workspace: %w", err)
	}
	zr, err := gzip.NewReader(tmp)
	if err != nil {
		return fmt.Errorf("receive workspace: %w", err)
	}
	if _, err := workspace.Extract(ctx, dir, zr, workspace.Limits{Bytes: receivedBytes, Entries: receivedEntries}); err != nil {
		return err
	}
	q.DeleteFile(context.WithoutCancel(ctx), name)
	return nil
}

// sendWorkspace archives a finished task's workspace (gzipped tar, at most
// limit bytes of files) and puts it on the queue; it returns the file's
// name, or why it was not sent.
func sendWorkspace(ctx context.Context, q *queue.Queue, d queue.Delivery, dir string, limit int64) (name, note string) {
	ws, err := workspace.Open(dir)
	if err != nil {
		return "", "not sent: " + err.Error()
	}
	defer ws.Close()
	tmp, err := os.CreateTemp("", "agentteam-send-*")
	if err != nil {
		return "", "not sent: " + err.Error()
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	zw := gzip.NewWriter(tmp)
	err = ws.Archive(ctx, zw, workspace.ArchiveOptions{Limits: workspace.Limits{Bytes: limit, Entries: receivedEntries}})
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	switch {
	case errors.Is(err, workspace.ErrTooLarge):
		return "", fmt.Sprintf("not sent: larger than the worker's --send-workspace (%d bytes, %d entries)", limit, receivedEntries)
	case err != nil:
		return "", "not sent: " + err.Error()
	}
	name = fmt.Sprintf("%s/%s/%d-%s", d.Batch, taskrun.SafeName(d.ID), d.Attempt, rand.Text()[:8])
	if err := q.PutFile(ctx, name, tmp); err != nil {
		return "", "not sent: " + err.Error()
	}
	return name, ""
}

// taskHandler runs queued tasks with taskrun, on this machine's engines.
type taskHandler struct {
	// batch gives the set settings a task runs with (the worker's models
	// and sandboxes, the task's team settings).
	batch func(queuedTeam) *taskrun.Batch
	// sendTranscript bounds a transcript sent back with a result (0: none).
	sendTranscript int64
	// sendWorkspace bounds the files of a workspace sent back with a
	// result (0: none).
	sendWorkspace int64
	// remote is a worker's queue, to a submitter on another machine: the
	// workspaces and the tasks' live events go back through it. Unset
	// (--queue local), the submitter has them here already.
	remote *queue.Queue
	worker string
	// up, when set, says whether an engine is left (a worker's); a task
	// whose engines are down then goes back on the queue for another
	// machine instead of becoming an error. Unset (--queue local, where
	// no other machine would take it), such a task is an error record.
	up func() int
}

// Ready keeps a worker without an engine from pulling tasks.
func (h *taskHandler) Ready(context.Context) error {
	if h.up != nil && h.up() == 0 {
		return fmt.Errorf("%w: every engine of this worker is down", sandbox.ErrEngineUnavailable)
	}
	return nil
}

func (h *taskHandler) Run(ctx context.Context, d queue.Delivery) (queue.Result, error) {
	var qt queuedTask
	if err := json.Unmarshal(d.Body, &qt); err != nil {
		return h.fail(d, fmt.Sprintf("read queued task: %v", err)), nil
	}
	it, err := taskrun.ParseItem(qt.Line)
	if err != nil {
		return h.fail(d, fmt.Sprintf("read queued task: %v", err)), nil
	}
	b := h.batch(qt.Team)
	if h.remote != nil { // b is this task's own
		b.Lines = func(_ taskrun.Item, line []byte) { h.remote.PublishEvent(d.Batch, d.ID, line) }
	}
	if err := b.Team.Check(); err != nil {
		return h.fail(d, fmt.Sprintf("queued team settings: %v", err)), nil
	}
	if it.Project != "" && b.Prepare == nil {
		return h.fail(d, "a task with a project runs with --queue local only (the project is on the submitter's disk)"), nil
	}
	rec, line, interrupted, err := b.RunOne(ctx, it)
	if interrupted {
		return queue.Result{}, fmt.Errorf("run task %s: %w", d.ID, cmp.Or(err, context.Canceled))
	}
	if errors.Is(err, sandbox.ErrEngineUnavailable) {
		if h.up != nil {
			return queue.Result{}, fmt.Errorf("%w: %w", queue.ErrUnavailable, err)
		}
		line, err = taskrun.RecordLine(it, rec)
	}
	if err != nil {
		return queue.Result{}, err
	}
	res := queue.Result{Record: line, Worker: h.worker}
	if h.sendWorkspace > 0 && h.remote != nil && rec.Workspace != "" {
		res.Workspace, res.WorkspaceNote = sendWorkspace(ctx, h.remote, d, rec.Workspace, h.sendWorkspace)
	}
	if h.sendTranscript > 0 {
		if st, err := os.Stat(rec.Transcript); err == nil && st.Size() <= h.sendTranscript {
			res.Transcript, _ = os.ReadFile(rec.Transcript)
		}
	}
	return res, nil
}

// GiveUp is an error record for a task no worker finished.
func (h *taskHandler) GiveUp(d queue.Delivery, why string) queue.Result {
	return h.fail(d, why)
}

func (h *taskHandler) fail(d queue.Delivery, why string) queue.Result {
	var qt queuedTask
	it, err := taskrun.Item{ID: d.ID}, json.Unmarshal(d.Body, &qt)
	if err == nil {
		if parsed, perr := taskrun.ParseItem(qt.Line); perr == nil {
			it = parsed
		}
	}
	rec := taskrun.Record{ID: d.ID, Status: taskrun.Failed, Error: why, ExitCode: ExitFailure}
	line, err := taskrun.RecordLine(it, rec)
	if err != nil {
		line, _ = json.Marshal(rec)
	}
	return queue.Result{Record: line, Worker: h.worker}
}

// queueAuth is how a client proves itself to a queue and checks the
// queue in turn: the nodes' token and the CA of their TLS certificates.
type queueAuth struct {
	Token string // AGENTTEAM_QUEUE_TOKEN
	CA    string // AGENTTEAM_QUEUE_CA: set, the connection is TLS
}

// dialQueue connects to a queue.
func dialQueue(urls, name string, a queueAuth) (*nats.Conn, error) {
	var opts []nats.Option
	if a.Token != "" {
		opts = append(opts, nats.Token(a.Token))
	}
	if a.CA != "" {
		opts = append(opts, nats.RootCAs(a.CA))
	}
	nc, err := queue.Dial(urls, name, opts...)
	if errors.Is(err, nats.ErrNoServers) {
		err = fmt.Errorf("%w (is a queue, agentteam queue serve, running there?)", err)
	}
	return nc, err
}

// queueAuth is AGENTTEAM_QUEUE_TOKEN and AGENTTEAM_QUEUE_CA, from the
// environment or .env.
func (f *Factory) queueAuth() (queueAuth, error) {
	st, err := f.Settings()
	if err != nil {
		return queueAuth{}, err
	}
	var c config
	if err := st.resolve(&c, settingFlags{}, "AGENTTEAM_QUEUE_TOKEN", "AGENTTEAM_QUEUE_CA"); err != nil {
		return queueAuth{}, usageError("%v", err)
	}
	return queueAuth{Token: c.queueToken, CA: c.queueCA}, nil
}

// dialQueueAs connects to urls with the configured token and CA.
func (f *Factory) dialQueueAs(urls, name string) (*nats.Conn, error) {
	a, err := f.queueAuth()
	if err != nil {
		return nil, err
	}
	return f.DialQueue(urls, name, a)
}
