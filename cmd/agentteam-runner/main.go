// Command agentteam-runner is the resident process of a sandbox container; see
// package runner. It is not meant to be run by hand.
package main

import (
	"fmt"
	"os"

	"github.com/agentteam/agentteam/sandbox/runner"
)

func main() {
	if err := runner.Serve(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "agentteam-runner:", err)
		os.Exit(1)
	}
}
