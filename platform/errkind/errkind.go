// Package errkind holds the kinds of error a domain can return. Domains name
// them (domain.ErrNotFound = errkind.NotFound) and wrap them with context; the
// edge (platform/server) maps each kind to a gRPC code and HTTP status once.
package errkind

import (
	"errors"
	"fmt"
	"time"
)

// Error kinds. Wrap them, never compare error strings.
var (
	// NotFound is a missing entity, or one the caller may not see.
	NotFound = errors.New("not found")
	// AlreadyExists is a create that collides with an existing entity.
	AlreadyExists = errors.New("already exists")
	// Conflict is a concurrent change that lost; the caller may retry.
	Conflict = errors.New("conflict")
	// Invalid is a request that breaks a domain rule about its own content.
	Invalid = errors.New("invalid argument")
	// FailedPrecondition is a request that is valid but not allowed in the current state.
	FailedPrecondition = errors.New("failed precondition")
	// Unauthenticated is a missing or bad credential.
	Unauthenticated = errors.New("unauthenticated")
	// PermissionDenied is a known caller without the right to act.
	PermissionDenied = errors.New("permission denied")
	// ResourceExhausted is a limit reached, such as a rate limit.
	ResourceExhausted = errors.New("resource exhausted")
	// Unavailable is a dependency that cannot be reached right now.
	Unavailable = errors.New("unavailable")
)

// FieldError is an Invalid error about one request field. The edge turns it
// into a field violation (gRPC BadRequest detail, REST problem "errors").
type FieldError struct {
	Field       string
	Description string
}

// Field returns an Invalid error that names the field at fault.
func Field(field, description string) error {
	return &FieldError{Field: field, Description: description}
}

// Error implements error.
func (e *FieldError) Error() string {
	return fmt.Sprintf("invalid %s: %s", e.Field, e.Description)
}

// Is makes errors.Is(err, Invalid) true for a FieldError.
func (e *FieldError) Is(target error) bool { return target == Invalid }

// RetryAfterError is a limit reached that clears after a known wait: a rate
// limit, or a service shedding load. It is a ResourceExhausted; the edge
// tells the client when to come back (gRPC RetryInfo, HTTP Retry-After).
type RetryAfterError struct {
	// Reason says which limit was reached, for the client to read.
	Reason string
	// After is how long the client should wait before trying again.
	After time.Duration
}

// RetryAfter returns a ResourceExhausted error that asks the client to wait
// after before retrying.
func RetryAfter(reason string, after time.Duration) error {
	return &RetryAfterError{Reason: reason, After: after}
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%s: retry after %s", e.Reason, e.After.Round(time.Millisecond))
}

// Is makes a RetryAfterError a ResourceExhausted.
func (e *RetryAfterError) Is(target error) bool { return target == ResourceExhausted }

// DependencyError is a dependency that cannot be reached right now, such as
// a database that is restarting or a broken connection to it. It is an
// Unavailable: the request had no effect and may be sent again after After.
// Its cause stays in the error chain for the logs; the edge shows clients
// only Dependency and After, never the cause (a driver's message can name
// internal hosts and ports).
type DependencyError struct {
	// Dependency names what is unreachable, for the client to read: "database".
	Dependency string
	// After is how long the client should wait before trying again.
	After time.Duration
	// Err is the cause, for the logs.
	Err error
}

// Unreachable returns an Unavailable error that says dependency cannot be
// reached, asks the client to retry after after, and keeps cause for the logs.
func Unreachable(dependency string, after time.Duration, cause error) error {
	return &DependencyError{Dependency: dependency, After: after, Err: cause}
}

// Error implements error; it includes the cause, for the logs.
func (e *DependencyError) Error() string {
	if e.Err == nil {
		return e.Dependency + " unavailable"
	}
	return e.Dependency + " unavailable: " + e.Err.Error()
}

// Unwrap returns the cause, so driver errors stay inspectable.
func (e *DependencyError) Unwrap() error { return e.Err }

// Is makes a DependencyError an Unavailable.
func (e *DependencyError) Is(target error) bool { return target == Unavailable }
