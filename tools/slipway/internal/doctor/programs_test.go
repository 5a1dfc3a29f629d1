package doctor

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestProtocAndDocker(t *testing.T) {
	notFound := fmt.Errorf("docker: %w", exec.ErrNotFound)
	noEngine := &cmdError{err: errors.New("exit status 1"), stderr: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"}
	noCompose := &cmdError{err: errors.New("exit status 1"), stderr: "docker: unknown command: docker compose"}
	tests := []struct {
		name                   string
		answers                map[string]any // command line -> output string or error
		engine, compose, proto Status
		engineFound            string
	}{
		{name: "nothing installed", answers: map[string]any{}, engine: Warn, compose: Warn, proto: Warn, engineFound: "no Docker engine: not on PATH"},
		{name: "a client without an engine", answers: map[string]any{
			"docker version --format {{.Server.Version}}": noEngine,
			"docker compose version":                      noCompose,
		}, engine: Warn, compose: Warn, proto: Warn, engineFound: "no Docker engine: Cannot connect to the Docker daemon"},
		{name: "everything", answers: map[string]any{
			"docker version --format {{.Server.Version}}": "28.2.2\n",
			"docker compose version":                      "Docker Compose version v2.39.1\n",
			"protoc --version":                            "libprotoc 31.1\n",
		}, engine: OK, compose: OK, proto: OK, engineFound: "Docker 28.2.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := fakeRun(func(_ string, _ []string, name string, args ...string) (string, error) {
				switch a := tt.answers[name+" "+strings.Join(args, " ")].(type) {
				case string:
					return a, nil
				case error:
					return "", a
				}
				return "", notFound
			})
			e := newTestEnv(t, testRepo(t), nil, run)
			rows := checkDocker(t.Context(), e)
			engine, compose := rowNamed(t, rows, "docker engine"), rowNamed(t, rows, "docker compose")
			assert.Equal(t, tt.engine, engine.Status)
			assert.Contains(t, engine.Found, tt.engineFound)
			assert.Equal(t, tt.compose, compose.Status)
			if tt.engine != OK {
				assert.Contains(t, engine.Fix, "make test-deploy still checks")
			}
			proto := checkProtoc(t.Context(), e)[0]
			assert.Equal(t, tt.proto, proto.Status)
			if tt.proto == OK {
				assert.Equal(t, "libprotoc 31.1", proto.Found)
			}
		})
	}
}
