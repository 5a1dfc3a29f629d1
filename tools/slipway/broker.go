package main

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// broker is the NATS JetStream server slipway dev embeds, so a fresh laptop
// runs the event flow with nothing installed. Its streams live under
// .slipway/nats and survive restarts of dev.
type broker struct {
	srv *server.Server
	url string
}

// startBroker starts JetStream on host:port (port 0 picks a free one).
func startBroker(root, host string, port int) (*broker, error) {
	if port == 0 {
		port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "slipway-dev",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   filepath.Join(root, ".slipway", "nats"),
		NoSigs:     true, // dev owns the signals; it stops the broker after the services
		NoLog:      true,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded NATS did not accept connections within 10s (port %d busy?)", port)
	}
	addr, ok := srv.Addr().(*net.TCPAddr)
	if !ok {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded NATS: unexpected listener %v", srv.Addr())
	}
	dial := host
	if dial == "" || dial == "0.0.0.0" || dial == "::" {
		dial = "127.0.0.1"
	}
	return &broker{srv: srv, url: "nats://" + net.JoinHostPort(dial, strconv.Itoa(addr.Port))}, nil
}

// URL is what services put in NATS_URL.
func (b *broker) URL() string { return b.url }

// Stop shuts the broker down and waits for it, flushing JetStream to disk.
func (b *broker) Stop() {
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
}
