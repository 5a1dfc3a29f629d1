// Package natstest runs a real NATS JetStream server inside a test process,
// with the shop's users and their permissions (events.Accesses in
// api/events), so tests can attack the permission matrix the deployment
// uses.
package natstest

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	apievents "github.com/slipway-dev/slipway/api/events"
)

// Admin is the user a test inspects the broker as: it may do anything.
const Admin = "test-admin"

// Broker is an embedded JetStream server with one user per service, and
// Admin.
type Broker struct {
	// Passwords holds each user's password, by NATS user name.
	Passwords map[string]string
	srv       *server.Server
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

// Start runs a JetStream server for t whose only clients are the shop's
// users, each with a random password; it is shut down when t ends.
func Start(t testing.TB) *Broker {
	t.Helper()
	b := &Broker{Passwords: map[string]string{}}
	for _, a := range apievents.Accesses {
		b.Passwords[a.User] = randomPassword(t)
	}
	b.Passwords[Admin] = randomPassword(t)
	srv, err := server.NewServer(&server.Options{
		ServerName: "natstest-auth",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		NoSigs:     true,
		NoLog:      true,
		Users:      append(Users(b.Passwords), &server.User{Username: Admin, Password: b.Passwords[Admin]}),
	})
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		t.Fatal("natstest: the server did not accept connections within 10s")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	b.srv = srv
	return b
}

// URL is the server's client URL, without credentials.
func (b *Broker) URL() string {
	return "nats://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(b.srv.Addr().(*net.TCPAddr).Port))
}

func randomPassword(t testing.TB) string {
	var p [16]byte
	if _, err := rand.Read(p[:]); err != nil {
		t.Fatalf("natstest: %v", err)
	}
	return hex.EncodeToString(p[:])
}
