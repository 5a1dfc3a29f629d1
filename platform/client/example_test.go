package client_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/slipway-dev/slipway/platform/client"
)

// Dial returns the connection a service calls a peer on: retries of
// idempotent methods with backoff, a default deadline, a circuit breaker,
// the request id forwarded, tracing. It connects on the first call.
func ExampleDial() {
	lis, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	peer := grpc.NewServer()
	healthpb.RegisterHealthServer(peer, health.NewServer()) // a peer answering SERVING
	go func() { _ = peer.Serve(lis) }()
	defer peer.Stop()

	conn, err := client.Dial(lis.Addr().String(), client.WithTimeout(2*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.GetStatus())
	// Output: SERVING
}
