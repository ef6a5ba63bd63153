package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The scripts' terminal: 80 columns by 24 rows, and a TERM that programs
// colour for, so that a script sees what a person at a usual terminal sees.
const (
	ptyCols = 80
	ptyRows = 24
	ptyTerm = "xterm-256color"
)

// ptyMain is the scripts' `pty` program:
//
//	pty [-stdin FILE] [-raw FILE] PROGRAM [ARGS...]
//
// runs PROGRAM with a new pseudo-terminal as its stdin, stdout, stderr and
// controlling terminal, as a person's terminal would be. pty's standard
// output is what the terminal showed, as text: escape sequences removed
// and each carriage return a line break, so that every redraw of a line in
// place (a spinner, "waiting for coder…") is a line of its own, in the
// order it was drawn. -raw FILE keeps the bytes as they came (to check an
// escape that must not reach the terminal); -stdin FILE is typed on the
// terminal at the start, typed ahead and echoed as a terminal does. pty
// exits with PROGRAM's status, 128+N for signal N.
func ptyMain() {
	os.Exit(runPty(os.Args[1:]))
}

func runPty(args []string) int {
	fs := flag.NewFlagSet("pty", flag.ContinueOnError)
	stdin := fs.String("stdin", "", "a file typed on the terminal at the start")
	raw := fs.String("raw", "", "a file for the bytes the terminal got")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: pty [-stdin FILE] [-raw FILE] PROGRAM [ARGS...]")
		return 2
	}
	var input []byte
	if *stdin != "" {
		var err error
		if input, err = os.ReadFile(*stdin); err != nil {
			fmt.Fprintln(os.Stderr, "pty:", err)
			return 2
		}
	}
	master, slave, err := openPty()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pty:", err)
		return 2
	}
	defer master.Close()
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: ptyRows, Col: ptyCols}); err != nil {
		fmt.Fprintln(os.Stderr, "pty: setting the size:", err)
		return 2
	}
	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.Env = append(os.Environ(), "TERM="+ptyTerm)
	// A session of its own with the terminal as its controlling one: Ctrl-C
	// and /dev/tty work as on a real terminal.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "pty:", err)
		return 127
	}
	// Only the program holds the terminal now, so reading ends (EIO) once
	// it and its children are gone.
	slave.Close()
	if len(input) > 0 {
		go master.Write(input)
	}
	var out bytes.Buffer
	read := make(chan struct{})
	go func() {
		io.Copy(&out, master)
		close(read)
	}()
	err = cmd.Wait()
	select {
	case <-read:
	case <-time.After(5 * time.Second): // something it started still holds the terminal
		master.Close()
		<-read
	}
	if *raw != "" {
		if err := os.WriteFile(*raw, out.Bytes(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "pty:", err)
			return 2
		}
	}
	os.Stdout.WriteString(screenText(out.Bytes()))
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pty:", err)
		return 2
	}
	return 0
}

// screenText is what a terminal shows of raw, as text: CSI, OSC and other
// escape sequences removed (a person sees their effect, not them), a bell
// dropped, and each carriage return, with its line feed or alone, a line
// break.
func screenText(raw []byte) string {
	var b bytes.Buffer
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == 0x1b && i+1 < len(raw) && raw[i+1] == '[': // CSI: parameters, then a final byte
			i += 2
			for i < len(raw) && (raw[i] < 0x40 || raw[i] > 0x7e) {
				i++
			}
		case c == 0x1b && i+1 < len(raw) && raw[i+1] == ']': // OSC: to BEL or ST
			i += 2
			for i < len(raw) && raw[i] != 0x07 && (raw[i] != 0x1b || i+1 >= len(raw) || raw[i+1] != '\\') {
				i++
			}
			if i < len(raw) && raw[i] == 0x1b {
				i++
			}
		case c == 0x1b: // intermediates, then a final byte: ESC ( B, ESC 7...
			i++
			for i < len(raw) && raw[i] >= 0x20 && raw[i] <= 0x2f {
				i++
			}
		case c == '\r':
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
			b.WriteByte('\n')
		case c == 0x07:
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// ptyAvailable reports whether a pseudo-terminal can be opened here: the
// scripts' [pty] condition.
func ptyAvailable() bool {
	master, slave, err := openPty()
	if err != nil {
		return false
	}
	master.Close()
	slave.Close()
	return true
}

func TestScreenText(t *testing.T) {
	raw := "\x1b[1;36m── coder\x1b[0m\r\n\r⠋ waiting for coder… 0.1s\x1b[K\r\x1b[2K\x1b]0;title\x07x\x1b]8;;u\x1b\\y\x1b(Bz\a\\x1b[31m\r\n"
	want := "── coder\n\n⠋ waiting for coder… 0.1s\nxyz\\x1b[31m\n"
	if got := screenText([]byte(raw)); got != want {
		t.Errorf("screenText:\n got %q\nwant %q", got, want)
	}
}
