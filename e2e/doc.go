// Package e2e holds the end-to-end tests: they build every service
// binary, start them as real processes against a real database
// (PostgreSQL when it answers, SQLite otherwise) and a NATS JetStream server
// the tests control, and drive the shop over gRPC, REST and gRPC-Web.
package e2e
