package docker

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// allows evaluates a profile's unconditional and masked-equality rules as
// the kernel filter would, for one call with the given arguments.
func allows(p *seccomp.Seccomp, name string, args ...uint64) bool {
	for _, r := range p.Syscalls {
		if r.Action != specs.ActAllow || !slices.Contains(r.Names, name) || r.Includes != nil && len(r.Includes.Caps) > 0 {
			continue
		}
		ok := true
		for _, a := range r.Args {
			switch a.Op {
			case specs.OpMaskedEqual:
				ok = ok && args[a.Index]&a.Value == a.ValueTwo
			default:
				ok = false // other comparisons are not used on the calls tested here
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func TestSeccompProfile(t *testing.T) {
	for _, gvisor := range []bool{false, true} {
		var p seccomp.Seccomp
		if err := json.Unmarshal([]byte(seccompProfile(gvisor)), &p); err != nil {
			t.Fatal(err)
		}
		for _, name := range DeniedSyscalls {
			for _, r := range p.Syscalls {
				if r.Action == specs.ActAllow && slices.Contains(r.Names, name) {
					t.Errorf("gvisor=%v: %s is allowed", gvisor, name)
				}
			}
		}
		if got := allows(&p, "clone3"); got != gvisor {
			t.Errorf("gvisor=%v: clone3 allowed = %v", gvisor, got)
		}
		// Only SIGKILL and SIGSTOP to pid 1 are refused, whatever the
		// upper 32 bits of an argument hold (the kernel ignores them).
		for _, c := range signalCalls {
			for _, pid := range []uint64{1, 0x1_0000_0001, 0, 2, 3, 4097, 0xffff_ffff, 1 << 31} {
				for sig := uint64(0); sig <= 64; sig++ {
					for _, hi := range []uint64{0, 0xdead_0000_0000} {
						args := make([]uint64, 6)
						args[c.pid], args[c.sig] = pid, sig|hi
						want := !(uint32(pid) == 1 && (sig == 9 || sig == 19))
						if got := allows(&p, c.name, args...); got != want {
							t.Fatalf("gvisor=%v: %s(pid %#x, sig %#x) allowed = %v, want %v", gvisor, c.name, pid, sig|hi, got, want)
						}
					}
				}
			}
		}
		for sig := uint64(0); sig <= 64; sig++ {
			if got, want := allows(&p, "pidfd_send_signal", 3, sig), sig != 9 && sig != 19; got != want {
				t.Errorf("gvisor=%v: pidfd_send_signal(sig %d) allowed = %v", gvisor, sig, got)
			}
		}
	}
}
