package ratelimit_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-dev/slipway/platform/ratelimit"
)

// A login limit that counts only failures: each attempt spends a request
// before the password is checked, and a success gives it back.
func ExampleLimiter_refund() {
	ctx := context.Background()
	lim, closeLim, err := ratelimit.Open("", "example-logins", ratelimit.Limit{Rate: 1.0 / 60, Burst: 2},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		panic(err)
	}
	defer closeLim()
	for _, rightPassword := range []bool{true, true, true, false, false, false} {
		d := lim.Allow(ctx, "192.0.2.7")
		if !d.Allowed {
			fmt.Println("refused")
			continue
		}
		if rightPassword {
			lim.Refund(ctx, "192.0.2.7")
		}
		fmt.Println("checked")
	}
	// Output:
	// checked
	// checked
	// checked
	// checked
	// checked
	// refused
}

// A backoff that makes each failure in a row double the wait; a success
// forgets them.
func ExampleOpenBackoff() {
	ctx := context.Background()
	b, closeBackoff, err := ratelimit.OpenBackoff("", "example-failures", ratelimit.Policy{Base: time.Second, Max: time.Minute},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		panic(err)
	}
	defer closeBackoff()
	fmt.Println(b.Failed(ctx, "alice@example.com"))
	fmt.Println(b.Failed(ctx, "alice@example.com"))
	fmt.Println(b.Wait(ctx, "alice@example.com") > time.Second)
	b.Succeeded(ctx, "alice@example.com")
	fmt.Println(b.Wait(ctx, "alice@example.com"))
	// Output:
	// 1s
	// 2s
	// true
	// 0s
}
