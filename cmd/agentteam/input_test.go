package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// On a terminal, reading "-" says what it waits for, and Ctrl-C ends the
// wait at once; from a pipe it reads quietly.
func TestReadInput(t *testing.T) {
	var errOut bytes.Buffer
	got, err := readInput(context.Background(), IO{In: strings.NewReader("the task\n"), ErrOut: &errOut, InIsTTY: true}, "task", 1<<10)
	if err != nil || got != "the task\n" || !strings.Contains(errOut.String(), "Type the task, then Ctrl-D") {
		t.Errorf("terminal: %q %v, stderr %q", got, err, errOut.String())
	}
	errOut.Reset()
	if got, err := readInput(context.Background(), IO{In: strings.NewReader("piped"), ErrOut: &errOut}, "task", 1<<10); err != nil || got != "piped" || errOut.Len() != 0 {
		t.Errorf("pipe: %q %v, stderr %q", got, err, errOut.String())
	}

	pr, pw := io.Pipe() // a terminal nobody types on
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err = readInput(ctx, IO{In: pr, ErrOut: io.Discard, InIsTTY: true}, "task", 1<<10)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Errorf("Ctrl-C while waiting: %v after %v", err, time.Since(start))
	}
}
