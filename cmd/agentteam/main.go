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
	// With SIGPIPE caught, a write to a stdout whose reader went away (| head)
	// fails with EPIPE instead of killing the process, so the command can
	// stop cleanly (stdoutGuard). The channel is never read: Notify drops
	// what does not fit.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], systemIO())
	stop()
	os.Exit(code)
}
