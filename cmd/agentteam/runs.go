package main

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/agentteam/agentteam/taskrun"
	"github.com/agentteam/agentteam/team"
	"github.com/agentteam/agentteam/transcript"
)

// maxSlugWords and maxSlugLen bound the task's part of a run's name: enough
// to recognise it in a listing, short enough for a path.
const (
	maxSlugWords = 6
	maxSlugLen   = 40
)

// slug is the first words of text as a run name's label: lowercase ASCII
// letters and digits joined by single hyphens ("Write a prime checker!" →
// "write-a-prime-checker"); any other character ends a word. It is "" when text has no such word.
func slug(text string) string {
	var words []string
	var w strings.Builder
	flush := func() {
		if w.Len() > 0 {
			words = append(words, w.String())
			w.Reset()
		}
	}
	for _, r := range text {
		switch {
		case len(words) == maxSlugWords:
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			w.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			w.WriteRune(r + 'a' - 'A')
		default:
			flush()
		}
	}
	flush()
	s := strings.Join(words, "-")
	if len(s) > maxSlugLen {
		s = strings.TrimRight(s[:maxSlugLen], "-")
	}
	return s
}

// removeIfEmpty removes the workspace a run made for itself when the run
// failed before its first model reply or block left anything there, so
// that failed starts leave no empty directories. The transcript stays: it
// says why the run failed, and runs lists it as an error.
func removeIfEmpty(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) > 0 {
		return false
	}
	return os.Remove(dir) == nil
}

// runInfo is one run as `agentteam runs` lists it.
type runInfo struct {
	ID         string    `json:"id"` // NAME, or batch-NAME/TASK, under the runs directory
	Time       time.Time `json:"time"`
	Task       string    `json:"task"` // its first line
	Status     string    `json:"status"`
	Turns      int       `json:"turns"`
	Tokens     int       `json:"tokens"`
	Workspace  string    `json:"workspace,omitempty"`  // "": none left
	Transcript string    `json:"transcript,omitempty"` // "": none (exec)
}

// Statuses of a run in the list, beside approved.
const (
	runNotApproved  = "not approved"
	runError        = "error"
	runInterrupted  = "interrupted"
	runRunning      = "running" // no result yet, and its process is alive
	runNoTranscript = "no transcript"
)

// listRuns finds the runs under root and the tasks of its batch-NAME
// directories, newest first. It reads directories without following
// symlinks: a symlink is never a run, so rm cannot reach outside root.
func listRuns(root string) ([]runInfo, error) {
	runs, err := runsIn(root, "")
	if err != nil {
		return nil, err
	}
	entries, _ := os.ReadDir(root) // read once more for the batches: cheap
	for _, e := range entries {
		if e.Type().IsDir() && strings.HasPrefix(e.Name(), "batch-") {
			more, err := runsIn(filepath.Join(root, e.Name()), e.Name()+"/")
			if err != nil {
				return nil, err
			}
			runs = append(runs, more...)
		}
	}
	slices.SortStableFunc(runs, func(a, b runInfo) int { return cmp.Or(b.Time.Compare(a.Time), cmp.Compare(a.ID, b.ID)) })
	return runs, nil
}

// runsIn lists the runs directly in dir: a directory, a transcript, or
// both with the same name; prefix is put before their names in IDs.
func runsIn(dir, prefix string) ([]runInfo, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	byName := map[string]*runInfo{}
	var names []string
	get := func(name string) *runInfo {
		if r, ok := byName[name]; ok {
			return r
		}
		r := &runInfo{ID: prefix + name}
		byName[name] = r
		names = append(names, name)
		return r
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case e.Type().IsDir() && !strings.HasPrefix(name, "batch-") && !strings.HasPrefix(name, "."):
			r := get(name)
			r.Workspace = filepath.Join(dir, name)
			if fi, err := e.Info(); err == nil && r.Time.IsZero() {
				r.Time = fi.ModTime()
			}
		case e.Type().IsRegular() && strings.HasSuffix(name, transcriptSuffix):
			r := get(strings.TrimSuffix(name, transcriptSuffix))
			r.Transcript = filepath.Join(dir, name)
		}
	}
	runs := make([]runInfo, 0, len(names))
	for _, name := range names {
		r := byName[name]
		if r.Transcript == "" {
			r.Status = runNoTranscript
		} else {
			// A run locks its transcript while it runs; a batch, its directory.
			lock := r.Transcript
			if prefix != "" {
				lock = dir
			}
			readRun(r, lock)
		}
		runs = append(runs, *r)
	}
	return runs, nil
}

// Bounds of reading a transcript for the list: its head, and its tail when
// it is longer, where the result is.
const (
	maxTranscriptHead = 8 << 20
	maxTranscriptTail = 1 << 20
)

// readRun fills r from its transcript, read bounded and tolerant of a last
// line cut short (a run killed while writing it). A run with no result
// yet is running while a live process holds lock (see holdLock), and
// interrupted once none does: killed, or its machine stopped.
func readRun(r *runInfo, lock string) {
	events := readTranscriptBounded(r.Transcript)
	r.Status = runRunning
	turns, sawResult := 0, false
	for _, e := range events {
		switch e.Type {
		case taskrun.EventTask:
			if r.Task == "" {
				r.Task, _, _ = strings.Cut(strings.TrimSpace(e.Content), "\n")
				r.Time = e.Time
			}
			r.Status = runRunning // a continuation runs again
		case taskrun.EventMessage:
			if e.Usage != nil {
				r.Tokens += e.Usage.TotalTokens
			}
			turns++
		case taskrun.EventResult:
			sawResult = true
			if n, ok := e.Extra["turns"].(float64); ok {
				r.Turns += int(n)
			}
			r.Status = resultStatus(e)
		}
	}
	if !sawResult {
		r.Turns = turns
	}
	if r.Status == runRunning && !lockHeld(lock) {
		r.Status = runInterrupted
	}
}

// resultStatus is the list's status of a result event.
func resultStatus(e transcript.Event) string {
	switch s, _ := e.Extra["status"].(string); {
	case s == string(taskrun.Approved):
		return string(taskrun.Approved)
	case s == string(taskrun.NotApproved):
		return runNotApproved
	case e.Error == "interrupted" || e.Content == team.ReasonInterrupted:
		return runInterrupted
	}
	return runError
}

// readTranscriptBounded reads the events of the transcript at path: the
// first maxTranscriptHead bytes and, past them, the last maxTranscriptTail.
// It never follows a symlink and ignores a torn line.
func readTranscriptBounded(path string) []transcript.Event {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	events, _ := transcript.Read(io.LimitReader(f, maxTranscriptHead)) // the events before a torn line
	if fi.Size() <= maxTranscriptHead {
		return events
	}
	if _, err := f.Seek(max(maxTranscriptHead, fi.Size()-maxTranscriptTail), io.SeekStart); err != nil {
		return events
	}
	br := bufio.NewReader(f)
	if _, err := br.ReadString('\n'); err != nil { // the rest of a line begun before
		return events
	}
	tail, _ := transcript.Read(br)
	return append(events, tail...)
}
