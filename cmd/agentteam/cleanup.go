package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/agentteam/agentteam/sandbox"
)

// CleanupOptions are the inputs of `agentteam cleanup`.
type CleanupOptions struct {
	IO      IO
	All     bool
	Session string
	JSON    bool
}

func newCleanupCmd(s IO) *cobra.Command {
	opts := &CleanupOptions{IO: s}
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove sandbox containers left behind by killed runs",
		Long: `Finds the containers agentteam made (by their labels) and removes those whose
process is gone. With --all it also removes those of runs still going.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runCleanup(cmd.Context(), opts) },
	}
	cmd.Flags().BoolVar(&opts.All, "all", false, "also remove the containers of running agentteam processes")
	cmd.Flags().StringVar(&opts.Session, "session", "", "only the containers of this session (label org.agentteam.session)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the containers found as JSON")
	return cmd
}

func runCleanup(ctx context.Context, opts *CleanupOptions) error {
	d, err := sandbox.NewDocker(ctx, sandbox.Config{})
	if err != nil {
		return err
	}
	defer d.Close()
	found, sweepErr := d.Sweep(ctx, opts.Session, opts.All)
	if opts.JSON {
		if found == nil {
			found = []sandbox.Leftover{}
		}
		if err := json.NewEncoder(opts.IO.Out).Encode(map[string]any{"containers": found}); err != nil {
			return err
		}
		return sweepErr
	}
	removed := 0
	for _, l := range found {
		if l.Removed {
			removed++
			fmt.Fprintf(opts.IO.Out, "removed %s (%s, owner %s)\n", l.Name, l.State, l.Owner)
		} else {
			fmt.Fprintf(opts.IO.Out, "kept    %s (%s): its process %s is still running (use --all)\n", l.Name, l.State, l.Owner)
		}
	}
	fmt.Fprintf(opts.IO.Out, "%d sandbox container(s) removed\n", removed)
	return sweepErr
}
