package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentteam/agentteam/model/fakeserver"
	"github.com/agentteam/agentteam/queue"
	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/fake"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// wantStatus is batchFixture's status of task i.
func wantStatus(i int) string {
	switch {
	case i == 7:
		return "error"
	case i%5 == 4:
		return "not_approved"
	}
	return "approved"
}

// checkResults fails unless every task of batchFixture(n) has exactly one
// line with its status and its own fields.
func checkResults(t *testing.T, path string, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range readResults(t, path) {
		id := fmt.Sprint(r["id"])
		seen[id]++
		var i int
		fmt.Sscanf(id, "task-%d", &i)
		if r["status"] != wantStatus(i) || r["task"] != fmt.Sprintf("Square %d.", i) || r["level"] != float64(i%3) {
			t.Errorf("%s: status %v (want %s) task %v level %v", id, r["status"], wantStatus(i), r["task"], r["level"])
		}
	}
	for i := range n {
		if id := fmt.Sprintf("task-%02d", i); seen[id] != 1 {
			t.Errorf("%s: %d result lines", id, seen[id])
		}
	}
	if len(seen) != n {
		t.Errorf("%d ids in the results, want %d", len(seen), n)
	}
}

// By default (--queue local) a set runs through an embedded server and
// local workers, with the same results, in the same order, summary, exit
// status and resume as without (--queue off); the server's store is this
// run's only.
func TestBatchQueueLocal(t *testing.T) {
	dir, tasks := batchFixture(t, 12, false)
	fs := &fakeSandboxes{}
	code, out, errOut := cliFake(t, context.Background(), fs, dir, "", "batch", "-v", "-j", "3", "--max-turns", "3", "--json", tasks)
	if code != ExitFailure { // task 7 errored
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	results := filepath.Join(dir, "tasks.results.jsonl")
	checkResults(t, results, 12)
	if strings.Count(out, "\n") != 12 {
		t.Errorf("%d stdout lines", strings.Count(out, "\n"))
	}
	if !strings.Contains(errOut, "approved       9") || !strings.Contains(errOut, "not approved   2") || !strings.Contains(errOut, "errors         1") {
		t.Errorf("summary:\n%s", errOut)
	}
	if !strings.Contains(errOut, "tasks go through an embedded queue") {
		t.Errorf("the set did not go through the queue:\n%s", errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, ".agentteam", "runs", "batch-tasks", ".queue")); !os.IsNotExist(err) {
		t.Errorf("the queue's store outlived the run: %v", err)
	}
	ids := func(path string) []string {
		var got []string
		data, _ := os.ReadFile(path)
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var r struct{ ID string }
			json.Unmarshal([]byte(l), &r)
			got = append(got, r.ID)
		}
		return got
	}
	code, out, _ = cliFake(t, context.Background(), fs, dir, "", "batch", tasks)
	if code != ExitFailure || !strings.Contains(out, "tasks run      0 (12 already in the results, skipped)") {
		t.Fatalf("resume: exit %d\n%s", code, out)
	}
	checkResults(t, results, 12)

	code, _, errOut = cliFake(t, context.Background(), fs, dir, "", "batch", "--queue", "off", "-j", "3", "--max-turns", "3", "--results", filepath.Join(dir, "off.jsonl"), tasks)
	if code != ExitFailure {
		t.Fatalf("--queue off: exit %d, stderr %s", code, errOut)
	}
	if a, b := ids(results), ids(filepath.Join(dir, "off.jsonl")); !slices.Equal(a, b) {
		t.Errorf("the queue wrote the results in another order:\n%v\n%v", a, b)
	}
}

// cliSetup is cliFake with more of the factory replaced by setup.
func cliSetup(t *testing.T, ctx context.Context, fs *fakeSandboxes, dir string, setup func(*Factory), args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	f := newFactory(IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, Dir: dir, Getenv: os.Getenv})
	f.OpenSandbox = fs.OpenSandbox
	if setup != nil {
		setup(f)
	}
	code := mainWith(ctx, args, f)
	return code, out.String(), errOut.String()
}

// A batch submitted to a queue runs on two workers; one dies mid-task (its
// connection cut: no heartbeat, no ack, no result) and its task goes to
// the other. Every task ends in the results exactly once, approved.
func TestBatchQueueWorkerKilled(t *testing.T) {
	const n = 8
	models := map[string][]fakeserver.Step{}
	var lines []string
	for i := range n {
		c, r := fmt.Sprintf("c%d", i), fmt.Sprintf("r%d", i)
		models[c] = say(fmt.Sprintf("```python\nprint(%d)\n```", i), fmt.Sprintf("```python\nprint(%d)\n```", i)) // twice: a task may run twice
		models[r] = say("APPROVE", "APPROVE")
		lines = append(lines, fmt.Sprintf(`{"id": "task-%02d", "task": "Square %d.", "coder_model": %q, "reviewer_model": %q, "level": %d}`, i, i, c, r, i%3))
	}
	serveModels(t, fakeserver.Script{Models: models})
	dir := t.TempDir()
	tasks := writeFile(t, dir, "tasks.jsonl", strings.Join(lines, "\n")+"\n")
	srv := startQueueServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()

	type exit struct {
		code        int
		out, errOut string
	}
	batchDone := make(chan exit, 1)
	wg.Go(func() {
		code, out, errOut := cliFake(t, ctx, &fakeSandboxes{open: errors.New("the submitter opens no engine")}, dir, "",
			"batch", "--queue", srv.URL(), "--queue-ack-wait", "1s", "--max-turns", "3", "--json", tasks)
		batchDone <- exit{code, out, errOut}
	})
	// The batch sets the consumer's AckWait first: workers heartbeat by it.
	waitConsumer(t, ctx, srv.URL(), time.Second)

	started, release := make(chan string, 1), make(chan struct{})
	var once sync.Once
	hang := fake.New(func(c sandbox.Code) fake.Step {
		once.Do(func() { started <- c.Source })
		<-release // as a dead process: never answers
		return fake.Step{}
	})
	var connA *nats.Conn
	var mu sync.Mutex
	ctxA, stopA := context.WithCancel(ctx)
	ctxB, stopB := context.WithCancel(ctx)
	defer func() { stopA(); stopB(); close(release) }()
	wg.Go(func() {
		cliSetup(t, ctxA, &fakeSandboxes{opener: hang}, dir, func(f *Factory) {
			f.DialQueue = func(urls, name string, _ queueAuth) (*nats.Conn, error) {
				nc, err := queue.Dial(urls, name)
				mu.Lock()
				connA = nc
				mu.Unlock()
				return nc, err
			}
		}, "worker", "--queue", srv.URL(), "-j", "1", "--workspace", filepath.Join(dir, "a"))
	})
	var victim string
	select {
	case victim = <-started:
	case <-ctx.Done():
		t.Fatal("worker A ran no block")
	}
	mu.Lock()
	connA.Close() // A dies mid-task
	mu.Unlock()
	wg.Go(func() {
		cliFake(t, ctxB, &fakeSandboxes{}, dir, "", "worker", "--queue", srv.URL(), "-j", "2", "--workspace", filepath.Join(dir, "b"))
	})
	var res exit
	select {
	case res = <-batchDone:
	case <-ctx.Done():
		t.Fatal("the batch did not end")
	}
	if res.code != ExitOK {
		t.Fatalf("batch exit %d\n%s", res.code, res.errOut)
	}
	path := filepath.Join(dir, "tasks.results.jsonl")
	seen := map[string]int{}
	for _, r := range readResults(t, path) {
		seen[fmt.Sprint(r["id"])]++
		if r["status"] != "approved" || !strings.HasPrefix(fmt.Sprint(r["worker_workspace"]), filepath.Join(dir, "b")) {
			t.Errorf("%v: status %v worker_workspace %v (want worker B's)", r["id"], r["status"], r["worker_workspace"])
		}
		if ws := fmt.Sprint(r["workspace"]); !strings.HasPrefix(ws, filepath.Join(dir, ".agentteam")) {
			t.Errorf("%v: workspace %s not shipped beside the batch (%v)", r["id"], ws, r["workspace_note"])
		} else if st, err := os.Stat(ws); err != nil || !st.IsDir() {
			t.Errorf("%v: %v", r["id"], err)
		}
		if tr := fmt.Sprint(r["transcript"]); !strings.HasPrefix(tr, filepath.Join(dir, ".agentteam")) {
			t.Errorf("%v: transcript %s not shipped beside the batch", r["id"], tr)
		} else if _, err := os.Stat(tr); err != nil {
			t.Errorf("%v: %v", r["id"], err)
		}
	}
	for i := range n {
		if id := fmt.Sprintf("task-%02d", i); seen[id] != 1 {
			t.Errorf("%s: %d result lines", id, seen[id])
		}
	}
	t.Logf("worker A hung on %q", victim)
}

// waitConsumer waits until the workers' consumer exists with ackWait.
func waitConsumer(t *testing.T, ctx context.Context, url string, ackWait time.Duration) {
	t.Helper()
	nc, err := queue.Dial(url, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for ctx.Err() == nil {
		if c, err := js.Consumer(ctx, queue.TasksStream, queue.WorkersName); err == nil && c.CachedInfo().Config.AckWait == ackWait {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the batch made no consumer")
}

// A real worker process beside the real engine runs a batch submitted to
// a queue: results as a local batch gives them, workspaces on the
// worker's side, no container left once it stops on SIGINT.
func TestWorkerProcessDocker(t *testing.T) {
	requireDocker(t)
	dir, tasks := batchFixture(t, 6, false)
	srv := startQueueServer(t)
	worker := exec.Command(buildBinary(t), "worker", "--queue", srv.URL(), "-j", "2", "--workspace", filepath.Join(dir, "w"))
	worker.Dir = dir
	var werr bytes.Buffer
	worker.Stderr = &werr
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { worker.Process.Kill(); worker.Wait() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code, _, errOut := cli(t, ctx, dir, "", "batch", "--queue", srv.URL(), "--max-turns", "3", tasks)
	if code != ExitNotApproved { // task 4's code fails
		t.Fatalf("batch exit %d\n%s\nworker:\n%s", code, errOut, werr.String())
	}
	path := filepath.Join(dir, "tasks.results.jsonl")
	checkResults(t, path, 6) // each once; in finishing order, not the tasks'
	for _, r := range readResults(t, path) {
		var i int
		fmt.Sscanf(fmt.Sprint(r["id"]), "task-%d", &i)
		if r["status"] != wantStatus(i) {
			t.Errorf("result %d: %v %v", i, r["id"], r["status"])
		}
		if wantStatus(i) == "approved" && (r["last_exit_code"] != 0.0 || r["turns"] != 3.0) {
			t.Errorf("result %d: %v", i, r)
		}
		if ws := fmt.Sprint(r["worker_workspace"]); !strings.HasPrefix(ws, filepath.Join(dir, "w")) {
			t.Errorf("result %d: worker_workspace %s, not the worker's", i, ws)
		}
		if ws := fmt.Sprint(r["workspace"]); !strings.HasPrefix(ws, filepath.Join(dir, ".agentteam")) {
			t.Errorf("result %d: workspace %s, not beside the batch (%v)", i, ws, r["workspace_note"])
		}
	}
	worker.Process.Signal(os.Interrupt)
	if err := worker.Wait(); err == nil || worker.ProcessState.ExitCode() != ExitInterrupted {
		t.Errorf("worker after SIGINT: %v\n%s", err, werr.String())
	}
	assertNoContainers(t, dockerClient(t))
}

// A worker whose engine goes down hands its task back and pulls no more,
// rather than turning the tasks it would pull into errors: another
// worker runs every task, each approved.
func TestWorkerEngineDownHandsBack(t *testing.T) {
	dir, tasks := batchFixture(t, 4, false)
	srv := startQueueServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type exit struct {
		code        int
		out, errOut string
	}
	batchDone := make(chan exit, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() {
		code, out, errOut := cliFake(t, ctx, &fakeSandboxes{open: errors.New("the submitter opens no engine")}, dir, "",
			"batch", "--queue", srv.URL(), "--max-turns", "3", tasks)
		batchDone <- exit{code, out, errOut}
	}()
	waitConsumer(t, ctx, srv.URL(), 30*time.Second)

	var mu sync.Mutex
	down := false
	runs := 0
	// A's model is its own (the fixture's replies are the healthy
	// worker's), as on another machine.
	var replies []fakeserver.Step
	for range 20 {
		replies = append(replies, fakeserver.Step{Content: "```sh\necho hi\n```"})
	}
	modelA := fakeserver.New(fakeserver.Script{Replies: replies})
	defer modelA.Close()
	broken := downOpener(func() {
		mu.Lock()
		defer mu.Unlock()
		down, runs = true, runs+1
	})
	up := func() int {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return 0
		}
		return 1
	}
	ctxA, stopA := context.WithCancel(ctx)
	ctxB, stopB := context.WithCancel(ctx)
	defer func() { stopA(); stopB() }()
	wg.Go(func() {
		cliSetup(t, ctxA, &fakeSandboxes{up: up}, dir, func(f *Factory) {
			f.IO.Getenv = func(k string) string {
				if k == "OPENAI_BASE_URL" {
					return modelA.URL
				}
				return os.Getenv(k)
			}
			f.OpenSandbox = func(context.Context, sandboxRequest) (*sandboxes, error) {
				return &sandboxes{Opener: broken, Engines: 1, Up: up, Close: func(context.Context) error { return nil }}, nil
			}
		}, "worker", "--queue", srv.URL(), "-j", "2",
			"--workspace", filepath.Join(dir, "a"))
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		d := down
		mu.Unlock()
		if d {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("worker A ran no block")
		}
	}
	time.Sleep(time.Second) // A would pull and fail the rest now, were it still pulling
	wg.Go(func() {
		cliFake(t, ctxB, &fakeSandboxes{}, dir, "", "worker", "--queue", srv.URL(), "-j", "2", "--workspace", filepath.Join(dir, "b"))
	})
	var res exit
	select {
	case res = <-batchDone:
	case <-ctx.Done():
		t.Fatal("the batch did not end")
	}
	if res.code != ExitOK {
		t.Fatalf("batch exit %d\n%s%s", res.code, res.out, res.errOut)
	}
	checkResults(t, filepath.Join(dir, "tasks.results.jsonl"), 4)
	mu.Lock()
	defer mu.Unlock()
	if runs > 2 { // at most its -j tasks were in hand when the engine went
		t.Errorf("worker A took %d tasks on a down engine", runs)
	}
}

// downOpener is an engine that is down: every session fails, after note.
type downOpener func()

func (o downOpener) NewSession(context.Context, string) (sandbox.Session, error) {
	o()
	return nil, fmt.Errorf("%w: the engine stopped", sandbox.ErrEngineUnavailable)
}

// batch --detach submits and exits, leaving the results on the queue;
// --attach, later, submits nothing and collects them into the results
// file, each once.
func TestBatchDetachAttach(t *testing.T) {
	dir, tasks := batchFixture(t, 6, false)
	srv := startQueueServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	noEngine := &fakeSandboxes{open: errors.New("the submitter opens no engine")}
	// No worker yet: a batch that waited for its results would not return.
	code, _, errOut := cliFake(t, ctx, noEngine, dir, "", "batch", "--queue", srv.URL(), "--detach", "--max-turns", "3", tasks)
	if code != ExitOK || !strings.Contains(errOut, "submitted 6 tasks") || !strings.Contains(errOut, "--attach") {
		t.Fatalf("--detach: exit %d\n%s", code, errOut)
	}
	results := filepath.Join(dir, "tasks.results.jsonl")
	if data, _ := os.ReadFile(results); len(data) > 0 {
		t.Fatalf("--detach wrote results:\n%s", data)
	}
	if st := tasksState(t, ctx, srv.URL()); st.Msgs != 6 {
		t.Fatalf("%d tasks on the queue after --detach, want 6", st.Msgs)
	}
	wctx, stopWorker := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopWorker(); wg.Wait() }()
	wg.Go(func() {
		cliFake(t, wctx, &fakeSandboxes{}, dir, "", "worker", "--queue", srv.URL(), "-j", "2", "--workspace", filepath.Join(dir, "w"))
	})
	code, _, errOut = cliFake(t, ctx, noEngine, dir, "", "batch", "--queue", srv.URL(), "--attach", tasks)
	if code != ExitNotApproved { // task 4's code fails
		t.Fatalf("--attach: exit %d\n%s", code, errOut)
	}
	checkResults(t, results, 6)
	if st := tasksState(t, ctx, srv.URL()); st.LastSeq != 6 {
		t.Errorf("%d tasks ever submitted, want 6: --attach submitted them again", st.LastSeq)
	}
	for _, args := range [][]string{{"--detach", "--attach"}, {"--queue", "local", "--detach"}, {"--attach"}} {
		code, _, errOut := cliFake(t, ctx, noEngine, dir, "", append(append([]string{"batch"}, args...), tasks)...)
		if code != ExitUsage {
			t.Errorf("%q: exit %d, want usage\n%s", args, code, errOut)
		}
	}
}

// tasksState is the tasks stream's state: Msgs not finished, LastSeq
// ever submitted.
func tasksState(t *testing.T, ctx context.Context, url string) jetstream.StreamState {
	t.Helper()
	nc, err := queue.Dial(url, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, queue.TasksStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State
}

// A worker sends each task's workspace back through the queue and the
// submitter unpacks it where a local run would have put it: the files as
// the block left them, but no setuid or world-write bit, links as links;
// a workspace past the worker's --send-workspace stays there, and the
// line says so.
func TestWorkerSendsWorkspaceDocker(t *testing.T) {
	requireDocker(t)
	block := "```sh\necho made > result.txt\ncp /bin/true suid && chmod 4777 suid\nln -s /etc/passwd link\nhead -c 3000 /dev/zero > big.bin\n```"
	serveModels(t, fakeserver.Script{Models: map[string][]fakeserver.Step{
		"c": say(block, block), "r": say("APPROVE", "APPROVE")}})
	dir := t.TempDir()
	tasks := writeFile(t, dir, "tasks.jsonl", `{"id": "t1", "task": "Make files.", "coder_model": "c", "reviewer_model": "r"}`+"\n")
	srv := startQueueServer(t)
	bin := buildBinary(t)
	for _, c := range []struct {
		limit string
		sent  bool
	}{{"1000000", true}, {"2000", false}} {
		worker := exec.Command(bin, "worker", "--queue", srv.URL(), "--send-workspace", c.limit, "--workspace", filepath.Join(dir, "w"+c.limit))
		worker.Dir = dir
		var werr bytes.Buffer
		worker.Stderr = &werr
		if err := worker.Start(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		results := filepath.Join(dir, "results-"+c.limit+".jsonl")
		code, _, errOut := cli(t, ctx, dir, "", "batch", "--queue", srv.URL(), "--results", results, tasks)
		cancel()
		worker.Process.Signal(os.Interrupt)
		worker.Wait()
		if code != ExitOK {
			t.Fatalf("--send-workspace %s: batch exit %d\n%s\nworker:\n%s", c.limit, code, errOut, werr.String())
		}
		r := readResults(t, results)[0]
		ws := fmt.Sprint(r["workspace"])
		if !c.sent {
			if note := fmt.Sprint(r["workspace_note"]); !strings.Contains(note, "larger than the worker's --send-workspace") ||
				!strings.HasPrefix(ws, filepath.Join(dir, "w"+c.limit)) {
				t.Errorf("over the limit: workspace %s, note %q", ws, note)
			}
			continue
		}
		if !strings.HasPrefix(ws, filepath.Join(dir, ".agentteam")) {
			t.Fatalf("workspace %s not beside the batch (%v)", ws, r["workspace_note"])
		}
		if got, err := os.ReadFile(filepath.Join(ws, "result.txt")); string(got) != "made\n" {
			t.Errorf("result.txt: %q %v", got, err)
		}
		if st, err := os.Lstat(filepath.Join(ws, "suid")); err != nil || st.Mode()&(os.ModeSetuid|0o002) != 0 || st.Mode().Perm() != 0o775 {
			t.Errorf("suid arrived as %v (%v)", st.Mode(), err)
		}
		if target, err := os.Readlink(filepath.Join(ws, "link")); target != "/etc/passwd" {
			t.Errorf("link: %q %v", target, err)
		}
	}
	assertNoContainers(t, dockerClient(t))
}

// --events prints each running task's transcript events as they are
// written, {"task": ID, "event": {...}}: from the batch's own workers,
// and from a worker on another machine through the queue. The summary
// goes to stderr.
func TestBatchEvents(t *testing.T) {
	eventsOf := func(t *testing.T, out string) map[string][]string {
		t.Helper()
		got := map[string][]string{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var ev struct {
				Task  string
				Event struct{ Type string }
			}
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatalf("not a JSON line: %q", l)
			}
			if ev.Task != "" {
				got[ev.Task] = append(got[ev.Task], ev.Event.Type)
			}
		}
		return got
	}
	check := func(t *testing.T, code int, out, errOut string) {
		t.Helper()
		if code != ExitNotApproved || !strings.Contains(errOut, "approved       4") {
			t.Fatalf("exit %d, stderr %s", code, errOut)
		}
		got := eventsOf(t, out)
		for i := range 5 {
			id := fmt.Sprintf("task-%02d", i)
			if ev := got[id]; len(ev) < 4 || ev[0] != "task" || ev[len(ev)-1] != "result" || !slices.Contains(ev, "block") {
				t.Errorf("%s's events: %v", id, ev)
			}
		}
	}
	t.Run("local", func(t *testing.T) {
		dir, tasks := batchFixture(t, 5, false)
		code, out, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, dir, "", "batch", "--events", "--max-turns", "3", tasks)
		check(t, code, out, errOut)
	})
	t.Run("remote", func(t *testing.T) {
		dir, tasks := batchFixture(t, 5, false)
		srv := startQueueServer(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		wctx, stopWorker := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer func() { stopWorker(); wg.Wait() }()
		wg.Go(func() {
			cliFake(t, wctx, &fakeSandboxes{}, dir, "", "worker", "--queue", srv.URL(), "-j", "2", "--workspace", filepath.Join(dir, "w"))
		})
		code, out, errOut := cliFake(t, ctx, &fakeSandboxes{open: errors.New("the submitter opens no engine")}, dir, "",
			"batch", "--queue", srv.URL(), "--events", "--max-turns", "3", tasks)
		check(t, code, out, errOut)
	})
}

// startQueueServer starts a queue server of the test's own, stopped at
// its end.
func startQueueServer(t *testing.T) *queue.Server {
	t.Helper()
	srv, err := queue.StartServer(queue.ServerOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// A CA file that cannot be read is said once, naming the setting, before
// anything connects.
func TestQueueCAMustBeReadable(t *testing.T) {
	t.Setenv("AGENTTEAM_QUEUE_CA", "/nonexistent/ca.pem")
	dir := t.TempDir()
	tasks := writeFile(t, dir, "tasks.jsonl", `{"id": 1, "task": "x"}`+"\n")
	code, _, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, dir, "", "batch", "--queue", "nats://127.0.0.1:1", tasks)
	if code != ExitUsage || errOut != "agentteam: invalid queue CA \"/nonexistent/ca.pem\" (AGENTTEAM_QUEUE_CA): cannot read it\n" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
