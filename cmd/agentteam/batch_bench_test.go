package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentteam/agentteam/model/fakeserver"
	"github.com/agentteam/agentteam/sandbox/docker"
)

// benchTasks writes n tasks whose coder answers at once with one python
// block and whose reviewer approves, and returns the tasks file and the
// fake server.
func benchTasks(b *testing.B, dir string, n int) (string, *fakeserver.Server) {
	models := map[string][]fakeserver.Step{}
	var lines []string
	for i := 0; i < n; i++ {
		c, r := fmt.Sprintf("c%d", i), fmt.Sprintf("r%d", i)
		models[c] = []fakeserver.Step{{Content: benchCode(i)}}
		models[r] = []fakeserver.Step{{Content: "Correct.\nAPPROVE"}}
		lines = append(lines, fmt.Sprintf(`{"id": "t%d", "task": "Compute %d squared.", "coder_model": %q, "reviewer_model": %q}`, i, i, c, r))
	}
	srv := fakeserver.New(fakeserver.Script{Models: models})
	path := filepath.Join(dir, "tasks.jsonl")
	os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	return path, srv
}

func benchCode(i int) string {
	return fmt.Sprintf("```python\nprint(%d ** 2)\n```", i)
}

// batchRun runs the built binary's batch and returns its wall time and
// peak resident memory.
func batchRun(b *testing.B, bin, dir, tasks, url string, jobs int, extra ...string) (time.Duration, int64) {
	where := b.TempDir()
	cmd := exec.Command(bin, append(append([]string{"batch", "-j", fmt.Sprint(jobs), "--max-turns", "3", "--results", filepath.Join(where, "results.jsonl"),
		"--workspace", filepath.Join(where, "ws")}, extra...), tasks)...)
	cmd.Env = append(os.Environ(), "OPENAI_BASE_URL="+url, "OPENAI_API_KEY=")
	cmd.Dir = dir
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		b.Fatalf("batch -j %d: %v\n%s", jobs, err, out)
	}
	if !strings.Contains(string(out), "errors         0") || !strings.Contains(string(out), "not approved   0") {
		b.Fatalf("batch -j %d did not approve every task:\n%s", jobs, out)
	}
	return took, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024
}

// BenchmarkBatchThroughput compares, in the same run, a batch of tasks
// (fake model answering at once, real sandbox) with the same tasks' code
// run one by one with `docker run --rm` and the same hardening, and
// measures the orchestrator's peak memory at -j 1 and -j 16. Run it with
// -benchtime 1x; scripts/bench.sh does.
func BenchmarkBatchThroughput(b *testing.B) {
	const tasks, baseline = 40, 12
	dir := b.TempDir()
	bin := filepath.Join(dir, "agentteam")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	// The default (the embedded queue) and --queue off, alternated, each
	// its median of five: the queue's cost shows against the same run.
	var queued, direct []time.Duration
	for range 5 {
		for _, q := range []string{"local", "off"} {
			file, srv := benchTasks(b, b.TempDir(), tasks)
			took, _ := batchRun(b, bin, dir, file, srv.URL, 8, "--queue", q)
			srv.Close()
			if q == "local" {
				queued = append(queued, took)
			} else {
				direct = append(direct, took)
			}
		}
	}
	slices.Sort(queued)
	slices.Sort(direct)
	batchRate := float64(tasks) / queued[2].Seconds()
	directRate := float64(tasks) / direct[2].Seconds()

	profile := filepath.Join(b.TempDir(), "seccomp.json")
	if err := os.WriteFile(profile, []byte(docker.SeccompProfile()), 0o644); err != nil {
		b.Fatal(err)
	}
	sp := docker.RunArgs(docker.Config{}, b.TempDir(), profile)
	start := time.Now()
	for i := 0; i < baseline; i++ {
		code := strings.TrimSuffix(strings.TrimPrefix(benchCode(i), "```python\n"), "\n```")
		if out, err := exec.Command("docker", append(sp, "python3", "-c", code)...).CombinedOutput(); err != nil {
			b.Fatalf("docker run: %v\n%s", err, out)
		}
	}
	loopRate := float64(baseline) / time.Since(start).Seconds()

	mem := map[int]int64{}
	for _, j := range []int{1, 16} {
		file, srv := benchTasks(b, b.TempDir(), 32)
		_, mem[j] = batchRun(b, bin, dir, file, srv.URL, j)
		srv.Close()
	}
	perTeam := float64(mem[16]-mem[1]) / 15 / (1 << 20)
	b.ReportMetric(batchRate, "batch-tasks/s")
	b.ReportMetric(directRate, "no-queue-tasks/s")
	b.ReportMetric(loopRate, "docker-run-tasks/s")
	b.ReportMetric(batchRate/loopRate, "ratio")
	b.ReportMetric(perTeam, "MiB/team")
	if w := os.Getenv("AGENTTEAM_BENCH_REPORT"); w != "" {
		report := fmt.Sprintf("%-44s %8.2f tasks/s (%d tasks, -j 8, median of 5)\n%-44s %8.2f tasks/s: the queue costs %+.1f%% (target within 5%%)\n"+
			"%-44s %8.2f tasks/s (%d tasks)\n%-44s %8.2f   (target >= 4)\n"+
			"%-44s %8.1f MiB at -j 1, %.1f MiB at -j 16: %.2f MiB per extra team (target < 2)\n",
			"batch, fake model, real sandbox", batchRate, tasks, "the same, --queue off (teams run in-process)", directRate, 100*(directRate-batchRate)/directRate,
			"docker run --rm, one by one, same hardening", loopRate, baseline,
			"throughput ratio", batchRate/loopRate, "orchestrator peak memory (max RSS)", float64(mem[1])/(1<<20), float64(mem[16])/(1<<20), perTeam)
		f, err := os.OpenFile(w, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err == nil {
			f.WriteString(report)
			f.Close()
		}
	}
}
