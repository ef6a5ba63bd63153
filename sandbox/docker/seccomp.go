package docker

import (
	"encoding/json"
	"slices"
	"sync"

	"github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// DeniedSyscalls are the system calls the sandbox's seccomp profile removes
// from Docker's default profile: what code in a sandbox never needs and a
// kernel exploit often starts from. io_uring bypasses seccomp for the
// operations it queues and Docker 20.10's default still allows it;
// userfaultfd stretches kernel races; perf_event_open and bpf reach large
// kernel subsystems; the key calls reach the kernel keyring; ptrace and
// process_vm_* read or steer other processes (the runner refuses to be
// traced anyway, this makes it the kernel's word); namespace, mount and
// module calls need capabilities the sandbox never has, so removing them
// costs nothing and leaves no path through a misconfigured capability.
var DeniedSyscalls = []string{
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	"userfaultfd", "perf_event_open", "bpf",
	"keyctl", "add_key", "request_key",
	"ptrace", "process_vm_readv", "process_vm_writev",
	"unshare", "setns", "mount", "umount", "umount2", "pivot_root", "chroot",
	"fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
	"open_by_handle_at", "name_to_handle_at",
	"init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
	"quotactl", "swapon", "swapoff", "acct", "syslog",
}

// seccompProfile returns the profile as JSON for the engine: Docker's
// default profile (as moby/profiles ships it, which also restricts socket
// families and clone flags) without DeniedSyscalls, and with signals that
// cannot be caught (SIGKILL, SIGSTOP) refused when they target pid 1, the
// runner. Linux never delivers those to a namespace's init from inside it;
// gVisor does, so there a block could otherwise kill or freeze the runner.
//
// gVisor applies the profile inside its own kernel (runsc --oci-seccomp)
// but answers every refusal with EPERM, ignoring the ENOSYS Docker's
// profile asks for clone3; glibc then fails to start threads instead of
// falling back to clone. So under gVisor clone3 is allowed: its flags are
// read by gVisor's kernel, which is the wall there.
func seccompProfile(gvisor bool) string {
	if gvisor {
		return gvisorProfile()
	}
	return runcProfile()
}

var (
	runcProfile   = sync.OnceValue(func() string { return buildProfile(false) })
	gvisorProfile = sync.OnceValue(func() string { return buildProfile(true) })
)

// signalCalls are the calls that send a signal to a pid: the argument that
// names the target and the one that names the signal.
var signalCalls = []struct {
	name     string
	pid, sig uint
}{
	{"kill", 0, 1}, {"tkill", 0, 1}, {"tgkill", 0, 2}, {"rt_sigqueueinfo", 0, 1}, {"rt_tgsigqueueinfo", 0, 2},
}

func buildProfile(gvisor bool) string {
	p := seccomp.DefaultProfile()
	denied := slices.Clone(DeniedSyscalls)
	for _, c := range signalCalls {
		denied = append(denied, c.name)
	}
	denied = append(denied, "pidfd_send_signal")
	kept := p.Syscalls[:0]
	for _, rule := range p.Syscalls {
		if gvisor && slices.Contains(rule.Names, "clone3") && rule.Action != specs.ActAllow {
			continue
		}
		names := slices.DeleteFunc(slices.Clone(rule.Names), func(n string) bool { return slices.Contains(denied, n) })
		if len(names) == 0 || rule.Name != "" && slices.Contains(denied, rule.Name) {
			continue
		}
		rule.Names = names
		kept = append(kept, rule)
	}
	if gvisor {
		kept = append(kept, allow([]string{"clone3"}))
	}
	for _, c := range signalCalls {
		kept = append(kept, signalRules(c.name, c.pid, c.sig)...)
	}
	kept = append(kept, sigRules("pidfd_send_signal", 1)...) // the target is a file descriptor: no SIGKILL or SIGSTOP at all
	p.Syscalls = kept
	data, err := json.Marshal(p)
	if err != nil {
		panic("sandbox: encode seccomp profile: " + err.Error()) // a fixed value: cannot happen
	}
	return string(data)
}

func allow(names []string, args ...specs.LinuxSeccompArg) *seccomp.Syscall {
	return &seccomp.Syscall{LinuxSyscall: specs.LinuxSyscall{Names: names, Action: specs.ActAllow, Args: args}}
}

// low32 matches when the low 32 bits of argument index, masked, equal
// value. The kernel reads pid_t and int arguments from those bits alone, so
// a comparison of all 64 could be dodged by setting the upper ones.
func low32(index uint, mask, value uint32) specs.LinuxSeccompArg {
	return specs.LinuxSeccompArg{Index: index, Value: uint64(mask), ValueTwo: uint64(value), Op: specs.OpMaskedEqual}
}

// signalRules allow name unless it targets pid 1 with SIGKILL or SIGSTOP:
// every target but 1 (an even one, or an odd one with another bit set),
// and every signal but those two. What no rule allows, the profile's
// default refuses with EPERM.
func signalRules(name string, pid, sig uint) []*seccomp.Syscall {
	rules := []*seccomp.Syscall{allow([]string{name}, low32(pid, 1, 0))}
	for bit := 1; bit < 32; bit++ {
		rules = append(rules, allow([]string{name}, low32(pid, 1<<bit, 1<<bit)))
	}
	return append(rules, sigRules(name, sig)...)
}

// sigRules allow name for every signal number from 0 to 64 but SIGKILL (9)
// and SIGSTOP (19), in ranges a mask can express.
func sigRules(name string, sig uint) []*seccomp.Syscall {
	var rules []*seccomp.Syscall
	for _, r := range []struct{ mask, value uint32 }{
		{^uint32(7), 0}, {^uint32(0), 8}, {^uint32(1), 10}, {^uint32(3), 12}, {^uint32(1), 16}, {^uint32(0), 18},
		{^uint32(3), 20}, {^uint32(7), 24}, {^uint32(31), 32}, {^uint32(0), 64},
	} {
		rules = append(rules, allow([]string{name}, low32(sig, r.mask, r.value)))
	}
	return rules
}

// SeccompProfile returns the sandbox's seccomp profile under runc as JSON,
// in the form `docker run --security-opt seccomp=FILE` reads.
func SeccompProfile() string { return seccompProfile(false) }
