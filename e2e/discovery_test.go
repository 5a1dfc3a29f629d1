package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	"github.com/slipway-dev/slipway/platform/discovery/etcdtest"
)

// inventoryCalls counts the InventoryService calls an instance served.
// (Each CreateOrder makes two, GetProduct then Reserve, so round robin over
// two instances can send every GetProduct to one and every Reserve to the other.)
func inventoryCalls(p *process) int {
	return strings.Count(p.logs.String(), `"method":"/slipway.inventory.v1.InventoryService/`)
}

func TestOrdersKeepFlowingWhenAnInventoryInstanceStops(t *testing.T) {
	etcd := etcdtest.Start(t)
	// One customer places 40 orders back to back: the per-user order rate
	// limit (10/s, burst 20) is not what this test is about, so it is off.
	c := startCluster(t, "DISCOVERY=etcd://"+etcd.Endpoint, "ORDER_RATE_LIMIT=0")
	defer c.dumpOnFailure()
	first := c.procs["inventory"]
	second := c.startAs("inventory-2", "inventory")
	// order resolved its peers before inventory-2 registered; the etcd
	// resolver picks up the new instance by watching.

	resp, err := etcd.Client(t).Get(context.Background(), "slipway/services/inventory/", clientv3.WithPrefix())
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 2, "both inventory instances registered")
	s := c.shop(t, "grpc")
	_, token := customer(t, s, "discovery")
	product := stocked(t, s, 50)

	const orders = 40
	for i := range orders {
		if i == orders/2 {
			t.Logf("inventory calls before the stop: first %d, second %d", inventoryCalls(first), inventoryCalls(second))
			require.Positive(t, inventoryCalls(first), "both instances served before the stop")
			require.Positive(t, inventoryCalls(second), "both instances served before the stop")
			c.stop("inventory") // SIGTERM: it deregisters, drains and stops
			// The test's own calls to inventory now go to the survivor.
			c.procs["inventory"] = second
			delete(c.procs, "inventory-2")
		}
		_, err := s.CreateOrder(context.Background(), token, "discovery-"+randomHex(t, 6),
			&orderv1.LineItem{ProductId: product.GetId(), Quantity: 1})
		require.NoError(t, err, "order %d of %d", i+1, orders)
	}
	mine, err := s.ListMyOrders(context.Background(), token)
	require.NoError(t, err)
	assert.Len(t, mine, orders, "every call succeeded")
	assert.Equal(t, product.GetStock()-orders, stockOf(t, s, product.GetId()))
}
