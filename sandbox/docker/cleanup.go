package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
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

// List returns the containers this tool made, whether or not their owner
// process is still running; with session set, only that session's. A
// container counts as ours only with both the managed and the owner label:
// the managed label alone is also on every container made from an image
// built before the label left it (a user's `docker run -it IMAGE bash`).
func (d *Backend) List(ctx context.Context, session string) ([]Leftover, error) {
	f := filters.NewArgs(filters.Arg("label", LabelManaged+"=true"), filters.Arg("label", LabelOwner))
	if session != "" {
		f.Add("label", LabelSession+"="+session)
	}
	list, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, d.classify("list sandbox containers", err)
	}
	out := make([]Leftover, 0, len(list))
	for _, c := range list {
		owner, ok := c.Labels[LabelOwner]
		if !ok || c.Labels[LabelManaged] != "true" {
			continue // the engine filtered already; never judge what is not ours
		}
		l := Leftover{ID: c.ID, Session: c.Labels[LabelSession], Owner: owner, State: c.State,
			Created: time.Unix(c.Created, 0), Orphan: !ownerAlive(owner)}
		if len(c.Names) > 0 {
			l.Name = strings.TrimPrefix(c.Names[0], "/")
		}
		out = append(out, l)
	}
	return out, nil
}

// SweepOptions say which containers Sweep removes.
type SweepOptions struct {
	Session string // only this session's containers
	All     bool   // also those of live agentteam processes
	DryRun  bool   // find them, remove nothing
}

// Sweep removes the containers this tool made whose owner process is gone,
// or all of them with All set, and returns every one it found. A container
// of a live agentteam process (or of another host, which only that host can
// judge) is kept unless All is set.
func (d *Backend) Sweep(ctx context.Context, opts SweepOptions) ([]Leftover, error) {
	found, err := d.List(ctx, opts.Session)
	if err != nil {
		return nil, err
	}
	var errs []error
	for i, l := range found {
		if opts.DryRun || !opts.All && !l.Orphan {
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

// sweepTimeout bounds the sweep that every command starts: it runs beside
// the command and must never hold it up.
const sweepTimeout = 10 * time.Second

// StartSweep removes, in the background, the containers whose owner ran on
// this host and is gone: those of a killed agentteam, including containers
// it created but never started, which AutoRemove does not cover. It returns
// at once and never fails; wait returns what the sweep found once it is
// done (doctor reports it, other commands do not wait).
func (d *Backend) StartSweep(ctx context.Context) (wait func() ([]Leftover, error)) {
	var (
		found []Leftover
		err   error
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sweepTimeout)
		defer cancel()
		found, err = d.Sweep(sctx, SweepOptions{})
		removed := 0
		for _, l := range found {
			if l.Removed {
				removed++
			}
		}
		d.log.Debug("swept the sandbox containers of dead runs", "engine", d.Host(), "found", len(found), "removed", removed, "err", err)
	}()
	return func() ([]Leftover, error) {
		<-done
		return found, err
	}
}

// OwnerLabel is the owner label of the containers this process makes:
// "host/pid/start", start being the process's start time in clock ticks
// since boot (field 22 of /proc/PID/stat). With it, a pid the kernel gave
// to another process since does not keep an orphan alive.
func OwnerLabel() string { return ownerLabel() }

var ownerLabel = sync.OnceValue(func() string {
	host, _ := os.Hostname()
	owner := host + "/" + strconv.Itoa(os.Getpid())
	if start, err := processStart(os.Getpid()); err == nil {
		owner += "/" + strconv.FormatUint(start, 10)
	}
	return owner
})

// processStart reads a process's start time, in clock ticks since boot.
func processStart(pid int) (uint64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces and
	// parentheses itself: count fields after the last ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	fields := strings.Fields(string(data[i+1:]))
	const startField = 22 - 3 // fields[0] is field 3, the state
	if len(fields) <= startField {
		return 0, errors.New("malformed /proc stat")
	}
	return strconv.ParseUint(fields[startField], 10, 64)
}

// ownerAlive reports whether an owner label ("host/pid/start", or the older
// "host/pid") names a process that is still running on this host.
// Containers of other hosts (a shared engine) count as alive: only their
// own host can tell. When the start time cannot be read (a /proc mounted
// with hidepid) a running pid counts as alive: keeping a container is the
// safe mistake.
func ownerAlive(owner string) bool {
	parts := strings.Split(owner, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return false
	}
	if me, _ := os.Hostname(); parts[0] != me {
		return true
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return false
	}
	running := func() bool {
		err := syscall.Kill(pid, 0)
		return err == nil || errors.Is(err, syscall.EPERM)
	}
	if !running() {
		return false
	}
	if len(parts) == 2 {
		return true
	}
	want, err := strconv.ParseUint(parts[2], 10, 64)
	if err != nil {
		return false
	}
	got, err := processStart(pid)
	if err != nil {
		return running() // it ended just now, or its /proc entry is hidden
	}
	return got == want
}
