# Slipway: the two commands that matter are `make run` and `make test`.
# Every tool runs through `go tool`, pinned in tools/*/go.mod.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

MODULES      := api platform services/user services/order services/inventory services/notification tools/slipway e2e
PKGS         := $(addsuffix /...,$(addprefix ./,$(MODULES)))
SERVICES     := user order inventory notification
GEN_TOOL     := GOWORK=off go tool -modfile=$(CURDIR)/tools/gen/go.mod
LINT_BIN     := .slipway/bin/golangci-lint
TEST_FORMAT  ?= testname

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: run
run: ## build and run every service with embedded defaults (SQLite under .slipway/)
	go run ./tools/slipway dev

.PHONY: test
test: ## run every test of every module (PostgreSQL suites skip when it is unreachable, unless CI=true)
	go tool gotestsum --format $(TEST_FORMAT) -- -count=1 -timeout 15m $(PKGS)

.PHONY: gen
gen: gen-proto gen-openapi gen-go ## regenerate everything generated (CI checks it leaves no diff)

.PHONY: gen-proto
gen-proto: ## .pb.go, _grpc.pb.go, .pb.gw.go from api/proto
	cd api && $(GEN_TOOL) buf lint && $(GEN_TOOL) buf generate

.PHONY: gen-openapi
gen-openapi: ## one OpenAPI v3 document per service under api/gen/openapi
	cd api && for svc in user inventory order notification; do \
	  rm -rf gen/openapi/.tmp-$$svc; \
	  $(GEN_TOOL) buf generate --template buf.gen.openapi.yaml --path proto/slipway/$$svc/v1 -o gen/openapi/.tmp-$$svc; \
	  mv gen/openapi/.tmp-$$svc/openapi.yaml gen/openapi/$$svc.yaml; rmdir gen/openapi/.tmp-$$svc; \
	done

.PHONY: gen-go
gen-go: ## wire_gen.go (go tool wire) and mocks (go generate in each domain package)
	for svc in $(SERVICES); do \
	  (cd services/$$svc && go tool wire gen ./internal/app && go generate ./internal/domain/...); \
	done

.PHONY: check-tidy
check-tidy: ## fail when any go.mod or go.sum is not tidy
	failed=0; for m in $(MODULES) tools/gen tools/lint; do \
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
	@unformatted=$$(gofmt -l $(MODULES)); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	go vet $(PKGS)
	failed=0; for m in $(MODULES); do \
	  echo "golangci-lint $$m"; (cd $$m && $(CURDIR)/$(LINT_BIN) run --config $(CURDIR)/.golangci.yaml ./...) || failed=1; \
	done; exit $$failed

.PHONY: build
build: ## build every service binary into .slipway/bin
	for svc in $(SERVICES); do go build -o .slipway/bin/$$svc ./services/$$svc/cmd/$$svc; done
	go build -o .slipway/bin/slipway ./tools/slipway

.PHONY: clean
clean: ## remove local state: databases, keys, binaries
	rm -rf .slipway

.PHONY: grpcurl
grpcurl: ## call a service by reflection, e.g. make grpcurl ARGS="-plaintext 127.0.0.1:50053 list"
	tools/grpcurl $(ARGS)
