package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/platform/telemetry"
)

// New builds a service's servers (gRPC, and REST, gRPC-Web and Connect on
// the HTTP port) around its implementation; Run serves until its context
// ends, with the health protocol SERVING in between. Services get here
// through server.Main, which loads the config and telemetry first.
func ExampleNew() {
	var base config.Base
	base.SetDefaults("inventory", 0, 0)
	base.GRPCAddr, base.HTTPAddr, base.DrainDelay = "127.0.0.1:0", "127.0.0.1:0", 0
	tp, flush, err := telemetry.NewTracerProvider(context.Background(), base.Service, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = flush(context.Background()) }()
	app, err := server.New(base, &base, telemetry.NewLogger(io.Discard, base.Service, slog.LevelInfo), telemetry.NewRegistry(), tp,
		server.WithService(server.Service{
			Desc:    &inventoryv1.InventoryService_ServiceDesc,
			Impl:    newFixedProduct(), // an InventoryServiceServer answering one product from memory (bench_test.go)
			Gateway: inventoryv1.RegisterInventoryServiceHandler,
		}))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := app.Listen(); err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()

	conn, err := grpc.NewClient(app.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	check := &healthpb.HealthCheckRequest{Service: inventoryv1.InventoryService_ServiceDesc.ServiceName}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if resp, err := healthpb.NewHealthClient(conn).Check(ctx, check); err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			break
		}
	}
	resp, err := inventoryv1.NewInventoryServiceClient(conn).GetProduct(ctx, &inventoryv1.GetProductRequest{Id: benchProductID})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.GetProduct().GetName())

	stop()
	fmt.Println("stopped:", <-done)
	// Output:
	// Espresso blend, 1 kg
	// stopped: <nil>
}
