package drift

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRender(t *testing.T) {
	rep := Report{
		Services: []Service{
			{Service: "user", Declared: "deploy/config/dev/user.yaml", Origin: "git HEAD abc1234", Target: "127.0.0.1:8081", Version: "v1", Hash: "h1"},
			{Service: "order", Declared: "deploy/config/dev/order.yaml", Origin: "working tree", Target: "127.0.0.1:8083", Error: "connection refused"},
		},
		Rows: []Row{
			{Service: "user", Source: sourceRunning, Key: "token_ttl", Declared: "15m0s", Found: "15m0s", Status: statusSame},
			{Service: "user", Source: sourceRunning, Key: "log_level", Declared: "info", Found: "debug", Status: statusDiffers, Drift: true},
			{Service: "user", Source: sourceRunning, Key: "grpc_addr", Found: ":50051", Status: statusUndeclared},
			{Service: "user", Source: sourceSecret, Object: "user-secrets", Key: "admin_password", Env: "ADMIN_PASSWORD", Declared: secretShown, Status: statusUnchecked, Note: "--no-running"},
			{Service: "user", Source: sourceSecret, Object: "user-secrets", Key: "-", Env: "EXTRA", Status: statusUnmapped},
			{Service: "order", Source: sourceRunning, Key: "-", Status: statusFailed, Drift: true, Note: "connection refused"},
		},
		Notes: []string{"deploy/config/dev/user.yaml: has uncommitted changes"},
	}
	var out bytes.Buffer
	render(&out, rep)
	assert.Equal(t, ""+
		"user: declared deploy/config/dev/user.yaml (git HEAD abc1234); running at 127.0.0.1:8081, version v1, config hash h1\n"+
		"order: declared deploy/config/dev/order.yaml (working tree); running at 127.0.0.1:8083: connection refused\n"+
		"\n"+
		"SERVICE  SOURCE               KEY                              DECLARED  FOUND  STATUS\n"+
		"user     running              token_ttl                        15m0s     15m0s  same\n"+
		"user     running              log_level                        info      debug  DIFFERS\n"+
		"user     secret user-secrets  admin_password (ADMIN_PASSWORD)  <secret>  -      unchecked: --no-running\n"+
		"user     secret user-secrets  EXTRA                            -         -      unmapped\n"+
		"order    running              -                                -         -      ERROR: connection refused\n"+
		"info: user runs 1 key(s) not declared (defaults or environment): grpc_addr\n"+
		"note: deploy/config/dev/user.yaml: has uncommitted changes\n"+
		"drift: 1 key(s) differ from the declaration, 1 as declared\n"+
		"1 source(s) could not be read\n", out.String())

	out.Reset()
	render(&out, Report{Services: rep.Services[:1], Rows: rep.Rows[:1]})
	assert.Contains(t, out.String(), "\nno drift: 1 key(s) as declared\n")
	assert.NotContains(t, out.String(), "could not be read")
}

func TestSortRows(t *testing.T) {
	rows := []Row{
		{Service: "order", Source: sourceRunning, Key: "a"},
		{Service: "user", Source: sourceSecret, Object: "s", Key: "b"},
		{Service: "user", Source: sourceRunning, Key: "z", Status: statusUndeclared},
		{Service: "user", Source: sourceConfigMap, Object: "cm", Key: "a"},
		{Service: "user", Source: sourceRunning, Key: "y"},
		{Service: "user", Source: sourceRunning, Key: "b"},
	}
	sortRows(rows)
	var got []string
	for _, r := range rows {
		got = append(got, r.Service+" "+r.Source+" "+r.Key)
	}
	assert.Equal(t, []string{
		"user running b", "user running y", "user running z", // declared keys first, then undeclared
		"user configmap a", "user secret b",
		"order running a", // services in start order: user before order
	}, got)
}
