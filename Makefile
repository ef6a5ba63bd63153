# agentteam: build, image, tests, benchmarks. `make help` lists the targets.
SHELL := /bin/bash
# go from PATH, else where the official tarball puts it
GO    ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
# tests and scripts run `go` too
export PATH := $(dir $(GO)):$(PATH)
IMAGE ?= agentteam-sandbox:latest
BIN   := bin/agentteam
RUNNER := docker/build/agentteam-runner
export IMAGE
# gVisor's runsc, the second wall `make test` checks the sandbox under: a
# pseudo-version of gvisor.dev/gvisor (its Go branch) from the module proxy.
RUNSC_VERSION := v0.0.0-20260905035102-160fafc42237
RUNSC := docker/build/runsc

GO_SOURCES := $(shell find . -name '*.go' -not -path './.agentteam/*' 2>/dev/null) go.mod go.sum

# make install puts agentteam in $(PREFIX)/bin and its shell completions
# under $(PREFIX)/share: /usr/local as root, else ~/.local (no sudo; most
# shells put ~/.local/bin on PATH once it exists). PREFIX=DIR for another.
PREFIX ?= $(if $(filter 0,$(shell id -u)),/usr/local,$(HOME)/.local)
BINDIR ?= $(PREFIX)/bin
SHAREDIR ?= $(PREFIX)/share

.PHONY: all build install uninstall image runsc demo test test-short bench fuzz cleanup help check-docker check-chromium
all: build

help:
	@echo "make demo     build what is missing (binary, sandbox image) and replay the built-in team run (no key needed)"
	@echo "make test     run every test, then the sandbox's under gVisor (needs a running Docker engine; builds the image and runsc if missing)"
	@echo "make test-short  the tests that need no Docker engine (under a minute)"
	@echo "make bench    measure block latency against docker exec / docker run"
	@echo "make image    build the sandbox image offline (debootstrap + docker build --network none)"
	@echo "make build    build bin/agentteam"
	@echo "make install  put agentteam in $(BINDIR) and its bash, zsh and fish completions under $(SHAREDIR) (PREFIX=DIR for another)"
	@echo "make uninstall  remove what make install put there"
	@echo "make runsc    build gVisor's runsc (RUNSC_VERSION) into $(RUNSC), the second wall make test checks"
	@echo "make cleanup  remove sandbox containers left by killed runs"

build: $(BIN)

$(BIN): $(GO_SOURCES)
	$(GO) build -o $@ ./cmd/agentteam

# The completions come from the binary itself (cobra's completion command),
# in the places bash-completion, zsh and fish look under a prefix.
install: build
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(SHAREDIR)/bash-completion/completions" \
	  "$(DESTDIR)$(SHAREDIR)/zsh/site-functions" "$(DESTDIR)$(SHAREDIR)/fish/vendor_completions.d"
	install -m 0755 $(BIN) "$(DESTDIR)$(BINDIR)/agentteam"
	$(BIN) completion bash > "$(DESTDIR)$(SHAREDIR)/bash-completion/completions/agentteam"
	$(BIN) completion zsh > "$(DESTDIR)$(SHAREDIR)/zsh/site-functions/_agentteam"
	$(BIN) completion fish > "$(DESTDIR)$(SHAREDIR)/fish/vendor_completions.d/agentteam.fish"
	@case ":$$PATH:" in *":$(BINDIR):"*) ;; \
	  *) echo "make: $(BINDIR) is not on your PATH; add it: export PATH=\"$(BINDIR):\$$PATH\" (in ~/.profile or your shell's rc file)";; esac

uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/agentteam" "$(DESTDIR)$(SHAREDIR)/bash-completion/completions/agentteam" \
	  "$(DESTDIR)$(SHAREDIR)/zsh/site-functions/_agentteam" "$(DESTDIR)$(SHAREDIR)/fish/vendor_completions.d/agentteam.fish"

$(RUNNER): $(GO_SOURCES)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $@ ./cmd/agentteam-runner

check-docker:
	@command -v docker >/dev/null || { echo "make: docker is not installed (Debian: apt-get install docker.io)" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make: the Docker engine is not running or not reachable (try: sudo systemctl start docker)" >&2; exit 1; }

# The reports' tests open them in a real browser: Debian's chromium.
check-chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "make: installing chromium (the reports' browser tests)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "make: the reports' browser tests need chromium (Debian: sudo apt-get install chromium)" >&2; exit 1; fi; }

image: check-docker $(RUNNER)
	@docker/build-image.sh

# Built only when missing or of another version (the stamp $(RUNSC).version).
# Static (CGO_ENABLED=0): a dynamically linked runsc cannot re-execute itself
# inside its sandbox ("error executing umounter"). GOFLAGS and GOWORK are
# cleared so a setting meant for this module cannot break the build.
runsc:
	@if [ -x $(RUNSC) ] && [ "$$(cat $(RUNSC).version 2>/dev/null)" = "$(RUNSC_VERSION)" ]; then \
	  echo "make: $(RUNSC) $(RUNSC_VERSION) is up to date"; \
	else \
	  echo "make: building runsc $(RUNSC_VERSION) from the Go module proxy (3-6 minutes the first time)"; \
	  mkdir -p $(dir $(RUNSC)) && rm -f $(RUNSC).version && \
	  CGO_ENABLED=0 GOFLAGS= GOWORK=off GOBIN=$(abspath $(dir $(RUNSC))) $(GO) install gvisor.dev/gvisor/runsc@$(RUNSC_VERSION) && \
	  echo $(RUNSC_VERSION) > $(RUNSC).version; \
	fi

demo: build image
	$(BIN) run --replay examples/demo.transcript.jsonl

# Then the sandbox's security tests again under gVisor, in an engine of
# their own (scripts/test-gvisor.sh).
test: check-docker check-chromium image runsc
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	@scripts/test-gvisor.sh

# No engine needed: the Docker tests skip (requireDocker).
test-short:
	$(GO) vet ./...
	$(GO) test -short -count=1 ./...

bench: check-docker image build runsc
	@scripts/bench.sh

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzExtract -fuzztime 60s ./agents/codeblock/

cleanup: build
	$(BIN) cleanup
