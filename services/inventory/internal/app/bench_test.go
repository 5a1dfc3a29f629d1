package app_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
)

// BenchmarkGetProduct times one GetProduct of a seeded product against the
// real service on SQLite, over gRPC and over REST, with GetProduct's cache
// (the default PRODUCT_CACHE_TTL) and without it (PRODUCT_CACHE_TTL=0):
// what a catalog read costs a client, end to end on loopback.
func BenchmarkGetProduct(b *testing.B) {
	const id = "chemex-6-cup"
	for _, cache := range []struct{ name, ttl string }{{"on", "1s"}, {"off", "0s"}} {
		b.Run("cache="+cache.name, func(b *testing.B) {
			s := start(b, "PRODUCT_CACHE_TTL="+cache.ttl)
			ctx := context.Background()
			b.Run("transport=grpc", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.client.GetProduct(ctx, &inventoryv1.GetProductRequest{Id: id}); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("transport=rest", func(b *testing.B) {
				url := "http://" + s.HTTPAddr + "/v1/products/" + id
				client := &http.Client{}
				b.ReportAllocs()
				for b.Loop() {
					resp, err := client.Get(url)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Fatalf("GET %s: %s", url, resp.Status)
					}
				}
			})
		})
	}
}
