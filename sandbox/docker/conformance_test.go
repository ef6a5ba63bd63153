package docker

import (
	"testing"

	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/sandboxtest"
)

// TestConformance runs the suite every backend passes on the real engine,
// which needs no priming: it runs the blocks.
func TestConformance(t *testing.T) {
	d := newTestDocker(t, testConfig())
	sandboxtest.Run(t, func(*testing.T, []sandboxtest.Exchange) sandbox.Opener { return d })
}
