package runner

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"unsafe"

	"golang.org/x/sys/unix"
)

// IPC objects outlive the processes that made them: a SysV shared-memory
// segment stays charged to the container's memory limit (so every later
// block is OOM-killed), and queues, semaphores and POSIX message queues
// carry data from one block, or one pooled task, to the next. Emptying /tmp
// and /dev/shm touches none of them. The container has its own IPC
// namespace, so every object listed here is the sandbox's own.

const (
	sysvDir   = "/proc/sysvipc"
	mqueueDir = "/dev/mqueue"
	ipcRMID   = 0 // IPC_RMID, the same for shmctl, msgctl and semctl
)

// sweepIPC removes every SysV segment, queue and semaphore set and every
// POSIX message queue it can, and returns how many are left. It runs after
// every block and most blocks leave none: then the listing it starts with
// is its answer, and nothing is listed twice (under gVisor, listing means
// asking for each id).
func sweepIPC() int {
	found := 0
	for _, kind := range []string{"shm", "msg", "sem"} {
		for _, id := range sysvIDs(kind) {
			found++
			switch kind {
			case "shm":
				unix.SysvShmCtl(id, ipcRMID, nil)
			case "msg":
				unix.Syscall(unix.SYS_MSGCTL, uintptr(id), ipcRMID, 0)
			case "sem":
				unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), 0, ipcRMID, 0, 0, 0)
			}
		}
	}
	if entries, err := os.ReadDir(mqueueDir); err == nil {
		for _, e := range entries {
			found++
			os.Remove(filepath.Join(mqueueDir, e.Name())) // unlink is mq_unlink there
		}
	}
	if found == 0 {
		return 0
	}
	return countIPC()
}

// countIPC counts the IPC objects in the container's IPC namespace.
func countIPC() int {
	n := len(sysvIDs("shm")) + len(sysvIDs("msg")) + len(sysvIDs("sem"))
	if entries, err := os.ReadDir(mqueueDir); err == nil {
		n += len(entries)
	}
	return n
}

// sysvIDs lists the ids in /proc/sysvipc/KIND (the second column; the first
// line is a header), or, where there is no such file (gVisor), asks the
// kernel index by index.
func sysvIDs(kind string) []int {
	data, err := os.ReadFile(filepath.Join(sysvDir, kind))
	if err != nil {
		return statIDs(kind)
	}
	var ids []int
	for i, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 2 {
			continue
		}
		if id, err := strconv.Atoi(f[1]); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// shmRmidForced reports whether the kernel destroys a shared-memory segment
// as soon as no process has it attached (kernel.shm_rmid_forced=1), so a
// segment cannot outlive the block that made it.
func shmRmidForced() bool {
	data, err := os.ReadFile("/proc/sys/kernel/shm_rmid_forced")
	return err == nil && strings.TrimSpace(string(data)) == "1"
}

// Without /proc/sysvipc the ids are found by asking for each one: gVisor
// hands them out from 0 up (its SHM_INFO and SHM_STAT do not list them), so
// the first thousand cover what a block can make in one session.
const (
	ipcStat   = 2 // IPC_STAT, the same for shmctl, msgctl and semctl
	maxIPCIDs = 1024
)

// statIDs lists the ids of one kind of SysV object that IPC_STAT answers.
func statIDs(kind string) []int {
	var buf [512]byte // larger than shmid_ds, msqid_ds and semid_ds
	var ids []int
	for id := 0; id < maxIPCIDs; id++ {
		var errno unix.Errno
		switch kind {
		case "shm":
			_, _, errno = unix.Syscall(unix.SYS_SHMCTL, uintptr(id), ipcStat, uintptr(unsafe.Pointer(&buf[0])))
		case "msg":
			_, _, errno = unix.Syscall(unix.SYS_MSGCTL, uintptr(id), ipcStat, uintptr(unsafe.Pointer(&buf[0])))
		case "sem":
			_, _, errno = unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), 0, ipcStat, uintptr(unsafe.Pointer(&buf[0])), 0, 0)
		}
		if errno == 0 {
			ids = append(ids, id)
		}
	}
	return ids
}
