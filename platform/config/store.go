package config

import (
	"strconv"
	"time"
)

// DBPool sizes the database connection pool and bounds each statement.
//
// The defaults suit one instance of each service on a laptop or a small
// server: four services at DB_MAX_CONNS 10 hold at most 40 connections of a
// default PostgreSQL's 100. They do not suit a fleet: at the prod overlay's
// HPA maximum (10 replicas of each of the 4 services, 40 pods, more during a
// rollout's surge) 10 per pod is 400 connections, four times what a default
// PostgreSQL accepts. The prod overlay sets DB_MAX_CONNS=4: 160 at the
// maximum (200 with a 25 % surge), which a server with max_connections 250,
// or a PgBouncer in front of a smaller one, carries with room for operators
// and migrations. Four are enough for a pod: a request holds a connection
// only for its statements (a few ms), so by Little's law four connections
// serve several hundred transactions a second, more than one pod's CPU.
type DBPool struct {
	// MaxConns is the most connections one instance opens (PostgreSQL and
	// SQLite; an in-memory SQLite always uses one).
	MaxConns int `yaml:"db_max_conns" env:"DB_MAX_CONNS" help:"most database connections one instance opens"`
	// MinConns connections are opened at start, so the first requests do
	// not pay for connecting. database/sql keeps no floor: a connection idle
	// longer than MaxConnIdleTime is still closed.
	MinConns int `yaml:"db_min_conns" env:"DB_MIN_CONNS" help:"database connections opened at start, so the first requests need not connect"`
	// MaxConnLifetime recycles every connection after this long, so a
	// failover or a proxy rebalance is picked up; 0 keeps them forever.
	MaxConnLifetime time.Duration `yaml:"db_max_conn_lifetime" env:"DB_MAX_CONN_LIFETIME" help:"recycle each database connection after this long; 0 keeps them forever"`
	// MaxConnIdleTime closes a connection unused for this long; 0 never does.
	MaxConnIdleTime time.Duration `yaml:"db_max_conn_idle_time" env:"DB_MAX_CONN_IDLE_TIME" help:"close a database connection unused this long; 0 never does"`
	// StatementTimeout is PostgreSQL's statement_timeout for every session
	// of the pool (migrations excepted): the database cancels a statement
	// that runs longer, freeing its locks and its connection, and the
	// client gets UNAVAILABLE. On SQLite it is the busy timeout, how long a
	// statement waits for another writer's lock. 0 turns it off on
	// PostgreSQL (SQLite then waits 10 s).
	StatementTimeout time.Duration `yaml:"db_statement_timeout" env:"DB_STATEMENT_TIMEOUT" help:"PostgreSQL statement_timeout, SQLite busy timeout; 0 turns it off on PostgreSQL"`
}

// setDefaults sets the pool defaults. The statement timeout is half of
// RPC_DEFAULT_TIMEOUT's default: a runaway statement is cancelled by the
// database before the client gives up on the request, and is still a
// thousand times longer than any statement on a request's path.
func (p *DBPool) setDefaults() {
	p.MaxConns = 10
	p.MinConns = 0
	p.MaxConnLifetime = 30 * time.Minute
	p.MaxConnIdleTime = 5 * time.Minute
	p.StatementTimeout = 5 * time.Second
}

// validate reports every unusable pool setting through bad.
func (p *DBPool) validate(bad func(key, value, reason string)) {
	if p.MaxConns < 1 {
		bad("DB_MAX_CONNS", strconv.Itoa(p.MaxConns), "must be at least 1")
	}
	if p.MinConns < 0 || p.MinConns > max(p.MaxConns, 0) {
		bad("DB_MIN_CONNS", strconv.Itoa(p.MinConns), "must be from 0 to DB_MAX_CONNS ("+strconv.Itoa(p.MaxConns)+")")
	}
	checkDurations(bad, 0, "must not be negative (0 turns it off)",
		durationKey{"DB_MAX_CONN_LIFETIME", p.MaxConnLifetime},
		durationKey{"DB_MAX_CONN_IDLE_TIME", p.MaxConnIdleTime},
		durationKey{"DB_STATEMENT_TIMEOUT", p.StatementTimeout},
	)
	if p.StatementTimeout > 0 && p.StatementTimeout < time.Millisecond {
		bad("DB_STATEMENT_TIMEOUT", p.StatementTimeout.String(), "must be at least 1ms (PostgreSQL counts milliseconds), or 0 to turn it off")
	}
}
