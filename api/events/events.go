// Package events names the shop's event streams and subjects, so producers
// and consumers agree on them in one place. Payloads are the protobuf
// messages of slipway.order.v1 (OrderPlaced, OrderCancelled, OrderFailed).
package events

const (
	// StreamOrders holds every order event (subjects slipway.order.>).
	StreamOrders = "ORDERS"
	// SubjectsOrders is the subject filter of StreamOrders.
	SubjectsOrders = "slipway.order.>"
	// SubjectOrderPlaced carries orderv1.OrderPlaced.
	SubjectOrderPlaced = "slipway.order.placed"
	// SubjectOrderCancelled carries orderv1.OrderCancelled.
	SubjectOrderCancelled = "slipway.order.cancelled"
	// SubjectOrderFailed carries orderv1.OrderFailed.
	SubjectOrderFailed = "slipway.order.failed"

	// StreamDeadLetter keeps messages a consumer gave up on (subjects slipway.deadletter.>).
	StreamDeadLetter = "DEADLETTER"
	// SubjectsDeadLetter is the subject filter of StreamDeadLetter.
	SubjectsDeadLetter = "slipway.deadletter.>"
)
