package events

import (
	"slices"
	"strings"
	"testing"
)

// Only order may publish order events, and no service may subscribe to
// anything but its own inbox: the broker enforces what this matrix says.
func TestAccessesLetOnlyTheProducerPublish(t *testing.T) {
	for subject, producer := range Producers {
		for _, a := range Accesses {
			pub, sub := a.Permissions()
			may := slices.Contains(pub, subject) || slices.Contains(pub, SubjectsOrders)
			if may != (a.User == producer) {
				t.Errorf("%s may publish %s: %v, want %v", a.User, subject, may, a.User == producer)
			}
			if want := []string{InboxPrefix(a.User) + ".>"}; !slices.Equal(sub, want) {
				t.Errorf("%s subscribes to %v, want %v", a.User, sub, want)
			}
			for _, p := range pub {
				if p == ">" || strings.HasPrefix(p, "$JS.API.>") || strings.Contains(p, "*") {
					t.Errorf("%s has the wide permission %q", a.User, p)
				}
			}
		}
	}
	if _, ok := AccessOf("user"); ok {
		t.Error("the user service has no broker access")
	}
	if a, ok := AccessOf(ServiceInventory); !ok || len(a.Consumes) != 1 {
		t.Errorf("inventory's access: %+v, %v", a, ok)
	}
	// Only order defines ORDERS; nobody may update DEADLETTER.
	for _, a := range Accesses {
		pub, _ := a.Permissions()
		for _, p := range pub {
			definesOrders := p == "$JS.API.STREAM.CREATE."+StreamOrders || p == "$JS.API.STREAM.UPDATE."+StreamOrders
			if definesOrders && a.User != ServiceOrder {
				t.Errorf("%s may define %s: %q", a.User, StreamOrders, p)
			}
			if p == "$JS.API.STREAM.UPDATE."+StreamDeadLetter {
				t.Errorf("%s may update %s", a.User, StreamDeadLetter)
			}
		}
	}
	for subject := range Schemas {
		if Producers[subject] == "" {
			t.Errorf("subject %s has a schema but no producer", subject)
		}
	}
}
