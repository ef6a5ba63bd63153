package docker

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// endedProcess runs a program to its end and returns its pid and start
// time: the owner of a killed run.
func endedProcess(t *testing.T) (int, uint64) {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	start, err := processStart(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	return cmd.Process.Pid, start
}

// TestProcessStart reads field 22 of /proc/PID/stat past a command name
// that holds spaces and parentheses.
func TestProcessStart(t *testing.T) {
	odd := filepath.Join(t.TempDir(), "a) b (c")
	data, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(odd, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(odd, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	got, err := processStart(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	// It started just now: its start time is the uptime, in clock ticks
	// (100 a second on Linux).
	up, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	secs, _ := strconv.ParseFloat(strings.Fields(string(up))[0], 64)
	// Signed: the two clocks round differently, so the start can read a
	// tick later than the uptime.
	if now := int64(secs * 100); got == 0 || int64(got) > now+100 || now-int64(got) > 500 {
		t.Fatalf("start time %d ticks, uptime %d ticks", got, now)
	}
}

func TestOwnerAlive(t *testing.T) {
	host, _ := os.Hostname()
	me := host + "/" + strconv.Itoa(os.Getpid())
	myStart, err := processStart(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	deadPid, deadStart := endedProcess(t)
	dead := host + "/" + strconv.Itoa(deadPid)
	for _, tc := range []struct {
		owner string
		alive bool
	}{
		{OwnerLabel(), true},
		{me + "/" + strconv.FormatUint(myStart, 10), true},
		{me, true}, // the older form, of a run still going
		{"another-host/1/1", true},
		{"another-host/999999999", true},
		{me + "/" + strconv.FormatUint(myStart+1, 10), false}, // the pid now names another process
		{dead + "/" + strconv.FormatUint(deadStart, 10), false},
		{dead, false},
		{host + "/999999999", false},
		{me + "/x", false},
		{host + "/x/1", false},
		{host + "/0/1", false},
		{host, false},
		{"", false},
		{me + "/1/2", false},
	} {
		if got := ownerAlive(tc.owner); got != tc.alive {
			t.Errorf("ownerAlive(%q) = %v, want %v", tc.owner, got, tc.alive)
		}
	}
	if want := me + "/" + strconv.FormatUint(myStart, 10); OwnerLabel() != want {
		t.Errorf("OwnerLabel() = %q, want %q", OwnerLabel(), want)
	}
}

// TestSweepOnlyOurs: List and Sweep judge only containers with both the
// managed and the owner label; one made from the image with the managed
// label alone (a user's `docker run`, with an image built before the label
// left it) is never listed nor removed, even with All. A dry run removes
// nothing; StartSweep removes a created, never started container of a dead
// owner.
func TestSweepOnlyOurs(t *testing.T) {
	d := newTestDocker(t, Config{})
	ctx := context.Background()
	host, _ := os.Hostname()
	session := "test-sweep-" + strconv.Itoa(os.Getpid())
	deadPid, deadStart := endedProcess(t)
	deadOwner := host + "/" + strconv.Itoa(deadPid) + "/" + strconv.FormatUint(deadStart, 10)
	mk := func(labels map[string]string, start bool) string {
		labels[LabelSession] = session
		c, err := d.cli.ContainerCreate(ctx, &container.Config{Image: Defaults().Image, Cmd: []string{"/bin/sh", "-c", "sleep 30"}, Labels: labels},
			&container.HostConfig{NetworkMode: "none"}, nil, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}) })
		if start {
			if err := d.cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		return c.ID
	}
	foreign := mk(map[string]string{LabelManaged: "true"}, true)
	live := mk(map[string]string{LabelManaged: "true", LabelOwner: OwnerLabel()}, false)
	dead := mk(map[string]string{LabelManaged: "true", LabelOwner: deadOwner}, false)
	state := func(id string) string {
		c, err := d.cli.ContainerInspect(ctx, id)
		if err != nil {
			return "gone"
		}
		return c.State.Status
	}
	ids := func(list []Leftover) []string {
		var out []string
		for _, l := range list {
			out = append(out, l.ID)
		}
		return out
	}

	found, err := d.Sweep(ctx, SweepOptions{Session: session, All: true, DryRun: true})
	if err != nil || strings.Contains(strings.Join(ids(found), " "), foreign) || len(found) < 1 {
		t.Fatalf("dry run: %v, found %+v", err, found)
	}
	for _, l := range found {
		if l.Removed {
			t.Errorf("a dry run removed %s", l.Name)
		}
	}
	if state(live) != "created" || state(foreign) != "running" {
		t.Fatalf("after a dry run: live %s, foreign %s", state(live), state(foreign))
	}
	// Another test's command may sweep the dead owner's container first:
	// what counts is that it goes, and that the others stay.
	if _, err := d.Sweep(ctx, SweepOptions{Session: session}); err != nil {
		t.Fatal(err)
	}
	if state(dead) != "gone" || state(live) != "created" || state(foreign) != "running" {
		t.Fatalf("sweep: dead %s, live %s, foreign %s", state(dead), state(live), state(foreign))
	}
	if _, err := d.Sweep(ctx, SweepOptions{Session: session, All: true}); err != nil {
		t.Fatal(err)
	}
	if state(live) != "gone" || state(foreign) != "running" {
		t.Fatalf("sweep all: live %s, foreign %s", state(live), state(foreign))
	}

	dead = mk(map[string]string{LabelManaged: "true", LabelOwner: deadOwner}, false)
	start := time.Now()
	wait := d.StartSweep(ctx)
	if time.Since(start) > 50*time.Millisecond {
		t.Errorf("StartSweep took %s to return", time.Since(start))
	}
	if _, err := wait(); err != nil || state(dead) != "gone" || state(foreign) != "running" {
		t.Fatalf("background sweep: %v, dead %s, foreign %s", err, state(dead), state(foreign))
	}
}
