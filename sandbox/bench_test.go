package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkWarmBlock is one print(1) block in a session whose container is
// already running.
func BenchmarkWarmBlock(b *testing.B) {
	d := newTestDocker(b, Config{})
	s, _ := newTestSession(b, d)
	run(b, s, Python, "print(1)")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := run(b, s, Python, "print(1)"); !res.OK() {
			b.Fatalf("block failed: %+v", res)
		}
	}
}

// BenchmarkColdBlock is a session's first block: container start included,
// removal (at Close) excluded, as a user waits for the first.
func BenchmarkColdBlock(b *testing.B) {
	d := newTestDocker(b, Config{})
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		start := time.Now()
		s, err := d.NewSession(context.Background(), dir)
		if err != nil {
			b.Fatal(err)
		}
		res := run(b, s, Python, "print(1)")
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "first-ms")
		b.StopTimer()
		s.Close(context.Background())
		b.StartTimer()
		if !res.OK() {
			b.Fatalf("block failed: %+v", res)
		}
	}
}

// BenchmarkCompare measures, in the same run, the medians of: a warm block,
// `docker exec <warm container> python3 -c 'print(1)'`, a cold first block,
// and `docker run --rm` with the same hardening; and reports the ratios the
// README quotes. Run it with -benchtime 1x (scripts/bench.sh does).
func BenchmarkCompare(b *testing.B) {
	const n = 40
	cfg, _ := Config{}.withDefaults()
	d := newTestDocker(b, cfg)
	s, dir := newTestSession(b, d)
	run(b, s, Python, "print(1)")

	median := func(name string, n int, f func() error) float64 {
		var ms []float64
		for i := 0; i < n; i++ {
			t := time.Now()
			if err := f(); err != nil {
				b.Fatalf("%s: %v", name, err)
			}
			ms = append(ms, float64(time.Since(t).Microseconds())/1000)
		}
		slices.Sort(ms)
		return ms[len(ms)/2]
	}
	warm := median("warm block", n, func() error {
		if res, err := s.Run(context.Background(), Code{Language: Python, Source: "print(1)"}); err != nil || !res.OK() {
			return fmt.Errorf("%v %+v", err, res)
		}
		return nil
	})
	id := s.box.id
	dockerExec := median("docker exec", n, func() error {
		return exec.Command("docker", "exec", id, "python3", "-c", "print(1)").Run()
	})
	cold := median("cold block", n/4, func() error {
		sess, err := d.NewSession(context.Background(), b.TempDir())
		if err != nil {
			return err
		}
		defer sess.Close(context.Background())
		if res, err := sess.Run(context.Background(), Code{Language: Python, Source: "print(1)"}); err != nil || !res.OK() {
			return fmt.Errorf("%v %+v", err, res)
		}
		return nil
	})
	sp := newSpec(cfg, "10001:10001", dir, nil)
	args := dockerRunArgs(sp)
	dockerRun := median("docker run --rm", n/4, func() error {
		out, err := exec.Command("docker", append(args, "python3", "-c", "print(1)")...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	b.ReportMetric(warm, "warm-ms")
	b.ReportMetric(dockerExec, "docker-exec-ms")
	b.ReportMetric(warm/dockerExec, "warm/exec")
	b.ReportMetric(cold, "cold-ms")
	b.ReportMetric(dockerRun, "docker-run-ms")
	b.ReportMetric(cold/dockerRun, "cold/run")
	if w := os.Getenv("AGENTTEAM_BENCH_REPORT"); w != "" {
		report := fmt.Sprintf("warm print(1) block    median %7.1f ms\n"+
			"docker exec python3    median %7.1f ms   ratio %.2f (target <= 0.30)\n"+
			"cold first block       median %7.1f ms\n"+
			"docker run --rm        median %7.1f ms   ratio %.2f (target <= 1.00)\n",
			warm, dockerExec, warm/dockerExec, cold, dockerRun, cold/dockerRun)
		os.WriteFile(w, []byte(report), 0o644)
	}
}

// dockerRunArgs is `docker run --rm` with the same hardening as a session.
func dockerRunArgs(sp spec) []string {
	h, c := sp.host, sp.config
	args := []string{"run", "--rm", "--network", "none", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
		"--read-only", "--tmpfs", "/tmp:" + h.Tmpfs["/tmp"], "--init", "--pids-limit", fmt.Sprint(*h.PidsLimit),
		"--memory", fmt.Sprint(h.Memory), "--memory-swap", fmt.Sprint(h.MemorySwap), "--cpus", fmt.Sprint(float64(h.NanoCPUs) / 1e9),
		"--ipc", "private", "--cgroupns", "private", "--hostname", c.Hostname, "--user", c.User, "--log-driver", "none",
		"-v", h.Mounts[0].Source + ":" + h.Mounts[0].Target, "-w", c.WorkingDir}
	for _, u := range h.Ulimits {
		args = append(args, "--ulimit", fmt.Sprintf("%s=%d:%d", u.Name, u.Soft, u.Hard))
	}
	for _, e := range c.Env {
		args = append(args, "-e", e)
	}
	return append(args, strings.TrimSpace(c.Image))
}
