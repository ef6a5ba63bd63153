package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/joho/godotenv"
	"github.com/spf13/pflag"

	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/docker"
)

// settings resolves a value from the process environment first, then from
// ./.env (read, never loaded into the process, so nothing from it reaches a
// child process by accident).
type settings struct {
	getenv func(string) string
	dotenv map[string]string
}

func loadSettings(s IO) (settings, error) {
	st := settings{getenv: s.getenv}
	path := filepath.Join(s.Dir, ".env")
	m, err := godotenv.Read(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return st, usageError("read %s: %v", path, err)
	default:
		st.dotenv = m
	}
	return st, nil
}

func (st settings) get(key string) string {
	if v := st.getenv(key); v != "" {
		return v
	}
	return st.dotenv[key]
}

// sandboxFlags are the sandbox settings every command that runs code takes.
type sandboxFlags struct {
	fs           *pflag.FlagSet
	timeoutFlag  string // "timeout" for exec, "exec-timeout" for run
	image        string
	memory       string
	cpus         float64
	pids         int64
	timeout      string
	workspaceCap string
	runtime      string
}

func (f *sandboxFlags) register(fs *pflag.FlagSet) {
	f.registerAs(fs, "timeout")
}

// registerAs registers the flags with the block timeout under timeoutFlag.
func (f *sandboxFlags) registerAs(fs *pflag.FlagSet, timeoutFlag string) {
	f.fs, f.timeoutFlag = fs, timeoutFlag
	d := docker.Defaults()
	fs.StringVar(&f.image, "image", d.Image, "sandbox image (env AGENTTEAM_IMAGE)")
	fs.StringVar(&f.memory, "memory", units.BytesSize(float64(d.Memory)), "memory limit of a sandbox, no swap (env AGENTTEAM_MEMORY)")
	fs.Float64Var(&f.cpus, "cpus", d.CPUs, "CPU limit of a sandbox (env AGENTTEAM_CPUS)")
	fs.Int64Var(&f.pids, "pids", d.Pids, "processes and threads a sandbox may have (env AGENTTEAM_PIDS)")
	fs.StringVar(&f.timeout, timeoutFlag, d.Timeout.String(), "wall-clock limit of one code block (env AGENTTEAM_TIMEOUT)")
	fs.StringVar(&f.workspaceCap, "workspace-cap", units.BytesSize(float64(d.WorkspaceBytes)), "largest size of the workspace (env AGENTTEAM_WORKSPACE_CAP)")
	fs.StringVar(&f.runtime, "runtime", "", "container runtime, e.g. runsc where registered (env AGENTTEAM_RUNTIME)")
}

// engineOptions name the engine DOCKER_HOST gives (in the environment or
// .env); none: the Docker client's default.
func engineOptions(st settings) []docker.Option {
	if h := st.get("DOCKER_HOST"); h != "" {
		return []docker.Option{docker.WithHost(h)}
	}
	return nil
}

// config resolves each setting: a flag given on the command line wins, then
// the environment, then .env, then the default.
func (f *sandboxFlags) config(st settings) (docker.Config, error) {
	pick := func(flag, env string, val string) string {
		if f.fs.Changed(flag) {
			return val
		}
		if v := st.get(env); v != "" {
			return v
		}
		return val
	}
	cfg := docker.Defaults()
	var err error
	errs := []error{}
	bad := func(name, val string, e error) {
		if e != nil {
			errs = append(errs, fmt.Errorf("invalid %s %q: %v", name, val, e))
		}
	}
	cfg.Image = pick("image", "AGENTTEAM_IMAGE", f.image)
	cfg.Runtime = pick("runtime", "AGENTTEAM_RUNTIME", f.runtime)
	v := pick("memory", "AGENTTEAM_MEMORY", f.memory)
	cfg.Memory, err = units.RAMInBytes(v)
	bad("memory", v, err)
	v = pick("cpus", "AGENTTEAM_CPUS", strconv.FormatFloat(f.cpus, 'g', -1, 64))
	cfg.CPUs, err = strconv.ParseFloat(v, 64)
	bad("cpus", v, err)
	v = pick("pids", "AGENTTEAM_PIDS", strconv.FormatInt(f.pids, 10))
	cfg.Pids, err = strconv.ParseInt(v, 10, 64)
	bad("pids", v, err)
	v = pick(f.timeoutFlag, "AGENTTEAM_TIMEOUT", f.timeout)
	cfg.Timeout, err = parseDuration(v)
	bad("timeout", v, err)
	v = pick("workspace-cap", "AGENTTEAM_WORKSPACE_CAP", f.workspaceCap)
	cfg.WorkspaceBytes, err = units.RAMInBytes(v)
	bad("workspace cap", v, err)
	if len(errs) > 0 {
		return cfg, fmt.Errorf("%w: %w", sandbox.ErrConfig, errors.Join(errs...))
	}
	if cfg.WorkspaceBytes <= 0 {
		return cfg, fmt.Errorf("%w: workspace cap must be positive", sandbox.ErrConfig)
	}
	return cfg.WithDefaults() // checked here, before any engine is asked
}

// parseDuration accepts Go durations ("90s", "2m") and plain seconds ("30").
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		if secs <= 0 {
			return 0, errors.New("must be positive")
		}
		return time.Duration(secs * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err == nil && d <= 0 {
		return 0, errors.New("must be positive")
	}
	return d, err
}
