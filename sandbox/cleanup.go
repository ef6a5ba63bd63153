package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// Leftover is a sandbox container found by Sweep.
type Leftover struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Session string    `json:"session"`
	Owner   string    `json:"owner"`
	State   string    `json:"state"`
	Created time.Time `json:"created"`
	Orphan  bool      `json:"orphan"` // its owner process is gone
	Removed bool      `json:"removed"`
}

// List returns the containers this tool made (found by label), whether
// or not their owner process is still running; with session set, only that
// session's.
func (d *Docker) List(ctx context.Context, session string) ([]Leftover, error) {
	f := filters.NewArgs(filters.Arg("label", LabelManaged+"=true"))
	if session != "" {
		f.Add("label", LabelSession+"="+session)
	}
	list, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, d.classify("list sandbox containers", err)
	}
	out := make([]Leftover, 0, len(list))
	for _, c := range list {
		l := Leftover{ID: c.ID, Session: c.Labels[LabelSession], Owner: c.Labels[LabelOwner], State: c.State,
			Created: time.Unix(c.Created, 0), Orphan: !ownerAlive(c.Labels[LabelOwner])}
		if len(c.Names) > 0 {
			l.Name = strings.TrimPrefix(c.Names[0], "/")
		}
		out = append(out, l)
	}
	return out, nil
}

// Sweep removes the containers this tool made whose owner process is gone,
// or all of them with all set, and returns every one it found. A container
// of a live agentteam process on this host is kept unless all is set. With
// session set, only that session's containers are considered.
func (d *Docker) Sweep(ctx context.Context, session string, all bool) ([]Leftover, error) {
	found, err := d.List(ctx, session)
	if err != nil {
		return nil, err
	}
	var errs []error
	for i, l := range found {
		if !all && !l.Orphan {
			continue
		}
		err := d.cli.ContainerRemove(ctx, l.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", l.Name, err))
			continue
		}
		found[i].Removed = true
	}
	return found, errors.Join(errs...)
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
