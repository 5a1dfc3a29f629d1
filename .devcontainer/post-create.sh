#!/usr/bin/env bash
# Runs once when the dev container is created (devcontainer.json's
# postCreateCommand), from the workspace root. It fills the module and build
# caches and builds every pinned tool, so the first `go tool ...`, `make run`
# and `make test` start warm. It changes no tracked file; re-running is safe.
set -euo pipefail
cd "$(dirname "$0")/.."

go version

echo "==> workspace modules: download and build"
while read -r dir; do
  (cd "$dir" && go build ./...)
done < <(go list -m -f '{{.Dir}}')

echo "==> pinned tools"
# wire, mockgen, gotestsum: tool directives of the workspace module tools/slipway.
(cd tools/slipway && go build -o /dev/null tool)
# buf, protoc plugins, grpcurl: tools/gen, outside the workspace.
(cd tools/gen && GOWORK=off go build -o /dev/null tool)
# golangci-lint: tools/lint, built once into .slipway/bin by the Makefile.
make .slipway/bin/golangci-lint

echo "==> ready: make run, make test, make help"
