package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// Leftover is a sandbox container found by Sweep.
type Leftover struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Owner   string `json:"owner"`
	State   string `json:"state"`
	Orphan  bool   `json:"orphan"` // its owner process is gone
	Removed bool   `json:"removed"`
}

// Sweep lists the containers this tool made (by label) and removes those
// whose owner process is gone, or all of them with all set. A container of
// a live agentteam process on this host is kept unless all is set.
func (d *Docker) Sweep(ctx context.Context, all bool) ([]Leftover, error) {
	list, err := d.cli.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", LabelManaged+"=true")),
	})
	if err != nil {
		return nil, d.classify("list sandbox containers", err)
	}
	var out []Leftover
	var errs []error
	for _, c := range list {
		l := Leftover{ID: c.ID, Owner: c.Labels[LabelOwner], State: c.State, Orphan: !ownerAlive(c.Labels[LabelOwner])}
		if len(c.Names) > 0 {
			l.Name = strings.TrimPrefix(c.Names[0], "/")
		}
		if all || l.Orphan {
			err := d.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
			if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
				errs = append(errs, fmt.Errorf("remove container %s: %w", l.Name, err))
			} else {
				l.Removed = true
			}
		}
		out = append(out, l)
	}
	return out, errors.Join(errs...)
}

// ownerAlive reports whether an owner label ("host/pid") names a process
// that is still running on this host. Containers of other hosts (a shared
// engine) count as alive: only their own host can tell.
func ownerAlive(owner string) bool {
	host, pidText, ok := strings.Cut(owner, "/")
	if !ok {
		return false
	}
	if me, _ := os.Hostname(); host != me {
		return true
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
