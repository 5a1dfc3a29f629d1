package client

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// BenchmarkBreaker is what the breaker adds to one attempt: allow, then
// the outcome, from every core at once on one connection's breaker.
func BenchmarkBreaker(b *testing.B) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"ok", nil},
		{"answered with an error", status.Error(codes.NotFound, "no such thing")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			br := newBreaker("bench", nil)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					done, err := br.allow()
					if err != nil {
						b.Fatal(err)
					}
					done(tc.err)
				}
			})
		})
	}
}
