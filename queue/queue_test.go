package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// handler runs tasks with run and gives up with a record naming why.
type handler struct {
	name string
	run  func(ctx context.Context, d Delivery) error
}

func (h handler) Run(ctx context.Context, d Delivery) (Result, error) {
	if h.run != nil {
		if err := h.run(ctx, d); err != nil {
			return Result{}, err
		}
	}
	return Result{Record: []byte("done " + string(d.Body)), Worker: h.name}, nil
}

func (h handler) GiveUp(d Delivery, why string) Result {
	return Result{Record: []byte("gave up: " + why), Worker: h.name}
}

func startServer(t *testing.T) *Server {
	t.Helper()
	s, err := StartServer(ServerOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func open(t *testing.T, url string, cfg Config) (*nats.Conn, *Queue) {
	t.Helper()
	nc, err := Dial(url, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q, err := Open(ctx, nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return nc, q
}

func tasks(n int) ([]Task, []string) {
	var ts []Task
	var ids []string
	for i := range n {
		id := fmt.Sprintf("t%02d", i)
		ts = append(ts, Task{ID: id, Body: []byte("body-" + id)})
		ids = append(ids, id)
	}
	return ts, ids
}

// collect gathers results by id, failing on a second store of one id.
func collect(t *testing.T, ctx context.Context, q *Queue, batch string, ids []string) map[string]Result {
	t.Helper()
	got := map[string]Result{}
	err := q.Collect(ctx, batch, ids, func(r Result) error {
		if _, dup := got[r.ID]; dup {
			t.Errorf("result %s stored twice", r.ID)
		}
		got[r.ID] = r
		return nil
	})
	if err != nil {
		t.Fatalf("collect: %v (got %d of %d)", err, len(got), len(ids))
	}
	return got
}

// work runs a worker until the test ends.
func work(t *testing.T, q *Queue, slots int, h Handler) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { q.Work(ctx, slots, h) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return cancel
}

func TestSubmitWorkCollect(t *testing.T) {
	s := startServer(t)
	cfg := Config{AckWait: 2 * time.Second, Poll: 200 * time.Millisecond}
	_, sub := open(t, s.URL(), cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts, ids := tasks(20)
	if err := sub.Submit(ctx, "b1", ts); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"w1", "w2"} {
		_, q := open(t, s.URL(), cfg)
		work(t, q, 3, handler{name: name})
	}
	got := collect(t, ctx, sub, "b1", ids)
	workers := map[string]int{}
	for _, id := range ids {
		if r := got[id]; string(r.Record) != "done body-"+id {
			t.Errorf("%s: record %q", id, r.Record)
		}
		workers[got[id].Worker]++
	}
	if len(got) != 20 {
		t.Fatalf("%d results", len(got))
	}
	t.Logf("tasks by worker: %v", workers)
}

func TestBadBatchName(t *testing.T) {
	s := startServer(t)
	_, q := open(t, s.URL(), Config{})
	for _, name := range []string{"", "a.b", "a b", "a*"} {
		if err := q.Submit(context.Background(), name, nil); err == nil {
			t.Errorf("batch %q accepted", name)
		}
	}
}

// A worker dies mid-task (its connection cut, no ack, no more heartbeats):
// the task is delivered again to another worker and recorded once, from
// the one that finished it.
func TestWorkerKilledMidTask(t *testing.T) {
	s := startServer(t)
	cfg := Config{AckWait: time.Second, Poll: 200 * time.Millisecond}
	_, sub := open(t, s.URL(), cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts, ids := tasks(6)
	if err := sub.Submit(ctx, "b", ts); err != nil {
		t.Fatal(err)
	}
	started := make(chan string, 1)
	release := make(chan struct{})
	defer close(release)
	ncA, qa := open(t, s.URL(), cfg)
	work(t, qa, 1, handler{name: "A", run: func(ctx context.Context, d Delivery) error {
		select {
		case started <- d.ID:
		default:
		}
		<-release // hangs as a dead process would
		return nil
	}})
	var victim string
	select {
	case victim = <-started:
	case <-ctx.Done():
		t.Fatal("worker A got no task")
	}
	time.Sleep(2500 * time.Millisecond) // longer than AckWait: A's heartbeats keep the task its own
	ncA.Close()                         // A dies
	attempts := map[string]int{}
	var mu sync.Mutex
	_, qb := open(t, s.URL(), cfg)
	work(t, qb, 2, handler{name: "B", run: func(ctx context.Context, d Delivery) error {
		mu.Lock()
		attempts[d.ID] = d.Attempt
		mu.Unlock()
		return nil
	}})
	got := collect(t, ctx, sub, "b", ids)
	if len(got) != 6 {
		t.Fatalf("%d results", len(got))
	}
	for id, r := range got {
		if r.Worker != "B" {
			t.Errorf("%s finished by %s", id, r.Worker)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts[victim] != 2 {
		t.Errorf("task %s (A's) ran on B as attempt %d, want 2 (heartbeats kept it from being redelivered while A lived)", victim, attempts[victim])
	}
}

// A task handed back on every delivery ends, after Attempts runs, in a
// final record naming why.
func TestAttemptsExhausted(t *testing.T) {
	s := startServer(t)
	cfg := Config{AckWait: time.Second, Attempts: 3, Poll: 200 * time.Millisecond}
	_, sub := open(t, s.URL(), cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts, ids := tasks(2)
	if err := sub.Submit(ctx, "b", ts); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	runs := map[string]int{}
	wcfg := cfg
	wcfg.Attempts = 10 // the submitter's 3 is the set's limit
	_, q := open(t, s.URL(), wcfg)
	work(t, q, 2, handler{run: func(ctx context.Context, d Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		runs[d.ID]++
		if d.ID == "t00" {
			return errors.New("engine lost")
		}
		return nil
	}})
	got := collect(t, ctx, sub, "b", ids)
	if r := string(got["t00"].Record); !strings.HasPrefix(r, "gave up: delivered 3 times") {
		t.Errorf("t00 record %q", r)
	}
	if r := string(got["t01"].Record); r != "done body-t01" {
		t.Errorf("t01 record %q", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if runs["t00"] != 3 || runs["t01"] != 1 {
		t.Errorf("runs %v", runs)
	}
}

// A task run twice (two results for one id, as after a lost ack) is
// stored once; a result for an id nobody waits for is dropped.
func TestResultsKeptOncePerID(t *testing.T) {
	s := startServer(t)
	nc, q := open(t, s.URL(), Config{Poll: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, r := range []string{`{"id":"a","record":"MQ=="}`, `{"id":"a","record":"Mg=="}`, `{"id":"zz","record":"eA=="}`, `{"id":"b","record":"Mw=="}`} {
		if err := nc.Publish(resultsPrefix+"b", []byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	got := collect(t, ctx, q, "b", []string{"a", "b"})
	if string(got["a"].Record) != "1" || string(got["b"].Record) != "3" || len(got) != 2 {
		t.Errorf("got %v", got)
	}
}

// A store that fails leaves the result unacked: the next collector gets
// it.
func TestCollectStoreFailsKeepsResult(t *testing.T) {
	s := startServer(t)
	nc, q := open(t, s.URL(), Config{Poll: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := nc.Publish(resultsPrefix+"b", []byte(`{"id":"a","record":"MQ=="}`)); err != nil {
		t.Fatal(err)
	}
	err := q.Collect(ctx, "b", []string{"a"}, func(Result) error { return errors.New("disk full") })
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("collect: %v", err)
	}
	got := collect(t, ctx, q, "b", []string{"a"})
	if string(got["a"].Record) != "1" {
		t.Errorf("got %v", got)
	}
}

// Cancel drops the tasks no worker took.
func TestCancel(t *testing.T) {
	s := startServer(t)
	cfg := Config{Poll: 200 * time.Millisecond}
	_, q := open(t, s.URL(), cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts, _ := tasks(5)
	if err := q.Submit(ctx, "b", ts); err != nil {
		t.Fatal(err)
	}
	if err := q.Submit(ctx, "other", ts[:1]); err != nil {
		t.Fatal(err)
	}
	if err := q.Cancel(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	s2, err := q.js.Stream(ctx, TasksStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s2.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("%d tasks left, want the other batch's 1", info.State.Msgs)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Three nodes with three replicas lose one mid-batch: every task still
// ends with one result.
func TestClusterLosesANode(t *testing.T) {
	ports := []int{freePort(t), freePort(t), freePort(t)}
	var nodes []*Server
	var urls []string
	for i := range 3 {
		var routes []string
		for j, p := range ports {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
			}
		}
		s, err := StartServer(ServerOptions{StoreDir: t.TempDir(), Name: fmt.Sprintf("n%d", i), Cluster: "test",
			ClusterPort: ports[i], Routes: routes})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		nodes = append(nodes, s)
		urls = append(urls, s.URL())
	}
	all := strings.Join(urls, ",")
	cfg := Config{AckWait: 2 * time.Second, Replicas: 3, Poll: 200 * time.Millisecond, AdminTimeout: 2 * time.Second, AdminRetries: 30}
	_, sub := open(t, all, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ts, ids := tasks(30)
	if err := sub.Submit(ctx, "b", ts); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	ran := 0
	killed := make(chan struct{})
	var once sync.Once
	for _, name := range []string{"w1", "w2"} {
		_, q := open(t, all, cfg)
		work(t, q, 2, handler{name: name, run: func(ctx context.Context, d Delivery) error {
			mu.Lock()
			ran++
			n := ran
			mu.Unlock()
			if n == 10 {
				once.Do(func() { go func() { nodes[0].Close(); close(killed) }() })
			}
			time.Sleep(50 * time.Millisecond)
			return nil
		}})
	}
	got := collect(t, ctx, sub, "b", ids)
	select {
	case <-killed:
	default:
		t.Fatal("no node was lost")
	}
	if len(got) != 30 {
		t.Fatalf("%d results", len(got))
	}
	for id, r := range got {
		if string(r.Record) != "done body-"+id {
			t.Errorf("%s: %q", id, r.Record)
		}
	}
	t.Logf("%d runs for 30 tasks", ran)
}

// downHandler is a worker whose engine is down until up is closed: Run
// fails with ErrUnavailable, Ready says so.
type downHandler struct {
	handler
	up   chan struct{}
	runs *atomicCount
}

type atomicCount struct {
	mu sync.Mutex
	n  int
}

func (c *atomicCount) add() { c.mu.Lock(); c.n++; c.mu.Unlock() }
func (c *atomicCount) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (h downHandler) isUp() bool {
	select {
	case <-h.up:
		return true
	default:
		return false
	}
}

func (h downHandler) Ready(context.Context) error {
	if !h.isUp() {
		return errors.New("engine down")
	}
	return nil
}

func (h downHandler) Run(ctx context.Context, d Delivery) (Result, error) {
	h.runs.add()
	if !h.isUp() {
		return Result{}, fmt.Errorf("run: %w", ErrUnavailable)
	}
	return h.handler.Run(ctx, d)
}

// A worker whose engine is down pulls nothing (a Readier) and a task it
// was running when the engine went goes back without spending one of its
// attempts: with Attempts 1, a spent attempt would be a "gave up" record.
func TestUnavailableWorkerHandsBack(t *testing.T) {
	tests := []struct {
		name  string
		ready bool // the handler answers Ready: false runs into ErrUnavailable every time
	}{
		{"not pulling while down", true},
		{"handed back while down", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t)
			cfg := Config{AckWait: 2 * time.Second, Attempts: 1, Poll: 100 * time.Millisecond, HandBack: 100 * time.Millisecond}
			_, sub := open(t, s.URL(), cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			ts, ids := tasks(4)
			if err := sub.Submit(ctx, "b", ts); err != nil {
				t.Fatal(err)
			}
			h := downHandler{handler: handler{name: "w"}, up: make(chan struct{}), runs: &atomicCount{}}
			_, q := open(t, s.URL(), cfg)
			var w Handler = h
			if !tc.ready {
				w = struct{ Handler }{h} // hides Ready
			}
			work(t, q, 2, w)
			time.Sleep(time.Second)
			runs := h.runs.get()
			if tc.ready && runs != 0 {
				t.Errorf("%d tasks taken while the engine was down", runs)
			}
			if !tc.ready && runs < 4 {
				t.Errorf("only %d runs while down: the test did not hand tasks back", runs)
			}
			close(h.up)
			got := collect(t, ctx, sub, "b", ids)
			for _, id := range ids {
				if r := string(got[id].Record); r != "done body-"+id {
					t.Errorf("%s: record %q", id, r)
				}
			}
		})
	}
}

// A file sent through the queue arrives whole; one larger than the
// receiver's bound is refused, not read to its end.
func TestFiles(t *testing.T) {
	s := startServer(t)
	_, q := open(t, s.URL(), Config{})
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789"), 100_000)
	if err := q.PutFile(ctx, "b/t1/ws", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := q.GetFile(ctx, "b/t1/ws", &got, int64(len(data))); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("GetFile: %v, %d bytes", err, got.Len())
	}
	if err := q.GetFile(ctx, "b/t1/ws", io.Discard, int64(len(data))-1); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("over the bound: %v", err)
	}
	if err := q.DeleteFile(ctx, "b/t1/ws"); err != nil {
		t.Fatal(err)
	}
	if err := q.DeleteFile(ctx, "b/t1/ws"); err != nil {
		t.Errorf("deleting a gone file: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := q.GetFile(short, "b/t1/ws", io.Discard, 10); err == nil {
		t.Error("a deleted file was fetched")
	}
}

// Cancel stops the batch's running tasks too: the worker's task sees its
// context end at once, and the task is not delivered again; another
// batch's task runs on.
func TestCancelStopsRunningTasks(t *testing.T) {
	s := startServer(t)
	cfg := Config{AckWait: time.Second, Poll: 200 * time.Millisecond}
	_, sub := open(t, s.URL(), cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	started := make(chan string, 4)
	stopped := make(chan string, 4)
	var mu sync.Mutex
	runs := map[string]int{}
	_, q := open(t, s.URL(), cfg)
	work(t, q, 2, handler{run: func(ctx context.Context, d Delivery) error {
		mu.Lock()
		runs[d.Batch+"/"+d.ID]++
		mu.Unlock()
		started <- d.Batch
		<-ctx.Done()
		stopped <- d.Batch
		return ctx.Err()
	}})
	ts, _ := tasks(1)
	if err := sub.Submit(ctx, "b", ts); err != nil {
		t.Fatal(err)
	}
	if err := sub.Submit(ctx, "other", ts); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case <-started:
		case <-ctx.Done():
			t.Fatal("the tasks did not start")
		}
	}
	at := time.Now()
	if err := sub.Cancel(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-stopped:
		if b != "b" {
			t.Fatalf("batch %s's task stopped", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the running task was not stopped")
	}
	t.Logf("stopped %v after Cancel", time.Since(at))
	time.Sleep(3 * cfg.AckWait) // a redelivery would come by now
	mu.Lock()
	defer mu.Unlock()
	if runs["b/t00"] != 1 {
		t.Errorf("the cancelled task ran %d times", runs["b/t00"])
	}
	select {
	case b := <-stopped:
		t.Errorf("batch %s's task stopped too", b)
	default:
	}
}

// An in-process server has no port: only Connect reaches it, and a set
// goes through it as through any other.
func TestInProcessServer(t *testing.T) {
	s, err := StartServer(ServerOptions{StoreDir: t.TempDir(), InProcess: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if addr := s.s.Addr(); addr != nil {
		t.Fatalf("an in-process server listens on %v", addr)
	}
	nc, err := s.Connect(t.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q, err := Open(ctx, nc, Config{Poll: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ts, ids := tasks(3)
	if err := q.Submit(ctx, "b", ts); err != nil {
		t.Fatal(err)
	}
	work(t, q, 2, handler{})
	if got := collect(t, ctx, q, "b", ids); len(got) != 3 {
		t.Errorf("%d results", len(got))
	}
}

// A running task's live events reach whoever listens to its batch, in
// order, and no one else's.
func TestEvents(t *testing.T) {
	s := startServer(t)
	_, q := open(t, s.URL(), Config{})
	var mu sync.Mutex
	var got []string
	stop, err := q.Events("b", func(id string, data []byte) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, id+":"+string(data))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	_, w := open(t, s.URL(), Config{})
	for i := range 3 {
		w.PublishEvent("b", "t1", []byte(fmt.Sprint(i)))
		w.PublishEvent("other", "t9", []byte("not ours"))
	}
	w.nc.Flush()
	want := "t1:0 t1:1 t1:2"
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		s := strings.Join(got, " ")
		mu.Unlock()
		if s == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events %q, want %q", s, want)
		}
	}
}
