package runner

import (
	"errors"

	"golang.org/x/sys/unix"
)

// Probes of the system calls that the sandbox's seccomp profile refuses.
// Each is called with arguments that do nothing when the call is allowed
// and that make an allowed call fail with an errno other than EPERM (or
// succeed), so EPERM means the filter refused it. A seccomp mode of 2 only
// says that some filter is loaded; these say that it is ours and not, say,
// an older engine's default that still allows io_uring.
var seccompProbes = []struct {
	name string
	call func() error
}{
	// entries 0 and no params: EINVAL or EFAULT when allowed.
	{"io_uring_setup", func() error { return rawErr(unix.Syscall(unix.SYS_IO_URING_SETUP, 0, 0, 0)) }},
	// PEEKDATA on a pid that cannot exist: ESRCH when allowed.
	{"ptrace", func() error {
		return rawErr(unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_PEEKDATA, 0x7ffffff0, 0, 0, 0, 0))
	}},
	// No attribute: EFAULT when allowed.
	{"perf_event_open", func() error {
		return rawErr(unix.Syscall6(unix.SYS_PERF_EVENT_OPEN, 0, 0, ^uintptr(0), ^uintptr(0), 0, 0))
	}},
	// An operation that does not exist: EOPNOTSUPP when allowed.
	{"keyctl", func() error { return rawErr(unix.Syscall(unix.SYS_KEYCTL, 9999, 0, 0)) }},
	// unshare of nothing: succeeds when allowed.
	{"unshare", func() error { return rawErr(unix.Syscall(unix.SYS_UNSHARE, 0, 0, 0)) }},
}

func rawErr(_, _ uintptr, errno unix.Errno) error {
	if errno == 0 {
		return nil
	}
	return errno
}

// refusedCalls returns the probed system calls that the filter refused.
func refusedCalls() []string {
	var refused []string
	for _, p := range seccompProbes {
		if err := p.call(); errors.Is(err, unix.EPERM) {
			refused = append(refused, p.name)
		}
	}
	return refused
}
