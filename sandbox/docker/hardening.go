package docker

import (
	"cmp"
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/go-units"

	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/egress"
	"github.com/agentteam/agentteam/sandbox/protocol"
)

// Labels put on every container, so that Sweep finds them after a crash.
// A container is agentteam's only with both LabelManaged and LabelOwner.
const (
	LabelManaged = "org.agentteam.managed"
	LabelSession = "org.agentteam.session"
	LabelOwner   = "org.agentteam.owner" // "host/pid/start" of the process that made it (see OwnerLabel)
)

// sandboxUID is the image's dedicated user (docker/Dockerfile.sandbox).
const sandboxUID = 10001

const (
	mountPoint = "/workspace"
	// egressMount holds the host proxy's socket, read-only; the runner
	// relays egressListen on the container's loopback to it.
	egressMount  = "/run/agentteam"
	egressSocket = egressMount + "/egress.sock"
	egressListen = "127.0.0.1:3128"
	hostname     = "sandbox"
	runnerPath   = "/usr/local/bin/agentteam-runner"
)

// spec is everything a sandbox container is created with.
type spec struct {
	config *container.Config
	host   *container.HostConfig
}

// Under gVisor the container's cgroup holds gVisor's own kernel too: its
// threads count against the pids limit (about 60 at rest) and its memory
// against the memory limit, and the host's OOM killer or pids limit would
// end the whole sandbox, runner included. So there the container gets this
// much more room, and the block's own limits are enforced inside: the
// process count by RLIMIT_NPROC (which gVisor's kernel counts per sandbox,
// where Linux counts it per uid host-wide), memory by the runner's guard.
const (
	gvisorPids = 512
	// runnerPids is the runner's own share of the pids limit under runc:
	// its Go threads (8 held in reserve so that it keeps working through a
	// fork bomb) and the waiting interpreter. The block gets cfg.Pids.
	runnerPids        = 24
	gvisorMemoryShare = 2         // a half more of the block's memory
	gvisorMemoryBase  = 128 << 20 // and this much
)

// newSpec returns the hardened container for one session. Nothing here is
// optional: verify checks each setting on the created container.
// egressDir, when set, is the host directory of the session's egress
// proxy socket.
// mirror says the proxy serves the package index mirror (egress.IndexHost).
// An empty workspaceDir makes the workspace a tmpfs volume of the
// container's own, capped like the workspace, which the host copies in and
// out (Config.CopyWorkspace).
func newSpec(cfg Config, user, workspaceDir, egressDir string, mirror bool, labels map[string]string, gvisor bool) spec {
	f := false
	pids, memory := cfg.Pids, cfg.Memory
	ulimits := []*units.Ulimit{
		{Name: "nofile", Soft: cfg.OpenFiles, Hard: cfg.OpenFiles},
		{Name: "fsize", Soft: cfg.FileSize, Hard: cfg.FileSize},
		{Name: "core", Soft: 0, Hard: 0},
	}
	if gvisor {
		pids += gvisorPids // the block's own count is RLIMIT_NPROC there
		memory += memory/gvisorMemoryShare + gvisorMemoryBase
		ulimits = append(ulimits, &units.Ulimit{Name: "nproc", Soft: cfg.Pids, Hard: cfg.Pids})
	} else {
		pids += runnerPids
	}
	threads := strconv.Itoa(cfg.threads())
	env := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=/tmp",
		"TMPDIR=/tmp",
		"LANG=C.UTF-8",
		"PYTHONUNBUFFERED=1",        // output printed before a timeout is kept
		"PYTHONDONTWRITEBYTECODE=1", // no __pycache__ litter in the workspace
		"PYTHONPATH=" + mountPoint,  // blocks run from a memfd: keep workspace modules importable
		"MPLBACKEND=Agg",
		"MPLCONFIGDIR=/tmp/.matplotlib",
		"XDG_CACHE_HOME=/tmp/.cache",
		// Libraries size thread pools by the host's CPU count otherwise,
		// which the CPU and pids limits then punish.
		"OMP_NUM_THREADS=" + threads,
		"OPENBLAS_NUM_THREADS=" + threads,
		"MKL_NUM_THREADS=" + threads,
		"NUMEXPR_NUM_THREADS=" + threads,
		// pip installs for the sandbox user, under HOME (/tmp, gone with
		// the session); Debian's marker of a system-managed Python is
		// about the image's own packages, which stay read-only anyway.
		"PIP_USER=1",
		"PIP_BREAK_SYSTEM_PACKAGES=1",
		"PIP_DISABLE_PIP_VERSION_CHECK=1",
		"PIP_NO_INPUT=1",
	}
	mounts := []mount.Mount{{Type: mount.TypeBind, Source: workspaceDir, Target: mountPoint}}
	if workspaceDir == "" {
		mounts[0] = workspaceVolume(cfg, labels)
	}
	if egressDir != "" {
		proxy := "http://" + egressListen
		env = append(env, "HTTP_PROXY="+proxy, "HTTPS_PROXY="+proxy, "http_proxy="+proxy, "https_proxy="+proxy)
		index := cfg.PipIndex
		if index == "" && mirror {
			// Plain HTTP to the proxy, which fetches over TLS on the host
			// and checks every file against the index's hash.
			index = "http://" + egress.IndexHost + "/simple/"
		}
		if index != "" {
			env = append(env, "PIP_INDEX_URL="+index)
			if u, err := url.Parse(index); err == nil && u.Scheme == "http" {
				env = append(env, "PIP_TRUSTED_HOST="+u.Hostname())
			}
		}
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: egressDir, Target: egressMount, ReadOnly: true})
	} else {
		// No network: pip fails at once (the image's pip says how to
		// allow it) instead of retrying for seconds.
		env = append(env, "PIP_RETRIES=0", "PIP_TIMEOUT=1")
	}
	tmpfs := fmt.Sprintf("rw,nosuid,nodev,size=%d,mode=1777", cfg.TmpBytes)
	return spec{
		config: &container.Config{
			Image:           cfg.Image,
			User:            user,
			Hostname:        hostname,
			Domainname:      "",
			Env:             env,
			Cmd:             []string{runnerPath},
			Entrypoint:      []string{},
			WorkingDir:      mountPoint,
			AttachStdin:     true,
			AttachStdout:    true,
			AttachStderr:    true,
			OpenStdin:       true,
			StdinOnce:       true, // the host's attach ending closes stdin: the runner exits
			NetworkDisabled: true,
			Labels:          labels,
		},
		host: &container.HostConfig{
			NetworkMode:    "none",
			CapDrop:        []string{"ALL"},
			SecurityOpt:    []string{"no-new-privileges", "seccomp=" + seccompProfile(gvisor)},
			ReadonlyRootfs: true,
			Tmpfs:          map[string]string{"/tmp": tmpfs},
			// No Docker init: the runner is PID 1 and reaps every orphan
			// itself. As PID 1 it cannot be killed or stopped from inside
			// the container, and being non-dumpable it cannot be ptraced;
			// Docker's init could be both.
			Init:    &f,
			IpcMode: "private",
			// A shared-memory segment dies with the last process attached
			// to it, so none outlives its block (the IPC namespace is the
			// container's own, so the setting is too).
			Sysctls:      map[string]string{"kernel.shm_rmid_forced": "1"},
			CgroupnsMode: "private", // the block sees its own cgroup, not the host's tree
			ShmSize:      cfg.TmpBytes,
			AutoRemove:   true, // a container whose host process died removes itself
			LogConfig:    container.LogConfig{Type: "none"},
			// Under host memory pressure the sandbox goes first; inside it, the
			// runner raises each block's processes to 1000 so that a block's
			// memory bomb, not the runner, is the OOM killer's choice.
			OomScoreAdj: 500,
			Runtime:     cfg.Runtime,
			Mounts:      mounts,
			Resources: container.Resources{
				Memory:     memory,
				MemorySwap: memory,
				NanoCPUs:   int64(cfg.CPUs * 1e9),
				PidsLimit:  &pids,
				// No nproc under runc: it counts the uid's processes host-wide.
				Ulimits: ulimits,
			},
			// MaskedPaths and ReadonlyPaths stay nil: an empty slice would
			// remove Docker's default masks of /proc.
		},
	}
}

// verify checks the created container against the spec and fails closed on
// any difference. imageEnv is the image's own environment, which Docker
// merges in; anything else in the container's environment is refused.
func (s spec) verify(got container.InspectResponse, imageEnv []string) error {
	var bad []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			bad = append(bad, fmt.Sprintf(format, args...))
		}
	}
	if got.ContainerJSONBase == nil || got.HostConfig == nil || got.Config == nil {
		return fmt.Errorf("%w: inspect returned no configuration", sandbox.ErrHardening)
	}
	h, c, want := got.HostConfig, got.Config, s.host

	check(string(h.NetworkMode) == "none", "network mode is %q, not none", h.NetworkMode)
	check(containsFold(h.CapDrop, "ALL"), "capabilities not all dropped (CapDrop %v)", h.CapDrop)
	check(len(h.CapAdd) == 0, "capabilities added: %v", h.CapAdd)
	check(!h.Privileged, "container is privileged")
	check(slices.ContainsFunc(h.SecurityOpt, func(o string) bool {
		return o == "no-new-privileges" || o == "no-new-privileges:true" || o == "no-new-privileges=true"
	}), "no-new-privileges not set (SecurityOpt %v)", h.SecurityOpt)
	check(slices.Contains(h.SecurityOpt, want.SecurityOpt[1]), "the sandbox's seccomp profile is not applied")
	check(h.Sysctls["kernel.shm_rmid_forced"] == "1", "kernel.shm_rmid_forced is not 1")
	for _, o := range h.SecurityOpt {
		check(!strings.Contains(o, "unconfined") && !strings.HasPrefix(o, "label=disable") && !strings.HasPrefix(o, "label:disable"),
			"security option %q weakens confinement", o)
	}
	check(h.ReadonlyRootfs, "root filesystem is writable")
	check(strings.Contains(h.Tmpfs["/tmp"], "size="), "/tmp is not a size-capped tmpfs")
	check(len(c.Cmd) == 1 && c.Cmd[0] == runnerPath && len(c.Entrypoint) == 0 && (h.Init == nil || !*h.Init),
		"the init process is not the runner (cmd %v, entrypoint %v)", c.Cmd, c.Entrypoint)
	check(h.IpcMode == "private", "IPC mode is %q, not private", h.IpcMode)
	check(h.PidMode == "" && h.UTSMode != "host" && h.UsernsMode != "host" && h.CgroupnsMode == "private",
		"a host namespace is shared (pid %q, uts %q, userns %q, cgroupns %q)", h.PidMode, h.UTSMode, h.UsernsMode, h.CgroupnsMode)
	check(len(h.Devices) == 0 && len(h.DeviceRequests) == 0, "devices are passed in")
	check(len(h.Binds) == 0 && len(h.VolumesFrom) == 0, "extra binds or volumes")
	check(h.PidsLimit != nil && *h.PidsLimit == *want.PidsLimit, "pids limit not in effect")
	check(h.Memory == want.Memory && h.MemorySwap == want.Memory, "memory %d / swap %d, want %d / %d", h.Memory, h.MemorySwap, want.Memory, want.Memory)
	check(len(h.Ulimits) == len(want.Ulimits), "ulimits %d, want %d", len(h.Ulimits), len(want.Ulimits))
	check(h.NanoCPUs == want.NanoCPUs, "CPU limit not in effect")
	check(h.MaskedPaths != nil && slices.Contains(h.MaskedPaths, "/proc/kcore"), "default /proc masks missing")
	for _, u := range want.Ulimits {
		i := slices.IndexFunc(h.Ulimits, func(g *units.Ulimit) bool { return g != nil && g.Name == u.Name })
		check(i >= 0 && h.Ulimits[i].Soft == u.Soft && h.Ulimits[i].Hard == u.Hard, "ulimit %s not in effect", u.Name)
	}
	if want.Runtime != "" {
		check(h.Runtime == want.Runtime, "runtime is %q, not %q", h.Runtime, want.Runtime)
	}

	check(c.User == s.config.User && !isRoot(c.User), "user is %q, want %q", c.User, s.config.User)
	check(c.Hostname == hostname, "hostname is %q", c.Hostname)
	check(len(c.Volumes) == 0, "the image declares volumes: %v", c.Volumes)

	check(len(got.Mounts) == len(want.Mounts), "%d mounts, want only the workspace (and the egress socket's directory)", len(got.Mounts))
	for _, m := range got.Mounts {
		i := slices.IndexFunc(want.Mounts, func(w mount.Mount) bool { return w.Target == m.Destination })
		if i >= 0 && want.Mounts[i].Type == mount.TypeVolume {
			check(m.Type == mount.TypeVolume && m.Driver == "local" && m.RW, "unexpected mount %s at %s", m.Type, m.Destination)
			continue
		}
		check(i >= 0 && m.Type == mount.TypeBind && filepath.Clean(m.Source) == filepath.Clean(want.Mounts[i].Source) &&
			m.RW == !want.Mounts[i].ReadOnly, "unexpected mount %s at %s", m.Type, m.Destination)
	}
	for i, w := range want.Mounts {
		if w.Type == mount.TypeVolume {
			// The caps are the volume's mount options: they must be ours.
			check(i < len(h.Mounts) && h.Mounts[i].VolumeOptions != nil && h.Mounts[i].VolumeOptions.DriverConfig != nil &&
				maps.Equal(h.Mounts[i].VolumeOptions.DriverConfig.Options, w.VolumeOptions.DriverConfig.Options),
				"the workspace volume is not the capped tmpfs asked for")
		}
	}

	allowed := make(map[string]bool, len(s.config.Env)+len(imageEnv))
	for _, e := range s.config.Env {
		allowed[e] = true
	}
	for _, e := range imageEnv {
		allowed[e] = true
	}
	for _, e := range c.Env {
		name, _, _ := strings.Cut(e, "=")
		check(allowed[e], "environment variable %s is not on the allowlist", name)
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", sandbox.ErrHardening, strings.Join(bad, "; "))
	}
	return nil
}

// verifyReady checks what the runner sees from inside, before any block
// runs. gvisor says whether the engine's runtime is gVisor; the runner's own
// view of its kernel must agree.
func verifyReady(r protocol.Ready, gvisor bool) error {
	var bad []string
	if r.PID != 1 {
		bad = append(bad, fmt.Sprintf("the runner is pid %d, not the container's init", r.PID))
	}
	if r.UID == 0 || r.GID == 0 {
		bad = append(bad, fmt.Sprintf("runs as uid %d gid %d", r.UID, r.GID))
	}
	if strings.Trim(r.CapEff, "0") != "" {
		bad = append(bad, "effective capabilities "+r.CapEff)
	}
	if strings.Trim(r.CapBnd, "0") != "" && !gvisor {
		// gVisor shows a bounding set of its own kernel's; with no
		// effective, permitted or ambient capability and no_new_privs,
		// nothing can raise them.
		bad = append(bad, "bounding capabilities "+r.CapBnd)
	}
	if !r.NoNewPrivs {
		bad = append(bad, "no_new_privs is off")
	}
	switch kernel := cmp.Or(r.Kernel, "linux"); {
	case gvisor && kernel != "gvisor":
		bad = append(bad, "the runtime is gVisor's runsc but the runner reports a "+kernel+" kernel")
	case !gvisor && kernel == "gvisor":
		bad = append(bad, "the runner reports gVisor's kernel under a runtime taken for runc")
	}
	// Seccomp mode 2 is the host kernel's filter. gVisor filters in its own
	// kernel and shows mode 2 only when registered with --oci-seccomp, so
	// there the probes alone tell; they must be refused either way.
	if r.Seccomp != 2 && !gvisor {
		bad = append(bad, fmt.Sprintf("seccomp mode %d, not filtering", r.Seccomp))
	}
	var allowed []string
	for _, name := range protocol.ProbedSyscalls {
		if !slices.Contains(r.RefusedSyscalls, name) {
			allowed = append(allowed, name)
		}
	}
	if len(allowed) > 0 {
		why := "the seccomp filter allows " + strings.Join(allowed, ", ") + " (not the sandbox's profile)"
		if gvisor {
			why += `; register runsc with runtimeArgs ["--oci-seccomp"] so gVisor applies it`
		}
		bad = append(bad, why)
	}
	if !r.ShmRmidForced && !gvisor {
		bad = append(bad, "kernel.shm_rmid_forced is not 1")
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: inside the container: %s", sandbox.ErrHardening, strings.Join(bad, "; "))
	}
	return nil
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(v string) bool { return strings.EqualFold(v, s) })
}

// isRoot reports whether a Docker user string names uid 0 (or no user).
func isRoot(user string) bool {
	u, _, _ := strings.Cut(user, ":")
	return u == "" || u == "0" || u == "root"
}

// RunArgs returns the arguments of `docker run --rm` that start a container
// with the same hardening as a session's (without its labels), for
// comparisons and for people who want to reproduce a sandbox by hand. The
// command to run goes after them. The docker CLI reads a seccomp profile
// from a file: seccompFile names one holding SeccompProfile(), or is empty
// for the engine's default profile.
func RunArgs(cfg Config, workspaceDir, seccompFile string) []string {
	cfg, _ = cfg.WithDefaults()
	sp := newSpec(cfg, fmt.Sprintf("%d:%d", sandboxUID, sandboxUID), workspaceDir, "", false, nil, isGVisor(cfg.Runtime, ""))
	h, c := sp.host, sp.config
	args := []string{"run", "--rm", "--network", "none", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
		"--read-only", "--tmpfs", "/tmp:" + h.Tmpfs["/tmp"], "--pids-limit", strconv.FormatInt(*h.PidsLimit, 10),
		"--memory", strconv.FormatInt(h.Memory, 10), "--memory-swap", strconv.FormatInt(h.MemorySwap, 10),
		"--cpus", strconv.FormatFloat(float64(h.NanoCPUs)/1e9, 'f', -1, 64), "--shm-size", strconv.FormatInt(h.ShmSize, 10),
		"--ipc", "private", "--cgroupns", "private", "--hostname", c.Hostname, "--user", c.User, "--log-driver", "none",
		"--oom-score-adj", strconv.Itoa(h.OomScoreAdj), "-v", h.Mounts[0].Source + ":" + h.Mounts[0].Target, "-w", c.WorkingDir}
	for _, k := range slices.Sorted(maps.Keys(h.Sysctls)) {
		args = append(args, "--sysctl", k+"="+h.Sysctls[k])
	}
	if seccompFile != "" {
		args = append(args, "--security-opt", "seccomp="+seccompFile)
	}
	if h.Runtime != "" {
		args = append(args, "--runtime", h.Runtime)
	}
	for _, u := range h.Ulimits {
		args = append(args, "--ulimit", fmt.Sprintf("%s=%d:%d", u.Name, u.Soft, u.Hard))
	}
	for _, e := range c.Env {
		args = append(args, "-e", e)
	}
	return append(args, c.Image)
}

// workspaceVolume is a copied workspace's mount: an anonymous volume of
// the local driver backed by a tmpfs, so the kernel caps it at the
// workspace's bytes and entries, owned by the sandbox user; the container
// takes it along when it is removed.
func workspaceVolume(cfg Config, labels map[string]string) mount.Mount {
	opts := fmt.Sprintf("size=%d,nr_inodes=%d,uid=%d,gid=%d,mode=0755,nosuid,nodev",
		cfg.WorkspaceBytes, cfg.WorkspaceEntries+1, sandboxUID, sandboxUID)
	return mount.Mount{Type: mount.TypeVolume, Target: mountPoint, VolumeOptions: &mount.VolumeOptions{
		Labels:       labels,
		DriverConfig: &mount.Driver{Name: "local", Options: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": opts}},
	}}
}
