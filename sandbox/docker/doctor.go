package docker

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"

	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/sandbox"
)

// RunscAvailable ends the runtimes check's detail when gVisor's runtime is
// registered but not configured.
const RunscAvailable = "runsc (gVisor) is available"

// Check is one line of a health report.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"` // what to do when not OK
}

// probe runs inside a test container and reports what a block can see.
const probe = `import json, os, socket
r = {"uid": os.getuid()}
try:
    socket.create_connection(("192.0.2.1", 53), timeout=1)  # TEST-NET-1: never routed
    r["network"] = "reachable"
except OSError:
    r["network"] = "off"
try:
    open("/probe", "w")
    r["root"] = "writable"
except OSError:
    r["root"] = "read-only"
st = os.statvfs("/tmp")
r["tmp_bytes"] = st.f_blocks * st.f_frsize
for p in ("/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/pids.max"):
    if os.path.exists(p):
        r["pids_max"] = open(p).read().strip()
for p in ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max"):
    if os.path.exists(p):
        r["memory_max"] = open(p).read().strip()
r["host_env"] = sorted(k for k in os.environ if k.startswith(("OPENAI", "AZURE", "AWS", "GITHUB", "DOCKER")))
print(json.dumps(r))
`

// Doctor checks the engine, the image, the runtimes and, on a test
// container, the hardening as a block sees it. It never fails: each problem
// is a Check with a fix, in the terms of this package and of Docker (a
// program adds which of its settings to change; the checks' names are
// stable).
func Doctor(ctx context.Context, cfg Config, opts ...Option) []Check {
	var checks []Check
	add := func(c Check) { checks = append(checks, c) }
	cfg, err := cfg.WithDefaults()
	if err != nil {
		add(Check{Name: "configuration", Detail: err.Error(), Fix: "correct the setting it names"})
		return checks
	}
	d, err := New(ctx, cfg, opts...)
	if err != nil {
		add(Check{Name: "docker engine", Detail: err.Error(),
			Fix: "start it (sudo systemctl start docker), or install it (Debian: apt-get install docker.io)"})
		return checks
	}
	defer d.Close()
	// Like every command that opens the engine, doctor sweeps the containers
	// of dead runs; it then reports what the sweep found.
	swept := d.StartSweep(ctx)
	info, err := d.cli.Info(ctx)
	if err != nil {
		add(Check{Name: "docker engine", Detail: err.Error(), Fix: "check that the engine answers: docker info"})
		return checks
	}
	add(Check{Name: "docker engine", OK: true, Detail: fmt.Sprintf("%s (API %s, %s, cgroup v%s, %s) at %s",
		info.ServerVersion, d.cli.ClientVersion(), info.Driver, info.CgroupVersion, info.KernelVersion, d.cli.DaemonHost())})

	img, err := d.cli.ImageInspect(ctx, cfg.Image)
	if err != nil {
		add(Check{Name: "sandbox image", Detail: d.classify("inspect image", err).Error(),
			Fix: "build it, or configure another image"})
	} else {
		add(Check{Name: "sandbox image", OK: true, Detail: fmt.Sprintf("%s (%s, built %s)", cfg.Image,
			units.BytesSize(float64(img.Size)), strings.SplitN(img.Created, "T", 2)[0])})
	}

	var names []string
	for name := range info.Runtimes {
		names = append(names, name)
	}
	slices.Sort(names)
	rt := Check{Name: "runtimes", OK: true, Detail: fmt.Sprintf("%s (default %s)", strings.Join(names, ", "), info.DefaultRuntime)}
	if cfg.Runtime != "" {
		if _, ok := info.Runtimes[cfg.Runtime]; !ok {
			rt.OK = false
			rt.Detail = fmt.Sprintf("runtime %q is not registered with the engine (it has %s)", cfg.Runtime, strings.Join(names, ", "))
			rt.Fix = "register it in /etc/docker/daemon.json and restart the engine, or configure no runtime"
		} else {
			rt.Detail += fmt.Sprintf("; using %s", cfg.Runtime)
		}
	} else if _, ok := info.Runtimes["runsc"]; ok {
		rt.Detail += "; " + RunscAvailable
	}
	add(rt)
	if err != nil {
		return checks // no image: no test container
	}

	dir, err := os.MkdirTemp("", "agentteam-doctor-")
	if err != nil {
		add(Check{Name: "hardening", Detail: fmt.Sprintf("create a test workspace: %v", err)})
		return checks
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	sess, err := d.NewSession(ctx, dir)
	if err != nil {
		add(Check{Name: "hardening", Detail: err.Error(), Fix: hardeningFix(err)})
		return checks
	}
	defer sess.Close(context.WithoutCancel(ctx))
	res, err := sess.Run(ctx, sandbox.Code{Language: sandbox.Python, Source: probe})
	first := time.Since(start)
	if err != nil || !res.OK() {
		add(Check{Name: "hardening", Detail: fmt.Sprintf("the probe block failed: %v %s %s", err, res.Error, safetext.Output(res.Stderr)),
			Fix: "the image needs python3 (see docker/packages.txt)"})
		return checks
	}
	var seen struct {
		UID       int      `json:"uid"`
		Network   string   `json:"network"`
		Root      string   `json:"root"`
		TmpBytes  int64    `json:"tmp_bytes"`
		PidsMax   string   `json:"pids_max"`
		MemoryMax string   `json:"memory_max"`
		HostEnv   []string `json:"host_env"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &seen); err != nil {
		add(Check{Name: "hardening", Detail: "the probe's answer was not JSON: " + safetext.Output(res.Stdout)})
		return checks
	}
	ready := sess.(*session).box.ready
	ok := seen.UID != 0 && seen.Network == "off" && seen.Root == "read-only" && len(seen.HostEnv) == 0
	add(Check{Name: "hardening", OK: ok, Detail: fmt.Sprintf(
		"verified on a test container: network %s, root %s, uid %d, capabilities %s, no_new_privs %v, seccomp mode %d, pids max %s, memory max %s, /tmp %s, host variables seen %v",
		seen.Network, seen.Root, seen.UID, ready.CapEff, ready.NoNewPrivs, ready.Seccomp, seen.PidsMax, memoryText(seen.MemoryMax),
		units.BytesSize(float64(seen.TmpBytes)), seen.HostEnv),
		Fix: "a setting is not in effect inside the container: check the engine's configuration"})
	// Which kernel the blocks' system calls reach, and so who enforces what.
	runtimeName := cmp.Or(cfg.Runtime, info.DefaultRuntime)
	where := Check{Name: "isolation", OK: true, Detail: fmt.Sprintf(
		"%s (%s): the host kernel runs the blocks; its seccomp filter (mode %d) refuses %s; pids, memory and CPU limits by the container's cgroups",
		runtimeName, info.Runtimes[runtimeName].Path, ready.Seccomp, strings.Join(ready.RefusedSyscalls, ", "))}
	if d.GVisor() {
		where.Detail = fmt.Sprintf(
			"%s (%s): gVisor's kernel runs the blocks, a second wall before the host's; the sandbox's seccomp profile, applied inside it, refuses %s; processes limited by RLIMIT_NPROC and memory by the runner's guard inside gVisor, with the container's cgroups as the backstop",
			runtimeName, info.Runtimes[runtimeName].Path, strings.Join(ready.RefusedSyscalls, ", "))
	}
	add(where)
	guard := Check{Name: "memory guard", OK: true, Detail: "on (" + ready.MemoryGuard + "): a block that thrashes at the memory limit ends as out of memory"}
	if ready.MemoryGuard == "" {
		guard.Detail = "off: the runner cannot read the container's memory cgroup, so only the kernel's OOM killer ends a memory bomb (one that thrashes may end as a timeout instead)"
	}
	add(guard)
	add(Check{Name: "first block", OK: true, Detail: fmt.Sprintf("%d ms from nothing to the first result", first.Milliseconds())})

	left, err := swept()
	switch {
	case err != nil:
		add(Check{Name: "leftovers", Detail: err.Error(), Fix: "remove them"})
	default:
		orphans, removed := 0, 0
		for _, l := range left {
			switch {
			case l.Removed:
				removed++
			case l.Orphan:
				orphans++
			}
		}
		c := Check{Name: "leftovers", OK: orphans == 0, Detail: fmt.Sprintf("%d sandbox container(s) of dead runs", orphans)}
		if removed > 0 {
			c.Detail += fmt.Sprintf("; %d removed just now", removed)
		}
		if orphans > 0 {
			c.Fix = "remove them"
		}
		add(c)
	}
	return checks
}

func hardeningFix(err error) string {
	switch {
	case strings.Contains(err.Error(), "cgroup"):
		return "the engine must support private cgroup namespaces (Docker 20.10 or later)"
	case strings.Contains(err.Error(), "--oci-seccomp"):
		return `register runsc with "runtimeArgs": ["--oci-seccomp"] in daemon.json, then reload the engine`
	case strings.Contains(err.Error(), "runtime"):
		return "check the configured runtime against 'docker info'"
	}
	return "a required protection is not in effect on this engine: see the message; the sandbox runs no code without it"
}

// memoryText is a cgroup's memory limit as read inside (bytes, or "max")
// in binary units, as the flags take it; cgroup v1 says "no limit" with a
// page-rounded 2^63.
func memoryText(limit string) string {
	n, err := strconv.ParseUint(limit, 10, 64)
	switch {
	case err != nil:
		return limit
	case n >= 1<<62:
		return "none"
	}
	return units.BytesSize(float64(n))
}
