package main

import (
	"log/slog"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/openaicompat"
)

// DefaultModel is the model an agent uses when none is named.
const DefaultModel = "gpt-4o-mini"

// modelFlags are the model settings every command that calls a model takes.
type modelFlags struct {
	fs          *pflag.FlagSet
	provider    string
	baseURL     string
	temperature float32
	maxTokens   int
}

func (f *modelFlags) register(fs *pflag.FlagSet) {
	f.fs = fs
	fs.StringVar(&f.provider, "provider", "", "model provider preset: openai, azure, ollama, vllm, llamacpp, lmstudio, openrouter (env AGENTTEAM_PROVIDER)")
	fs.StringVar(&f.baseURL, "base-url", "", "any OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (env OPENAI_BASE_URL)")
	fs.Float32Var(&f.temperature, "temperature", 0, "sampling temperature (env AGENTTEAM_TEMPERATURE; default: the server's)")
	fs.IntVar(&f.maxTokens, "max-tokens", 0, "longest reply in tokens (env AGENTTEAM_MAX_TOKENS; default: the server's)")
}

// modelSettings is what a command needs to call models.
type modelSettings struct {
	backend     model.Model
	temperature *float32
	maxTokens   int
}

// models resolves the backend: flags, then the environment, then .env.
// The API key only ever comes from the environment or .env.
func (f *modelFlags) models(fac *Factory, st settings, log *slog.Logger) (modelSettings, error) {
	cfg, err := openaicompat.FromEnv(st.get)
	if err != nil {
		return modelSettings{}, usageError("%v", err)
	}
	if f.fs.Changed("provider") {
		cfg.Provider = f.provider
	}
	if f.fs.Changed("base-url") {
		cfg.BaseURL = f.baseURL
	}
	var ms modelSettings
	switch {
	case f.fs.Changed("temperature"):
		t := f.temperature
		ms.temperature = &t
	case st.get("AGENTTEAM_TEMPERATURE") != "":
		v := st.get("AGENTTEAM_TEMPERATURE")
		t, err := strconv.ParseFloat(v, 32)
		if err != nil {
			return ms, usageError("AGENTTEAM_TEMPERATURE: %q is not a number", v)
		}
		t32 := float32(t)
		ms.temperature = &t32
	}
	if ms.temperature != nil && (*ms.temperature < 0 || *ms.temperature > 2) {
		return ms, usageError("temperature %g is outside 0 to 2", *ms.temperature)
	}
	ms.maxTokens = f.maxTokens
	if !f.fs.Changed("max-tokens") && st.get("AGENTTEAM_MAX_TOKENS") != "" {
		v := st.get("AGENTTEAM_MAX_TOKENS")
		if ms.maxTokens, err = strconv.Atoi(v); err != nil {
			return ms, usageError("AGENTTEAM_MAX_TOKENS: %q is not a whole number", v)
		}
	}
	if ms.maxTokens < 0 {
		return ms, usageError("max tokens %d is negative", ms.maxTokens)
	}
	ms.backend, err = fac.NewModel(cfg, log)
	if err != nil {
		if model.KindOf(err) != "" {
			return ms, err // no key: a model error, exit 1
		}
		return ms, usageError("model configuration: %v", err)
	}
	return ms, nil
}

// agentModel names the model of an agent: flag, then environment, then
// .env, then DefaultModel.
func agentModel(fs *pflag.FlagSet, flag, value, env string, st settings) string {
	if fs.Changed(flag) {
		return value
	}
	if v := st.get(env); v != "" {
		return v
	}
	return DefaultModel
}

func (ms modelSettings) request(modelName string, msgs []model.Message) model.Request {
	return model.Request{Model: modelName, Messages: msgs, Temperature: ms.temperature, MaxTokens: ms.maxTokens}
}
