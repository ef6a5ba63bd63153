package main

import (
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/openaicompat"
)

// modelFlags are the model settings every command that calls a model takes.
type modelFlags struct {
	flags settingFlags
}

func (f *modelFlags) register(fs *pflag.FlagSet) {
	for _, env := range []string{"AGENTTEAM_PROVIDER", "OPENAI_BASE_URL", "AGENTTEAM_TEMPERATURE", "AGENTTEAM_MAX_TOKENS"} {
		f.flags.add(fs, env)
	}
}

// backendSettings are the rows of the model backend and of its requests.
func backendSettings() []string {
	return []string{"AGENTTEAM_PROVIDER", "OPENAI_API_KEY", "OPENAI_BASE_URL", "AGENTTEAM_TEMPERATURE", "AGENTTEAM_MAX_TOKENS",
		"AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_API_VERSION", "AZURE_OPENAI_DEPLOYMENTS",
		"AGENTTEAM_MODEL_RETRIES", "AGENTTEAM_MODEL_HEADER_TIMEOUT", "AGENTTEAM_MODEL_IDLE_TIMEOUT", "AGENTTEAM_MAX_TOKENS_FIELD"}
}

// modelSettings is what a command needs to call models.
type modelSettings struct {
	backend     model.Model
	temperature *float32
	maxTokens   int
}

// models resolves the backend's settings and makes it. The API key only
// ever comes from the environment or .env.
func (f *modelFlags) models(fac *Factory, st settings, log *slog.Logger) (modelSettings, error) {
	c := newConfig()
	if err := st.resolve(&c, f.flags, backendSettings()...); err != nil {
		return modelSettings{}, usageError("%v", err)
	}
	cfg, keyEnv := c.modelConfig()
	ms := modelSettings{temperature: c.temperature, maxTokens: c.maxTokens}
	var err error
	if ms.backend, err = fac.NewModel(cfg, log); err != nil {
		return ms, modelConfigError(err, cfg, keyEnv)
	}
	return ms, nil
}

// modelConfig is the backend's configuration: the provider is azure when
// none is named but an Azure endpoint is, and the key is that provider's
// (Azure's own when set, else OPENAI_API_KEY). keyEnv names the variable
// the key is expected in.
func (c config) modelConfig() (cfg openaicompat.Config, keyEnv string) {
	cfg = c.model
	if cfg.Provider == "" && cfg.AzureEndpoint != "" {
		cfg.Provider = "azure"
	}
	cfg.APIKey, keyEnv = c.openAIKey, "OPENAI_API_KEY"
	if cfg.Provider == "azure" {
		keyEnv = "AZURE_OPENAI_API_KEY"
		if c.azureKey != "" {
			cfg.APIKey = c.azureKey
		}
	}
	return cfg, keyEnv
}

// agentModels names the coder's and the reviewer's models from the flags
// among flags, the environment, .env, or DefaultModel.
func (st settings) agentModels(flags settingFlags) (coder, reviewer string) {
	c := newConfig()
	_ = st.resolve(&c, flags, "AGENTTEAM_CODER_MODEL", "AGENTTEAM_REVIEWER_MODEL") // any text names a model
	return c.coderModel, c.reviewerModel
}

// reviewerVision is whether the reviewer sees the blocks' images, from
// the flag among flags, the environment or .env; off by default.
func (st settings) reviewerVision(flags settingFlags) (bool, error) {
	c := newConfig()
	if err := st.resolve(&c, flags, "AGENTTEAM_REVIEWER_VISION"); err != nil {
		return false, usageError("%v", err)
	}
	return c.reviewerVision, nil
}

func (ms modelSettings) request(modelName string, msgs []model.Message) model.Request {
	return model.Request{Model: modelName, Messages: msgs, Temperature: ms.temperature, MaxTokens: ms.maxTokens}
}
