package taskrun

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/agentteam/agentteam/model"
)

// RepairResults cuts a torn last line (a crash or a full disk mid-write)
// off a results file, so that the next record starts a line of its own
// instead of being glued onto the fragment and lost. It returns the bytes
// cut; a missing file has none.
func RepairResults(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("repair results: %w", err)
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil || size == 0 {
		return 0, err
	}
	// Read back from the end to the last newline: a line is small, the
	// file may not be.
	const chunk = 64 << 10
	end := size
	for end > 0 {
		start := max(0, end-chunk)
		buf := make([]byte, end-start)
		if _, err := f.ReadAt(buf, start); err != nil {
			return 0, fmt.Errorf("repair results: %w", err)
		}
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			end = start + int64(i) + 1
			break
		}
		end = start
	}
	if end == size {
		return 0, nil
	}
	if err := f.Truncate(end); err != nil {
		return 0, fmt.Errorf("repair results: %w", err)
	}
	return size - end, nil
}

// Todo is the items of b still to run given the records done: those with
// none, and with RetryErrors those whose record is an error.
func (b *Batch) Todo(done map[string]Record) []Item {
	var todo []Item
	for _, it := range b.Items {
		if r, ok := done[it.ID]; !ok || (b.RetryErrors && r.Status == Failed) {
			todo = append(todo, it)
		}
	}
	return todo
}

// isConfigError reports an error kind that fails every task alike: a
// refused key, a model that does not exist, a used-up quota.
func isConfigError(k model.Kind) bool {
	switch k {
	case model.KindAuth, model.KindModelNotFound, model.KindQuota:
		return true
	}
	return false
}

// StoppedError is a set that stopped starting tasks because the last ones
// all failed with a configuration error: the rest would fail the same way.
type StoppedError struct {
	Failed     int // tasks that failed alike in a row
	NotStarted int // tasks left for the next run
	Err        error
}

func (e *StoppedError) Error() string {
	return fmt.Sprintf("stopped starting tasks: %d in a row failed alike, %d not started (fix it and run the same command again): %v",
		e.Failed, e.NotStarted, e.Err)
}

func (e *StoppedError) Unwrap() error { return e.Err }
