package events_test

import (
	"fmt"

	"github.com/slipway-dev/slipway/api/events"
)

// The broker's allow lists for the inventory service's NATS user: its own
// durable consumer, its acks, its dead letters and its inbox, and no order
// subject.
func ExampleAccess_Permissions() {
	a, _ := events.AccessOf(events.ServiceInventory)
	publish, subscribe := a.Permissions()
	for _, s := range publish {
		fmt.Println("publish  ", s)
	}
	for _, s := range subscribe {
		fmt.Println("subscribe", s)
	}
	// Output:
	// publish   $JS.API.INFO
	// publish   $JS.API.STREAM.INFO.DEADLETTER
	// publish   $JS.API.STREAM.CREATE.DEADLETTER
	// publish   $JS.API.STREAM.INFO.ORDERS
	// publish   $JS.API.CONSUMER.CREATE.ORDERS.inventory
	// publish   $JS.API.CONSUMER.CREATE.ORDERS.inventory.>
	// publish   $JS.API.CONSUMER.INFO.ORDERS.inventory
	// publish   $JS.API.CONSUMER.MSG.NEXT.ORDERS.inventory
	// publish   $JS.ACK.ORDERS.inventory.>
	// publish   slipway.deadletter.inventory
	// subscribe _INBOX.inventory.>
}
