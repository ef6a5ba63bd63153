package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// versionText is the program's version from its build info: the module
// version (a tag, or "(devel)" for a build from a checkout) and the
// commit it was built from, marked when the tree had changes.
func versionText(bi *debug.BuildInfo, ok bool) string {
	if !ok || bi == nil {
		return "unknown (no build information)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, when string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	var parts []string
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if modified {
			rev += "+changes"
		}
		parts = append(parts, "commit "+rev)
	}
	if when != "" {
		parts = append(parts, when)
	}
	if bi.GoVersion != "" {
		parts = append(parts, bi.GoVersion)
	}
	if len(parts) > 0 {
		v += " (" + strings.Join(parts, ", ") + ")"
	}
	return v
}

func buildVersion() string { return versionText(debug.ReadBuildInfo()) }

func newVersionCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print agentteam's version and the commit it was built from",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(f.IO.Out, "agentteam "+buildVersion())
			return err
		},
	}
}

// commandExamples are the Example section of each command's --help.
func commandExamples() map[string]string {
	return map[string]string{
		"run": `  agentteam run "Write a function that checks whether a number is prime, with tests"
  agentteam run --provider ollama --coder-model qwen2.5-coder "Parse a CSV of dates"
  agentteam run --timeout 600 --max-turns 8 - < task.md
  agentteam run --json "Sum a list" | jq .type
  agentteam run --replay examples/demo.transcript.jsonl
  agentteam run --continue 20261130-101500-write-a-prime-checker-3fa2c1 "Now add a CLI"`,
		"exec": `  agentteam exec message.md
  printf '` + "```" + `python\nprint(6*7)\n` + "```" + `\n' | agentteam exec -
  agentteam exec --egress pypi --timeout 120 install.md`,
		"ask": `  agentteam ask "Say hi"` + "\n" + `  agentteam ask --provider ollama --model llama3.2 "Say hi"`,
		"doctor": `  agentteam doctor
  agentteam doctor --provider ollama --coder-model qwen2.5-coder --reviewer-model llama3.1
  agentteam doctor --json | jq -r '.checks[] | select(.ok | not) | .name'`,
		"cleanup":  "  agentteam cleanup --dry-run\n  agentteam cleanup",
		"fake-llm": "  agentteam fake-llm --script model.json --addr 127.0.0.1:8089",
		"version":  "  agentteam version\n  agentteam --version",
		"runs": `  agentteam runs
  agentteam runs --json | jq -r 'select(.status == "error") | .id'
  agentteam runs show 20261130-101500-write-a-prime-checker-3fa2c1
  agentteam runs rm 20261130-101500-write-a-prime-checker-3fa2c1
  agentteam runs prune --older-than 7d`,
		"report": `  agentteam report .agentteam/runs/run-20261130-101500-3fa2c1 --open
  agentteam report tasks.results.jsonl -o batch.html`,
		"queue": queueServeExample,
		"worker": `  agentteam worker --queue nats://queue.example:4222
  agentteam batch --queue nats://queue.example:4222 tasks.jsonl   # on the machine that submits`,
		"batch": `  agentteam batch -j 8 tasks.jsonl
  agentteam batch --retry-errors tasks.jsonl       # run the failed tasks again
  agentteam batch --queue local tasks.jsonl         # through an embedded NATS JetStream server
  agentteam batch --json tasks.jsonl > lines.jsonl`,
	}
}
