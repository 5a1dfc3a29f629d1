package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// RefreshBefore is how long before its expiry a LoginTokenSource replaces
// a token, so a token never expires while a call is on the wire.
const RefreshBefore = 30 * time.Second

// loginTimeout bounds one login; it runs detached from the caller that
// started it, because other callers wait for the same result.
const loginTimeout = 10 * time.Second

// retryAfterFailure is how long a failed login is remembered: callers in
// that window get the cached token or the error, so an outage of the user
// service does not turn every call into another login attempt.
const retryAfterFailure = time.Second

// LoginFunc logs a service in and returns its token and when it expires,
// typically by calling UserService.Login with the service's credentials.
type LoginFunc func(ctx context.Context) (token string, expires time.Time, err error)

// LoginTokenSource hands out a service's token, logging in only when it has
// none or the one it has is within RefreshBefore of expiring. Concurrent
// callers share one login. It satisfies client.TokenSource.
type LoginTokenSource struct {
	login LoginFunc
	now   func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
	flight  *login // the login in progress, if any
	failed  error  // the last login's error, until retryAt
	retryAt time.Time
}

// login is one login shared by every caller that needs it.
type login struct {
	done chan struct{}
	err  error // valid after done is closed
}

// NewLoginTokenSource returns a LoginTokenSource that gets tokens from fn.
func NewLoginTokenSource(fn LoginFunc) *LoginTokenSource {
	return &LoginTokenSource{login: fn, now: time.Now}
}

// Token returns a token that is valid for at least RefreshBefore, logging in
// first if needed. When a refresh fails while the cached token is still
// valid, it returns the cached token; otherwise it returns the login's error
// (callers report it as Unavailable), or ctx's when ctx ends first. After a
// failed login it waits retryAfterFailure before trying again.
func (s *LoginTokenSource) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	now := s.now()
	if s.token != "" && now.Before(s.expires.Add(-RefreshBefore)) {
		token := s.token
		s.mu.Unlock()
		return token, nil
	}
	if s.failed != nil && now.Before(s.retryAt) {
		defer s.mu.Unlock()
		if s.token != "" && now.Before(s.expires) {
			return s.token, nil
		}
		return "", s.failed
	}
	call := s.flight
	if call == nil {
		call = &login{done: make(chan struct{})}
		s.flight = call
		go s.refresh(context.WithoutCancel(ctx), call)
	}
	s.mu.Unlock()

	select {
	case <-call.done:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && s.now().Before(s.expires) {
		// Either the fresh token, or the old one still usable after a failed refresh.
		return s.token, nil
	}
	if call.err != nil {
		return "", call.err
	}
	return "", errors.New("auth: service login: token expired on arrival")
}

// refresh runs one login and stores its token.
func (s *LoginTokenSource) refresh(ctx context.Context, call *login) {
	ctx, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	token, expires, err := s.login(ctx)
	if err == nil {
		switch {
		case token == "":
			err = errors.New("empty token")
		case !expires.After(s.now()):
			err = fmt.Errorf("token expires at %s, in the past", expires.Format(time.RFC3339))
		}
	}
	s.mu.Lock()
	if err != nil {
		call.err = fmt.Errorf("auth: service login: %w", err)
		s.failed, s.retryAt = call.err, s.now().Add(retryAfterFailure)
	} else {
		s.token, s.expires = token, expires
		s.failed = nil
	}
	s.flight = nil
	s.mu.Unlock()
	close(call.done)
}
