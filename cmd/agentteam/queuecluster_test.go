package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agentteam/agentteam/model/fakeserver"
)

// rerunnableFixture is batchFixture(n) with every model's replies there
// three times over, so that a task run again after its worker died finds
// its replies; each block sleeps a little, so that a batch lasts long
// enough to be hit mid-way.
func rerunnableFixture(t *testing.T, n int) (dir, tasksFile string) {
	t.Helper()
	models := map[string][]fakeserver.Step{}
	var lines []string
	thrice := func(s string) []fakeserver.Step { return say(s, s, s) }
	for i := range n {
		c, r := fmt.Sprintf("c%d", i), fmt.Sprintf("r%d", i)
		switch {
		case i == 7:
			f := fakeserver.Step{Fault: &fakeserver.Fault{Status: 401, Code: "invalid_api_key", Message: "Incorrect API key provided"}}
			models[c] = []fakeserver.Step{f, f, f}
		case i%5 == 4:
			models[c] = thrice("```python\nraise SystemExit('nope')\n```")
			models[r] = thrice("It failed.")
		default:
			models[c] = thrice(fmt.Sprintf("```python\nimport time\ntime.sleep(1)\nprint(%d * %d)\n```", i, i))
			models[r] = thrice(fmt.Sprintf("It printed %d.\nAPPROVE", i*i))
		}
		lines = append(lines, fmt.Sprintf(`{"id": "task-%02d", "task": "Square %d.", "coder_model": %q, "reviewer_model": %q, "level": %d}`, i, i, c, r, i%3))
	}
	serveModels(t, fakeserver.Script{Models: models})
	dir = t.TempDir()
	return dir, writeFile(t, dir, "tasks.jsonl", strings.Join(lines, "\n")+"\n")
}

// The acceptance test of many machines, on one: three `queue serve`
// nodes, two `worker` processes on the real engine, a batch of 30 tasks
// submitted with `batch --queue`; one worker and one node are SIGKILLed
// mid-batch. Every task has exactly one result line with its status, and
// no container is left.
func TestQueueClusterProcessesDocker(t *testing.T) {
	requireDocker(t)
	const n = 30
	dir, tasks := rerunnableFixture(t, n)
	t.Setenv("AGENTTEAM_QUEUE_TOKEN", "cluster-secret") // the nodes', the workers' and the batch's
	bin := buildBinary(t)
	ports := freePorts(t, 6)
	start := func(name string, args ...string) (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		var errOut bytes.Buffer
		cmd.Stderr = &errOut
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("%s:\n%s", name, errOut.String())
			}
		})
		return cmd, &errOut
	}
	var urls []string
	var nodes []*exec.Cmd
	for i := range 3 {
		url, args := clusterNode(dir, ports, i, "accept")
		urls = append(urls, url)
		node, _ := start(fmt.Sprintf("node %d", i), args...)
		nodes = append(nodes, node)
	}
	all := strings.Join(urls, ",")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	waitReplicas(t, ctx, all, "cluster-secret", 3)

	workerA, _ := start("worker A", "worker", "--queue", all, "-j", "2", "--workspace", filepath.Join(dir, "wa"))
	workerB, _ := start("worker B", "worker", "--queue", all, "-j", "2", "--workspace", filepath.Join(dir, "wb"))
	batch, batchErr := start("batch", "batch", "--queue", all, "--queue-ack-wait", "3s", "--max-turns", "3", tasks)
	results := filepath.Join(dir, "tasks.results.jsonl")
	// Kill mid-batch, at a moment worker A holds a task it has not
	// finished (its workspace exists, its result does not): a worker slow
	// to start may have taken none by the fifth result.
	for {
		data, _ := os.ReadFile(results)
		if bytes.Count(data, []byte("\n")) >= 5 && holdsUnfinished(filepath.Join(dir, "wa"), data) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("worker A held no unfinished task after 5 results, in time\n%s", batchErr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	workerA.Process.Kill()
	nodes[0].Process.Kill()
	done := make(chan error, 1)
	go func() { done <- batch.Wait() }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("the batch did not end\n%s", batchErr.String())
	}
	if code := batch.ProcessState.ExitCode(); code != ExitFailure { // task 7's key is refused
		t.Fatalf("batch exit %d\n%s", code, batchErr.String())
	}
	checkResults(t, results, n)
	byWorker := map[string]int{}
	for _, r := range readResults(t, results) {
		byWorker[filepath.Base(filepath.Dir(fmt.Sprint(r["workspace"])))]++
	}
	t.Logf("tasks by worker workspace: %v", byWorker)
	// Worker A was killed mid-task: a task it started has B's result (else
	// this test saw no redelivery).
	byID := map[string]string{}
	for _, r := range readResults(t, results) {
		byID[fmt.Sprint(r["id"])] = fmt.Sprint(r["workspace"])
	}
	started, _ := filepath.Glob(filepath.Join(dir, "wa", "task-*"))
	redelivered := 0
	for _, ws := range started {
		if id := filepath.Base(ws); !strings.HasSuffix(id, ".jsonl") && !strings.HasPrefix(byID[id], filepath.Join(dir, "wa")) {
			redelivered++
		}
	}
	if redelivered == 0 {
		t.Errorf("no task worker A had started was finished by B (A's workspaces: %v)", started)
	}
	cli := dockerClient(t)
	workerA.Wait()
	assertNoContainersOf(t, cli, workerA.Process.Pid) // killed: its containers remove themselves
	workerB.Process.Signal(syscall.SIGINT)
	workerB.Wait()
	assertNoContainersOf(t, cli, workerB.Process.Pid)
	for _, node := range nodes[1:] {
		node.Process.Signal(syscall.SIGTERM)
		if err := node.Wait(); err != nil {
			t.Errorf("node after SIGTERM: %v", err)
		}
	}
}

// waitReplicas waits until a cluster's streams have their replicas.
func waitReplicas(t *testing.T, ctx context.Context, urls, token string, want int) {
	t.Helper()
	var nc *nats.Conn
	var err error
	for nc == nil {
		if nc, err = dialQueue(urls, t.Name(), queueAuth{Token: token}); err != nil {
			if ctx.Err() != nil {
				t.Fatalf("no node took a client: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	defer nc.Close()
	if got := streamReplicas(t, ctx, nc, want); got != want {
		t.Fatalf("streams have %d replicas, want %d", got, want)
	}
}

// holdsUnfinished reports whether a worker's workspace root holds a task
// directory whose id is not yet in the results.
func holdsUnfinished(root string, results []byte) bool {
	started, _ := filepath.Glob(filepath.Join(root, "task-*"))
	for _, ws := range started {
		if id := filepath.Base(ws); !strings.HasSuffix(id, ".jsonl") && !bytes.Contains(results, []byte(`"id":"`+id+`"`)) {
			return true
		}
	}
	return false
}
