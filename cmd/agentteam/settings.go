package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/joho/godotenv"
	"github.com/spf13/pflag"

	"github.com/agentteam/agentteam/model/openaicompat"
	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/docker"
	"github.com/agentteam/agentteam/sandbox/egress"
)

// DefaultModel is the model an agent uses when none is named.
const DefaultModel = "gpt-4o-mini"

// A setting is one row of the table of settings: where its value comes
// from and how the text is read into its typed place. Every setting is
// resolved the same way (see settings.value): a flag given on the command
// line, else the environment, else .env, else the default.
type setting struct {
	env  string // the variable, in the environment or .env; the row's key
	flag string // its flag; "" when only the environment and .env give it (keys never come from flags)
	kind string // the flag's type as --help shows it: string, float64, float32, int, int64
	def  string // the default, as text; "" leaves the typed place alone (zero, or what Defaults gave)
	name string // what a complaint about its value calls it
	help string // the flag's help; "(env NAME)" is added
	note string // said after the variable in the help: "(env NAME; note)"
	// values are what a shell completes the flag's value with; none: any.
	values []string
	// set reads v, never empty, into its place in c; its error says what is
	// wrong with v, and the caller names the setting and where v came from.
	set func(c *config, v string) error
}

// config is what the table resolves to: every setting in its typed place.
type config struct {
	sandbox    docker.Config
	dockerHost string // DOCKER_HOST, "" for the Docker client's default

	// model is the backend's configuration but for the key, which
	// modelConfig chooses once the provider is known.
	model                     openaicompat.Config
	openAIKey, azureKey       string
	temperature               *float32
	maxTokens                 int
	coderModel, reviewerModel string
	reviewerVision            bool
	queueToken                string // a queue's secret: like a key, never a flag
	queueCA                   string // the CA file a queue's TLS certificates are checked against
}

// newConfig is the starting point of a resolution: the sandbox's defaults,
// which the table's rows then override.
func newConfig() config {
	return config{sandbox: docker.Defaults()}
}

// settingsTable is every setting the CLI takes, in the order of
// .env.example.
func settingsTable() []setting {
	d := docker.Defaults()
	str := func(dst func(*config) *string) func(*config, string) error {
		return func(c *config, v string) error { *dst(c) = strings.TrimSpace(v); return nil }
	}
	// file is a path that must name a readable file: a missing one is
	// said before anything connects.
	file := func(dst func(*config) *string) func(*config, string) error {
		return func(c *config, v string) error {
			v = strings.TrimSpace(v)
			f, err := os.Open(v)
			if err != nil {
				return errors.New("cannot read it")
			}
			f.Close()
			*dst(c) = v
			return nil
		}
	}
	size := func(dst func(*config) *int64) func(*config, string) error {
		return func(c *config, v string) error {
			n, err := units.RAMInBytes(v)
			if err == nil && n <= 0 {
				err = errors.New("must be positive")
			}
			*dst(c) = n
			return err
		}
	}
	positiveDuration := func(dst func(*config) *time.Duration) func(*config, string) error {
		return func(c *config, v string) error {
			t, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil || t <= 0 {
				return errors.New("not a positive duration")
			}
			*dst(c) = t
			return nil
		}
	}
	return []setting{
		// The sandbox.
		{env: "AGENTTEAM_IMAGE", flag: "image", kind: "string", def: d.Image, name: "image",
			help: "sandbox image", set: str(func(c *config) *string { return &c.sandbox.Image })},
		{env: "AGENTTEAM_MEMORY", flag: "memory", kind: "string", def: units.BytesSize(float64(d.Memory)), name: "memory",
			help: "memory limit of a sandbox, no swap", set: func(c *config, v string) error {
				n, err := units.RAMInBytes(v)
				if err == nil && n <= 0 {
					err = errors.New("want a size of 32MiB or more")
				}
				c.sandbox.Memory = n
				return err
			}},
		{env: "AGENTTEAM_CPUS", flag: "cpus", kind: "float64", def: strconv.FormatFloat(d.CPUs, 'g', -1, 64), name: "cpus",
			help: "CPU limit of a sandbox", set: func(c *config, v string) error {
				n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err == nil && !(n >= 0.01 && n <= 1024) { // 0 would silently mean the default
					err = errors.New("want 0.01 to 1024")
				}
				c.sandbox.CPUs = n
				return err
			}},
		{env: "AGENTTEAM_PIDS", flag: "pids", kind: "int64", def: strconv.FormatInt(d.Pids, 10), name: "pids",
			help: "processes and threads a sandbox may have", set: func(c *config, v string) error {
				n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				if err == nil && n < 8 { // 0 would silently mean the default
					err = errors.New("want 8 or more")
				}
				c.sandbox.Pids = n
				return err
			}},
		{env: "AGENTTEAM_TIMEOUT", flag: "timeout", kind: "string", def: d.Timeout.String(), name: "timeout",
			help: "wall-clock limit of one code block", set: func(c *config, v string) error {
				var err error
				c.sandbox.Timeout, err = parseDuration(v)
				return err
			}},
		{env: "AGENTTEAM_WORKSPACE_CAP", flag: "workspace-cap", kind: "string", def: units.BytesSize(float64(d.WorkspaceBytes)), name: "workspace cap",
			help: "largest size of the workspace", set: size(func(c *config) *int64 { return &c.sandbox.WorkspaceBytes })},
		{env: "AGENTTEAM_RUNTIME", flag: "runtime", kind: "string", name: "runtime", values: []string{"runc", "runsc"},
			help: "container runtime, e.g. runsc where registered", set: str(func(c *config) *string { return &c.sandbox.Runtime })},
		{env: "AGENTTEAM_EGRESS", flag: "egress", kind: "list", name: "egress",
			help: "let blocks reach HOST, HOST:PORT or ADDRESS:PORT through agentteam's proxy, or pypi (repeat, or separate with commas)",
			note: "default: no network", set: func(c *config, v string) error {
				c.sandbox.Egress = nil
				for _, e := range strings.Split(v, ",") {
					if e = strings.TrimSpace(e); e != "" {
						c.sandbox.Egress = append(c.sandbox.Egress, e)
					}
				}
				_, err := egress.ParsePolicy(c.sandbox.Egress)
				return err
			}},
		{env: "AGENTTEAM_PIP_INDEX", flag: "pip-index", kind: "string", name: "pip index",
			help: "the package index pip uses in the sandbox; its host must be allowed by --egress",
			set:  str(func(c *config) *string { return &c.sandbox.PipIndex })},

		// The Docker engine.
		{env: "DOCKER_HOST", name: "Docker host", help: "the Docker engine (default: the Docker client's)",
			set: str(func(c *config) *string { return &c.dockerHost })},

		// Models.
		{env: "AGENTTEAM_PROVIDER", flag: "provider", kind: "string", name: "provider", values: openaicompat.Providers(),
			help: "model provider preset: openai, azure, ollama, vllm, llamacpp, lmstudio, openrouter", set: func(c *config, v string) error {
				c.model.Provider = strings.ToLower(strings.TrimSpace(v))
				return nil
			}},
		{env: "OPENAI_API_KEY", name: "API key", help: "the key (none for a local server)",
			set: str(func(c *config) *string { return &c.openAIKey })},
		{env: "OPENAI_BASE_URL", flag: "base-url", kind: "string", name: "base URL",
			help: "any OpenAI-compatible endpoint, e.g. http://localhost:8000/v1", set: str(func(c *config) *string { return &c.model.BaseURL })},
		{env: "AGENTTEAM_CODER_MODEL", flag: "coder-model", kind: "string", def: DefaultModel, name: "coder model",
			help: "the coder's model", set: str(func(c *config) *string { return &c.coderModel })},
		{env: "AGENTTEAM_REVIEWER_MODEL", flag: "reviewer-model", kind: "string", def: DefaultModel, name: "reviewer model",
			help: "the reviewer's model", set: str(func(c *config) *string { return &c.reviewerModel })},
		{env: "AGENTTEAM_REVIEWER_VISION", flag: "reviewer-vision", kind: "bool", name: "reviewer vision", values: []string{"true", "false"},
			help: "show the reviewer the PNG and JPEG images the blocks under review made (its model must accept images)",
			note: "default: off", set: func(c *config, v string) error {
				b, err := parseBool(v)
				c.reviewerVision = b
				return err
			}},
		{env: "AGENTTEAM_TEMPERATURE", flag: "temperature", kind: "float32", name: "temperature",
			help: "sampling temperature", note: "default: the server's", set: func(c *config, v string) error {
				t, err := strconv.ParseFloat(strings.TrimSpace(v), 32)
				switch {
				case err != nil:
					return errors.New("not a number")
				case t < 0 || t > 2:
					return errors.New("outside 0 to 2")
				}
				t32 := float32(t)
				c.temperature = &t32
				return nil
			}},
		{env: "AGENTTEAM_MAX_TOKENS", flag: "max-tokens", kind: "int", name: "max tokens",
			help: "longest reply in tokens", note: "default: the server's", set: func(c *config, v string) error {
				n, err := strconv.Atoi(strings.TrimSpace(v))
				switch {
				case err != nil:
					return errors.New("not a whole number")
				case n < 0:
					return errors.New("negative")
				}
				c.maxTokens = n
				return nil
			}},
		{env: "AZURE_OPENAI_ENDPOINT", name: "Azure endpoint", help: "https://NAME.openai.azure.com",
			set: str(func(c *config) *string { return &c.model.AzureEndpoint })},
		{env: "AZURE_OPENAI_API_KEY", name: "Azure API key", help: "the Azure key",
			set: str(func(c *config) *string { return &c.azureKey })},
		{env: "AZURE_OPENAI_API_VERSION", name: "Azure API version", help: "default " + openaicompat.DefaultAzureAPIVersion,
			set: str(func(c *config) *string { return &c.model.AzureAPIVersion })},
		{env: "AZURE_OPENAI_DEPLOYMENTS", name: "Azure deployments", help: "model=deployment pairs, comma-separated",
			set: func(c *config, v string) error {
				c.model.Deployments = map[string]string{}
				for _, pair := range strings.Split(v, ",") {
					m, d, ok := strings.Cut(strings.TrimSpace(pair), "=")
					m, d = strings.TrimSpace(m), strings.TrimSpace(d)
					if !ok || m == "" || d == "" {
						return fmt.Errorf("%q is not model=deployment", pair)
					}
					c.model.Deployments[m] = d
				}
				return nil
			}},
		{env: "AGENTTEAM_MODEL_RETRIES", name: "model retries", help: "tries in all per model call (default 4)",
			set: func(c *config, v string) error {
				n, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil || n < 1 || n > 20 {
					return errors.New("not a count from 1 to 20")
				}
				c.model.Retry.MaxAttempts = n
				return nil
			}},
		{env: "AGENTTEAM_MODEL_HEADER_TIMEOUT", name: "model header timeout", help: "the wait for a reply's first byte (default 10m)",
			set: positiveDuration(func(c *config) *time.Duration { return &c.model.HeaderTimeout })},
		{env: "AGENTTEAM_MODEL_IDLE_TIMEOUT", name: "model idle timeout", help: "the longest silence in a streamed reply (default 2m)",
			set: positiveDuration(func(c *config) *time.Duration { return &c.model.IdleTimeout })},
		{env: "AGENTTEAM_MAX_TOKENS_FIELD", name: "max tokens field", help: "auto (default), max_tokens or max_completion_tokens",
			set: func(c *config, v string) error {
				switch f := openaicompat.MaxTokensField(strings.ToLower(strings.TrimSpace(v))); f {
				case "auto", openaicompat.MaxTokensAuto:
					c.model.MaxTokensField = openaicompat.MaxTokensAuto
				case openaicompat.MaxTokensLegacy, openaicompat.MaxCompletionTokens:
					c.model.MaxTokensField = f
				default:
					return fmt.Errorf("not auto, %s or %s", openaicompat.MaxTokensLegacy, openaicompat.MaxCompletionTokens)
				}
				return nil
			}},
		{env: "AGENTTEAM_QUEUE_TOKEN", name: "queue token", help: "the secret of queue serve's nodes and their clients",
			set: str(func(c *config) *string { return &c.queueToken })},
		{env: "AGENTTEAM_QUEUE_CA", name: "queue CA", help: "a PEM file: the CA that signed the queue nodes' TLS certificates (queue serve --tls-cert); set, clients speak TLS",
			set: file(func(c *config) *string { return &c.queueCA })},
	}
}

// settingRow is the row of the variable env; asking for one the table
// lacks is a mistake in the program.
func settingRow(env string) setting {
	for _, s := range settingsTable() {
		if s.env == env {
			return s
		}
	}
	panic("no setting " + env)
}

// settings resolves a value from the process environment first, then from
// ./.env (read, never loaded into the process, so nothing from it reaches a
// child process by accident).
type settings struct {
	getenv func(string) string
	dotenv map[string]string
}

func loadSettings(s IO) (settings, error) {
	st := settings{getenv: s.getenv}
	path := filepath.Join(s.Dir, ".env")
	m, err := godotenv.Read(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return st, usageError("read %s: %v", path, err)
	default:
		st.dotenv = m
	}
	return st, nil
}

// value is the text of row and where it came from: the flag when given on
// the command line, else the environment, else .env, else the default. An
// empty variable counts as unset.
func (st settings) value(flags settingFlags, row setting) (v, from string) {
	if f := flags.lookup(row.env); f != nil && f.Changed {
		return f.Value.String(), "--" + f.Name
	}
	if v := st.getenv(row.env); v != "" {
		return v, row.env
	}
	if v := st.dotenv[row.env]; v != "" {
		return v, row.env + " in .env"
	}
	return row.def, "default"
}

// resolve reads the rows of the variables envs into c, each from its first
// source (see value); an empty value leaves its place alone. A bad value is
// named with where it came from, and every bad value is reported, on one
// line.
func (st settings) resolve(c *config, flags settingFlags, envs ...string) error {
	var errs []string
	for _, env := range envs {
		row := settingRow(env)
		v, from := st.value(flags, row)
		if v == "" {
			v = row.def
		}
		if v == "" {
			continue
		}
		if err := row.set(c, v); err != nil {
			errs = append(errs, fmt.Sprintf("invalid %s %q (%s): %v", row.name, v, from, unwrapNum(err)))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(errs, "; "))
}

// unwrapNum drops strconv's restatement of the value ("strconv.ParseFloat:
// parsing \"x\": invalid syntax"): the complaint already shows it.
func unwrapNum(err error) error {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return ne.Err
	}
	return err
}

// settingFlags are rows of the table registered as flags of one command.
type settingFlags struct {
	fs    *pflag.FlagSet
	names map[string]string // variable → the flag's name on fs
}

// add registers the row of env as a flag of fs under its own name and help.
func (sf *settingFlags) add(fs *pflag.FlagSet, env string) {
	sf.addAs(fs, env, "", "")
}

// addAs registers the row of env as a flag of fs named flag with help; ""
// keeps the row's own. The help says which variable stands in for it.
func (sf *settingFlags) addAs(fs *pflag.FlagSet, env, flag, help string) {
	row := settingRow(env)
	if row.flag == "" {
		panic(env + " has no flag") // keys never come from flags
	}
	if flag == "" {
		flag = row.flag
	}
	if help == "" {
		help = row.help
	}
	note := ""
	if row.note != "" {
		note = "; " + row.note
	}
	if sf.names == nil {
		sf.fs, sf.names = fs, map[string]string{}
	}
	sf.names[env] = flag
	fs.Var(&flagText{text: row.def, kind: row.kind, values: row.values}, flag, fmt.Sprintf("%s (env %s%s)", help, env, note))
	if row.kind == "bool" {
		fs.Lookup(flag).NoOptDefVal = "true" // --reviewer-vision alone turns it on
	}
}

// lookup is the flag of the variable env, nil when the command has none.
func (sf settingFlags) lookup(env string) *pflag.Flag {
	name, ok := sf.names[env]
	if !ok {
		return nil
	}
	return sf.fs.Lookup(name)
}

// flagText is the value of a setting's flag: the text as given, read by
// the row when the command resolves it, so that a bad value is reported
// the same way whether it came from a flag, the environment or .env.
type flagText struct {
	text, kind string
	given      bool
	values     []string // for shell completion
}

func (t *flagText) String() string { return t.text }
func (t *flagText) Type() string   { return t.kind }

// Set takes the flag's text; a "list" flag given again adds to it.
func (t *flagText) Set(v string) error {
	if t.kind == "list" && t.given {
		v = t.text + "," + v
	}
	t.text, t.given = v, true
	return nil
}

// sandboxSettings are the rows of the sandbox's limits.
func sandboxSettings() []string {
	return []string{"AGENTTEAM_IMAGE", "AGENTTEAM_MEMORY", "AGENTTEAM_CPUS", "AGENTTEAM_PIDS",
		"AGENTTEAM_TIMEOUT", "AGENTTEAM_WORKSPACE_CAP", "AGENTTEAM_RUNTIME", "AGENTTEAM_EGRESS", "AGENTTEAM_PIP_INDEX"}
}

// sandboxFlags are the sandbox settings every command that runs code takes.
type sandboxFlags struct {
	flags settingFlags
}

func (f *sandboxFlags) register(fs *pflag.FlagSet) {
	f.registerAs(fs, "timeout")
}

// registerAs registers the flags with the block timeout under timeoutFlag
// ("timeout" for exec, "exec-timeout" for run and batch).
func (f *sandboxFlags) registerAs(fs *pflag.FlagSet, timeoutFlag string) {
	for _, env := range sandboxSettings() {
		if env == "AGENTTEAM_TIMEOUT" {
			f.flags.addAs(fs, env, timeoutFlag, "")
			continue
		}
		f.flags.add(fs, env)
	}
}

// config resolves the sandbox's settings and checks them, before any
// engine is asked.
func (f *sandboxFlags) config(st settings) (docker.Config, error) {
	c := newConfig()
	if err := st.resolve(&c, f.flags, sandboxSettings()...); err != nil {
		return c.sandbox, fmt.Errorf("%w: %w", sandbox.ErrConfig, err)
	}
	return c.sandbox.WithDefaults()
}

// dockerHost is DOCKER_HOST, from the environment or .env; "" for the
// Docker client's default.
func dockerHost(st settings) string {
	var c config
	_ = st.resolve(&c, settingFlags{}, "DOCKER_HOST") // any text is a host to try
	return c.dockerHost
}

// engineOptions name the engine DOCKER_HOST gives (in the environment or
// .env); none: the Docker client's default.
func engineOptions(st settings) []docker.Option {
	if h := dockerHost(st); h != "" {
		return []docker.Option{docker.WithHost(h)}
	}
	return nil
}

// parseBool reads the ways people write a switch: true, false, 1, 0, yes,
// no, on, off, in any case.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, errors.New("want true or false (1, 0, yes, no, on, off)")
}

// parseDuration accepts Go durations ("90s", "2m") and plain seconds ("30").
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		if secs <= 0 {
			return 0, errors.New("must be positive")
		}
		return time.Duration(secs * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err == nil && d <= 0 {
		return 0, errors.New("must be positive")
	}
	return d, err
}

// durationFlag is a flag of plain seconds ("30") or a Go duration ("90s",
// "10m"); 0 means no limit.
type durationFlag time.Duration

func (d *durationFlag) String() string {
	if *d == 0 {
		return "0"
	}
	return time.Duration(*d).String()
}

func (d *durationFlag) Type() string { return "duration" }

func (d *durationFlag) Set(v string) error {
	if strings.TrimSpace(v) == "0" {
		*d = 0
		return nil
	}
	t, err := parseDuration(v)
	if err != nil {
		return errors.New("want seconds (30) or a duration (90s, 10m), or 0 for no limit")
	}
	*d = durationFlag(t)
	return nil
}
