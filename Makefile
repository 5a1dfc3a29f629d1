# Slipway: the two commands that matter are `make run` and `make test`.
# Every tool runs through `go tool`, pinned in tools/*/go.mod.

include deploy/docker/buildflags.mk  # VERSION, GO_BUILDFLAGS, GO_LDFLAGS: shared with the Dockerfile and CI

SHELL := bash

# go.work's toolchain line names the Go release every build uses (go1.26.11,
# for Go's own security fixes: slipway scan finds called stdlib
# vulnerabilities in older 1.26 releases). A machine whose go env says
# GOTOOLCHAIN=local would quietly build with its own older Go; auto makes the
# go command fetch the named release through the module proxy once. A
# GOTOOLCHAIN set in the environment wins.
export GOTOOLCHAIN ?= auto
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

MODULES      := api platform $(sort $(patsubst %/go.mod,%,$(wildcard services/*/go.mod))) tools/slipway e2e
PKGS         := $(addsuffix /...,$(addprefix ./,$(MODULES)))
SERVICES     := $(sort $(patsubst services/%/go.mod,%,$(wildcard services/*/go.mod)))
GEN_TOOL     := GOWORK=off go tool -modfile=$(CURDIR)/tools/gen/go.mod
LINT_BIN     := .slipway/bin/golangci-lint
TEST_FORMAT  ?= testname

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: run
# slipway is built and then run, not `go run`: on Ctrl-C `go run` exits 1
# whatever its child returns, and make would report an error for a clean stop.
run: ## build and run every service with embedded defaults (SQLite under .slipway/); TLS=1: TLS and mTLS with a dev CA; POSTGRES=URL: one PostgreSQL database per service, created when missing
	go build -o .slipway/bin/slipway ./tools/slipway
	.slipway/bin/slipway dev $(if $(filter 1,$(TLS)),--tls) $(if $(POSTGRES),--postgres $(POSTGRES))

.PHONY: test
test: ## run every test of every module (PostgreSQL suites skip when it is unreachable, unless CI=true)
	@mkdir -p .slipway/test
	go tool gotestsum --format $(TEST_FORMAT) --junitfile .slipway/test/junit.xml -- \
	  -count=1 -timeout 15m -covermode=atomic -coverpkg=github.com/slipway-dev/slipway/... -coverprofile=.slipway/test/cover.out $(PKGS)
	$(MAKE) --no-print-directory test-deploy

.PHONY: test-deploy
test-deploy: ## check the Dockerfile, compose, Prometheus/Grafana, .devcontainer and .vscode files (module deploy, outside go.work)
	cd deploy && GOWORK=off go tool -modfile=$(CURDIR)/tools/slipway/go.mod gotestsum --format $(TEST_FORMAT) \
	  --junitfile $(CURDIR)/.slipway/test/junit-deploy.xml -- -count=1 ./...
	cd tools/promcheck && GOWORK=off go tool -modfile=$(CURDIR)/tools/slipway/go.mod gotestsum --format $(TEST_FORMAT) \
	  --junitfile $(CURDIR)/.slipway/test/junit-promcheck.xml -- -count=1 ./...

.PHONY: rules-check
rules-check: ## check and unit-test the Prometheus rules (promtool), the Alertmanager config (amtool) and the runbooks (also in make test-deploy)
	promtool check rules deploy/prometheus/rules/*.yml
	promtool test rules deploy/prometheus/tests/*_test.yml
	amtool check-config deploy/alertmanager/alertmanager.yml
	cd deploy && GOWORK=off go test -count=1 -run 'Alert|Rule|Runbook' ./...

.PHONY: actionlint
actionlint: ## lint the GitHub workflows with the actionlint pinned in tools/gen (and shellcheck when installed)
	tools/actionlint

.PHONY: promcheck
promcheck: ## prove every Grafana panel and recorded series shows data: slipway dev (PostgreSQL, Redis), a real Prometheus with every deploy/prometheus/rules/*.yml, 40 s of load (PROMCHECK_PG, PROMCHECK_REDIS, PROMCHECK_ARGS)
	tools/promcheck/run

# The gate is the level reached (make cover prints it); raise it as tests grow.
COVER_MIN ?= 78
.PHONY: cover
cover: ## coverage of every module merged into coverage.html, with a summary per package (runs make test when needed)
	@[ -s .slipway/test/cover.out ] || $(MAKE) --no-print-directory test
	go tool cover -html=.slipway/test/cover.out -o coverage.html
	@awk -F'[:, ]' 'NR > 1 { p = $$1; sub(/\/[^\/]*$$/, "", p); n[p] += $$4; if ($$5 > 0) c[p] += $$4 } \
	  END { for (p in n) printf "%6.1f%%  %s\n", (n[p] ? 100 * c[p] / n[p] : 0), p }' .slipway/test/cover.out | sort -k2
	@go tool cover -func=.slipway/test/cover.out | tail -1
	@echo "wrote coverage.html"

.PHONY: cover-check
cover-check: ## fail when total statement coverage is below COVER_MIN percent
	@total=$$(go tool cover -func=.slipway/test/cover.out | awk '/^total:/ { sub(/%/, "", $$NF); print $$NF }'); \
	echo "total coverage $$total% (gate $(COVER_MIN)%)"; \
	awk -v t="$$total" -v m="$(COVER_MIN)" 'BEGIN { exit !(t + 0 >= m + 0) }' || { echo "coverage below the gate"; exit 1; }

# Benchmarks: go test -bench over every workspace package that defines one
# (today platform/server and the inventory and order stores). BENCHTIME is per
# benchmark and run: the default keeps a local run to a few minutes; raise it
# and BENCH_COUNT for numbers worth quoting (BENCHTIME=1s BENCH_COUNT=10).
# benchstat needs 6 runs for a confidence interval, hence the count.
BENCH        ?= .
BENCH_COUNT  ?= 6
BENCHTIME    ?= 200ms
BENCH_DIR    := .slipway/bench
BENCHSTAT    := cd $(CURDIR)/tools/gen && GOWORK=off go tool benchstat
# BENCH_PKGS prints the directory of every package, in the workspace of the
# current directory, with a Benchmark function (nothing, and status 1, if none).
BENCH_PKGS   := go list -m -f '{{.Dir}}' | xargs grep -rlE --include='*_test.go' '^func Benchmark' | while read -r f; do dirname "$$f"; done | sort -u
BENCH_TEST   := go test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime $(BENCHTIME)

.PHONY: bench
bench: ## run the Go benchmarks (BENCH_COUNT x BENCHTIME) into .slipway/bench/go-<sha>.txt and summarise them with benchstat
	@mkdir -p $(BENCH_DIR)
	@pkgs=$$($(BENCH_PKGS) || true); [ -n "$$pkgs" ] || { echo "bench: no Benchmark functions in the workspace"; exit 1; }; \
	out=$(BENCH_DIR)/go-$$(git rev-parse --short HEAD)$$([ -z "$$(git status --porcelain)" ] || echo -dirty).txt; \
	echo "go test -bench '$(BENCH)' -count $(BENCH_COUNT) -benchtime $(BENCHTIME):" $$(echo $$pkgs | sed "s|$(CURDIR)/||g"); \
	$(BENCH_TEST) -count $(BENCH_COUNT) $$pkgs | tee $$out; \
	echo; echo "raw results: $$out"; \
	($(BENCHSTAT) $$(basename $$out .txt)=$(CURDIR)/$$out); \
	if grep -q '^BenchmarkUnary/server=' $$out; then \
	  echo; echo "platform chain against bare grpc-go (delta = overhead):"; \
	  ($(BENCHSTAT) -filter '.name:Unary' -col /server $(CURDIR)/$$out); fi; \
	if grep -q '^BenchmarkUnary/server=platform-tls' $$out; then \
	  echo; echo "TLS 1.3 with mTLS against plaintext, same call on an open connection (delta = per-call TLS cost):"; \
	  ($(BENCHSTAT) -filter '.name:Unary /server:(platform OR platform-tls)' -col /server $(CURDIR)/$$out); fi; \
	if grep -q '^BenchmarkProtocols/protocol=' $$out; then \
	  echo; echo "REST and gRPC-Web against native gRPC on the platform server:"; \
	  ($(BENCHSTAT) -filter '.name:Protocols' -col /protocol $(CURDIR)/$$out); fi

.PHONY: benchcmp
benchcmp: ## benchstat of the benchmarks at BASE (a git worktree) against this tree, runs interleaved: make benchcmp BASE=HEAD~1
	@[ -n "$(BASE)" ] || { echo "usage: make benchcmp BASE=<git ref> [BENCH_COUNT=$(BENCH_COUNT)] [BENCHTIME=$(BENCHTIME)] [BENCH=regexp]" >&2; exit 2; }
	@base_sha=$$(git rev-parse --verify --quiet --short '$(BASE)^{commit}') || { echo "benchcmp: BASE=$(BASE) is not a commit" >&2; exit 2; }; \
	head_sha=$$(git rev-parse --short HEAD)$$([ -z "$$(git status --porcelain)" ] || echo -dirty); \
	wt=$(CURDIR)/$(BENCH_DIR)/base-$$(printf '%s' '$(BASE)' | tr -c 'A-Za-z0-9._-' '_'); \
	dir=$(CURDIR)/$(BENCH_DIR)/cmp; mkdir -p $$dir; : > $$dir/base.txt; : > $$dir/head.txt; \
	git worktree remove --force $$wt 2>/dev/null || rm -rf $$wt; git worktree prune; \
	trap "git worktree remove --force '$$wt' 2>/dev/null || rm -rf '$$wt'; git worktree prune" EXIT; \
	git worktree add --quiet --detach $$wt $$base_sha; \
	base_pkgs=$$(cd $$wt && { GOWORK=auto $(BENCH_PKGS) || true; }); head_pkgs=$$($(BENCH_PKGS) || true); \
	[ -n "$$base_pkgs" ] || echo "benchcmp: BASE $(BASE) ($$base_sha) has no Benchmark functions"; \
	[ -n "$$head_pkgs" ] || echo "benchcmp: this tree ($$head_sha) has no Benchmark functions"; \
	for i in $$(seq $(BENCH_COUNT)); do \
	  if [ -n "$$base_pkgs" ]; then echo "run $$i/$(BENCH_COUNT): BASE $(BASE) ($$base_sha)"; \
	    (cd $$wt && GOWORK=auto $(BENCH_TEST) -count 1 $$base_pkgs) >> $$dir/base.txt || \
	      { tail -n 30 $$dir/base.txt; echo "benchcmp: the benchmarks at BASE failed" >&2; exit 1; }; fi; \
	  if [ -n "$$head_pkgs" ]; then echo "run $$i/$(BENCH_COUNT): HEAD $$head_sha"; \
	    $(BENCH_TEST) -count 1 $$head_pkgs >> $$dir/head.txt || \
	      { tail -n 30 $$dir/head.txt; echo "benchcmp: the benchmarks of this tree failed" >&2; exit 1; }; fi; \
	done; \
	names() { awk '/^Benchmark/ { sub(/-[0-9]+$$/, "", $$1); print $$1 }' "$$1" | sort -u; }; \
	common=$$(comm -12 <(names $$dir/base.txt) <(names $$dir/head.txt) | wc -l); \
	echo; echo "raw results: $(BENCH_DIR)/cmp/base.txt ($(BASE) = $$base_sha), $(BENCH_DIR)/cmp/head.txt ($$head_sha)"; \
	if [ "$$common" -eq 0 ]; then \
	  echo "benchcmp: no benchmark exists both at BASE $(BASE) ($$base_sha) and in this tree ($$head_sha): nothing to compare."; \
	  echo "(Benchmarks added since BASE have no baseline; compare against a commit that has them.)"; \
	  if [ -s $$dir/head.txt ]; then echo; echo "this tree alone:"; ($(BENCHSTAT) head=$$dir/head.txt); fi; \
	else \
	  echo "$$common benchmark(s) in common; one present on one side only shows no delta."; \
	  ($(BENCHSTAT) base=$$dir/base.txt head=$$dir/head.txt); \
	fi

.PHONY: sidebyside
sidebyside: ## inventory against the smallest kratos v2 greeter, same clients (h2load, wrk), one run, ratios (SIDEBYSIDE_DURATION=10)
	tools/sidebyside/run

.PHONY: pgo
pgo: ## CPU profiles of every service under CreateOrder load (PostgreSQL, PGO_PG) into services/*/cmd/*/default.pgo
	tools/pgo

.PHONY: gen
gen: gen-proto gen-openapi gen-go gen-web ## regenerate everything generated (CI checks it leaves no diff)

.PHONY: gen-proto
gen-proto: ## .pb.go, _grpc.pb.go, .pb.gw.go from api/proto
	cd api && $(GEN_TOOL) buf lint && $(GEN_TOOL) buf generate

# protoc-gen-openapi writes each document; tools/gen/openapi then adds what
# it cannot know, from a buf image of the same protos and each service's
# auth.Policy: problem+json errors, bearer security, x-internal, and the
# protovalidate rules as schema constraints (docs/architecture.md).
.PHONY: gen-openapi
gen-openapi: ## one OpenAPI v3 document per service under api/gen/openapi
	cd api && for svc in $(SERVICES); do \
	  rm -rf gen/openapi/.tmp-$$svc; \
	  $(GEN_TOOL) buf generate --template buf.gen.openapi.yaml --path proto/slipway/$$svc/v1 -o gen/openapi/.tmp-$$svc; \
	  mv gen/openapi/.tmp-$$svc/openapi.yaml gen/openapi/$$svc.yaml; rmdir gen/openapi/.tmp-$$svc; \
	done
	img=$$(mktemp -d)/api.binpb; trap 'rm -rf "$$(dirname $$img)"' EXIT; \
	(cd api && $(GEN_TOOL) buf build -o $$img) && \
	cd tools/gen && GOWORK=off go run ./openapi -image $$img -services $(CURDIR)/services \
	  $(foreach svc,$(SERVICES),$(CURDIR)/api/gen/openapi/$(svc).yaml)

# The e2e's REST calls, recorded (SLIPWAY_E2E_REST_LOG), replayed through
# Prism's validating proxy (e2e/prism, pinned by its package-lock.json)
# against the generated documents: fails on any violation. REST_LOG=file
# replays a recording instead of running the e2e's REST tests for one.
# The order-flow tests bring the 200s, 401s and 404s, TestOpenAPI* the 400s
# with field violations, 403s, a 409, a 429 and the internal reservation calls;
# OPENAPI_E2E_SKIP drops the order-flow tests' gRPC and gRPC-Web runs.
OPENAPI_E2E := ^(TestAnOrderFlowsThroughEveryServiceOnEveryProtocol|TestUsersCannotReachEachOthersOrders|TestOpenAPI.*)$$
OPENAPI_E2E_SKIP := /^grpc
.PHONY: openapi-replay
openapi-replay: e2e/prism/node_modules/.package-lock.json ## replay the e2e's REST traffic through Prism's validating proxy against api/gen/openapi (fails on any violation)
	cd e2e/prism && node --test *.test.mjs
	@mkdir -p .slipway/test
	log=$(or $(REST_LOG),$(CURDIR)/.slipway/test/e2e-rest.jsonl); \
	if [ -z "$(REST_LOG)" ]; then rm -f $$log; \
	  SLIPWAY_E2E_REST_LOG=$$log go test -count=1 -run '$(OPENAPI_E2E)' -skip '$(OPENAPI_E2E_SKIP)' ./e2e; fi; \
	cd e2e/prism && node replay.mjs $$log $(foreach svc,$(SERVICES),$(CURDIR)/api/gen/openapi/$(svc).yaml)

e2e/prism/node_modules/.package-lock.json: e2e/prism/package-lock.json
	cd e2e/prism && npm ci --no-audit --no-fund --loglevel=error

.PHONY: gen-go
gen-go: ## wire_gen.go (go tool wire) and mocks (go generate in each domain package)
	for svc in $(SERVICES); do \
	  (cd services/$$svc && go tool wire gen ./internal/app && go generate ./internal/domain/...); \
	done

# The console (web/): TypeScript from the same protos, built by Vite into
# tools/slipway/internal/webui/dist, which is committed and embedded by the
# CLI, so `make run` needs no Node. Node and npm are needed only here.
WEB_DIST := tools/slipway/internal/webui/dist
WEB_NPM  := cd web && npm --no-audit --no-fund --loglevel=error

web/node_modules/.package-lock.json: web/package-lock.json
	$(WEB_NPM) ci

# protoc-gen-es is an npm package, so gen-web needs Node.js and npm. Without
# npm, `make gen` still regenerates the Go code and skips gen-web with a
# warning; with CI=true that is an error.
GEN_WEB_SKIPPED := gen-web skipped: Node.js >= 20.19 and npm are needed to regenerate web/src/gen; Go code was regenerated
.PHONY: gen-web
ifneq ($(shell command -v npm),)
gen-web: web/node_modules/.package-lock.json ## TypeScript messages and service descriptors for the console under web/src/gen (protoc-gen-es)
	cd api && $(GEN_TOOL) buf generate --template buf.gen.web.yaml
else ifeq ($(CI),true)
gen-web:
	@echo "error: $(GEN_WEB_SKIPPED)" >&2; exit 1
else
gen-web:
	@echo "warning: $(GEN_WEB_SKIPPED)" >&2
endif

.PHONY: web
web: ## npm ci, then build the console into tools/slipway/internal/webui/dist (committed; CI checks it is reproducible)
	$(WEB_NPM) ci
	$(WEB_NPM) run build

.PHONY: test-web
test-web: web/node_modules/.package-lock.json ## type-check the console and run its unit tests (vitest)
	$(WEB_NPM) run typecheck
	$(WEB_NPM) test

.PHONY: e2e-web
e2e-web: web/node_modules/.package-lock.json ## the console in headless Chromium against `slipway dev` (TLS=1: `slipway dev --tls`): storefront order, notification, trace (screenshots in .slipway/test)
	@mkdir -p .slipway/test
	cd web && E2E_TLS=$(if $(filter 1,$(TLS)),1,0) node e2e/console.e2e.mjs

.PHONY: check-tidy
check-tidy: ## fail when any go.mod or go.sum is not tidy
	failed=0; for m in $(MODULES) tools/gen tools/lint tools/promcheck deploy; do \
	  (cd $$m && GOWORK=off go mod tidy -diff >/dev/null) || { echo "go mod tidy needed in $$m"; failed=1; }; \
	done; exit $$failed

.PHONY: check-gen
check-gen: gen ## fail when generated files differ from what is committed
	@if [ -n "$$(git status --porcelain)" ]; then \
	  echo "make gen changed files; run 'make gen' and commit:"; git status --porcelain; git --no-pager diff --stat; exit 1; \
	fi

$(LINT_BIN): tools/lint/go.mod tools/lint/go.sum
	cd tools/lint && GOWORK=off go build -o $(CURDIR)/$(LINT_BIN) github.com/golangci/golangci-lint/v2/cmd/golangci-lint

.PHONY: lint
lint: $(LINT_BIN) ## gofmt, go vet and golangci-lint over every module
	@unformatted=$$(gofmt -l $(MODULES) deploy tools/promcheck); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	go vet $(PKGS)
	cd deploy && GOWORK=off go vet ./...
	cd tools/promcheck && GOWORK=off go vet ./...
	failed=0; for m in $(MODULES); do \
	  echo "golangci-lint $$m"; (cd $$m && $(CURDIR)/$(LINT_BIN) run --config $(CURDIR)/.golangci.yaml ./...) || failed=1; \
	done; \
	echo "golangci-lint deploy"; (cd deploy && GOWORK=off $(CURDIR)/$(LINT_BIN) run --config $(CURDIR)/.golangci.yaml ./...) || failed=1; \
	echo "golangci-lint tools/promcheck"; (cd tools/promcheck && GOWORK=off $(CURDIR)/$(LINT_BIN) run --config $(CURDIR)/.golangci.yaml ./...) || failed=1; \
	exit $$failed

.PHONY: build
build: ## build every service binary and slipway into .slipway/bin, with the release flags
	for svc in $(SERVICES); do go build $(GO_BUILDFLAGS) -ldflags '$(GO_LDFLAGS)' -o .slipway/bin/$$svc ./services/$$svc/cmd/$$svc; done
	go build $(GO_BUILDFLAGS) -ldflags '$(GO_LDFLAGS)' -o .slipway/bin/slipway ./tools/slipway

.PHONY: scaffold-check
scaffold-check: ## in a throwaway clone of HEAD: slipway new service widgets, make gen, its tests (SCAFFOLD_FULL=1: all of make test), then start every service as make run does and call widgets over REST, gRPC and gRPC-Web
	tools/scaffold-check

.PHONY: verify
verify: ## the release pipeline locally: build, test, scan, system on PostgreSQL+NATS, 60 s load, ready gate, chaos (40 % inventory errors, a PostgreSQL restart, 40 % payment provider errors), analysis gate
	tools/verify

.PHONY: chaos
chaos: ## every chaos experiment in deploy/chaos (CHAOS_ARGS="--database-url postgres://... --redis-url redis://..." for real infrastructure)
	go run ./tools/slipway chaos $(CHAOS_ARGS) deploy/chaos/*.yaml

.PHONY: vulndb
vulndb: ## build the Go vulnerability database for slipway scan into .slipway/vulndb, offline (golang.org/x/vulndb pinned in tools/gen)
	tools/vulndb $(CURDIR)/.slipway/vulndb

.PHONY: images
images: ## build every service image with BuildKit (needs a Docker engine)
	for svc in $(SERVICES); do \
	  docker build -f deploy/docker/Dockerfile --build-arg SERVICE=$$svc --build-arg VERSION=$(VERSION) -t slipway/$$svc:$(VERSION) .; \
	done

.PHONY: clean
clean: ## remove local state: databases, keys, binaries
	rm -rf .slipway

.PHONY: grpcurl
grpcurl: ## call a service by reflection, e.g. make grpcurl ARGS="-plaintext 127.0.0.1:50053 list"
	tools/grpcurl $(ARGS)
