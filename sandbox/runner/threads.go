package runner

import (
	"runtime"
	"sync"
)

// reservedThreads is how many idle OS threads the runner keeps in hand.
const reservedThreads = 8

// reserveThreads makes the Go runtime start n OS threads now and keep them
// idle. Threads count against the container's pids limit: once a fork bomb
// has taken every pid, waking a goroutine (a timer, a finished wait) may
// need a thread the runtime can no longer start, and a Go program that
// cannot start a thread it needs dies. The runtime never ends an idle
// thread, so these stay available for the container's life.
func reserveThreads(n int) {
	var started, release sync.WaitGroup
	started.Add(n)
	release.Add(1)
	var done sync.WaitGroup
	done.Add(n)
	for range n {
		go func() {
			defer done.Done()
			runtime.LockOSThread() // one thread each while all n wait
			started.Done()
			release.Wait()
			runtime.UnlockOSThread() // the thread goes back to the idle pool
		}()
	}
	started.Wait()
	release.Done()
	done.Wait()
}
