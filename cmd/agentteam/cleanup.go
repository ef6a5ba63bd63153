package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/sandbox/docker"
)

// CleanupOptions are the inputs of `agentteam cleanup`.
type CleanupOptions struct {
	IO      IO
	f       *Factory
	All     bool
	Session string
	DryRun  bool
	JSON    bool
}

func newCleanupCmd(f *Factory) *cobra.Command {
	s := f.IO
	opts := &CleanupOptions{IO: s, f: f}
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove sandbox containers left behind by killed runs",
		Long: `Finds the containers agentteam made (those with both its managed and owner
labels) and removes those whose process is gone. With --all it also removes
those of runs still going. Containers made from the sandbox image by other
means (docker run) carry no owner label and are never touched.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runCleanup(cmd.Context(), opts) },
	}
	cmd.Flags().BoolVar(&opts.All, "all", false, "also remove the containers of running agentteam processes")
	cmd.Flags().StringVar(&opts.Session, "session", "", "only the containers of this session (label org.agentteam.session)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "list what would be removed, remove nothing")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the containers found as JSON")
	return cmd
}

func runCleanup(ctx context.Context, opts *CleanupOptions) error {
	st, err := opts.f.Settings()
	if err != nil {
		return err
	}
	d, err := docker.New(ctx, docker.Config{}, engineOptions(st)...)
	if err != nil {
		return err
	}
	defer d.Close()
	found, sweepErr := d.Sweep(ctx, docker.SweepOptions{Session: opts.Session, All: opts.All, DryRun: opts.DryRun})
	if opts.JSON {
		if found == nil {
			found = []docker.Leftover{}
		}
		if err := json.NewEncoder(opts.IO.Out).Encode(map[string]any{"containers": found}); err != nil {
			return err
		}
		return sweepErr
	}
	removed := 0
	for _, l := range found {
		name, owner := safetext.Name(l.Name), safetext.Name(l.Owner)
		switch {
		case l.Removed:
			removed++
			fmt.Fprintf(opts.IO.Out, "removed %s (%s, owner %s)\n", name, l.State, owner)
		case opts.DryRun && (opts.All || l.Orphan):
			removed++
			fmt.Fprintf(opts.IO.Out, "would remove %s (%s, owner %s)\n", name, l.State, owner)
		default:
			fmt.Fprintf(opts.IO.Out, "kept    %s (%s): its process %s is still running (use --all)\n", name, l.State, owner)
		}
	}
	if opts.DryRun {
		fmt.Fprintf(opts.IO.Out, "%d sandbox container(s) would be removed (dry run: none was)\n", removed)
	} else {
		fmt.Fprintf(opts.IO.Out, "%d sandbox container(s) removed\n", removed)
	}
	return sweepErr
}
