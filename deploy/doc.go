// Package deploy holds no code. Its tests check the files that build, run
// and debug Slipway outside Go: deploy/docker/Dockerfile and .dockerignore,
// the compose files, the Prometheus and Grafana configuration, and the
// .devcontainer and .vscode files. Each file is read with the parser of the
// tool that reads it (BuildKit, compose-go, JSON with comments, make) and
// cross-checked against the code: ports, configuration variables, make
// targets, the Go toolchain.
//
// The module stays out of go.work, so that BuildKit's and compose-go's
// dependencies never change the versions the services are built with:
//
//	cd deploy && GOWORK=off go test ./...
package deploy
