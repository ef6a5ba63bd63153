package main

import (
	"fmt"
	"io"

	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/taskrun"
)

// stopAfterConfigErrors is how many tasks in a row may fail with a
// configuration error (key, model name, quota) before a batch stops
// starting tasks: the rest would fail alike, each after its retries.
const stopAfterConfigErrors = 3

// maxFailedShown caps the failed tasks a batch's summary lists; the
// results file has them all.
const maxFailedShown = 20

// maxReasonShown cuts a failed task's reason: room for the model, the
// server, what went wrong and what to change.
const maxReasonShown = 200

// printFailed lists the failed tasks of a set, id and one-line reason,
// and says how to run them again.
func printFailed(w io.Writer, records []taskrun.Record, retrying bool) {
	var failed []taskrun.Record
	for _, r := range records {
		if r.Status == taskrun.Failed {
			failed = append(failed, r)
		}
	}
	if len(failed) == 0 {
		return
	}
	fmt.Fprintln(w, "\nfailed tasks:")
	for _, r := range failed[:min(len(failed), maxFailedShown)] {
		fmt.Fprintf(w, "  %s  %s\n", safetext.Name(r.ID), fit(safetext.Line(r.Error), maxReasonShown))
	}
	if n := len(failed) - maxFailedShown; n > 0 {
		fmt.Fprintf(w, "  … and %d more (in the results file)\n", n)
	}
	if !retrying {
		fmt.Fprintln(w, "(--retry-errors runs them again)")
	}
}
