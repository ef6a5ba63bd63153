package fake

import (
	"testing"

	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/sandboxtest"
)

func TestConformance(t *testing.T) {
	sandboxtest.Run(t, func(t *testing.T, exchanges []sandboxtest.Exchange) sandbox.Opener {
		steps := make(map[string]Step, len(exchanges))
		for _, ex := range exchanges {
			steps[ex.Code.Source] = Step{Result: ex.Result, Delay: ex.Runs}
		}
		return New(BySource(steps))
	})
}
