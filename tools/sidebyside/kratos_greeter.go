//go:build ignore

// The smallest kratos v2 server that matches kratos-layout's greeter: one
// gRPC method, helloworld.Greeter/SayHello, and its HTTP route
// GET /helloworld/{name}, each with the recovery middleware the layout
// installs. tools/sidebyside/run builds it in a temporary module against
// github.com/go-kratos/kratos/v2 (the layout itself is not on the module
// proxy), with the generated greeter code kratos ships in its own module.
// It is the peer of the side-by-side comparison, not part of Slipway.
package main

import (
	"context"
	"flag"

	"github.com/go-kratos/kratos/v2"
	"github.com/go-kratos/kratos/v2/middleware/recovery"
	"github.com/go-kratos/kratos/v2/transport/grpc"
	"github.com/go-kratos/kratos/v2/transport/http"

	"sidebyside/helloworld"
)

// greeter is the layout's GreeterService, without its biz and data layers,
// which do nothing for SayHello.
type greeter struct {
	helloworld.UnimplementedGreeterServer
}

func (greeter) SayHello(_ context.Context, in *helloworld.HelloRequest) (*helloworld.HelloReply, error) {
	return &helloworld.HelloReply{Message: "Hello " + in.GetName()}, nil
}

func main() {
	grpcAddr := flag.String("grpc", "127.0.0.1:9000", "gRPC address")
	httpAddr := flag.String("http", "127.0.0.1:8000", "HTTP address")
	flag.Parse()

	gs := grpc.NewServer(grpc.Address(*grpcAddr), grpc.Middleware(recovery.Recovery()))
	hs := http.NewServer(http.Address(*httpAddr), http.Middleware(recovery.Recovery()))
	helloworld.RegisterGreeterServer(gs, greeter{})
	helloworld.RegisterGreeterHTTPServer(hs, greeter{})

	app := kratos.New(kratos.Name("helloworld"), kratos.Server(gs, hs))
	if err := app.Run(); err != nil {
		panic(err)
	}
}
