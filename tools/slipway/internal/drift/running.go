package drift

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/platform/redact"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// debugConfig is the body of a service's /debug/config.
type debugConfig struct {
	Service string         `json:"service"`
	Version string         `json:"version"`
	Hash    string         `json:"hash"`
	Config  map[string]any `json:"config"`
}

// debugConfigURL turns a target (host:port or an http(s) URL) into the URL
// of its /debug/config.
func debugConfigURL(target string) (string, error) {
	if !strings.Contains(target, "://") {
		addr, err := workspace.DialAddr(target)
		if err != nil {
			return "", err
		}
		return "http://" + addr + "/debug/config", nil
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q: want host:port or an http(s) URL", target)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/debug/config"
	return u.String(), nil
}

// askRunning fetches every service's /debug/config at once.
func (d *drifter) askRunning(ctx context.Context, svcs []*subject, opts Options, token string) {
	var wg sync.WaitGroup
	results := make([]*debugConfig, len(svcs))
	errs := make([]error, len(svcs))
	for _, s := range svcs {
		s.info.Target = targetOf(s.name, opts)
	}
	for i, s := range svcs {
		wg.Go(func() { results[i], errs[i] = fetchDebugConfig(ctx, s.info.Target, opts.Timeout, token) })
	}
	wg.Wait()
	for i, s := range svcs {
		dc, err := results[i], errs[i]
		if err == nil && dc.Service != s.name {
			err = fmt.Errorf("%s serves %q, not %s", s.info.Target, dc.Service, s.name)
		}
		if err != nil {
			s.info.Error = err.Error()
			d.add(Row{Service: s.name, Source: sourceRunning, Key: "-", Status: statusFailed, Note: err.Error()})
			continue
		}
		s.info.Version, s.info.Hash = dc.Version, dc.Hash
		s.running = map[string]any{}
		flattenConfigJSON(dc.Config, "", s.running)
	}
}

// adminToken is opts.AdminToken, or the token of an admin login at the
// user service's REST API.
func adminToken(ctx context.Context, opts Options) (string, error) {
	if opts.AdminToken != "" || opts.AdminEmail == "" {
		return opts.AdminToken, nil
	}
	u, err := debugConfigURL(targetOf("user", opts))
	if err != nil {
		return "", err
	}
	u = strings.TrimSuffix(u, "/debug/config") + "/v1/sessions"
	body, _ := json.Marshal(map[string]string{"email": opts.AdminEmail, "password": opts.AdminPassword})
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("log in as %s: %w", opts.AdminEmail, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("log in as %s at %s: %s (set SLIPWAY_ADMIN_TOKEN, or ADMIN_EMAIL and ADMIN_PASSWORD)", opts.AdminEmail, u, resp.Status)
	}
	var session struct {
		AccessToken string `json:"accessToken"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&session); err != nil || session.AccessToken == "" {
		return "", fmt.Errorf("log in as %s at %s: no access token in the answer", opts.AdminEmail, u)
	}
	return session.AccessToken, nil
}

func fetchDebugConfig(ctx context.Context, target string, timeout time.Duration, token string) (*debugConfig, error) {
	u, err := debugConfigURL(target)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err // names the method and URL
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, fmt.Errorf("GET %s: %s: /debug/config needs an admin (set SLIPWAY_ADMIN_TOKEN, or ADMIN_EMAIL and ADMIN_PASSWORD)", u, resp.Status)
	default:
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, 4<<20))
	dec.UseNumber()
	var dc debugConfig
	if err := dec.Decode(&dc); err != nil {
		return nil, fmt.Errorf("GET %s: not a /debug/config document: %w", u, err)
	}
	if dc.Config == nil {
		return nil, fmt.Errorf("GET %s: no \"config\" in the answer", u)
	}
	return &dc, nil
}

// flattenConfigJSON flattens nested config maps into dotted keys.
func flattenConfigJSON(m map[string]any, prefix string, out map[string]any) {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			flattenConfigJSON(sub, prefix+k+".", out)
			continue
		}
		out[prefix+k] = normConfigJSON(v)
	}
}

// normConfigJSON puts a decoded JSON value into the shapes drift compares:
// numbers as float64, lists as []any.
func normConfigJSON(v any) any {
	switch v := v.(type) {
	case json.Number:
		if f, err := v.Float64(); err == nil {
			return f
		}
		return v.String()
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normConfigJSON(x)
		}
		return out
	}
	return v
}

// compareRunning compares the declared keys of s with its running config.
func (d *drifter) compareRunning(s *subject) {
	for _, key := range slices.Sorted(maps.Keys(s.declared)) {
		f := s.schema.field(key)
		got, ok := s.running[key]
		row := Row{Service: s.name, Source: sourceRunning, Key: key}
		if !ok {
			row.Declared = shown(f, rawConfigNode(s.declared[key]))
			row.Status, row.Note = statusUnknown, "the service has no such key: it refuses this file at start"
			if _, known := s.schema.lookup(key); known {
				row.Status, row.Note = statusMissing, "the running service does not report this key"
			}
			d.add(row)
			continue
		}
		want, err := normConfigYAML(s.declared[key], f, got, d.fingerprinter(s))
		if f.Secret {
			d.note("%s: %s is a secret in the declared file; secrets belong in Secrets", s.info.Declared, key)
		}
		row.Declared, row.Found = shown(f, want), shown(f, got)
		switch {
		case errors.Is(err, errNoKey):
			row.Declared = secretShown
			row.Status, row.Note = statusUnchecked, err.Error()
		case err != nil:
			row.Declared = shown(f, rawConfigNode(s.declared[key]))
			row.Status, row.Note = statusInvalid, err.Error()
		case reflect.DeepEqual(want, got):
			row.Status = statusSame
		case d.runnerPorts && sameButLoopbackPorts(want, got):
			row.Status, row.Note = statusSame, "loopback ports are the local runner's"
		default:
			row.Status = statusDiffers
		}
		d.add(row)
	}
	for _, key := range slices.Sorted(maps.Keys(s.running)) {
		if _, ok := s.declared[key]; ok {
			continue
		}
		f := s.schema.field(key)
		got := s.running[key]
		if str, ok := got.(string); ok && (strings.HasPrefix(str, redact.FingerprintPrefix) || strings.HasPrefix(str, "sha256:")) {
			f.Secret = true
		}
		d.add(Row{Service: s.name, Source: sourceRunning, Key: key, Found: shown(f, got), Status: statusUndeclared})
	}
}
