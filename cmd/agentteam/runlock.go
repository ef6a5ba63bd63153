package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/agentteam/agentteam/safetext"
)

// A live run holds a shared flock on its transcript, and a batch on its
// directory, for as long as it runs. The kernel drops the lock when the
// process ends, however it ends (kill -9 too), so `runs` tells a run that
// is going on from one whose process is gone, with no pid that the kernel
// may since have given to another process. The transcript is beside the
// workspace, out of the sandbox's reach: no block can take or drop it.

// holdLock takes a shared lock on path (a transcript, a batch's
// directory, which may be a symlink the user gave) and returns the file
// that holds it: closing it, or the process ending, releases it. It waits
// for a `runs` that is looking.
func holdLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0) // O_NONBLOCK: a FIFO does not hang it
	if err != nil {
		return nil, fmt.Errorf("lock run: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_SH)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock run %s: %w", path, err)
	}
	return f, nil
}

// lockHeld reports whether a live process holds the lock of path: a run
// or a batch going on. Anything that is not a regular file or a directory
// holds none.
func lockHeld(path string) bool {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !(fi.Mode().IsRegular() || fi.IsDir()) {
		return false
	}
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if err == nil {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
	}
	return errors.Is(err, unix.EWOULDBLOCK)
}

// maxTranscriptNames bounds the search for a free transcript name beside
// a reused workspace.
const maxTranscriptNames = 1000

// runRecord is a run's transcript, created before the run starts, and its
// lock.
type runRecord struct {
	path string
	lock *os.File
	made bool // created here: removed again if the run never wrote to it
}

// openRunRecord creates the transcript of a run and holds its lock.
// Continuing, it is the run's own, which exists. Named with --transcript
// (given), it must not exist: an earlier run's record is never
// overwritten. Otherwise it is path, or when that holds an earlier run (a
// reused --workspace) the first free of NAME.2.transcript.jsonl,
// NAME.3.transcript.jsonl, ...
func openRunRecord(path string, given, continuing bool) (*runRecord, error) {
	if continuing {
		lock, err := holdLock(path)
		if err != nil {
			return nil, err
		}
		return &runRecord{path: path, lock: lock}, nil
	}
	base := strings.TrimSuffix(path, transcriptSuffix)
	for n := 1; n <= maxTranscriptNames; n++ {
		p := path
		if n > 1 {
			if given {
				break
			}
			p = base + "." + strconv.Itoa(n) + transcriptSuffix
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create transcript: %w", err)
		}
		f.Close()
		lock, err := holdLock(p)
		if err != nil {
			os.Remove(p)
			return nil, err
		}
		return &runRecord{path: p, lock: lock, made: true}, nil
	}
	if given {
		return nil, usageError("--transcript %s exists, and no run overwrites a file: name a new one, or remove it first", safetext.Name(path))
	}
	return nil, fmt.Errorf("create transcript: %s and %d more names beside it are taken", safetext.Name(path), maxTranscriptNames-1)
}

// close releases the lock; a transcript made here that the run never
// wrote to (it stopped before starting) is removed.
func (r *runRecord) close() {
	if r.made {
		if fi, err := r.lock.Stat(); err == nil && fi.Size() == 0 {
			os.Remove(r.path)
		}
	}
	r.lock.Close()
}
