// Package tlsconfig gives a service its transport security from three PEM
// files (TLS_CERT_FILE, TLS_KEY_FILE, TLS_CA_FILE): the server and client
// TLS configurations of mutual TLS, reloaded when the files change, and the
// identity of a verified peer, the URI SAN spiffe://<trust domain>/<service>.
//
// The files are polled (stat at most once a second, at handshake time)
// rather than watched with fsnotify: cert-manager and kubelet replace them
// through a symlink swap that inotify reports unevenly across volume types,
// a poll sees every kind of replacement, and it needs no goroutine and no
// new dependency.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/platform/config"
)

// pollInterval is the least time between two checks of the files.
const pollInterval = time.Second

// Source holds the certificate, key and authorities of one service as they
// are on disk, and builds TLS configurations from them. It is safe for
// concurrent use.
type Source struct {
	files       config.TLS
	logger      *slog.Logger
	now         func() time.Time
	interval    time.Duration
	mu          sync.Mutex
	snap        *snapshot
	stamp       stamp
	checked     time.Time
	lastFailure string
}

// snapshot is one consistent load of the files.
type snapshot struct {
	cert *tls.Certificate
	pool *x509.CertPool
	// The server configurations handed to each handshake, built once per load.
	grpcServer, httpServer *tls.Config
}

// stamp identifies one version of the three files.
type stamp [3]struct {
	mod  time.Time
	size int64
}

// Option configures Load.
type Option func(*Source)

// WithLogger reports reloads, and files that fail to load (the last good
// ones stay in use), through logger.
func WithLogger(logger *slog.Logger) Option { return func(s *Source) { s.logger = logger } }

// Load reads the files c names. It returns nil and no error when TLS is off
// (c.CertFile is empty): callers then stay in plaintext. The error names
// the environment variables of the files that do not load.
func Load(c config.TLS, opts ...Option) (*Source, error) {
	if !c.Enabled() {
		return nil, nil
	}
	s := &Source{files: c, logger: slog.New(slog.DiscardHandler), now: time.Now, interval: pollInterval}
	for _, opt := range opts {
		opt(s)
	}
	st, err := stampOf(c)
	if err != nil {
		return nil, err
	}
	snap, err := load(c)
	if err != nil {
		return nil, err
	}
	s.snap, s.stamp, s.checked = snap, st, s.now()
	if _, ok := ServiceID(snap.cert.Leaf, c.TrustDomain); !ok {
		s.logger.Warn("the service certificate names no service of the trust domain; peers will see no identity",
			"file", c.CertFile, "want_uri_san", SPIFFEID(c.TrustDomain, "<service>"))
	}
	return s, nil
}

// TrustDomain is the trust domain of the identities the Source checks.
func (s *Source) TrustDomain() string { return s.files.TrustDomain }

// current returns the latest load, first reloading the files if they
// changed since the last check and the last check is older than the
// interval. Files that fail to load leave the previous load in use: a
// rotation caught half-written (a new certificate beside the old key) must
// not take the service down.
func (s *Source) current() *snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if now.Sub(s.checked) < s.interval {
		return s.snap
	}
	s.checked = now
	st, err := stampOf(s.files)
	if err == nil && st == s.stamp {
		return s.snap
	}
	var snap *snapshot
	if err == nil {
		snap, err = load(s.files)
	}
	if err != nil {
		if msg := err.Error(); msg != s.lastFailure {
			s.lastFailure = msg
			s.logger.Warn("tls files changed but do not load; keeping the previous ones", "error", msg)
		}
		return s.snap
	}
	s.snap, s.stamp, s.lastFailure = snap, st, ""
	s.logger.Info("tls files reloaded", "cert_file", s.files.CertFile, "not_after", snap.cert.Leaf.NotAfter)
	return s.snap
}

func stampOf(c config.TLS) (stamp, error) {
	var st stamp
	for i, f := range []struct{ key, path string }{
		{"TLS_CERT_FILE", c.CertFile}, {"TLS_KEY_FILE", c.KeyFile}, {"TLS_CA_FILE", c.CAFile},
	} {
		info, err := os.Stat(f.path)
		if err != nil {
			return st, fmt.Errorf("tlsconfig: %s=%q: %w", f.key, f.path, err)
		}
		st[i].mod, st[i].size = info.ModTime(), info.Size()
	}
	return st, nil
}

func load(c config.TLS) (*snapshot, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tlsconfig: TLS_CERT_FILE=%q, TLS_KEY_FILE=%q: %w", c.CertFile, c.KeyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tlsconfig: TLS_CERT_FILE=%q: %w", c.CertFile, err)
		}
	}
	pemCA, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("tlsconfig: TLS_CA_FILE=%q: %w", c.CAFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCA) {
		return nil, fmt.Errorf("tlsconfig: TLS_CA_FILE=%q: %w", c.CAFile, errors.New("no PEM certificate in it"))
	}
	snap := &snapshot{cert: &cert, pool: pool}
	snap.grpcServer = snap.serverConfig(tls.RequireAndVerifyClientCert, "h2")
	snap.httpServer = snap.serverConfig(tls.VerifyClientCertIfGiven, "h2", "http/1.1")
	return snap, nil
}

func (snap *snapshot) serverConfig(auth tls.ClientAuthType, protos ...string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{*snap.cert},
		ClientCAs:    snap.pool,
		ClientAuth:   auth,
		NextProtos:   protos,
	}
}

// GRPCServerConfig is the configuration of the native gRPC listener: TLS
// 1.2 or later (1.3 preferred, as Go negotiates it whenever the client can),
// ALPN h2, and a client certificate required and verified against the
// authorities (mutual TLS). Each handshake gets the files' latest version.
func (s *Source) GRPCServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.current().grpcServer, nil
		},
	}
}

// HTTPServerConfig is the configuration of the HTTP listener: TLS 1.2 or
// later, ALPN h2 and http/1.1, and a client certificate verified against
// the authorities only when one is presented (browsers and curl send none).
func (s *Source) HTTPServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.current().httpServer, nil
		},
	}
}
