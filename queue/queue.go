package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names on the server.
const (
	TasksStream   = "AGENTTEAM_TASKS"
	ResultsStream = "AGENTTEAM_RESULTS"
	WorkersName   = "workers" // the durable consumer every worker shares
	tasksPrefix   = "agentteam.tasks."
	resultsPrefix = "agentteam.results."
	// cancelPrefix is where Cancel tells the workers (core NATS, not
	// stored: a worker away then finishes the task, whose result waits).
	cancelPrefix = "agentteam.cancel."
	// eventsPrefix carries running tasks' live events (core NATS: whoever
	// listens sees them, nothing is kept; the transcript is the record).
	eventsPrefix = "agentteam.events."
	headerID     = "Agentteam-Task"
	// headerAttempts carries the submitter's Config.Attempts with each
	// task: the set's say, not each worker's.
	headerAttempts = "Agentteam-Attempts"
	// FilesBucket is the object store that workers send workspaces back
	// through, kept a week like the results.
	FilesBucket = "agentteam_files"
)

// Config tunes a queue. Zero values take the defaults.
type Config struct {
	// AckWait is how long a delivered task may go without a heartbeat
	// before it is delivered again; workers heartbeat every third of it.
	// The submitter sets it on the workers' consumer.
	AckWait time.Duration // 30s
	// Attempts is how many deliveries of a task may run; the next one
	// records a final error instead (a task that kills its worker every
	// time must not go round forever).
	Attempts int // 3
	// Replicas of the streams: 3 on a 3-node cluster. 0 leaves a stream
	// that exists as it is and creates a missing one with 1: clients do not
	// know the cluster's size, the nodes (queue serve) set it.
	Replicas int // 0
	// AdminTimeout bounds each JetStream admin call and publish; a call
	// during a leader election can otherwise stall for a minute. Calls
	// are retried until AdminRetries fail.
	AdminTimeout time.Duration // 5s
	AdminRetries int           // 6
	// Poll is how long a worker's pull waits for a task before asking
	// again (and noticing a stop).
	Poll time.Duration // 1s
	// HandBack delays the redelivery of a task a worker could not run
	// (ErrUnavailable), so that it goes to a worker that can.
	HandBack time.Duration // 5s
	Log      *slog.Logger  // nil: slog.Default()
	// Memory keeps the streams in memory, not on disk: for a queue that
	// lives as long as its process (a batch's own), whose record is
	// elsewhere.
	Memory bool
}

func (c Config) withDefaults() Config {
	c.AckWait = cmp.Or(c.AckWait, 30*time.Second)
	c.Attempts = cmp.Or(c.Attempts, 3)
	c.HandBack = cmp.Or(c.HandBack, 5*time.Second)
	c.AdminTimeout = cmp.Or(c.AdminTimeout, 5*time.Second)
	c.AdminRetries = cmp.Or(c.AdminRetries, 6)
	c.Poll = cmp.Or(c.Poll, time.Second)
	c.Log = cmp.Or(c.Log, slog.Default())
	return c
}

// Dial connects to one or more servers (comma-separated URLs) and keeps
// reconnecting: a node lost in a cluster is not the end of a worker.
// opts add to the defaults (nats.Token for a server started with one).
func Dial(urls, name string, opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(false)}, opts...)
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect queue %s: %w", urls, err)
	}
	return nc, nil
}

// Queue is a connection to the task and result streams.
type Queue struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	cfg Config

	mu          sync.Mutex
	consumerSet bool // this queue set the workers' consumer: a submit need not again
}

// Open makes sure the streams exist.
func Open(ctx context.Context, nc *nats.Conn, cfg Config) (*Queue, error) {
	cfg = cfg.withDefaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("open jetstream: %w", err)
	}
	q := &Queue{nc: nc, js: js, cfg: cfg}
	replicas := max(1, cfg.Replicas)
	storage := jetstream.FileStorage
	if cfg.Memory {
		storage = jetstream.MemoryStorage
	}
	streams := []jetstream.StreamConfig{
		{Name: TasksStream, Subjects: []string{tasksPrefix + "*"}, Retention: jetstream.WorkQueuePolicy,
			Storage: storage, Replicas: replicas, Duplicates: 2 * time.Minute},
		// Results wait for their submitter (which may be detached) for a week.
		{Name: ResultsStream, Subjects: []string{resultsPrefix + "*"}, Retention: jetstream.LimitsPolicy,
			Storage: storage, Replicas: replicas, Duplicates: 2 * time.Minute, MaxAge: 7 * 24 * time.Hour},
	}
	if cfg.Replicas > 0 {
		// A node's call: the files' bucket gets the cluster's replicas
		// now. A client makes a missing one when it first sends a file.
		err = q.admin(ctx, "create object store "+FilesBucket, func(ctx context.Context) error {
			_, err := js.CreateOrUpdateObjectStore(ctx, q.filesConfig())
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	for _, sc := range streams {
		err := q.admin(ctx, "create stream "+sc.Name, func(ctx context.Context) error {
			if cfg.Replicas == 0 {
				// A client must not shrink a cluster's 3 replicas to 1.
				_, err := js.CreateStream(ctx, sc)
				if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
					return nil
				}
				return err
			}
			_, err := js.CreateOrUpdateStream(ctx, sc)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return q, nil
}

// admin runs one admin call with its own timeout, again after a pause
// while it fails (a leader election, a lost node), until the retries are
// spent or ctx ends.
func (q *Queue) admin(ctx context.Context, what string, call func(ctx context.Context) error) error {
	var err error
	pause := 100 * time.Millisecond
	for i := 0; i < q.cfg.AdminRetries; i++ {
		cctx, cancel := context.WithTimeout(ctx, q.cfg.AdminTimeout)
		err = call(cctx)
		cancel()
		if err == nil || ctx.Err() != nil || errors.Is(err, nats.ErrConnectionClosed) {
			break
		}
		q.cfg.Log.Debug("queue call failed; trying again", "call", what, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, 2*time.Second)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, cmp.Or(ctx.Err(), err))
	}
	return nil
}

var batchName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// CheckBatch reports a batch name that cannot be a subject token.
func CheckBatch(batch string) error {
	if !batchName.MatchString(batch) {
		return fmt.Errorf("batch name %q: only letters, digits, _ and - please", batch)
	}
	return nil
}

// Task is one task to submit: its id (unique in its batch) and its body.
type Task struct {
	ID   string
	Body []byte
}

// Submit puts tasks on the queue for batch. Each publish is deduplicated
// by the server (a retried publish is stored once); a task submitted again
// by a later run may run twice, and its result is still kept once.
func (q *Queue) Submit(ctx context.Context, batch string, tasks []Task) error {
	if err := CheckBatch(batch); err != nil {
		return err
	}
	q.mu.Lock()
	set := q.consumerSet
	q.mu.Unlock()
	if !set {
		if err := q.workersConsumer(ctx, true); err != nil {
			return err
		}
		q.mu.Lock()
		q.consumerSet = true
		q.mu.Unlock()
	}
	run := strconv.FormatInt(time.Now().UnixNano(), 36) // a later run's tasks are not duplicates of a purged one's
	for _, t := range tasks {
		msg := &nats.Msg{Subject: tasksPrefix + batch, Data: t.Body, Header: nats.Header{}}
		msg.Header.Set(headerID, t.ID)
		msg.Header.Set(headerAttempts, strconv.Itoa(q.cfg.Attempts))
		err := q.admin(ctx, "submit task "+t.ID, func(ctx context.Context) error {
			_, err := q.js.PublishMsg(ctx, msg, jetstream.WithMsgID(batch+"/"+t.ID+"/"+run))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Cancel removes the batch's tasks from the queue, those a worker is
// running too, and tells the workers, who stop the running ones.
func (q *Queue) Cancel(ctx context.Context, batch string) error {
	err := q.admin(ctx, "cancel batch "+batch, func(ctx context.Context) error {
		s, err := q.js.Stream(ctx, TasksStream)
		if err != nil {
			return err
		}
		return s.Purge(ctx, jetstream.WithPurgeSubject(tasksPrefix+batch))
	})
	if err == nil {
		q.nc.Publish(cancelPrefix+batch, nil)
		q.nc.FlushTimeout(q.cfg.AdminTimeout)
	}
	return err
}

// running is the cancel functions of a worker's running tasks, by batch.
type running struct {
	mu      sync.Mutex
	batches map[string]map[*context.CancelFunc]bool
}

func (r *running) add(batch string, cancel *context.CancelFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.batches[batch] == nil {
		r.batches[batch] = map[*context.CancelFunc]bool{}
	}
	r.batches[batch][cancel] = true
}

func (r *running) remove(batch string, cancel *context.CancelFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.batches[batch], cancel)
	if len(r.batches[batch]) == 0 {
		delete(r.batches, batch)
	}
}

func (r *running) cancel(batch string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.batches[batch] {
		(*c)()
	}
}

// workersConsumer makes sure the shared consumer exists; update sets this
// queue's AckWait on it (the submitter's say), else an existing one is
// kept as it is.
func (q *Queue) workersConsumer(ctx context.Context, update bool) error {
	cc := jetstream.ConsumerConfig{Durable: WorkersName, AckPolicy: jetstream.AckExplicitPolicy, AckWait: q.cfg.AckWait,
		MaxDeliver:    -1, // Attempts is counted by the workers, who then record why (the server would drop it silently)
		MaxAckPending: -1}
	return q.admin(ctx, "create consumer "+WorkersName, func(ctx context.Context) error {
		if !update {
			if _, err := q.js.Consumer(ctx, TasksStream, WorkersName); err == nil {
				return nil
			}
		}
		_, err := q.js.CreateOrUpdateConsumer(ctx, TasksStream, cc)
		return err
	})
}

// Result is what a worker sends back for a task.
type Result struct {
	ID         string `json:"id"`
	Record     []byte `json:"record"`               // the caller's record of the task
	Transcript []byte `json:"transcript,omitempty"` // optional
	Worker     string `json:"worker,omitempty"`
	// Workspace names the task's workspace in FilesBucket (PutFile), if
	// the worker sent it; WorkspaceNote says why not, when it did not.
	Workspace     string `json:"workspace,omitempty"`
	WorkspaceNote string `json:"workspace_note,omitempty"`
}

// Collect takes the results of batch for the ids in want, calls store for
// each id's first result, and acks a result only once store returned nil
// (a submitter that dies before storing gets it again). Results of other
// ids and repeats are dropped. It returns once every id is stored, or with
// ctx's error.
func (q *Queue) Collect(ctx context.Context, batch string, want []string, store func(Result) error) error {
	if err := CheckBatch(batch); err != nil {
		return err
	}
	pending := map[string]bool{}
	for _, id := range want {
		pending[id] = true
	}
	name := "collect_" + batch
	var cons jetstream.Consumer
	err := q.admin(ctx, "create consumer "+name, func(ctx context.Context) error {
		var err error
		cons, err = q.js.CreateOrUpdateConsumer(ctx, ResultsStream, jetstream.ConsumerConfig{Durable: name,
			AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute, FilterSubject: resultsPrefix + batch})
		return err
	})
	if err != nil {
		return err
	}
	for len(pending) > 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A fetch hands over each result as it arrives; it is cut short
		// once the last one is stored, not left to run out its wait.
		msgs, cancel, ok := q.fetch(ctx, cons, 64, "results")
		if !ok {
			continue
		}
		var storeErr error
		for m := range msgs.Messages() {
			if len(pending) == 0 {
				cancel()
				continue // unacked, for no one: the consumer goes below
			}
			if storeErr != nil {
				m.Nak() // the rest of the batch, for the next collector
				continue
			}
			var r Result
			if err := json.Unmarshal(m.Data(), &r); err != nil {
				q.cfg.Log.Warn("dropped a result that is not one", "err", err)
				m.Term()
				continue
			}
			if pending[r.ID] {
				if err := store(r); err != nil {
					m.Nak()
					storeErr = fmt.Errorf("store result %s: %w", r.ID, err)
					continue
				}
				delete(pending, r.ID)
			}
			m.Ack()
		}
		cancel()
		if storeErr != nil {
			return storeErr
		}
	}
	// Everything is stored: the batch's results and consumer are done with.
	q.admin(context.WithoutCancel(ctx), "delete consumer "+name, func(ctx context.Context) error {
		err := q.js.DeleteConsumer(ctx, ResultsStream, name)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil
		}
		return err
	})
	return nil
}

// fetch pulls up to n messages for one poll. The fetch ends with ctx, so
// a stopping caller does not wait out the poll; cancel ends it sooner.
// A failed fetch is logged and waited out (ok false).
func (q *Queue) fetch(ctx context.Context, cons jetstream.Consumer, n int, what string) (jetstream.MessageBatch, context.CancelFunc, bool) {
	fctx, cancel := context.WithTimeout(ctx, q.cfg.Poll)
	msgs, err := cons.Fetch(n, jetstream.FetchContext(fctx))
	if err != nil {
		cancel()
		q.cfg.Log.Debug("fetch "+what, "err", err)
		sleep(ctx, q.cfg.Poll)
		return nil, nil, false
	}
	return msgs, cancel, true
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// Delivery is one task as a worker receives it.
type Delivery struct {
	Batch   string
	ID      string
	Body    []byte
	Attempt int // 1 for the first delivery
}

// ErrUnavailable, wrapped in a Handler's error, says this worker cannot
// run tasks now (its engine is down): the task is handed back after
// Config.HandBack, for a worker that can, and this worker pulls nothing
// until its Ready says it can again.
var ErrUnavailable = errors.New("worker cannot run tasks now")

// Readier is a Handler that can tell whether it can run a task now; Work
// pulls only while Ready returns nil, so that a worker without an engine
// does not take tasks only to hand them back.
type Readier interface {
	Ready(ctx context.Context) error
}

// Handler runs delivered tasks.
type Handler interface {
	// Run runs a task to its result. An error hands the task back (a
	// stop, a lost engine): it is delivered again, here or elsewhere.
	Run(ctx context.Context, d Delivery) (Result, error)
	// GiveUp is the final result of a task delivered more often than
	// Config.Attempts allows; why says what happened.
	GiveUp(d Delivery, why string) Result
}

// Work pulls tasks with slots tasks at once and runs each with h until ctx
// ends; then it stops pulling, and the running tasks see ctx end and are
// handed back (or, if they finished, still recorded).
func (q *Queue) Work(ctx context.Context, slots int, h Handler) error {
	if err := q.workersConsumer(ctx, false); err != nil {
		return err
	}
	var cons jetstream.Consumer
	err := q.admin(ctx, "open consumer "+WorkersName, func(ctx context.Context) error {
		var err error
		cons, err = q.js.Consumer(ctx, TasksStream, WorkersName)
		return err
	})
	if err != nil {
		return err
	}
	beat := cons.CachedInfo().Config.AckWait / 3
	run := &running{batches: map[string]map[*context.CancelFunc]bool{}}
	sub, err := q.nc.Subscribe(cancelPrefix+"*", func(m *nats.Msg) {
		batch := strings.TrimPrefix(m.Subject, cancelPrefix)
		q.cfg.Log.Info("batch cancelled by its submitter: stopping its tasks", "batch", batch)
		run.cancel(batch)
	})
	if err != nil {
		return fmt.Errorf("subscribe to cancels: %w", err)
	}
	defer sub.Unsubscribe()
	var wg sync.WaitGroup
	for range max(1, slots) {
		wg.Go(func() {
			paused := false // said once, not on every poll
			for ctx.Err() == nil {
				if err := q.ready(ctx, h); err != nil {
					if !paused {
						q.cfg.Log.Warn("not taking tasks while this worker cannot run them", "err", err)
					}
					paused = true
					sleep(ctx, q.cfg.Poll)
					continue
				}
				if paused {
					q.cfg.Log.Info("taking tasks again")
					paused = false
				}
				msgs, cancel, ok := q.fetch(ctx, cons, 1, "task")
				if !ok {
					continue
				}
				for m := range msgs.Messages() {
					q.handle(ctx, m, h, beat, run)
				}
				cancel()
			}
		})
	}
	wg.Wait()
	return nil
}

// handBack puts a task this worker could not run back on the queue as a
// new message, so that the delivery did not count against its attempts
// (with every engine down it would otherwise become an error), and acks
// the old one. Should that fail, a nak after Config.HandBack still lets
// another worker have it.
func (q *Queue) handBack(ctx context.Context, m jetstream.Msg, d Delivery, seq uint64) {
	ctx = context.WithoutCancel(ctx)
	msg := &nats.Msg{Subject: m.Subject(), Data: d.Body, Header: nats.Header{}}
	msg.Header.Set(headerID, d.ID)
	err := q.admin(ctx, "hand back task "+d.ID, func(ctx context.Context) error {
		_, err := q.js.PublishMsg(ctx, msg, jetstream.WithMsgID(fmt.Sprintf("%s/%s/back-%d", d.Batch, d.ID, seq)))
		return err
	})
	if err != nil {
		m.NakWithDelay(q.cfg.HandBack)
		return
	}
	m.DoubleAck(ctx)
}

// ready is h's Ready, nil for a Handler that is always ready.
func (q *Queue) ready(ctx context.Context, h Handler) error {
	r, ok := h.(Readier)
	if !ok {
		return nil
	}
	return r.Ready(ctx)
}

// handle runs one delivered task: heartbeats while it runs, publishes its
// result, then acks; a task handed back is nak'd for another worker.
func (q *Queue) handle(ctx context.Context, m jetstream.Msg, h Handler, beat time.Duration, run *running) {
	md, err := m.Metadata()
	if err != nil {
		m.Term()
		return
	}
	d := Delivery{Batch: strings.TrimPrefix(m.Subject(), tasksPrefix), ID: m.Headers().Get(headerID),
		Body: m.Data(), Attempt: int(md.NumDelivered)}
	log := q.cfg.Log.With("batch", d.Batch, "task", d.ID, "attempt", d.Attempt)
	attempts := q.cfg.Attempts
	if n, err := strconv.Atoi(m.Headers().Get(headerAttempts)); err == nil && n > 0 {
		attempts = n
	}
	var res Result
	switch {
	case d.Attempt > attempts:
		res = h.GiveUp(d, fmt.Sprintf("delivered %d times and no worker finished it (each died, lost its engine or was stopped)", d.Attempt-1))
	case ctx.Err() != nil:
		m.Nak() // pulled as the worker stopped
		return
	default:
		stop := make(chan struct{})
		var beats sync.WaitGroup
		beats.Go(func() {
			t := time.NewTicker(beat)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					m.InProgress() // a lost one shows as a redelivery
				}
			}
		})
		tctx, cancel := context.WithCancel(ctx)
		run.add(d.Batch, &cancel)
		res, err = h.Run(tctx, d)
		cancelled := tctx.Err() != nil && ctx.Err() == nil
		run.remove(d.Batch, &cancel)
		cancel()
		close(stop)
		beats.Wait()
		if cancelled {
			log.Info("task cancelled by its submitter")
			m.Term() // purged already; nothing to deliver again
			return
		}
		if errors.Is(err, ErrUnavailable) {
			log.Warn("task handed back: this worker cannot run it now", "err", err)
			q.handBack(ctx, m, d, md.Sequence.Stream)
			return
		}
		if err != nil {
			log.Info("task handed back", "err", err)
			m.Nak()
			return
		}
	}
	res.ID = d.ID
	data, err := json.Marshal(res)
	if err == nil {
		// A finished task's result is sent even while stopping.
		err = q.admin(context.WithoutCancel(ctx), "publish result "+d.ID, func(ctx context.Context) error {
			_, err := q.js.Publish(ctx, resultsPrefix+d.Batch, data, jetstream.WithMsgID(fmt.Sprintf("%s/%s/%d", d.Batch, d.ID, md.Sequence.Stream)))
			return err
		})
	}
	if err != nil {
		log.Warn("result not sent; task handed back", "err", err)
		m.Nak()
		return
	}
	if err := q.admin(context.WithoutCancel(ctx), "ack task "+d.ID, m.DoubleAck); err != nil {
		log.Warn("task ran but its ack was lost; it may run again (its result is kept once)", "err", err)
	}
}

// fileTimeout bounds one attempt to send or fetch a file.
const fileTimeout = 2 * time.Minute

// PutFile stores r's bytes as name in FilesBucket; r is read again from its
// start on each retry.
func (q *Queue) PutFile(ctx context.Context, name string, r io.ReadSeeker) error {
	return q.files(ctx, "send file "+name, func(ctx context.Context, store jetstream.ObjectStore) error {
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			return err
		}
		_, err := store.Put(ctx, jetstream.ObjectMeta{Name: name}, r)
		return err
	})
}

// GetFile copies the file name from FilesBucket to w, at most max bytes
// (more is an error: the sender is not trusted to keep to a size).
func (q *Queue) GetFile(ctx context.Context, name string, w io.Writer, max int64) error {
	return q.files(ctx, "fetch file "+name, func(ctx context.Context, store jetstream.ObjectStore) error {
		obj, err := store.Get(ctx, name)
		if err != nil {
			return err
		}
		defer obj.Close()
		n, err := io.Copy(w, io.LimitReader(obj, max+1))
		if err == nil && n > max {
			err = fmt.Errorf("larger than %d bytes", max)
		}
		return err
	})
}

// DeleteFile removes name from FilesBucket.
func (q *Queue) DeleteFile(ctx context.Context, name string) error {
	return q.files(ctx, "delete file "+name, func(ctx context.Context, store jetstream.ObjectStore) error {
		err := store.Delete(ctx, name)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return nil
		}
		return err
	})
}

// files runs call on FilesBucket, three times at most, each with its own
// timeout (a file takes longer than an admin call).
func (q *Queue) files(ctx context.Context, what string, call func(context.Context, jetstream.ObjectStore) error) error {
	var err error
	for try := range 3 {
		if try > 0 {
			sleep(ctx, time.Duration(try)*time.Second)
		}
		if ctx.Err() != nil {
			break
		}
		cctx, cancel := context.WithTimeout(ctx, fileTimeout)
		var store jetstream.ObjectStore
		store, err = q.js.ObjectStore(cctx, FilesBucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			store, err = q.js.CreateObjectStore(cctx, q.filesConfig())
			if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				store, err = q.js.ObjectStore(cctx, FilesBucket) // made meanwhile by another
			}
		}
		if err == nil {
			err = call(cctx, store)
		}
		cancel()
		if err == nil {
			return nil
		}
		q.cfg.Log.Debug(what, "err", err)
	}
	return fmt.Errorf("%s: %w", what, cmp.Or(err, ctx.Err()))
}

// filesConfig is FilesBucket's configuration.
func (q *Queue) filesConfig() jetstream.ObjectStoreConfig {
	storage := jetstream.FileStorage
	if q.cfg.Memory {
		storage = jetstream.MemoryStorage
	}
	return jetstream.ObjectStoreConfig{Bucket: FilesBucket, Storage: storage, Replicas: max(1, q.cfg.Replicas), TTL: 7 * 24 * time.Hour}
}

// PublishEvent sends one live event of a running task of batch (a
// transcript line) to whoever listens (Events); nothing is kept, and a
// failure is not the task's.
func (q *Queue) PublishEvent(batch, id string, data []byte) {
	msg := &nats.Msg{Subject: eventsPrefix + batch, Data: data, Header: nats.Header{}}
	msg.Header.Set(headerID, id)
	q.nc.PublishMsg(msg)
}

// Events calls fn with the live events of batch's running tasks, in the
// order each task sent them, until stop is called.
func (q *Queue) Events(batch string, fn func(id string, data []byte)) (stop func(), err error) {
	if err := CheckBatch(batch); err != nil {
		return nil, err
	}
	sub, err := q.nc.Subscribe(eventsPrefix+batch, func(m *nats.Msg) { fn(m.Header.Get(headerID), m.Data) })
	if err != nil {
		return nil, fmt.Errorf("subscribe to events: %w", err)
	}
	if err := q.nc.Flush(); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("subscribe to events: %w", err)
	}
	return func() { sub.Unsubscribe() }, nil
}
