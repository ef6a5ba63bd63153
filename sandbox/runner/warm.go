package runner

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// A warm interpreter is a python3 started after a block's sweep, with the
// next block's output pipes already attached, that waits for its code on fd
// 3. Python's start-up (the larger part of a small block's latency on an
// overlay file system) then happens while the model thinks, not while the
// user waits. It has run no code when the block arrives, and it is the
// block's only process, so the sweep after the block still kills everything.
//
// "No code" includes code found on disk. Python's start-up imports
// sitecustomize, usercustomize and .pth files from its path, and the
// script's directory, PYTHONPATH and the user site (under HOME=/tmp) are
// all writable by blocks: a file a block left there would run in the
// interpreter before the next block's code arrives (before the user
// approved that code, or in the next task of a pooled container). So the
// interpreter starts in "/" (read-only, the image's) with no PYTHONPATH and
// a HOME that does not exist, and imports nothing but the standard library
// until its block arrives; then it sets up what a cold `python3 SCRIPT`
// would have (working directory, environment, sys.path with PYTHONPATH and
// the user site, sitecustomize and usercustomize found there) and runs the
// block. Command-line flags such as -I or -S would do the first half too,
// but they stay visible in sys.flags and are passed on to the children of
// multiprocessing's spawn start method, which would then lack site-packages.
type warmProcess struct {
	cmd     *exec.Cmd
	ctl     *os.File // write end of the interpreter's fd 3
	stdoutR *os.File
	stderrR *os.File
}

// warmHome is the HOME of a waiting interpreter: absent from the read-only
// root, so no user site directory exists while it waits.
const warmHome = "/nonexistent-agentteam-home"

// pythonBoot reads "PATH\nSOURCE" from fd 3, sets up the start-up state a
// cold interpreter would have had (argv[1] is the real HOME, argv[2] the
// real PYTHONPATH, "-" when unset) and runs SOURCE as the __main__ script
// PATH would run: same globals, sys.argv, sys.path and exit status;
// tracebacks show the block's lines and none of this code.
const pythonBoot = `
def _boot():
    import sys, os, linecache, builtins, site, importlib.machinery
    home, pythonpath = sys.argv[1], sys.argv[2]
    with os.fdopen(3, 'rb') as ctl:
        data = ctl.read()
    head, nl, src = data.partition(b'\n')
    if not nl:
        os._exit(0)  # discarded, not fed: run nothing, not even start-up hooks
    path = head.decode('utf-8', 'surrogateescape')
    real = path.startswith('/')
    # What a cold start would have seen: the workspace as working
    # directory, the real HOME and PYTHONPATH (inherited by subprocesses).
    os.chdir('` + Workspace + `')
    if home != '-':
        os.environ['HOME'] = home
    pp = []
    if pythonpath != '-':
        os.environ['PYTHONPATH'] = pythonpath
        pp = [os.path.abspath(p) for p in pythonpath.split(os.pathsep) if p]
    sys.path[0] = os.path.dirname(path) if real else ''
    sys.path[1:1] = pp
    # The user site goes before the system's site-packages, as site.main()
    # would have put it; addsitedir then reads its .pth files.
    site.USER_BASE = site.USER_SITE = None
    if site.ENABLE_USER_SITE:
        user = site.getusersitepackages()
        if os.path.isdir(user) and user not in sys.path:
            at = next((i for i, p in enumerate(sys.path) if p.endswith(('site-packages', 'dist-packages'))), len(sys.path))
            sys.path.insert(at, user)
            site.addsitedir(user)
    # A sitecustomize on PYTHONPATH shadows the system's at a cold start.
    if pp and importlib.machinery.PathFinder.find_spec('sitecustomize', pp):
        sys.modules.pop('sitecustomize', None)
        site.execsitecustomize()
    if site.ENABLE_USER_SITE:
        site.execusercustomize()
    def hook(t, v, tb):
        # Drop this bootstrap's frames; print with the traceback module,
        # which reads the block's lines from linecache.
        while tb is not None and tb.tb_frame.f_code.co_filename == '<string>':
            tb = tb.tb_next
        import traceback
        traceback.print_exception(t, v.with_traceback(tb), tb)
    sys.excepthook = hook
    text = src.decode('utf-8', 'replace')
    linecache.cache[path] = (len(text), None, text.splitlines(True), path)
    sys.argv[:] = [path]
    g = sys.modules['__main__'].__dict__
    g.clear()
    g.update(__name__='__main__', __doc__=None, __package__=None, __loader__=None,
             __spec__=None, __file__=path, __cached__=None, __builtins__=builtins)
    exec(compile(src, path, 'exec', dont_inherit=True), g)
_boot()
`

// startWarmPython starts the next block's interpreter.
func startWarmPython() (*warmProcess, error) {
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		ctlR.Close()
		ctlW.Close()
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		ctlR.Close()
		ctlW.Close()
		outR.Close()
		outW.Close()
		return nil, err
	}
	orDash := func(name string) string {
		if v, ok := os.LookupEnv(name); ok {
			return v
		}
		return "-"
	}
	cmd := exec.Command(interpreters["python"], "-c", pythonBoot, orDash("HOME"), orDash("PYTHONPATH"))
	cmd.Dir = "/"
	cmd.Env = warmEnv(os.Environ())
	cmd.SysProcAttr = blockAttr()
	cmd.Stdout = outW
	cmd.Stderr = errW
	cmd.ExtraFiles = []*os.File{ctlR}
	err = cmd.Start()
	ctlR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		ctlW.Close()
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("start warm python: %w", err)
	}
	setOOMVictim(cmd.Process.Pid)
	return &warmProcess{cmd: cmd, ctl: ctlW, stdoutR: outR, stderrR: errR}, nil
}

// warmEnv is env for a waiting interpreter: no PYTHONPATH, and a HOME
// without a user site directory.
func warmEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, e := range env {
		if strings.HasPrefix(e, "PYTHONPATH=") || strings.HasPrefix(e, "HOME=") {
			continue
		}
		out = append(out, e)
	}
	return append(out, "HOME="+warmHome)
}

// feed hands the interpreter its block. It runs in the background: a large
// block must not block the runner on a pipe the interpreter reads only once
// it has started.
func (w *warmProcess) feed(path string, code []byte) {
	go func() {
		w.ctl.Write(append([]byte(path+"\n"), code...))
		w.ctl.Close()
	}()
}

// discard ends an interpreter that will not be used.
func (w *warmProcess) discard() {
	// Kill before closing its control pipe: at EOF it would go on to set up
	// the workspace's start-up state (it exits at once without a header
	// line, which is the second guard).
	w.cmd.Process.Kill()
	w.ctl.Close()
	w.cmd.Process.Wait()
	w.stdoutR.Close()
	w.stderrR.Close()
}

// setOOMVictim makes pid the OOM killer's first choice in the container, so
// that a memory bomb takes itself out rather than the runner.
func setOOMVictim(pid int) {
	_ = os.WriteFile("/proc/"+strconv.Itoa(pid)+"/oom_score_adj", []byte("1000"), 0)
}
