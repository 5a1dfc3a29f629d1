// Package grpchealth asks gRPC servers for their health (grpc.health.v1)
// and, on request, for the services they expose (server reflection).
package grpchealth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
)

// Probe statuses beyond the grpc.health.v1 enum.
const (
	StatusUnreachable = "UNREACHABLE"
	StatusError       = "ERROR"
)

// Probe dials addr once and asks for the health of service; with list it also
// asks the reflection service for the names of the server's services. With
// tlsConf it dials over TLS, presenting tlsConf's client certificate.
func Probe(ctx context.Context, addr, service string, list bool, tlsConf *tls.Config) (string, []string, error) {
	creds := insecure.NewCredentials()
	if tlsConf != nil {
		creds = credentials.NewTLS(tlsConf)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return StatusError, nil, fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()

	st, err := checkConn(ctx, conn, service)
	if err != nil || !list {
		return st, nil, err
	}
	services, err := listServices(ctx, conn)
	return st, services, err
}

// Check asks addr's grpc.health.v1.Health/Check about service ("" is
// the whole server) over a fresh connection, failing fast when nothing
// listens. It returns the status name and an error when there is no answer.
func Check(ctx context.Context, addr, service string, tlsConf *tls.Config) (string, error) {
	st, _, err := Probe(ctx, addr, service, false, tlsConf)
	return st, err
}

func checkConn(ctx context.Context, conn *grpc.ClientConn, service string) (string, error) {
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err == nil {
		return resp.GetStatus().String(), nil
	}
	s := status.Convert(err)
	switch s.Code() {
	case codes.NotFound:
		return healthpb.HealthCheckResponse_SERVICE_UNKNOWN.String(), fmt.Errorf("health service %q is unknown to the server", service)
	case codes.Unimplemented:
		return StatusError, errors.New("the server does not implement grpc.health.v1.Health")
	case codes.Unavailable:
		return StatusUnreachable, errors.New(s.Message())
	case codes.DeadlineExceeded:
		return StatusUnreachable, errors.New("no answer before the timeout")
	default:
		return StatusError, fmt.Errorf("%s: %s", s.Code(), s.Message())
	}
}

// listServices asks the server reflection service (v1) for the service names.
func listServices(ctx context.Context, conn *grpc.ClientConn) ([]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("reflection: %w", err)
	}
	req := &reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"},
	}
	if err := stream.Send(req); err != nil {
		return nil, fmt.Errorf("reflection: %w", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		if status.Code(err) == codes.Unimplemented {
			return nil, errors.New("reflection: the server does not enable reflection")
		}
		return nil, fmt.Errorf("reflection: %s", status.Convert(err).Message())
	}
	_ = stream.CloseSend()
	if e := resp.GetErrorResponse(); e != nil {
		return nil, fmt.Errorf("reflection: %s", e.GetErrorMessage())
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	slices.Sort(names)
	return names, nil
}
