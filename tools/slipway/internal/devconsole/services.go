package devconsole

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Service states as the API names them.
const (
	StateServing    = "SERVING"     // /readyz answers 200
	StateNotServing = "NOT_SERVING" // /readyz answers, but not 200
	StateStarting   = "STARTING"    // nothing answers yet: never SERVING in this session, or not since its process (re)started
	StateDown       = "DOWN"        // nothing answers, and it was SERVING since its process started (or none runs)
)

// Service is one service the console shows.
type Service struct {
	Name     string
	GRPCAddr string // host:port a client dials
	HTTPURL  string // http://host:port, no trailing slash
}

// Processes tells the console about the processes behind the services.
type Processes interface {
	// Process returns when the running process of service started, and
	// false when none runs.
	Process(service string) (started time.Time, running bool)
}

// ServiceStatus is one service in the service map.
type ServiceStatus struct {
	Name       string     `json:"name"`
	State      string     `json:"state"`
	GRPCAddr   string     `json:"grpc_addr"`
	HTTPURL    string     `json:"http_url"`
	Version    string     `json:"version"`     // from /debug/config; "" until it was read
	ConfigHash string     `json:"config_hash"` // from /debug/config; "" until it was read
	StartedAt  *time.Time `json:"started_at,omitempty"`
	CheckedAt  time.Time  `json:"checked_at"`
	DocsURL    string     `json:"docs_url"`
	OpenAPIURL string     `json:"openapi_url"`
	Error      string     `json:"error,omitempty"`
}

// Tracing says where the services send their traces.
type Tracing struct {
	Mode      string `json:"mode"`                 // "local": to this console; "external": to a collector such as Jaeger
	JaegerURL string `json:"jaeger_url,omitempty"` // where to look at them, when external
}

// ServiceMap is the body of GET /api/services and of each services event.
type ServiceMap struct {
	Services []ServiceStatus `json:"services"`
	Tracing  Tracing         `json:"tracing"`
}

// servicePoller polls every service's /readyz and /debug/config and keeps
// the latest map, telling subscribers whenever it changes.
type servicePoller struct {
	services  []Service
	tracing   Tracing
	processes Processes
	client    *http.Client
	now       func() time.Time
	admin     *adminSession // nil: /debug/config is asked without a token

	mu          sync.Mutex
	current     ServiceMap
	lastServing map[string]time.Time
	etags       map[string]string // /debug/config ETag per service
	subscribers map[chan struct{}]struct{}
}

func newServicePoller(services []Service, tracing Tracing, processes Processes, client *http.Client, now func() time.Time) *servicePoller {
	p := &servicePoller{
		services: services, tracing: tracing, processes: processes, client: client, now: now,
		lastServing: map[string]time.Time{}, etags: map[string]string{}, subscribers: map[chan struct{}]struct{}{},
	}
	p.current = ServiceMap{Services: make([]ServiceStatus, len(services)), Tracing: tracing}
	for i, s := range services {
		p.current.Services[i] = ServiceStatus{
			Name: s.Name, State: StateStarting, GRPCAddr: s.GRPCAddr, HTTPURL: s.HTTPURL,
			DocsURL: s.HTTPURL + "/docs/", OpenAPIURL: "/api/openapi/" + s.Name, CheckedAt: now().UTC(),
		}
	}
	return p
}

// Run polls every interval until ctx ends.
func (p *servicePoller) Run(ctx context.Context, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		p.Poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// Poll checks every service once, concurrently, and publishes the result.
func (p *servicePoller) Poll(ctx context.Context) {
	p.mu.Lock()
	prev := make([]ServiceStatus, len(p.current.Services))
	copy(prev, p.current.Services)
	p.mu.Unlock()

	next := make([]ServiceStatus, len(p.services))
	var wg sync.WaitGroup
	for i, s := range p.services {
		wg.Go(func() { next[i] = p.check(ctx, s, prev[i]) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}

	p.mu.Lock()
	changed := false
	for i := range next {
		if !sameStatus(next[i], p.current.Services[i]) {
			changed = true
		}
	}
	p.current = ServiceMap{Services: next, Tracing: p.tracing}
	var notify []chan struct{}
	if changed {
		for ch := range p.subscribers {
			notify = append(notify, ch)
		}
	}
	p.mu.Unlock()
	for _, ch := range notify {
		select {
		case ch <- struct{}{}:
		default: // a change is already pending for this subscriber
		}
	}
}

// sameStatus compares everything but the time of the check.
func sameStatus(a, b ServiceStatus) bool {
	a.CheckedAt, b.CheckedAt = time.Time{}, time.Time{}
	if (a.StartedAt == nil) != (b.StartedAt == nil) || (a.StartedAt != nil && !a.StartedAt.Equal(*b.StartedAt)) {
		return false
	}
	a.StartedAt, b.StartedAt = nil, nil
	return a == b
}

// check works out one service's status. prev is its last status, whose
// version and hash stand while /debug/config answers "not modified".
func (p *servicePoller) check(ctx context.Context, s Service, prev ServiceStatus) ServiceStatus {
	st := prev
	st.Error = ""
	st.StartedAt = nil
	started, running := time.Time{}, false
	if p.processes != nil {
		started, running = p.processes.Process(s.Name)
		if running {
			at := started.UTC()
			st.StartedAt = &at
		}
	}

	ready, detail, err := p.readiness(ctx, s)
	now := p.now().UTC()
	st.CheckedAt = now
	switch {
	case err == nil && ready:
		st.State = StateServing
		p.mu.Lock()
		p.lastServing[s.Name] = now
		p.mu.Unlock()
	case err == nil:
		st.State, st.Error = StateNotServing, detail
	default:
		p.mu.Lock()
		last := p.lastServing[s.Name]
		p.mu.Unlock()
		st.State, st.Error = StateDown, err.Error()
		// Not yet SERVING in this session (dev is still building it), or
		// not since its process was restarted: it is on its way.
		if last.IsZero() || (running && last.Before(started)) {
			st.State = StateStarting
		}
	}
	if st.State == StateServing || st.State == StateNotServing {
		if v, h, err := p.debugConfig(ctx, s); err == nil {
			st.Version, st.ConfigHash = v, h
		} else if !errors.Is(err, errNotModified) && st.Error == "" {
			st.Error = err.Error()
		}
	}
	return st
}

// readiness asks s's /readyz: ready is true on 200; otherwise detail is the
// reason the service gives. err is set when the service does not answer.
func (p *servicePoller) readiness(ctx context.Context, s Service) (ready bool, detail string, err error) {
	resp, err := fetch(ctx, p.client, s.HTTPURL+"/readyz", "")
	if err != nil {
		return false, "", err
	}
	if resp.status == http.StatusOK {
		return true, "", nil
	}
	var body struct {
		Status string `json:"status"`
		Checks []struct {
			Name  string `json:"name"`
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		} `json:"checks"`
	}
	detail = fmt.Sprintf("/readyz answered %d", resp.status)
	if json.Unmarshal(resp.body, &body) == nil && body.Status != "" {
		detail = body.Status
		for _, c := range body.Checks {
			if !c.OK && c.Error != "" {
				detail += ": " + c.Name + ": " + c.Error
				break
			}
		}
	}
	return false, detail, nil
}

var errNotModified = errors.New("not modified")

// debugConfig reads the version and config hash from s's /debug/config,
// sending the last ETag so an unchanged config costs a 304.
func (p *servicePoller) debugConfig(ctx context.Context, s Service) (version, hash string, err error) {
	p.mu.Lock()
	etag := p.etags[s.Name]
	p.mu.Unlock()
	// A failed login is reported only if the service then wants a token.
	var token string
	var loginErr error
	if p.admin != nil {
		token, loginErr = p.admin.Token(ctx)
	}
	resp, err := fetchAs(ctx, p.client, s.HTTPURL+"/debug/config", etag, token)
	if err != nil {
		return "", "", err
	}
	switch resp.status {
	case http.StatusNotModified:
		return "", "", errNotModified
	case http.StatusUnauthorized, http.StatusForbidden:
		if p.admin != nil {
			p.admin.Refused(token) // log in again at the next poll
		}
		if loginErr != nil {
			return "", "", fmt.Errorf("/debug/config answered %d: it needs an admin token, and %w", resp.status, loginErr)
		}
		return "", "", fmt.Errorf("/debug/config answered %d: it needs an admin token", resp.status)
	case http.StatusOK:
	default:
		return "", "", fmt.Errorf("/debug/config answered %d", resp.status)
	}
	var body struct {
		Version string `json:"version"`
		Hash    string `json:"hash"`
	}
	if err := json.Unmarshal(resp.body, &body); err != nil {
		return "", "", fmt.Errorf("/debug/config: %w", err)
	}
	p.mu.Lock()
	p.etags[s.Name] = resp.header.Get("ETag")
	p.mu.Unlock()
	return body.Version, body.Hash, nil
}

// fetched is a response read whole.
type fetched struct {
	status int
	header http.Header
	body   []byte
}

// maxFetchBytes bounds what the console reads of a service's answer.
const maxFetchBytes = 8 << 20

// fetch GETs url, with If-None-Match when etag is set, within a second.
func fetch(ctx context.Context, client *http.Client, url, etag string) (fetched, error) {
	return fetchAs(ctx, client, url, etag, "")
}

// fetchAs is fetch with a bearer token ("" sends none).
func fetchAs(ctx context.Context, client *http.Client, url, etag, token string) (fetched, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fetched{}, err
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fetched{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxFetchBytes))
	if err != nil {
		return fetched{}, fmt.Errorf("read %s: %w", url, err)
	}
	return fetched{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// Snapshot returns the current map.
func (p *servicePoller) Snapshot() ServiceMap {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.current
	m.Services = append([]ServiceStatus(nil), p.current.Services...)
	return m
}

// Subscribe returns a channel that receives a value after every change of
// the map (changes that come faster than they are received merge into one),
// and a function that ends the subscription.
func (p *servicePoller) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	p.mu.Lock()
	p.subscribers[ch] = struct{}{}
	p.mu.Unlock()
	return ch, func() {
		p.mu.Lock()
		delete(p.subscribers, ch)
		p.mu.Unlock()
	}
}
