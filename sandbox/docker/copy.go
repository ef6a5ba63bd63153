package docker

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/container"

	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/workspace"
)

// A copied workspace (Config.CopyWorkspace) lives in the container, in a
// capped tmpfs; the host's directory is its mirror. The host copies its
// directory in when the container starts, and after every block copies the
// container's workspace back over its mirror: what comes back is
// untrusted, so it goes through workspace.Extract (no name outside the
// directory, links never followed, no setuid or world-write bit, capped),
// and the mirror then holds exactly what the container holds. The rest of
// what the host does after a block (the lists of changes, sanitising)
// works on the mirror as on a bind-mounted workspace.

// copyIn copies the workspace dir into b's.
func (d *Backend) copyIn(ctx context.Context, b *box, dir string) error {
	ws, err := workspace.Open(dir)
	if err != nil {
		return fmt.Errorf("copy workspace in: %w", err)
	}
	defer ws.Close()
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(ws.Archive(ctx, pw, workspace.ArchiveOptions{UID: sandboxUID, GID: sandboxUID,
			Limits: workspace.Limits{Bytes: d.cfg.WorkspaceBytes, Entries: int(d.cfg.WorkspaceEntries)}}))
	}()
	err = d.cli.CopyToContainer(ctx, b.id, mountPoint, pr, container.CopyToContainerOptions{})
	pr.CloseWithError(err)
	if err != nil {
		if errors.Is(err, workspace.ErrTooLarge) {
			return fmt.Errorf("%w: copy workspace in: %w (the sandbox's workspace cap)", sandbox.ErrConfig, err)
		}
		return d.classify("copy workspace in", err)
	}
	return nil
}

// copyOut makes ws the container's workspace as it is now. An error leaves
// ws partly updated: the caller then replaces the container, so that the
// next block starts from ws.
func (d *Backend) copyOut(ctx context.Context, b *box, ws *workspace.Workspace) error {
	rc, _, err := d.cli.CopyFromContainer(ctx, b.id, mountPoint+"/.")
	if err != nil {
		return d.classify("copy workspace out", err)
	}
	defer rc.Close()
	x, err := workspace.Extract(ctx, ws.Dir(), rc, workspace.Limits{Bytes: d.cfg.WorkspaceBytes, Entries: int(d.cfg.WorkspaceEntries)})
	if err != nil {
		return fmt.Errorf("copy workspace out: %w", err)
	}
	// What the container no longer has goes from the mirror too.
	if _, err := ws.RemoveNew(ctx, x.Written, 0); err != nil {
		return fmt.Errorf("copy workspace out: %w", err)
	}
	return nil
}
