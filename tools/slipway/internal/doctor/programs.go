package doctor

import (
	"context"
	"time"
)

// checkProtoc reports protoc, which nothing requires: buf compiles protos itself.
func checkProtoc(ctx context.Context, e *checkEnv) []Row {
	row := Row{Check: "protoc", Expected: "optional (buf compiles .proto itself)"}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := e.run(ctx, e.root, e.environ, "protoc", "--version")
	if err != nil {
		row.Found, row.Status = errLine(err), Warn
		row.Fix = "nothing to do for make gen; install protoc only for tools outside Slipway"
		return []Row{row}
	}
	row.Found, row.Status = firstLine(out), OK
	return []Row{row}
}

// checkDocker checks for a Docker engine and the compose plugin; neither is
// needed to build, test or run Slipway, so both only WARN.
func checkDocker(ctx context.Context, e *checkEnv) []Row {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	engine := Row{Check: "docker engine", Expected: "a running Docker engine"}
	out, err := e.run(ctx, e.root, e.environ, "docker", "version", "--format", "{{.Server.Version}}")
	if v := firstLine(out); err == nil && v != "" {
		engine.Found, engine.Status = "Docker "+v, OK
	} else {
		engine.Found, engine.Status = "no Docker engine", Warn
		if err != nil {
			engine.Found += ": " + errLine(err)
		}
		engine.Fix = "start a Docker engine to build images (make images); without one, make test-deploy still checks the Dockerfile and compose files"
	}
	compose := Row{Check: "docker compose", Expected: "the compose v2 plugin"}
	out, err = e.run(ctx, e.root, e.environ, "docker", "compose", "version")
	if v := firstLine(out); err == nil && v != "" {
		compose.Found, compose.Status = v, OK
	} else {
		compose.Found, compose.Status = "no compose plugin", Warn
		if err != nil {
			compose.Found += ": " + errLine(err)
		}
		compose.Fix = "install the docker-compose-plugin package to run deploy/compose"
	}
	return []Row{engine, compose}
}
