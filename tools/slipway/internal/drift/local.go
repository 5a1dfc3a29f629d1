package drift

import (
	"context"
	"regexp"
	"slices"
	"strconv"

	"github.com/slipway-dev/slipway/platform/redact"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// localEnv is the environment of the local runner, slipway dev
// (deploy/config/local): what `make run` runs.
const localEnv = "local"

// defaultEnv is the environment compared with when --env is not given and
// the services are not this workspace's slipway dev system.
const defaultEnv = "dev"

// detectEnv picks the environment when --env is not given: local when the
// first service drift asks runs under this workspace's slipway dev, else
// dev. slipway dev gives every service the workspace's fingerprint key
// (.slipway/keys/config-fingerprint.key), and a service reports its own key
// fingerprinted under itself in /debug/config; a match is dev's mark.
func detectEnv(ctx context.Context, root string, opts Options, token string) (env, why string) {
	if opts.NoRunning {
		return defaultEnv, ""
	}
	key := workspace.FingerprintKeyIn(root)
	if key == "" {
		return defaultEnv, ""
	}
	svc := probeService(opts)
	dc, err := fetchDebugConfig(ctx, targetOf(svc, opts), opts.Timeout, token)
	if err != nil {
		return defaultEnv, ""
	}
	if got, _ := dc.Config["config_fingerprint_key"].(string); got == "" || got != redact.NewFingerprinter([]byte(key)).Secret(key) {
		return defaultEnv, ""
	}
	return localEnv, svc + " runs under this workspace's slipway dev (it has dev's fingerprint key): compared with the local environment; --env names another"
}

// probeService is the service detectEnv asks: the first one selected, by
// --services or --targets, in start order; user by default.
func probeService(opts Options) string {
	for _, s := range workspace.Known {
		if _, targeted := opts.Targets[s.Name]; slices.Contains(opts.Services, s.Name) || (len(opts.Services) == 0 && targeted) {
			return s.Name
		}
	}
	return workspace.Known[0].Name
}

// targetOf is where drift asks svc: its --targets address, else its
// slipway dev address.
func targetOf(svc string, opts Options) string {
	if t := opts.Targets[svc]; t != "" {
		return t
	}
	for _, k := range workspace.Known {
		if k.Name == svc {
			return "127.0.0.1:" + strconv.Itoa(k.HTTPPort)
		}
	}
	return ""
}

// loopbackAddr is a loopback host and port in a config value: a listen or
// peer address, or the authority of a URL.
var loopbackAddr = regexp.MustCompile(`(^|[/@])(127\.0\.0\.1|localhost|\[::1\]):[0-9]+`)

// sameButLoopbackPorts reports whether two values differ only in the
// loopback hosts and ports they name. The local runner picks those
// (--grpc-port-base, --http-port-base, --console-port, the embedded NATS
// server's free port, and the console's origins only when it runs), so in
// the local environment they are no drift; any other host, scheme, path or
// value still is. Lists compare as sets once their loopback ports are
// masked, since each console port adds its own pair of origins.
func sameButLoopbackPorts(want, got any) bool {
	mask := func(v any) (any, bool) {
		switch v := v.(type) {
		case string:
			return loopbackAddr.ReplaceAllString(v, "${1}loopback"), true
		case []any:
			var set []string
			for _, x := range v {
				s, ok := x.(string)
				if !ok {
					return nil, false
				}
				s = loopbackAddr.ReplaceAllString(s, "${1}loopback")
				if !slices.Contains(set, s) {
					set = append(set, s)
				}
			}
			slices.Sort(set)
			return set, true
		}
		return nil, false
	}
	w, okW := mask(want)
	g, okG := mask(got)
	if !okW || !okG {
		return false
	}
	switch w := w.(type) {
	case string:
		return w == g
	case []string:
		gs, _ := g.([]string)
		return slices.Equal(w, gs)
	}
	return false
}
