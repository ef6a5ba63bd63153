package taskrun

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
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sourcegraph/conc/stream"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/transcript"
)

// ErrTasks marks a tasks file that cannot be used as it is; the message
// names the file and the line.
var ErrTasks = errors.New("invalid tasks")

// Item is one task of a set: one line of a tasks file.
type Item struct {
	ID            string
	Text          string
	Fields        map[string]json.RawMessage // the whole line, echoed in its record
	CoderModel    string                     // "": the team's
	ReviewerModel string                     // "": the team's
	Project       string                     // "project": a directory the team works on a copy of
}

// Record is one line of a results file besides the task's own fields.
type Record struct {
	ID           string                 `json:"id"`
	Status       Status                 `json:"status"`
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
	// ErrorKind is a model error's kind ("authentication", "quota", …),
	// so that a set run elsewhere (a queue's worker) can still tell a
	// configuration error from the rest.
	ErrorKind string `json:"error_kind,omitempty"`
	ExitCode  int    `json:"exit_code"`
	// Extra holds more fields for the line (Prepared.Record's); the
	// record's own win over them, and they over the task's.
	Extra map[string]any `json:"-"`
}

// Batch runs a set of tasks, several at once, each in its own workspace
// under Root with its transcript beside it, and appends one record per
// finished task to the Results file. Tasks already there are not run
// again.
type Batch struct {
	Items     []Item
	Root      string // where the tasks' workspaces go; it must exist
	Results   string // the results file, appended to
	Jobs      int    // teams at once, at least 1
	Team      Team
	Sandboxes sandbox.Opener
	// Models returns an item's coder and reviewer models; an error is that
	// task's failure.
	Models func(Item) (coder, reviewer model.Model, err error)
	// Attempts is how many times a task whose engine was lost under it
	// runs, from scratch in a new workspace (at most; 0 means 1).
	// EnginesUp, when set, says whether an engine is left to try.
	Attempts  int
	EnginesUp func() int
	// ExitCode gives a finished task's exit status, for its record and its
	// transcript; nil leaves 0.
	ExitCode func(Outcome) int
	// OnRecord is called once per finished task, one call at a time, with
	// the line written to the results file.
	OnRecord func(r Record, line []byte)
	// Prepare, when set, readies each task's new workspace dir before its
	// team starts (a copy of the task's project) and says how to run it;
	// an error is that task's failure.
	Prepare func(ctx context.Context, it Item, dir, transcript string) (Prepared, error)
	Log     *slog.Logger // nil: slog.Default()
	// RetryErrors runs again the tasks whose record is an error; their new
	// record is appended, and the last record of a task is the one read.
	RetryErrors bool
	// StopAfter, when above 0, stops starting tasks once this many in a
	// row failed with a configuration error (key, model name, quota):
	// Run then returns a *StoppedError and leaves the rest for next time.
	StopAfter int
	// Lines, when set, sees each task's transcript lines as they are
	// written (Task.Lines); it must not block.
	Lines func(it Item, line []byte)
	// TaskTeam, when set, gives one task's team settings from the set's
	// (a replayed task's recorded limits, say); an error is that task's
	// failure.
	TaskTeam func(it Item, set Team) (Team, error)
	// Execute, when set, runs each task instead of Run running its team
	// here (a queue that hands it to a worker, which calls RunOne); it
	// returns what RunOne returns. The set's order, resume, retries and
	// stop stay Run's.
	Execute func(ctx context.Context, it Item) (rec Record, line []byte, interrupted bool, err error)
}

// Prepared is how Batch.Prepare says to run a task.
type Prepared struct {
	Text   string         // the team's first message
	Extra  map[string]any // more fields for the transcript's task event
	Finish func(Outcome) []transcript.Event
	// Record, when set, gives more fields for the task's results line once
	// its team has ended.
	Record func() map[string]any
}

// Summary is what came of a whole set, the tasks skipped as already done
// included.
type Summary struct {
	Records []Record // the earlier ones first, then in finishing order
	Ran     int      // tasks run now
	Skipped int      // tasks already in the results file
}

// Worst is the worst status of the set: Failed over NotApproved over
// Approved.
func (s Summary) Worst() Status {
	worst := Approved
	for _, r := range s.Records {
		switch {
		case r.Status == Failed:
			return Failed
		case r.Status == NotApproved:
			worst = NotApproved
		}
	}
	return worst
}

// Run runs the tasks not yet in the results file. A task's failure is its
// record, never the set's end; the error is for a results file that cannot
// be read or written, or a cancelled context (the tasks cut short are not
// recorded, so the next run does them).
func (b *Batch) Run(ctx context.Context) (Summary, error) {
	log := cmp.Or(b.Log, slog.Default())
	if cut, err := RepairResults(b.Results); err != nil {
		return Summary{}, err
	} else if cut > 0 {
		log.Warn("the results file ended in a torn line; removed it", "file", b.Results, "bytes", cut)
	}
	done, err := ReadRecords(b.Results)
	if err != nil {
		return Summary{}, err
	}
	out, err := os.OpenFile(b.Results, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return Summary{}, fmt.Errorf("open results: %w", err)
	}
	var sum Summary
	todo := b.Todo(done)
	again := map[string]bool{} // done, but to run again
	for _, it := range todo {
		again[it.ID] = true
	}
	for _, it := range b.Items {
		if r, ok := done[it.ID]; ok && !again[it.ID] {
			sum.Records = append(sum.Records, r)
			sum.Skipped++
		}
	}
	var writeErr error
	var stop configStop
	s := stream.New().WithMaxGoroutines(max(1, b.Jobs))
	for _, it := range todo {
		if ctx.Err() != nil || stop.stopped() {
			break
		}
		s.Go(func() stream.Callback {
			if stop.stopped() { // decided while this one waited for a slot
				return func() {}
			}
			stop.started.Add(1)
			var rec Record
			var line []byte
			var interrupted bool
			var runErr error
			if b.Execute != nil {
				rec, line, interrupted, runErr = b.Execute(ctx, it)
			} else {
				rec, interrupted, runErr = b.runItem(ctx, log, it)
			}
			if !interrupted {
				stop.note(rec, runErr, b.StopAfter)
			}
			return func() {
				if interrupted {
					return // not finished: a later run does it again
				}
				var err error
				if line == nil {
					line, err = RecordLine(it, rec)
				}
				if err == nil {
					_, err = out.Write(append(line, '\n'))
				}
				if err != nil && writeErr == nil {
					writeErr = fmt.Errorf("write results: %w", err)
				}
				sum.Records = append(sum.Records, rec)
				sum.Ran++
				if b.OnRecord != nil {
					b.OnRecord(rec, line)
				}
			}
		})
	}
	s.Wait()
	if err := out.Close(); err != nil && writeErr == nil {
		writeErr = fmt.Errorf("write results: %w", err)
	}
	switch {
	case writeErr != nil:
		return sum, writeErr
	case ctx.Err() != nil:
		return sum, ctx.Err()
	case stop.stopped():
		return sum, &StoppedError{Failed: b.StopAfter, NotStarted: len(todo) - int(stop.started.Load()), Err: stop.err}
	}
	return sum, nil
}

// RunOne runs one task of the set as Run would, without the results file:
// its record and its results line (the task's fields with the record's on
// top). interrupted reports a task cut short by a cancel, which has no
// record. A distributed worker runs each task it is handed with it. A
// task whose engines are all down has no record either: its error wraps
// sandbox.ErrEngineUnavailable, and a worker hands it to another machine.
func (b *Batch) RunOne(ctx context.Context, it Item) (rec Record, line []byte, interrupted bool, err error) {
	rec, interrupted, runErr := b.runItem(ctx, cmp.Or(b.Log, slog.Default()), it)
	if interrupted {
		return rec, nil, true, ctx.Err()
	}
	if errors.Is(runErr, sandbox.ErrEngineUnavailable) {
		return rec, nil, false, fmt.Errorf("run task %s: %w", it.ID, runErr)
	}
	line, err = RecordLine(it, rec)
	if err != nil {
		return rec, nil, false, fmt.Errorf("encode record: %w", err)
	}
	return rec, line, false, nil
}

// configStop counts the configuration errors in a row of a set's tasks.
type configStop struct {
	mu      sync.Mutex
	inRow   int
	err     error // set once the set stops starting tasks
	started atomic.Int64
}

// note counts a finished task's record: a configuration error adds to the
// run, anything else ends it.
// The record decides, since a task run elsewhere (Execute) has no error
// value here; err, when there is one, is the one kept.
func (c *configStop) note(r Record, err error, limit int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !isConfigError(model.Kind(r.ErrorKind)) {
		c.inRow = 0
		return
	}
	if c.inRow++; limit > 0 && c.inRow >= limit && c.err == nil {
		c.err = cmp.Or(err, error(recordedError{r}))
	}
}

// recordedError is a task's error as its record tells it: its text, and
// its kind for model.KindOf.
type recordedError struct{ r Record }

func (e recordedError) Error() string { return e.r.Error }
func (e recordedError) Unwrap() error {
	return &model.Error{Kind: model.Kind(e.r.ErrorKind), Message: e.r.Error}
}

func (c *configStop) stopped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil
}

// runItem runs one task, again on another engine (from scratch, in a new
// workspace) when its engine is lost under it.
func (b *Batch) runItem(ctx context.Context, log *slog.Logger, it Item) (Record, bool, error) {
	for attempt := 1; ; attempt++ {
		log.Debug("task starting", "task", it.ID, "attempt", attempt)
		rec, interrupted, err := b.attempt(ctx, it)
		log.Debug("task ended", "task", it.ID, "status", rec.Status, "interrupted", interrupted, "duration_ms", rec.DurationMS, "error", rec.Error)
		if errors.Is(err, sandbox.ErrEngineUnavailable) && attempt < b.Attempts && ctx.Err() == nil &&
			(b.EnginesUp == nil || b.EnginesUp() > 0) {
			log.Warn("task lost its engine; running it again on another", "task", it.ID, "attempt", attempt)
			continue
		}
		return rec, interrupted, err
	}
}

// attempt runs one task's team once. A panic or an error is that task's
// record; interrupted reports a task cut short by a cancel.
func (b *Batch) attempt(ctx context.Context, it Item) (rec Record, interrupted bool, runErr error) {
	start := time.Now()
	rec = Record{ID: it.ID, Status: Failed}
	exitCode := func(o Outcome) int {
		if b.ExitCode == nil {
			return 0
		}
		return b.ExitCode(o)
	}
	defer func() {
		if p := recover(); p != nil {
			rec.Error = fmt.Sprintf("internal error: %v", p)
			rec.Status, rec.ExitCode = Failed, exitCode(Outcome{Status: Failed, Err: errors.New(rec.Error)})
		}
		if rec.DurationMS == 0 {
			rec.DurationMS = time.Since(start).Milliseconds()
		}
	}()
	fail := func(err error) (Record, bool, error) {
		rec.Error, rec.ErrorKind, rec.ExitCode = ErrorText(ctx, err), string(model.KindOf(err)), exitCode(Outcome{Status: Failed, Err: err})
		return rec, false, err
	}
	dir, err := UniqueDir(b.Root, it.ID)
	if err != nil {
		return fail(err)
	}
	rec.Workspace, rec.Transcript = dir, dir+".transcript.jsonl"
	coder, reviewer, err := b.Models(it)
	if err != nil {
		return fail(err)
	}
	cfg := b.Team
	if b.TaskTeam != nil {
		if cfg, err = b.TaskTeam(it, cfg); err != nil {
			return fail(err)
		}
	}
	cfg.CoderModel = cmp.Or(it.CoderModel, cfg.CoderModel)
	cfg.ReviewerModel = cmp.Or(it.ReviewerModel, cfg.ReviewerModel)
	var lines func([]byte)
	if b.Lines != nil {
		lines = func(line []byte) { b.Lines(it, line) }
	}
	task := Task{Text: it.Text, Dir: dir, Transcript: rec.Transcript, Coder: coder, Reviewer: reviewer, Lines: lines,
		Extra:       map[string]any{"id": it.ID},
		ResultExtra: func(o Outcome) map[string]any { return map[string]any{"exit_code": exitCode(o)} }}
	var more func() map[string]any
	if b.Prepare != nil {
		p, err := b.Prepare(ctx, it, dir, rec.Transcript)
		if err != nil {
			return fail(err)
		}
		task.Text, task.Finish, more = p.Text, p.Finish, p.Record
		maps.Copy(task.Extra, p.Extra)
	}
	o, err := Run(ctx, b.Sandboxes, cfg, task)
	if err != nil && ctx.Err() != nil {
		return rec, true, err
	}
	if more != nil {
		rec.Extra = more()
	}
	rec.Status, rec.Approved, rec.StopReason, rec.Turns, rec.Usage = o.Status, o.Status == Approved, o.StopReason, o.Turns, o.Usage
	rec.DurationMS, rec.LastExitCode, rec.Engine, rec.Tokens = o.Duration.Milliseconds(), o.LastExitCode, o.Engine, o.Tokens()
	rec.Error, rec.ErrorKind, rec.ExitCode = ErrorText(ctx, err), string(model.KindOf(err)), exitCode(o)
	return rec, false, err
}

// ReadTasks reads and checks a tasks file, one JSON object per line: "id"
// (a string or a number, unique) and "task" (text), optionally
// "coder_model", "reviewer_model" and "project"; other fields are kept. Any bad line
// is an ErrTasks that names it.
func ReadTasks(path string) ([]Item, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: read tasks: %w", ErrTasks, err)
	}
	defer f.Close()
	var items []Item
	seen := map[string]int{}
	r := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			it, perr := ParseItem(line)
			if perr != nil {
				return nil, fmt.Errorf("%w: %s line %d: %w", ErrTasks, path, n, perr)
			}
			if first, dup := seen[it.ID]; dup {
				return nil, fmt.Errorf("%w: %s line %d: id %q was already used on line %d", ErrTasks, path, n, it.ID, first)
			}
			seen[it.ID] = n
			items = append(items, it)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: read tasks: %w", ErrTasks, err)
		}
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%w: %s has no task", ErrTasks, path)
	}
	return items, nil
}

// ParseItem reads one line of a tasks file.
func ParseItem(line []byte) (Item, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		return Item{}, fmt.Errorf("not a JSON object: %v", err)
	}
	it := Item{Fields: fields}
	var id any
	if err := json.Unmarshal(fields["id"], &id); err != nil || id == nil {
		return it, errors.New(`no "id"`)
	}
	switch v := id.(type) {
	case string:
		it.ID = v
	case float64:
		it.ID = strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return it, errors.New(`"id" must be a string or a number`)
	}
	if strings.TrimSpace(it.ID) == "" {
		return it, errors.New(`"id" is empty`)
	}
	if err := json.Unmarshal(fields["task"], &it.Text); err != nil || strings.TrimSpace(it.Text) == "" {
		return it, errors.New(`no "task" text`)
	}
	for key, dst := range map[string]*string{"coder_model": &it.CoderModel, "reviewer_model": &it.ReviewerModel, "project": &it.Project} {
		if raw, ok := fields[key]; ok {
			if err := json.Unmarshal(raw, dst); err != nil {
				return it, fmt.Errorf("%q must be a string", key)
			}
		}
	}
	return it, nil
}

// ReadRecords reads the records already in a results file, by task id; a
// missing file has none. A torn last line (a crash mid-write) does not
// count.
func ReadRecords(path string) (map[string]Record, error) {
	done := map[string]Record{}
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
			Record
			ID any `json:"id"`
		}
		if json.Unmarshal(line, &r) != nil || r.ID == nil {
			continue
		}
		r.Record.ID = fmt.Sprint(r.ID)
		done[r.Record.ID] = r.Record
	}
	return done, nil
}

// RecordLine is the task's own fields with the record's on top.
func RecordLine(it Item, r Record) ([]byte, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, err
	}
	for k, v := range r.Extra {
		if _, taken := fields[k]; !taken {
			raw, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			fields[k] = raw
		}
	}
	for k, v := range it.Fields {
		if _, taken := fields[k]; !taken {
			fields[k] = v
		}
	}
	return json.Marshal(fields)
}

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// SafeName is a task id made safe as a file name (the replay files of a
// set are looked up by it).
func SafeName(id string) string { return unsafeID.ReplaceAllString(id, "_") }

// UniqueDir makes a new directory for a task under root, named after its
// id (made safe), with a suffix when an earlier attempt left one.
func UniqueDir(root, id string) (string, error) {
	base := strings.Trim(SafeName(id), "._")
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
