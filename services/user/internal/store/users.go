// Package store keeps the user service's accounts in SQL, on SQLite or
// PostgreSQL, implementing domain.UserStore.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/google/wire"

	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/services/user/internal/domain"
)

// ProviderSet provides Users as the domain's UserStore.
var ProviderSet = wire.NewSet(NewUsers, ProvideMigrations, wire.Bind(new(domain.UserStore), new(*Users)))

// ProvideMigrations gives platform/store.Provide the user schema.
func ProvideMigrations() platformstore.Migrations { return Migrations }

//go:embed migrations
var migrations embed.FS

// Migrations holds the schema as <dialect>/NNNN_name.sql, for DB.Migrate.
var Migrations = mustSub(migrations, "migrations")

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// Users is the accounts table.
type Users struct {
	db *platformstore.DB
}

// NewUsers returns the accounts of db, which must be migrated with Migrations.
func NewUsers(db *platformstore.DB) *Users { return &Users{db: db} }

const userColumns = `id, email, display_name, role, password_hash, created_at`

// Create stores u; a taken email is domain.ErrAlreadyExists.
func (s *Users) Create(ctx context.Context, u domain.User) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		u.ID, u.Email, u.DisplayName, string(u.Role), u.PasswordHash, u.CreatedAt.UTC())
	if platformstore.IsUniqueViolation(err) {
		return fmt.Errorf("user %s: %w", u.Email, domain.ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("insert user %s: %w", u.ID, err)
	}
	return nil
}

// ByID returns the account id or an error wrapping domain.ErrNotFound.
func (s *Users) ByID(ctx context.Context, id string) (domain.User, error) {
	return s.one(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id)
}

// ByEmail returns the account with email or an error wrapping domain.ErrNotFound.
func (s *Users) ByEmail(ctx context.Context, email string) (domain.User, error) {
	return s.one(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email)
}

// Update replaces the display name, role and password hash of u.ID.
func (s *Users) Update(ctx context.Context, u domain.User) error {
	res, err := s.db.ExecContext(ctx,
		`UPDATE users SET display_name = $2, role = $3, password_hash = $4 WHERE id = $1`,
		u.ID, u.DisplayName, string(u.Role), u.PasswordHash)
	if err != nil {
		return fmt.Errorf("update user %s: %w", u.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("update user %s: %w", u.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("user %s: %w", u.ID, domain.ErrNotFound)
	}
	return nil
}

func (s *Users) one(ctx context.Context, query string, key string) (domain.User, error) {
	var (
		u    domain.User
		role string
		at   timestamp
	)
	err := s.db.QueryRowContext(ctx, query, key).Scan(&u.ID, &u.Email, &u.DisplayName, &role, &u.PasswordHash, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.User{}, fmt.Errorf("user %s: %w", key, domain.ErrNotFound)
	}
	if err != nil {
		return domain.User{}, fmt.Errorf("select user %s: %w", key, err)
	}
	u.Role = domain.Role(role)
	u.CreatedAt = at.UTC()
	return u, nil
}

// timestamp scans a time that PostgreSQL returns as time.Time and SQLite
// may return as text, whatever the driver's column type detection did.
type timestamp struct{ time.Time }

// sqliteTimeLayouts are the text forms a time takes in SQLite: the driver's
// own and SQLite's CURRENT_TIMESTAMP.
var sqliteTimeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	time.RFC3339Nano,
	"2006-01-02 15:04:05",
}

// Scan implements sql.Scanner.
func (t *timestamp) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		t.Time = v
		return nil
	case string:
		return t.parse(v)
	case []byte:
		return t.parse(string(v))
	}
	return fmt.Errorf("scan timestamp: unsupported %T", src)
}

func (t *timestamp) parse(s string) error {
	for _, layout := range sqliteTimeLayouts {
		if parsed, err := time.Parse(layout, s); err == nil {
			t.Time = parsed
			return nil
		}
	}
	return fmt.Errorf("scan timestamp: unknown format %q", s)
}
