package sandbox

import (
	"encoding/json"
	"slices"
	"sync"

	"github.com/moby/profiles/seccomp"
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

// ProbedSyscalls are the calls the runner tries from inside (see
// runner.seccompProbes): each must come back refused, or the profile in
// effect is not this one.
var ProbedSyscalls = []string{"io_uring_setup", "ptrace", "perf_event_open", "keyctl", "unshare"}

// seccompProfile is Docker's default profile (as moby/profiles ships it,
// which also restricts socket families and clone flags) without
// DeniedSyscalls, in the JSON the engine takes in SecurityOpt.
var seccompProfile = sync.OnceValue(func() string {
	p := seccomp.DefaultProfile()
	kept := p.Syscalls[:0]
	for _, rule := range p.Syscalls {
		names := slices.DeleteFunc(slices.Clone(rule.Names), func(n string) bool { return slices.Contains(DeniedSyscalls, n) })
		if len(names) == 0 && rule.Name == "" {
			continue
		}
		if rule.Name != "" && slices.Contains(DeniedSyscalls, rule.Name) {
			continue
		}
		rule.Names = names
		kept = append(kept, rule)
	}
	p.Syscalls = kept
	data, err := json.Marshal(p)
	if err != nil {
		panic("sandbox: encode seccomp profile: " + err.Error()) // a fixed value: cannot happen
	}
	return string(data)
})

// SeccompProfile returns the sandbox's seccomp profile as JSON, in the form
// `docker run --security-opt seccomp=FILE` reads.
func SeccompProfile() string { return seccompProfile() }
