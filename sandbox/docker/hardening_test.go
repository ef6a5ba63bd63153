package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/go-units"

	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/protocol"
)

// TestContainerIsHardened inspects a live session's container: each setting
// must be in effect on the engine, not just asked for.
func TestContainerIsHardened(t *testing.T) {
	cfg := testConfig()
	d := newTestDocker(t, cfg)
	s, dir := newTestSession(t, d)
	gvisor := d.GVisor()
	pids, memory := int64(64+runnerPids), int64(256<<20)
	if gvisor {
		pids, memory = 64+gvisorPids, memory+memory/gvisorMemoryShare+gvisorMemoryBase
	}
	got, err := d.cli.ContainerInspect(context.Background(), s.box.id)
	if err != nil {
		t.Fatal(err)
	}
	h, c := got.HostConfig, got.Config
	checks := []struct {
		name string
		ok   bool
	}{
		{"network none", h.NetworkMode == "none"},
		{"all capabilities dropped", len(h.CapDrop) == 1 && h.CapDrop[0] == "ALL" && len(h.CapAdd) == 0},
		{"no-new-privileges", slices.Contains(h.SecurityOpt, "no-new-privileges")},
		{"the sandbox's seccomp profile", slices.Equal(h.SecurityOpt, []string{"no-new-privileges", "seccomp=" + seccompProfile(gvisor)})},
		{"shared memory dies with its last process", h.Sysctls["kernel.shm_rmid_forced"] == "1"},
		{"read-only root", h.ReadonlyRootfs},
		{"size-capped tmpfs /tmp", strings.Contains(h.Tmpfs["/tmp"], "size=16777216")},
		{"non-root user", c.User == "10001:10001"},
		{"the runner is init", (h.Init == nil || !*h.Init) && len(c.Cmd) == 1 && c.Cmd[0] == runnerPath && s.box.ready.PID == 1},
		{"pids limit", h.PidsLimit != nil && *h.PidsLimit == pids},
		{"memory = swap", h.Memory == memory && h.MemorySwap == memory},
		{"cpu limit", h.NanoCPUs == 1e9},
		{"private ipc", h.IpcMode == "private"},
		{"private cgroup namespace", h.CgroupnsMode == "private"},
		{"neutral hostname", c.Hostname == "sandbox"},
		{"only the workspace mounted", len(got.Mounts) == 1 && got.Mounts[0].Destination == "/workspace" && got.Mounts[0].Source == dir},
		{"no log stored on the engine", h.LogConfig.Type == "none"},
		{"not privileged", !h.Privileged},
		{"default /proc masks", len(h.MaskedPaths) > 0},
		{"sandbox first under host memory pressure", h.OomScoreAdj == 500},
	}
	for _, want := range []units.Ulimit{{Name: "nofile", Soft: 1024, Hard: 1024}, {Name: "fsize", Soft: 8 << 20, Hard: 8 << 20}, {Name: "core", Soft: 0, Hard: 0}} {
		found := false
		for _, u := range h.Ulimits {
			found = found || (u.Name == want.Name && u.Soft == want.Soft && u.Hard == want.Hard)
		}
		checks = append(checks, struct {
			name string
			ok   bool
		}{"ulimit " + want.Name, found})
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("%s: not in effect", ch.name)
		}
	}
	for _, e := range c.Env {
		if strings.HasPrefix(e, "OMP_NUM_THREADS=") && e != "OMP_NUM_THREADS=1" {
			t.Errorf("thread count does not match the CPU limit: %s", e)
		}
	}
	// The container's namespaces are its own, not the host's.
	if got.State != nil && got.State.Pid > 0 {
		// Under gVisor these are the sandbox process's; the block's are
		// gVisor's own kernel's, which the host cannot see.
		namespaces := []string{"ipc", "uts", "pid", "net", "cgroup", "mnt"}
		if gvisor {
			namespaces = []string{"ipc", "uts", "pid", "net", "mnt"}
		}
		for _, ns := range namespaces {
			theirs, err1 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", got.State.Pid, ns))
			ours, err2 := os.Readlink("/proc/self/ns/" + ns)
			if err1 != nil || err2 != nil || theirs == ours {
				t.Errorf("%s namespace shared with the host (%s, %v %v)", ns, theirs, err1, err2)
			}
		}
	} else {
		t.Error("inspect shows no running init process")
	}
	// And from inside, as the runner saw it before any block ran.
	r := s.box.ready
	if r.UID != 10001 || !r.NoNewPrivs || r.Seccomp != 2 || strings.Trim(r.CapEff, "0") != "" || strings.Trim(r.CapBnd, "0") != "" ||
		r.ShmRmidForced == gvisor || !slices.Equal(r.RefusedSyscalls, protocol.ProbedSyscalls) || r.Kernel != map[bool]string{false: "linux", true: "gvisor"}[gvisor] {
		t.Errorf("confinement seen from inside: %+v", r)
	}
}

// testLabels marks a container as this test process's, so that TestMain
// finds it if it leaks.
func testLabels() map[string]string {
	return map[string]string{LabelManaged: "true", LabelOwner: OwnerLabel()}
}

// TestVerifyFailsClosed creates real containers with one protection missing
// and checks that verify refuses each of them.
func TestVerifyFailsClosed(t *testing.T) {
	cfg, _ := testConfig().WithDefaults()
	d := newTestDocker(t, cfg)
	imageEnv, err := d.image(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	gvisor, err := d.runtime(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cases := []struct {
		name   string
		weaken func(*spec)
		want   string
	}{
		{"network on", func(s *spec) { s.host.NetworkMode = "bridge"; s.config.NetworkDisabled = false }, "network mode"},
		{"capabilities kept", func(s *spec) { s.host.CapDrop = nil }, "capabilities not all dropped"},
		{"capability added", func(s *spec) { s.host.CapAdd = []string{"NET_RAW"} }, "capabilities added"},
		{"new privileges allowed", func(s *spec) { s.host.SecurityOpt = nil }, "no-new-privileges"},
		{"seccomp off", func(s *spec) { s.host.SecurityOpt = append(s.host.SecurityOpt, "seccomp=unconfined") }, "weakens"},
		{"the engine's seccomp profile", func(s *spec) { s.host.SecurityOpt = []string{"no-new-privileges"} }, "seccomp profile is not applied"},
		{"shared memory outlives its process", func(s *spec) { s.host.Sysctls = nil }, "shm_rmid_forced"},
		{"writable root", func(s *spec) { s.host.ReadonlyRootfs = false }, "root filesystem is writable"},
		{"uncapped tmp", func(s *spec) { s.host.Tmpfs = map[string]string{"/tmp": "rw"} }, "/tmp"},
		{"another init", func(s *spec) { t := true; s.host.Init = &t }, "the init process is not the runner"},
		{"another command", func(s *spec) { s.config.Cmd = []string{"/bin/sh"} }, "the init process is not the runner"},
		{"no pids limit", func(s *spec) { s.host.PidsLimit = nil }, "pids limit"},
		{"swap allowed", func(s *spec) { s.host.MemorySwap = -1 }, "swap"},
		{"no cpu limit", func(s *spec) { s.host.NanoCPUs = 0 }, "CPU limit"},
		{"no fsize ulimit", func(s *spec) { s.host.Ulimits = s.host.Ulimits[:1] }, "ulimit fsize"},
		{"shared ipc", func(s *spec) { s.host.IpcMode = "shareable" }, "IPC mode"},
		{"host pid namespace", func(s *spec) { s.host.PidMode = "host" }, "host namespace"},
		{"host cgroup namespace", func(s *spec) { s.host.CgroupnsMode = "host" }, "host namespace"},
		{"telling hostname", func(s *spec) { s.config.Hostname = "build-server-7" }, "hostname"},
		{"root user", func(s *spec) { s.config.User = "0:0" }, "user"},
		{"extra mount", func(s *spec) {
			s.host.Mounts = append(s.host.Mounts, mount.Mount{Type: mount.TypeBind, Source: "/etc", Target: "/host-etc", ReadOnly: true})
		}, "mounts"},
		{"host secret in env", func(s *spec) { s.config.Env = append(s.config.Env, "OPENAI_API_KEY=sk-canary") }, "OPENAI_API_KEY is not on the allowlist"},
		{"privileged", func(s *spec) { s.host.Privileged = true }, "privileged"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sp := newSpec(cfg, "10001:10001", dir, "", false, testLabels(), gvisor)
			good := sp
			// Weaken a copy of the container's configuration; verify compares
			// against the hardened spec.
			cc, hc := *sp.config, *sp.host
			cc.Env = append([]string(nil), cc.Env...)
			hc.Ulimits = append(hc.Ulimits[:0:0], hc.Ulimits...)
			hc.Mounts = append(hc.Mounts[:0:0], hc.Mounts...)
			hc.SecurityOpt = slices.Clone(hc.SecurityOpt)
			weak := spec{config: &cc, host: &hc}
			tc.weaken(&weak)
			created, err := d.cli.ContainerCreate(context.Background(), weak.config, weak.host, nil, nil, "")
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			defer d.cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true})
			got, err := d.cli.ContainerInspect(context.Background(), created.ID)
			if err != nil {
				t.Fatal(err)
			}
			err = good.verify(got, imageEnv)
			if !errors.Is(err, sandbox.ErrHardening) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("verify = %v, want sandbox.ErrHardening mentioning %q", err, tc.want)
			}
		})
	}
	t.Run("hardened passes", func(t *testing.T) {
		sp := newSpec(cfg, "10001:10001", dir, "", false, testLabels(), gvisor)
		created, err := d.cli.ContainerCreate(context.Background(), sp.config, sp.host, nil, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		defer d.cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true})
		got, _ := d.cli.ContainerInspect(context.Background(), created.ID)
		if err := sp.verify(got, imageEnv); err != nil {
			t.Fatalf("verify of the hardened spec: %v", err)
		}
	})
}

// TestHostEnvironmentStaysOut sets a canary in the host's environment and
// looks for it everywhere a block can read.
func TestHostEnvironmentStaysOut(t *testing.T) {
	const canary = "sk-canary-7f3a9b1c"
	t.Setenv("OPENAI_API_KEY", canary)
	t.Setenv("AGENTTEAM_SECRET_CANARY", canary)
	d := newTestDocker(t, testConfig())
	s, _ := newTestSession(t, d)
	res := run(t, s, sandbox.Sh, "env; cat /proc/1/environ /proc/self/environ 2>&1 | tr '\\0' '\\n'; grep -rs sk-canary /etc /tmp /workspace; true")
	if !res.OK() {
		t.Fatalf("probe failed: %+v", res)
	}
	if strings.Contains(res.Stdout+res.Stderr, canary) || strings.Contains(res.Stdout, "OPENAI_API_KEY") {
		t.Fatalf("host secret visible inside the sandbox:\n%s", res.Stdout)
	}
	if !strings.Contains(res.Stdout, "HOME=/tmp") {
		t.Fatalf("probe did not print the environment:\n%s", res.Stdout)
	}
}

// TestConfinementFromInside checks each limit by what a block sees.
func TestConfinementFromInside(t *testing.T) {
	d := newTestDocker(t, testConfig())
	s, _ := newTestSession(t, d)
	res := run(t, s, sandbox.Sh, `
echo hostname=$(hostname)
echo pid1=$(cat /proc/1/comm)
echo uid=$(id -u) gid=$(id -g)
echo core=$(ulimit -c) nofile=$(ulimit -n) fsize=$(ulimit -f)
echo pids=$(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)
echo memory=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)
echo swap=$(cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>/dev/null || echo none)
echo cpu=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/cpu.max)
echo tmp=$(df -k /tmp | awk 'NR==2 {print $2}')k shm=$(df -k /dev/shm | awk 'NR==2 {print $2}')k
echo root=$(touch /x 2>/dev/null && echo rw || echo ro) workspace=$(touch /workspace/.w && rm /workspace/.w && echo rw)
echo nonewprivs=$(grep NoNewPrivs /proc/self/status | tr -d ' \t' | cut -d: -f2) capeff=$(grep CapEff /proc/self/status | tr -d ' \t' | cut -d: -f2)
echo mounts=$(awk '$5 == "/workspace" || $5 ~ /^\/(home|root|var\/run|run)/ {print $5}' /proc/self/mountinfo | tr '\n' ,)
[ "$(uname -r | grep -c gvisor)" = 1 ] && echo nproc=$(python3 -c 'import resource; print(resource.getrlimit(resource.RLIMIT_NPROC)[0])')
true
`)
	if !res.OK() {
		t.Fatalf("probe failed: %+v", res)
	}
	pids, memory, swap := fmt.Sprintf("pids=%d", 64+runnerPids), "memory=268435456", "swap=268435456"
	if underGVisor() {
		// gVisor shows its own kernel's cgroups: no pids controller limit
		// (RLIMIT_NPROC bounds the block there, checked below), the
		// container's whole memory (the runner's guard keeps a block to
		// 256 MiB of it) and no swap accounting.
		pids, memory, swap = "pids=max", "memory=536870912", "swap=none"
	}
	want := []string{
		"hostname=sandbox",
		"pid1=agentteam-runne", // comm is cut at 15 characters
		"uid=10001 gid=10001",
		"core=0 nofile=1024 fsize=16384", // ulimit -f counts 512-byte blocks: 8 MiB
		pids,
		memory,
		swap,
		"cpu=100000",
		"tmp=16384k shm=16384k",
		"root=ro workspace=rw",
		"nonewprivs=1 capeff=0000000000000000",
		"mounts=/workspace,",
	}
	if underGVisor() {
		want = append(want, "nproc=64")
	}
	got := strings.Split(strings.TrimSpace(res.Stdout), "\n")
	for i, w := range want {
		if i >= len(got) || got[i] != w {
			t.Errorf("line %d: got %q, want %q", i+1, at(got, i), w)
		}
	}
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "<missing>"
}

// TestVerifyReadyFailsClosed: what the runner reports from inside must show
// the sandbox's own seccomp profile and IPC setting, not just some filter.
func TestVerifyReadyFailsClosed(t *testing.T) {
	good := protocol.Ready{PID: 1, UID: 10001, GID: 10001, CapEff: "0000000000000000", CapBnd: "0000000000000000",
		NoNewPrivs: true, Seccomp: 2, ShmRmidForced: true, RefusedSyscalls: slices.Clone(protocol.ProbedSyscalls)}
	if err := verifyReady(good, false); err != nil {
		t.Fatalf("hardened runner refused: %v", err)
	}
	for _, tc := range []struct {
		name   string
		weaken func(*protocol.Ready)
		want   string
	}{
		{"engine default profile (io_uring allowed)", func(r *protocol.Ready) { r.RefusedSyscalls = r.RefusedSyscalls[1:] }, "allows io_uring_setup"},
		{"no probe refused", func(r *protocol.Ready) { r.RefusedSyscalls = nil }, "allows io_uring_setup, ptrace"},
		{"no filter", func(r *protocol.Ready) { r.Seccomp = 0 }, "seccomp mode 0"},
		{"shm segments outlive", func(r *protocol.Ready) { r.ShmRmidForced = false }, "shm_rmid_forced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := good
			r.RefusedSyscalls = slices.Clone(good.RefusedSyscalls)
			tc.weaken(&r)
			err := verifyReady(r, false)
			if !errors.Is(err, sandbox.ErrHardening) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("verifyReady = %v, want sandbox.ErrHardening mentioning %q", err, tc.want)
			}
		})
	}
}

// TestPidsBoundTheBlock: --pids N is the block's own allowance: the
// runner's reserved threads do not eat it (12 let 11 background sleeps
// and their shell run; it used to take 32), and a fork past it fails.
func TestPidsBoundTheBlock(t *testing.T) {
	cfg := testConfig()
	cfg.Pids = 12
	s, _ := newTestSession(t, newTestDocker(t, cfg))
	res := run(t, s, sandbox.Sh, "for i in $(seq 11); do sleep 1 & done; wait; echo done")
	if !res.OK() || res.Stdout != "done\n" {
		t.Fatalf("11 sleeps under --pids 12: %+v", res)
	}
	res = run(t, s, sandbox.Sh, "for i in $(seq 40); do sleep 1 & done; wait; echo done")
	if !strings.Contains(strings.ToLower(res.Stderr), "fork") {
		t.Fatalf("40 sleeps under --pids 12 all ran: %+v", res)
	}
	assertAlive(t, s)
}
