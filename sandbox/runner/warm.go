package runner

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
)

// A warm interpreter is a python3 started after a block's sweep, with the
// next block's output pipes already attached, that waits for its code on fd
// 3. Python's start-up (the larger part of a small block's latency on an
// overlay file system) then happens while the model thinks, not while the
// user waits. It has run no code when the block arrives, and it is the
// block's only process, so the sweep after the block still kills everything.
type warmProcess struct {
	cmd     *exec.Cmd
	ctl     *os.File // write end of the interpreter's fd 3
	stdoutR *os.File
	stderrR *os.File
}

// pythonBoot reads "PATH\nSOURCE" from fd 3 and runs SOURCE as the __main__
// script PATH would run: same globals, sys.argv, sys.path[0] and exit
// status; tracebacks show the block's lines and none of this code.
const pythonBoot = `
def _boot():
    import sys, os, linecache, builtins
    with os.fdopen(3, 'rb') as ctl:
        data = ctl.read()
    head, _, src = data.partition(b'\n')
    path = head.decode('utf-8', 'surrogateescape')
    real = path.startswith('/')
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
    sys.path[0] = os.path.dirname(path) if real else ''
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
	cmd := exec.Command(interpreters["python"], "-c", pythonBoot)
	cmd.Dir = Workspace
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
	w.ctl.Close()
	w.cmd.Process.Kill()
	w.cmd.Process.Wait()
	w.stdoutR.Close()
	w.stderrR.Close()
}

// setOOMVictim makes pid the OOM killer's first choice in the container, so
// that a memory bomb takes itself out rather than the runner.
func setOOMVictim(pid int) {
	_ = os.WriteFile("/proc/"+strconv.Itoa(pid)+"/oom_score_adj", []byte("1000"), 0)
}
