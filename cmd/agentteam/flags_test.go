package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestDurationFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "30", want: 30 * time.Second},
		{in: "1.5", want: 1500 * time.Millisecond},
		{in: "10m", want: 10 * time.Minute},
		{in: "0", want: 0},
		{in: "-5", bad: true},
		{in: "0s", bad: true},
		{in: "soon", bad: true},
	} {
		var d durationFlag
		err := d.Set(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && time.Duration(d) != tc.want) {
			t.Errorf("%q: %v, err %v", tc.in, time.Duration(d), err)
		}
	}
}

// TestBadValues: every bad value is a usage error, on one line, naming
// the flag and what it takes; plain seconds are a duration everywhere.
func TestBadValues(t *testing.T) {
	dir := t.TempDir()
	tasks := writeFile(t, dir, "tasks.jsonl", `{"id": 1, "task": "x"}`+"\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--timeout", "soon", "x"}, `invalid argument "soon" for "--timeout" flag: want seconds (30) or a duration (90s, 10m), or 0 for no limit`},
		{[]string{"run", "--timeout", "-5", "x"}, `"--timeout" flag: want seconds`},
		{[]string{"batch", "--timeout", "-5", tasks}, `"--timeout" flag: want seconds`},
		{[]string{"run", "--pids", "0", "x"}, `invalid pids "0" (--pids): want 8 or more`},
		{[]string{"run", "--cpus", "0", "x"}, `invalid cpus "0" (--cpus): want 0.01 to 1024`},
		{[]string{"exec", "--memory", "0", "-"}, `invalid memory "0" (--memory): want a size of 32MiB or more`},
		{[]string{"run", "--token-budget", "-5", "x"}, "invalid --token-budget -5: want 0 (no limit) or more"},
		{[]string{"run", "--history-budget", "-1", "x"}, "invalid --history-budget -1: want 0"},
		{[]string{"batch", "--max-turns", "0", tasks}, "invalid --max-turns 0: want 1 or more"},
		{[]string{"batch", "--jobs", "0", tasks}, "invalid --jobs 0: want 1 or more"},
		{[]string{"batch", "--max-containers", "0", tasks}, "invalid --max-containers 0: want 1 or more"},
		{[]string{"run", "-n", "lines", "of it"}, `unknown shorthand flag: 'n' in -n (a task that starts with - goes after --: agentteam run -- "-n ...")`},
		{[]string{"ask", "-x", "y", "z"}, `(a task that starts with - goes after --: agentteam ask --`},
		{[]string{"batch", "--queue", "foo", tasks}, `invalid --queue "foo": want local, off, or nats://HOST:PORT`},
		{[]string{"batch", "--queue", "nats://127.0.0.1:1", "--events", "--detach", tasks}, "--events shows the tasks as they run, and --detach does not wait"},
		{[]string{"queue", "serve", "--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/x"}, "--tls-cert /nonexistent/cert.pem: cannot read it"},
	} {
		t.Run(strings.Join(tc.args[:3], " "), func(t *testing.T) {
			teamServer(t, nil, nil)
			code, _, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, dir, "", tc.args...)
			if code != ExitUsage || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
				t.Fatalf("exit %d, stderr %q, want %q", code, errOut, tc.want)
			}
		})
	}
	t.Run("plain seconds", func(t *testing.T) {
		teamServer(t, say("no code"), say("APPROVE"))
		code, _, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, dir, "", "run", "--timeout", "30",
			"--exec-timeout", "20", "--coder-model", "c", "--reviewer-model", "r", "x")
		if code != ExitOK {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})
}
