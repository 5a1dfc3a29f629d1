package storetest_test

import (
	"context"
	"testing"

	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
)

func TestWireCounterCountsRoundTripsAndPrepares(t *testing.T) {
	db, counter := storetest.OpenCounted(t, storetest.Open(t, store.Postgres), "storetest")
	query := func() {
		var n int
		if err := db.QueryRowContext(context.Background(), "SELECT $1::int + 1", 41).Scan(&n); err != nil || n != 42 {
			t.Fatalf("query through the counter: %d, %v", n, err)
		}
	}
	first := counter.Count(query)
	if first.Parses != 1 {
		t.Errorf("first query: %d statements prepared, want 1", first.Parses)
	}
	again := counter.Count(query)
	if again != (storetest.Counted{Trips: 1}) {
		t.Errorf("the same query again: %+v, want one round trip and no prepare (pgx's statement cache)", again)
	}
}
