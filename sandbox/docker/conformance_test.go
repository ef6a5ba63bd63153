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

// TestConformanceCopied runs it with the workspace copied in and out
// through the engine's API, as for an engine on another machine.
func TestConformanceCopied(t *testing.T) {
	cfg := testConfig()
	cfg.CopyWorkspace = true
	d := newTestDocker(t, cfg)
	sandboxtest.Run(t, func(*testing.T, []sandboxtest.Exchange) sandbox.Opener { return d })
}
