package main

import (
	"context"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionText(t *testing.T) {
	bi := func(v string, settings ...string) *debug.BuildInfo {
		b := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: v}}
		for i := 0; i+1 < len(settings); i += 2 {
			b.Settings = append(b.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return b
	}
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{"tagged", bi("v1.2.3", "vcs.revision", "0123456789abcdef0123", "vcs.time", "2026-01-02T03:04:05Z"), true,
			"v1.2.3 (commit 0123456789ab, 2026-01-02T03:04:05Z, go1.26.0)"},
		{"checkout with changes", bi("(devel)", "vcs.revision", "abc", "vcs.modified", "true"), true, "(devel) (commit abc+changes, go1.26.0)"},
		{"no vcs", bi(""), true, "(devel) (go1.26.0)"},
		{"no build info", nil, false, "unknown (no build information)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionText(tc.bi, tc.ok); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestEverydayCLI: version and --version agree, typos get a suggestion,
// every command's help has an example, and ask without a prompt says what
// to give.
func TestEverydayCLI(t *testing.T) {
	_, v1, _ := cliFake(t, context.Background(), &fakeSandboxes{}, t.TempDir(), "", "version")
	code, v2, _ := cliFake(t, context.Background(), &fakeSandboxes{}, t.TempDir(), "", "--version")
	if code != ExitOK || v1 != v2 || !strings.HasPrefix(v1, "agentteam ") || strings.Count(v1, "\n") != 1 {
		t.Fatalf("version %q, --version %q", v1, v2)
	}
	for _, tc := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"rnu"}, `unknown command "rnu": did you mean run or runs?`, ExitUsage},
		{[]string{"bach", "x"}, "did you mean batch?", ExitUsage},
		{[]string{"zzzzzz"}, `unknown command "zzzzzz" (see`, ExitUsage},
		{[]string{"ask"}, `no prompt: give it as arguments (agentteam ask "Say hi"), or - to read it from standard input`, ExitUsage},
	} {
		code, _, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, t.TempDir(), "", tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, errOut)
		}
	}
	root := newRootCmd(newFactory(IO{}))
	for _, c := range root.Commands() {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if !strings.Contains(c.Example, "agentteam "+c.Name()) {
			t.Errorf("%s --help has no example", c.Name())
		}
	}
	_, out, _ := cliFake(t, context.Background(), &fakeSandboxes{}, t.TempDir(), "", "run", "--help")
	for _, want := range []string{"OPENAI_API_KEY", ".env", "Examples:\n  agentteam run "} {
		if !strings.Contains(out, want) {
			t.Errorf("run --help lacks %q", want)
		}
	}
}

// TestCompletion: `agentteam completion` writes the scripts of bash, zsh
// and fish, and the completions they ask for know the values of the flags
// that take few and the IDs of the runs.
func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, out, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, t.TempDir(), "", "completion", sh)
		if code != ExitOK || !strings.Contains(out, "agentteam") || len(out) < 1000 {
			t.Errorf("completion %s: exit %d, %d bytes, stderr %q", sh, code, len(out), errOut)
		}
	}
	dir, _ := runsFixture(t)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"run", "--provider", ""}, []string{"ollama", "vllm", "openai", "azure"}},
		{[]string{"doctor", "--runtime", "r"}, []string{"runc", "runsc"}},
		{[]string{"run", "--reviewer-vision="}, []string{"true", "false"}},
		{[]string{"ask", "--log-format", ""}, []string{"text", "json"}},
		{[]string{"runs", "show", ""}, []string{"r-approved\tapproved: Write a prime checker", "batch-b/task-1\t"}},
		{[]string{"runs", "rm", ""}, []string{"r-running\trunning: Still going"}},
		{[]string{"run", "--continue", ""}, []string{"r-notapproved\tnot approved: Sort"}},
	} {
		code, out, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, dir, "", append([]string{"__complete"}, tc.args...)...)
		for _, w := range tc.want {
			if code != ExitOK || !strings.Contains(out, w) {
				t.Errorf("%v: exit %d, completions %q, stderr %q; want %q", tc.args, code, out, errOut, w)
			}
		}
	}
}
