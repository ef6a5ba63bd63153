// Package protocol owns the wire format between the host and the runner that
// lives inside a sandbox container: length-prefixed frames on the container's
// attached stdin and stdout.
//
// Every frame carries a per-container token that the host sends in its first
// frame, before any untrusted code runs. Code running in the sandbox can reach
// the container's stdio through /proc/1/fd (the init process runs as the same
// uid), but it never learns the token, so it cannot forge a result: a frame
// with a wrong token or a bad header ends the session as corrupt.
package protocol

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Version is bumped on any incompatible change; the runner refuses others.
const Version = 1

// TokenSize is the length of the per-container token.
const TokenSize = 16

// MaxPayload bounds one frame, so a corrupt length cannot make either side
// allocate without limit.
const MaxPayload = 32 << 20

var magic = [2]byte{'A', 'T'}

// headerSize: magic, version, type, token, payload length.
const headerSize = 2 + 1 + 1 + TokenSize + 4

// Type says what a frame's JSON payload is.
type Type byte

const (
	TypeHello  Type = 1 // host → runner: first frame, carries the token
	TypeReady  Type = 2 // runner → host: reply to hello, with what the runner sees of its confinement
	TypeRun    Type = 3 // host → runner: run one block
	TypeCancel Type = 4 // host → runner: stop the running block
	TypeResult Type = 5 // runner → host: the block's outcome
	TypeReset  Type = 6 // host → runner: make the container as new for another session; answered with Ready
	TypeWarm   Type = 7 // host → runner: the workspace is ready for the next session; start the next block's interpreter
	TypeOutput Type = 8 // runner → host: a piece of a running block's output, sent only when the Run asked for it
)

// Token authenticates frames between one host session and one container.
type Token [TokenSize]byte

// NewToken returns a random token.
func NewToken() (Token, error) {
	var t Token
	if _, err := rand.Read(t[:]); err != nil {
		return t, fmt.Errorf("read random token: %w", err)
	}
	return t, nil
}

// ErrCorrupt is returned for a frame that is not well-formed or carries the
// wrong token: the stream can no longer be trusted.
var ErrCorrupt = errors.New("corrupt sandbox frame")

// Hello is the host's first frame.
type Hello struct {
	Version int `json:"version"`
	// MemoryLimit is the memory a block may use, in bytes. Under runc it
	// is the container's own limit and the kernel enforces it; under
	// gVisor the container gets more (its kernel needs room of its own)
	// and the runner enforces this one.
	MemoryLimit int64 `json:"memory_limit,omitempty"`
	// Egress, when set, asks the runner to relay connections from the
	// container's loopback to the host's egress proxy.
	Egress *Egress `json:"egress,omitempty"`
}

// Egress says where the runner relays a sandbox's way out: from Listen, a
// TCP address on the container's loopback (blocks get it as HTTP_PROXY), to
// Socket, the host proxy's unix socket mounted into the container.
type Egress struct {
	Listen string `json:"listen"`
	Socket string `json:"socket"`
}

// Ready describes the runner's confinement as it sees it from inside, read
// before any untrusted code runs; the host refuses a session when it is weaker
// than required.
type Ready struct {
	Version    int    `json:"version"`
	PID        int    `json:"pid"`
	UID        int    `json:"uid"`
	GID        int    `json:"gid"`
	CapEff     string `json:"cap_eff"`      // hex mask from /proc/self/status
	CapBnd     string `json:"cap_bnd"`      // bounding set
	NoNewPrivs bool   `json:"no_new_privs"` // prctl(PR_GET_NO_NEW_PRIVS)
	Seccomp    int    `json:"seccomp"`      // 0 off, 1 strict, 2 filter
	OOMCounter bool   `json:"oom_counter"`  // the cgroup's oom_kill counter is readable
	// Kernel is what the runner's system calls reach: "linux" (runc and
	// the like) or "gvisor" (runsc's user-space kernel), from uname.
	Kernel string `json:"kernel"`
	// MemoryGuard names the memory cgroup files the runner watches to end
	// a block that thrashes at the limit ("cgroup v1", "cgroup v2"), or is
	// empty when it cannot read them.
	MemoryGuard string `json:"memory_guard,omitempty"`
	// ShmRmidForced: kernel.shm_rmid_forced is 1, so a shared-memory
	// segment dies with the last process attached to it.
	ShmRmidForced bool `json:"shm_rmid_forced"`
	// RefusedSyscalls names the probed system calls that the seccomp
	// filter refused (EPERM), which tells the sandbox's own profile from
	// an engine's default.
	RefusedSyscalls []string `json:"refused_syscalls"`
	// After a reset: processes other than the runner still alive, entries
	// left in /tmp and /dev/shm, and IPC objects left (SysV segments,
	// queues and semaphore sets, POSIX message queues). The host discards a
	// container where any is not 0.
	Leftover int `json:"leftover"`
	TmpLeft  int `json:"tmp_left"`
	IPCLeft  int `json:"ipc_left"`
}

// ProbedSyscalls are the system calls the runner tries before any block
// runs and reports in Ready.RefusedSyscalls: each must come back refused, or
// the seccomp profile in effect is not the sandbox's.
var ProbedSyscalls = []string{"io_uring_setup", "ptrace", "perf_event_open", "keyctl", "unshare"}

// Run asks the runner to run one block.
type Run struct {
	ID       uint64 `json:"id"`
	Language string `json:"language"` // "python", "sh" or "bash"
	Code     []byte `json:"code"`
	// Filename, when set, is a local name (already validated by the host)
	// under the workspace where the code is saved and run from.
	Filename string `json:"filename,omitempty"`
	// SaveOnly saves the code under Filename and runs nothing: a block in
	// a language the sandbox does not run (html, json, ...) that names its
	// file. Language is then only a label.
	SaveOnly bool `json:"save_only,omitempty"`
	// TimeoutMS bounds the block's wall-clock time inside the container.
	TimeoutMS int64 `json:"timeout_ms"`
	// MaxOutput is the bytes kept of each stream (head and tail halves).
	MaxOutput int `json:"max_output"`
	// OutputLimit ends the block once both streams together exceed it.
	OutputLimit int64 `json:"output_limit"`
	// Stream asks for the block's output as it comes, in Output frames
	// before the Result: at most MaxOutput bytes of each stream, the first
	// ones. A runner that predates it sends none, and a host that predates
	// Output frames never sets it, so either side may be older.
	Stream bool `json:"stream,omitempty"`
}

// Streams of a block's output, as Output frames name them.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// Output is a piece of block ID's output on one stream, raw: the pieces of a
// stream, in order, are its first bytes. A piece may end inside a line or a
// UTF-8 sequence.
type Output struct {
	ID     uint64 `json:"id"`
	Stream string `json:"stream"` // Stdout or Stderr
	Data   []byte `json:"data"`
}

// Cancel asks the runner to stop block ID.
type Cancel struct {
	ID uint64 `json:"id"`
}

// Result is a block's outcome. Stdout and Stderr are the kept bytes, raw.
type Result struct {
	ID            uint64 `json:"id"`
	ExitCode      int    `json:"exit_code"`
	Signal        int    `json:"signal,omitempty"`
	TimedOut      bool   `json:"timed_out,omitempty"`
	OOMKilled     bool   `json:"oom_killed,omitempty"`
	OutputLimited bool   `json:"output_limited,omitempty"`
	Canceled      bool   `json:"canceled,omitempty"`
	DurationNS    int64  `json:"duration_ns"`
	Stdout        []byte `json:"stdout,omitempty"`
	Stderr        []byte `json:"stderr,omitempty"`
	StdoutBytes   int64  `json:"stdout_bytes"`
	StderrBytes   int64  `json:"stderr_bytes"`
	// Error is set when the runner could not start the block (e.g. the
	// filename could not be written); ExitCode is then -1.
	Error string `json:"error,omitempty"`
	// Leftover counts processes still alive after the block's sweep; the
	// host discards a container whose sweep was not clean.
	Leftover int `json:"leftover,omitempty"`
	// IPCLeft counts IPC objects the block left that the sweep could not
	// remove; the host discards such a container too.
	IPCLeft int `json:"ipc_left,omitempty"`
}

// Write sends one frame.
func Write(w io.Writer, tok Token, typ Type, v any) error {
	payload, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode frame: %w", err)
	}
	if len(payload) > MaxPayload {
		return fmt.Errorf("encode frame: payload of %d bytes exceeds %d", len(payload), MaxPayload)
	}
	buf := make([]byte, headerSize, headerSize+len(payload))
	copy(buf, magic[:])
	buf[2] = Version
	buf[3] = byte(typ)
	copy(buf[4:], tok[:])
	binary.BigEndian.PutUint32(buf[4+TokenSize:], uint32(len(payload)))
	buf = append(buf, payload...)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// Frame is one decoded frame; Payload is JSON for Decode.
type Frame struct {
	Type    Type
	Token   Token
	Payload []byte
}

// Decode unmarshals the payload into v.
func (f Frame) Decode(v any) error {
	if err := json.Unmarshal(f.Payload, v); err != nil {
		return fmt.Errorf("%w: decode type %d: %v", ErrCorrupt, f.Type, err)
	}
	return nil
}

// Read reads one frame. With want non-nil the token must match. io.EOF is
// returned only on a clean end between frames.
func Read(r io.Reader, want *Token) (Frame, error) {
	var hdr [headerSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			return Frame{}, io.EOF
		}
		return Frame{}, fmt.Errorf("%w: read header: %v", ErrCorrupt, err)
	}
	if !bytes.Equal(hdr[:2], magic[:]) || hdr[2] != Version {
		return Frame{}, fmt.Errorf("%w: bad magic or version", ErrCorrupt)
	}
	var f Frame
	f.Type = Type(hdr[3])
	copy(f.Token[:], hdr[4:4+TokenSize])
	if want != nil && f.Token != *want {
		return Frame{}, fmt.Errorf("%w: wrong token", ErrCorrupt)
	}
	n := binary.BigEndian.Uint32(hdr[4+TokenSize:])
	if n > MaxPayload {
		return Frame{}, fmt.Errorf("%w: payload of %d bytes exceeds %d", ErrCorrupt, n, MaxPayload)
	}
	f.Payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.Payload); err != nil {
		return Frame{}, fmt.Errorf("%w: read payload: %v", ErrCorrupt, err)
	}
	return f, nil
}
