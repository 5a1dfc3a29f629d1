package sandbox_test

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/payment/internal/provider/sandbox"
)

// ledgerKind makes the ledgers of one kind for a test: each call of open
// returns a ledger on the same state, as a restarted process would.
type ledgerKind struct {
	name string
	open func(t *testing.T) (open func() sandbox.Ledger)
}

func ledgerKinds() []ledgerKind {
	kinds := []ledgerKind{{name: "memory", open: func(*testing.T) func() sandbox.Ledger {
		l := sandbox.NewMemoryLedger()
		return func() sandbox.Ledger { return l }
	}}}
	for _, d := range storetest.Dialects() {
		kinds = append(kinds, ledgerKind{name: string(d), open: func(t *testing.T) func() sandbox.Ledger {
			db := migratedDB(t, d)
			return func() sandbox.Ledger { return sandbox.NewSQLLedger(db) }
		}})
	}
	return kinds
}

// forEachLedger runs test once on each kind of ledger.
func forEachLedger(t *testing.T, test func(t *testing.T, open func() sandbox.Ledger)) {
	t.Helper()
	for _, k := range ledgerKinds() {
		t.Run(k.name, func(t *testing.T) { test(t, k.open(t)) })
	}
}

// migratedDB is a fresh database with the ledger's tables, created by
// Schema's SQL as the payment store's migration would.
func migratedDB(t *testing.T, d store.Dialect) *store.DB {
	t.Helper()
	db := storetest.Open(t, d)
	schema, err := sandbox.Schema(d)
	require.NoError(t, err)
	require.NoError(t, db.Migrate(context.Background(), fstest.MapFS{
		string(d) + "/0001_sandbox_ledger.sql": {Data: []byte(schema)},
	}))
	return db
}

func TestSchemaIsKnownOnlyForTheStoreDialects(t *testing.T) {
	for _, d := range storetest.Dialects() {
		s, err := sandbox.Schema(d)
		require.NoError(t, err)
		require.Contains(t, s, "-- +goose Up")
		require.Contains(t, s, "CREATE TABLE sandbox_payments")
		require.Contains(t, s, "CREATE TABLE sandbox_idempotency")
	}
	_, err := sandbox.Schema("mysql")
	require.Error(t, err)
}
