package main

import (
	"context"
	"fmt"
	"io"
)

// readInput reads what a command takes from standard input ("-"), at most
// limit bytes. On a terminal it first says what it waits for and how to
// end it, and Ctrl-C ends the wait at once (a read of a terminal would
// otherwise hold the command until Ctrl-D).
func readInput(ctx context.Context, s IO, what string, limit int64) (string, error) {
	if s.InIsTTY {
		fmt.Fprintf(s.ErrOut, "Type the %s, then Ctrl-D on a line of its own (Ctrl-C to cancel):\n", what)
	}
	type read struct {
		data []byte
		err  error
	}
	done := make(chan read, 1)
	go func() {
		data, err := io.ReadAll(io.LimitReader(s.In, limit))
		done <- read{data, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return "", usageError("read %s: %v", what, r.err)
		}
		return string(r.data), nil
	case <-ctx.Done():
		return "", fmt.Errorf("read %s: %w", what, ctx.Err())
	}
}
