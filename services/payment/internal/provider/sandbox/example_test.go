package sandbox_test

import (
	"context"
	"fmt"

	"github.com/slipway-dev/slipway/services/payment/internal/provider"
	"github.com/slipway-dev/slipway/services/payment/internal/provider/sandbox"
)

func Example() {
	ctx := context.Background()
	psp, err := sandbox.New(sandbox.NewMemoryLedger(), sandbox.WithLatency(sandbox.Latency{}))
	if err != nil {
		panic(err)
	}

	a, err := psp.Authorize(ctx, provider.AuthorizeRequest{
		IdempotencyKey: "order-42/authorize", OrderID: "order-42", UserID: "user-7",
		Amount: 2599, Currency: "usd", PaymentMethod: sandbox.CardVisa,
	})
	fmt.Println(a.Status, err)
	fmt.Println(psp.Capture(ctx, "order-42/capture", a.Ref, 0))
	fmt.Println(psp.Refund(ctx, "order-42/refund", a.Ref, 599))

	_, err = psp.Authorize(ctx, provider.AuthorizeRequest{
		IdempotencyKey: "order-43/authorize", OrderID: "order-43", UserID: "user-7",
		Amount: 2599, Currency: "usd", PaymentMethod: sandbox.CardInsufficientFunds,
	})
	if d, ok := provider.IsDeclined(err); ok {
		fmt.Println("declined:", d.Code)
	}
	// Output:
	// authorized <nil>
	// <nil>
	// <nil>
	// declined: insufficient_funds
}
