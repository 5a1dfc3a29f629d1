package events

import (
	"slices"

	"google.golang.org/protobuf/proto"

	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
)

// The services that use the broker; each is a NATS user of the same name.
const (
	ServiceOrder        = "order"
	ServiceInventory    = "inventory"
	ServiceNotification = "notification"
)

// Schemas is the message type each event subject carries. Consumers reject
// a message whose subject is not here or whose payload is not that type.
var Schemas = map[string]proto.Message{
	SubjectOrderPlaced:    (*orderv1.OrderPlaced)(nil),
	SubjectOrderCancelled: (*orderv1.OrderCancelled)(nil),
	SubjectOrderFailed:    (*orderv1.OrderFailed)(nil),
}

// Producers is the one service allowed to publish each event subject.
var Producers = map[string]string{
	SubjectOrderPlaced:    ServiceOrder,
	SubjectOrderCancelled: ServiceOrder,
	SubjectOrderFailed:    ServiceOrder,
}

// DeadLetterSubject is where the durable consumer durable dead-letters.
func DeadLetterSubject(durable string) string { return "slipway.deadletter." + durable }

// InboxPrefix is the reply-subject prefix of user's connection. Each user
// gets its own, so that no service can subscribe to another's replies (a
// pull consumer's messages are delivered to the puller's inbox).
func InboxPrefix(user string) string { return "_INBOX." + user }

// Durable is a durable JetStream consumer a service runs.
type Durable struct {
	Stream, Name string
}

// Access is what one service's NATS user may do on the broker.
type Access struct {
	// User is the NATS user (the service's name).
	User string
	// Publishes are the event subjects the service produces.
	Publishes []string
	// Owns are the streams whose configuration the service creates and updates.
	Owns []string
	// Reads are streams the service writes to but does not own: it may
	// create them when absent, with their fixed config, but never change
	// them (the dead-letter stream, which every consumer writes to).
	Reads []string
	// Waits are streams the service only consumes: it may look them up, and
	// its durable consumers wait until their owner has created them.
	Waits []string
	// Consumes are the durable consumers the service runs. Each may
	// dead-letter to DeadLetterSubject(Name).
	Consumes []Durable
}

// Accesses is the shop's permission matrix: only order publishes order
// events, and only order creates or updates the ORDERS stream (a consumer
// that could create it could define its retention); inventory and
// notification read them through their own durable consumer, which waits
// for ORDERS to exist, and publish only JetStream API requests for it, its
// acks and their own dead letters. The DEADLETTER stream has no owner that
// updates it: each consumer may only create it, with its fixed config, when
// it is absent.
var Accesses = []Access{
	{
		User:      ServiceOrder,
		Publishes: []string{SubjectsOrders},
		Owns:      []string{StreamOrders},
	},
	{
		User:     ServiceInventory,
		Reads:    []string{StreamDeadLetter},
		Waits:    []string{StreamOrders},
		Consumes: []Durable{{Stream: StreamOrders, Name: ServiceInventory}},
	},
	{
		User:     ServiceNotification,
		Reads:    []string{StreamDeadLetter},
		Waits:    []string{StreamOrders},
		Consumes: []Durable{{Stream: StreamOrders, Name: ServiceNotification}},
	},
}

// AccessOf returns the access of user, and false when it has none.
func AccessOf(user string) (Access, bool) {
	i := slices.IndexFunc(Accesses, func(a Access) bool { return a.User == user })
	if i < 0 {
		return Access{}, false
	}
	return Accesses[i], true
}

// Permissions are the subjects a's user may publish to and subscribe to,
// for the broker's allow lists; everything else is denied.
//
// Every user may ask for account info ($JS.API.INFO, which the client sends
// at connect) and subscribe to its own inbox (JetStream API replies, publish
// acks and pulled messages). A stream it owns adds STREAM.INFO, CREATE and
// UPDATE; one it reads adds INFO and CREATE; one it waits for adds INFO
// only. A durable consumer adds
// CONSUMER.CREATE (with and without a filter-subject token), CONSUMER.INFO,
// CONSUMER.MSG.NEXT for that durable only, the acks of that durable
// ($JS.ACK.<stream>.<durable>.>: ack, nak, term, in progress) and its
// dead-letter subject.
func (a Access) Permissions() (publish, subscribe []string) {
	publish = []string{"$JS.API.INFO"}
	publish = append(publish, a.Publishes...)
	for _, s := range a.Owns {
		publish = append(publish, "$JS.API.STREAM.INFO."+s, "$JS.API.STREAM.CREATE."+s, "$JS.API.STREAM.UPDATE."+s)
	}
	for _, s := range a.Reads {
		if slices.Contains(a.Owns, s) {
			continue
		}
		publish = append(publish, "$JS.API.STREAM.INFO."+s, "$JS.API.STREAM.CREATE."+s)
	}
	for _, s := range a.Waits {
		if !slices.Contains(a.Owns, s) && !slices.Contains(a.Reads, s) {
			publish = append(publish, "$JS.API.STREAM.INFO."+s)
		}
	}
	for _, d := range a.Consumes {
		publish = append(publish,
			"$JS.API.CONSUMER.CREATE."+d.Stream+"."+d.Name,
			"$JS.API.CONSUMER.CREATE."+d.Stream+"."+d.Name+".>",
			"$JS.API.CONSUMER.INFO."+d.Stream+"."+d.Name,
			"$JS.API.CONSUMER.MSG.NEXT."+d.Stream+"."+d.Name,
			"$JS.ACK."+d.Stream+"."+d.Name+".>",
			DeadLetterSubject(d.Name),
		)
	}
	return publish, []string{InboxPrefix(a.User) + ".>"}
}
