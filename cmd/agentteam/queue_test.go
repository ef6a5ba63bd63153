package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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

// --queue local runs the set through an embedded server and local workers
// with the same results, summary, exit status and resume as without.
func TestBatchQueueLocal(t *testing.T) {
	dir, tasks := batchFixture(t, 12, false)
	fs := &fakeSandboxes{}
	code, out, errOut := cliFake(t, context.Background(), fs, dir, "", "batch", "--queue", "local", "-j", "3", "--max-turns", "3", "--json", tasks)
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
	if _, err := os.Stat(filepath.Join(dir, ".agentteam", "runs", "batch-tasks", ".queue", "jetstream")); err != nil {
		t.Errorf("no queue store beside the workspaces: %v", err)
	}
	code, out, _ = cliFake(t, context.Background(), fs, dir, "", "batch", "--queue", "local", tasks)
	if code != ExitFailure || !strings.Contains(out, "tasks run      0 (12 already in the results, skipped)") {
		t.Fatalf("resume: exit %d\n%s", code, out)
	}
	checkResults(t, results, 12)
}
