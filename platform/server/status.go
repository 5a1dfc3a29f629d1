package server

import (
	"context"
	"errors"
	"slices"
	"time"

	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/slipway-dev/slipway/platform/errkind"
)

// kindCodes maps each domain error kind to its gRPC code, the one place that
// does (grpc-gateway then maps codes to HTTP statuses).
var kindCodes = []struct {
	kind error
	code codes.Code
}{
	{errkind.NotFound, codes.NotFound},
	{errkind.AlreadyExists, codes.AlreadyExists},
	{errkind.Conflict, codes.Aborted},
	{errkind.Invalid, codes.InvalidArgument},
	{errkind.FailedPrecondition, codes.FailedPrecondition},
	{errkind.Unauthenticated, codes.Unauthenticated},
	{errkind.PermissionDenied, codes.PermissionDenied},
	{errkind.ResourceExhausted, codes.ResourceExhausted},
	{errkind.Unavailable, codes.Unavailable},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{context.Canceled, codes.Canceled},
}

// statusError is a gRPC status that keeps the error it came from, so the
// access log can record the cause of an Internal error the client never sees.
type statusError struct {
	st    *status.Status
	cause error
}

func (e *statusError) Error() string              { return e.st.Err().Error() }
func (e *statusError) GRPCStatus() *status.Status { return e.st }
func (e *statusError) Unwrap() error              { return e.cause }

// unavailableRetryAfter is the wait an Unavailable error that names none
// asks of the client.
const unavailableRetryAfter = time.Second

// Status turns a domain error into a gRPC status error: its kind picks the
// code, its text becomes the message, and a field error carries a BadRequest
// detail. An error of no known kind becomes Internal with a generic message.
//
// What clients read never carries a cause the server did not write for them
// (a driver's message, an internal address, a Go error string): Unavailable
// says which dependency is down and carries RetryInfo (REST: 503 with
// Retry-After), deadline and cancellation errors say only that, and a
// status from elsewhere (a peer's) with a server-side code (Internal,
// Unknown, DataLoss, Unavailable) has its message replaced. The cause stays
// in the error chain for the access log. Status(nil) is nil.
func Status(err error) error {
	if err == nil {
		return nil
	}
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return passThrough(err, se.GRPCStatus())
	}
	var ve *protovalidate.ValidationError
	if errors.As(err, &ve) {
		return validationStatus(ve)
	}
	for _, kc := range kindCodes {
		if !errors.Is(err, kc.kind) {
			continue
		}
		st := status.New(kc.code, clientMessage(kc.code, err))
		var fe *errkind.FieldError
		if errors.As(err, &fe) {
			st = withViolations(st, []*errdetails.BadRequest_FieldViolation{{Field: fe.Field, Description: fe.Description}})
		}
		var ra *errkind.RetryAfterError
		var de *errkind.DependencyError
		switch {
		case errors.As(err, &ra):
			st = withRetryInfo(st, ra.After)
		case errors.As(err, &de):
			st = withRetryInfo(st, de.After)
		case kc.code == codes.Unavailable:
			st = withRetryInfo(st, unavailableRetryAfter)
		}
		return &statusError{st: st, cause: err}
	}
	return &statusError{st: status.New(codes.Internal, "internal error"), cause: err}
}

// clientMessage is the message a client reads for err of code. A domain
// error's text is written for the client; what makes a service unavailable
// or a request time out is the server's business.
func clientMessage(code codes.Code, err error) string {
	switch code {
	case codes.Unavailable:
		var de *errkind.DependencyError
		if errors.As(err, &de) && de.Dependency != "" {
			return de.Dependency + " unavailable; retry later"
		}
		return "service unavailable; retry later"
	case codes.DeadlineExceeded:
		return "deadline exceeded"
	case codes.Canceled:
		return "request cancelled"
	}
	return err.Error()
}

// passThrough returns err, a status error, as the client may see it: a
// status this package made is final; one from elsewhere keeps its code and
// details, but a server-side code's message is replaced.
func passThrough(err error, st *status.Status) error {
	var ours *statusError
	if errors.As(err, &ours) {
		return err
	}
	switch st.Code() {
	case codes.Internal, codes.Unknown, codes.DataLoss:
		return &statusError{st: status.New(codes.Internal, "internal error"), cause: err}
	case codes.Unavailable:
		p := st.Proto()
		p.Message = "service unavailable; retry later"
		out := status.FromProto(p)
		if !slices.ContainsFunc(out.Details(), func(d any) bool { _, ok := d.(*errdetails.RetryInfo); return ok }) {
			out = withRetryInfo(out, unavailableRetryAfter)
		}
		return &statusError{st: out, cause: err}
	}
	return err
}

func validationStatus(ve *protovalidate.ValidationError) error {
	violations := make([]*errdetails.BadRequest_FieldViolation, 0, len(ve.Violations))
	for _, v := range ve.Violations {
		field := protovalidate.FieldPathString(v.Proto.GetField())
		if field == "" {
			field = v.Proto.GetRuleId()
		}
		violations = append(violations, &errdetails.BadRequest_FieldViolation{
			Field:       field,
			Description: v.Proto.GetMessage(),
		})
	}
	msg := "invalid request"
	if len(violations) > 0 {
		msg = "invalid " + violations[0].Field + ": " + violations[0].Description
	}
	return &statusError{st: withViolations(status.New(codes.InvalidArgument, msg), violations), cause: ve}
}

// withRetryInfo tells the client when to come back: gRPC clients read the
// RetryInfo detail, the REST edge turns it into Retry-After.
func withRetryInfo(st *status.Status, after time.Duration) *status.Status {
	withDetails, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(max(after, 0))})
	if err != nil {
		return st
	}
	return withDetails
}

func withViolations(st *status.Status, v []*errdetails.BadRequest_FieldViolation) *status.Status {
	withDetails, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: v})
	if err != nil {
		return st // the detail is a nicety; never lose the error over it
	}
	return withDetails
}
