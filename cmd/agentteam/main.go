// Command agentteam runs a team of AI agents on a programming task, with
// every code block the models write run in a hardened, throw-away sandbox.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], systemIO())
	stop()
	os.Exit(code)
}
