package server

import (
	"io"
	"testing"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/platform/config"
)

// BenchmarkChain is the chain alone around a handler that answers at once,
// in the context the gRPC server gives a call: what the chain costs a
// call, without the transport BenchmarkUnary also measures. sample=1 logs
// every call (the default), sample=0 only failed and slow ones.
func BenchmarkChain(b *testing.B) {
	for _, bc := range []struct {
		name   string
		access config.AccessLog
	}{
		{"log=every", config.AccessLog{}},
		{"log=sampled-out", config.AccessLog{AccessLogSample: 0, AccessLogSlow: 1 << 62}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, _ := testChain(b, io.Discard, bc.access)
			req := &inventoryv1.GetProductRequest{Id: "espresso-blend-1kg"}
			handler := answer(&inventoryv1.GetProductResponse{}, nil)
			ctx := callContext(b, nil, &headerStream{})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.unary(ctx, req, getProduct, handler); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
