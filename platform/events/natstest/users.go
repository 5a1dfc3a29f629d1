package natstest

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	apievents "github.com/slipway-dev/slipway/api/events"
)

// Admin is the user a test inspects the broker as: it may do anything.
const Admin = "test-admin"

// Broker is an embedded JetStream server with one user per service, and
// Admin.
type Broker struct {
	*Server
	// Passwords holds each user's password, by NATS user name.
	Passwords map[string]string
}

// Users are the server users of the shop's permission matrix with the
// given passwords (by user name); a user without a password is left out.
func Users(passwords map[string]string) []*server.User {
	var users []*server.User
	for _, a := range apievents.Accesses {
		pw, ok := passwords[a.User]
		if !ok {
			continue
		}
		pub, sub := a.Permissions()
		users = append(users, &server.User{
			Username: a.User,
			Password: pw,
			Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: pub},
				Subscribe: &server.SubjectPermission{Allow: sub},
			},
		})
	}
	return users
}

// Start runs a JetStream server for t whose only clients are the
// shop's users, each with a random password; it is shut down when t ends.
func Start(t testing.TB) *Broker {
	t.Helper()
	passwords := map[string]string{}
	for _, a := range apievents.Accesses {
		passwords[a.User] = randomPassword(t)
	}
	passwords[Admin] = randomPassword(t)
	users := append(Users(passwords), &server.User{Username: Admin, Password: passwords[Admin]})
	srv := StartOpen(t, func(o *server.Options) {
		o.ServerName = "natstest-auth"
		o.Users = users
	})
	return &Broker{Server: srv, Passwords: passwords}
}

func randomPassword(t testing.TB) string {
	var p [16]byte
	if _, err := rand.Read(p[:]); err != nil {
		t.Fatalf("natstest: %v", err)
	}
	return hex.EncodeToString(p[:])
}
