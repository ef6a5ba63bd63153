package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/model/fakeserver"
)

func TestSlug(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"Write a prime checker!", "write-a-prime-checker"},
		{"  Parse   CSV\nof dates, then sort them by year", "parse-csv-of-dates-then-sort"},
		{"```python\nprint(6*7)\n```", "python-print-6-7"},
		{"Ünïcode café", "n-code-caf"},
		{"!!!", ""},
		{"", ""},
		{strings.Repeat("abcdefghij", 6), "abcdefghijabcdefghijabcdefghijabcdefghij"},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
	} {
		if got := slug(tt.in); got != tt.want {
			t.Errorf("slug(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// runEntries lists the names under dir's runs directory.
func runEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, defaultRunsDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestRunDirectoryNames: a run's directory says when and what; a run that
// got no reply leaves its transcript but no empty directory.
func TestRunDirectoryNames(t *testing.T) {
	stamp := `^\d{8}-\d{6}-`
	for _, tc := range []struct {
		name    string
		coder   []fakeserver.Step
		args    []string
		stdin   string
		entries []string // patterns of what the runs directory holds
	}{
		{name: "run", coder: say("no code"), args: []string{"run", "--coder-model", "c", "--reviewer-model", "r", "Write a prime checker!"},
			entries: []string{stamp + `write-a-prime-checker-[0-9a-f]{6}$`, stamp + `write-a-prime-checker-[0-9a-f]{6}\.transcript\.jsonl$`}},
		{name: "run with no reply", coder: []fakeserver.Step{{Fault: &fakeserver.Fault{Status: 400, Message: "bad request"}}},
			args:    []string{"run", "--coder-model", "c", "--reviewer-model", "r", "Write a prime checker!"},
			entries: []string{stamp + `write-a-prime-checker-[0-9a-f]{6}\.transcript\.jsonl$`}},
		{name: "run of symbols", coder: say("no code"), args: []string{"run", "--coder-model", "c", "--reviewer-model", "r", "?!"},
			entries: []string{stamp + `run-[0-9a-f]{6}$`, stamp + `run-[0-9a-f]{6}\.transcript\.jsonl$`}},
		{name: "exec", args: []string{"exec", "-"}, stdin: "```sh\necho hi\n```\n",
			entries: []string{stamp + `exec-sh-echo-hi-[0-9a-f]{6}$`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			teamServer(t, tc.coder, say("APPROVE"))
			dir := t.TempDir()
			code, _, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, dir, tc.stdin, tc.args...)
			if code == ExitUsage {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			got := runEntries(t, dir)
			if len(got) != len(tc.entries) {
				t.Fatalf("runs directory holds %q, want %q", got, tc.entries)
			}
			for i, p := range tc.entries {
				if !regexp.MustCompile(p).MatchString(got[i]) {
					t.Errorf("entry %q does not match %s", got[i], p)
				}
			}
		})
	}
}
