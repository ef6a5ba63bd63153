package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/agentteam/agentteam/sandbox"
)

// DoctorOptions are the inputs of `agentteam doctor`.
type DoctorOptions struct {
	IO      IO
	Sandbox sandboxFlags
	JSON    bool
}

func newDoctorCmd(s IO) *cobra.Command {
	opts := &DoctorOptions{IO: s}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the Docker engine, the sandbox image, the runtimes and the hardening",
		Long: `Checks the Docker engine, the sandbox image and the registered runtimes, starts a
test container to see the hardening as a code block sees it, and says what to
do about each problem. Exit status 0 when all is well, 4 otherwise.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runDoctor(cmd.Context(), opts) },
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the checks as JSON")
	opts.Sandbox.register(cmd.Flags())
	return cmd
}

func runDoctor(ctx context.Context, opts *DoctorOptions) error {
	cfg, err := opts.Sandbox.resolve(opts.IO)
	if err != nil {
		return err
	}
	checks := sandbox.Doctor(ctx, cfg)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	healthy := true
	for _, c := range checks {
		healthy = healthy && c.OK
	}
	if opts.JSON {
		if err := json.NewEncoder(opts.IO.Out).Encode(map[string]any{"ok": healthy, "checks": checks}); err != nil {
			return err
		}
	} else {
		r := newReporter(opts.IO, false)
		for _, c := range checks {
			mark := r.paint("32", "✓")
			if !c.OK {
				mark = r.paint("31", "✗")
			}
			fmt.Fprintf(opts.IO.Out, "%s %-14s %s\n", mark, c.Name, c.Detail)
			if !c.OK && c.Fix != "" {
				fmt.Fprintf(opts.IO.Out, "  %-14s %s\n", "fix:", c.Fix)
			}
		}
	}
	if !healthy {
		return &exitError{code: ExitSandbox}
	}
	return nil
}
