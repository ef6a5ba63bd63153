package fake

import (
	"testing"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/modeltest"
)

func TestConformance(t *testing.T) {
	modeltest.Run(t, func(t *testing.T, exchanges []modeltest.Exchange) model.Model {
		steps := make([]Step, len(exchanges))
		for i, ex := range exchanges {
			steps[i] = Step{Reply: ex.Reply}
		}
		return New(steps...)
	})
}
