package domain

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/slipway-dev/slipway/platform/errkind"
)

// Limits the service enforces itself, so a caller that skips the edge's
// validation still cannot store nonsense or make hashing expensive.
const (
	maxEmailLen       = 254
	minPasswordLen    = 8
	maxPasswordLen    = 128
	maxDisplayNameLen = 64
)

// UserService owns accounts: registration, login and lookups.
type UserService struct {
	store  UserStore
	hasher PasswordHasher
	tokens TokenIssuer
	cache  UserCache // nil: every lookup reads the store
	limits Limits
	now    func() time.Time
	newID  func() (uuid.UUID, error)

	// dummyHash is verified against when a login names an unknown email, so
	// that answer takes as long as a wrong password and reveals nothing.
	dummyHash func(ctx context.Context) (string, error)
}

// Option configures NewUserService.
type Option func(*UserService)

// WithCache makes GetUser and GetMe read accounts through c (cache-aside);
// every change to an account invalidates it after the change commits.
func WithCache(c UserCache) Option { return func(s *UserService) { s.cache = c } }

// NewUserService returns the service over its ports.
func NewUserService(store UserStore, hasher PasswordHasher, tokens TokenIssuer, opts ...Option) *UserService {
	s := &UserService{store: store, hasher: hasher, tokens: tokens, now: time.Now, newID: uuid.NewV7}
	for _, opt := range opts {
		opt(s)
	}
	var (
		mu   sync.Mutex
		hash string
	)
	s.dummyHash = func(ctx context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if hash != "" {
			return hash, nil
		}
		h, err := s.hasher.Hash(ctx, "slipway dummy password, never a real one")
		if err != nil {
			return "", err
		}
		hash = h
		return hash, nil
	}
	return s
}

// Register creates a customer account. The email is stored in lower case;
// one that is already taken is ErrAlreadyExists (see the README on email
// enumeration). An address in ServiceAccountDomain is refused: only the
// configuration makes service accounts. A valid request spends the
// client's and the email's budget (Limits) before it hashes anything.
func (s *UserService) Register(ctx context.Context, r Registration) (User, error) {
	email, err := normalizeEmail(r.Email)
	if err != nil {
		return User{}, err
	}
	if strings.HasSuffix(email, "@"+ServiceAccountDomain) {
		return User{}, errkind.Field("email", "is reserved for service accounts")
	}
	if err := validatePassword(r.Password); err != nil {
		return User{}, err
	}
	name := strings.TrimSpace(r.DisplayName)
	if n := utf8.RuneCountInString(name); n == 0 || n > maxDisplayNameLen {
		return User{}, errkind.Field("display_name", fmt.Sprintf("must have 1 to %d characters", maxDisplayNameLen))
	}
	a, err := s.admit(ctx, r.Client, email, false)
	if err != nil {
		return User{}, fmt.Errorf("register: %w", err)
	}
	// Registering can wait: its hashing queues behind every login's.
	u, err := s.create(LowPriority(ctx), email, r.Password, name, RoleCustomer)
	a.settleRegister(ctx, err)
	if err != nil {
		return User{}, fmt.Errorf("register: %w", err)
	}
	return u, nil
}

func (s *UserService) create(ctx context.Context, email, password, name string, role Role) (User, error) {
	id, err := s.newID()
	if err != nil {
		return User{}, fmt.Errorf("new user id: %w", err)
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	u := User{
		ID:           id.String(),
		Email:        email,
		DisplayName:  name,
		Role:         role,
		PasswordHash: hash,
		// Microseconds: what PostgreSQL keeps, so a stored user reads back equal.
		CreatedAt: s.now().UTC().Truncate(time.Microsecond),
	}
	if err := s.store.Create(ctx, u); err != nil {
		if errors.Is(err, ErrAlreadyExists) {
			return User{}, fmt.Errorf("email %s: %w", email, ErrAlreadyExists)
		}
		return User{}, fmt.Errorf("store user: %w", err)
	}
	return u, nil
}

// Login checks an email and password and issues an access token. A wrong
// password and an unknown email both return ErrInvalidCredentials, after the
// same amount of hashing, and count the same against the limits: the
// attempt spends the client's and the email's budget before any hashing,
// a failure slows this client's next attempt at the email down, and a
// success is given back (Limits).
func (s *UserService) Login(ctx context.Context, c Credentials) (Session, error) {
	if len(c.Password) > 4*maxPasswordLen {
		return Session{}, ErrInvalidCredentials // too long to be any account's password
	}
	email := strings.ToLower(strings.TrimSpace(c.Email))
	a, err := s.admit(ctx, c.Client, email, true)
	if err != nil {
		return Session{}, fmt.Errorf("login: %w", err)
	}
	session, err := s.login(a.priority(ctx), email, c.Password)
	a.settleLogin(ctx, err)
	return session, err
}

func (s *UserService) login(ctx context.Context, email, password string) (Session, error) {
	u, err := s.store.ByEmail(ctx, email)
	switch {
	case errors.Is(err, ErrNotFound):
		dummy, err := s.dummyHash(ctx)
		if err != nil {
			return Session{}, fmt.Errorf("login: dummy hash: %w", err)
		}
		if _, err := s.hasher.Verify(ctx, password, dummy); err != nil {
			return Session{}, fmt.Errorf("login: %w", err)
		}
		return Session{}, ErrInvalidCredentials
	case err != nil:
		return Session{}, fmt.Errorf("login: %w", err)
	}
	ok, err := s.hasher.Verify(ctx, password, u.PasswordHash)
	if err != nil {
		return Session{}, fmt.Errorf("login: verify password: %w", err)
	}
	if !ok {
		return Session{}, ErrInvalidCredentials
	}
	if s.hasher.NeedsRehash(u.PasswordHash) {
		// Upgrade to the current parameters while the password is at hand.
		// Best effort: the login stands either way, and the next one retries.
		if hash, err := s.hasher.Hash(ctx, password); err == nil {
			upgraded := u
			upgraded.PasswordHash = hash
			if s.store.Update(ctx, upgraded) == nil {
				u = upgraded
				s.invalidate(ctx, u.ID)
			}
		}
	}
	token, err := s.tokens.Issue(ctx, u)
	if err != nil {
		return Session{}, fmt.Errorf("login: issue token: %w", err)
	}
	return Session{Token: token, User: u}, nil
}

// GetUser returns the account id, without its password hash. Customers may read only their own: any
// other id is ErrNotFound, so they cannot learn which ids exist. Admins and
// services may read any account.
func (s *UserService) GetUser(ctx context.Context, caller Caller, id string) (User, error) {
	parsed, err := uuid.Parse(id)
	if err != nil {
		return User{}, errkind.Field("id", "must be a UUID")
	}
	id = parsed.String()
	switch caller.Role {
	case RoleAdmin, RoleService:
	case RoleCustomer:
		if caller.UserID != id {
			return User{}, fmt.Errorf("user %s: %w", id, ErrNotFound)
		}
	default:
		return User{}, fmt.Errorf("role %q: %w", caller.Role, errkind.PermissionDenied)
	}
	u, err := s.byID(ctx, id)
	if err != nil {
		return User{}, fmt.Errorf("user %s: %w", id, err)
	}
	return u, nil
}

// GetMe returns the caller's own account, a service account's too,
// without its password hash.
func (s *UserService) GetMe(ctx context.Context, caller Caller) (User, error) {
	if _, err := uuid.Parse(caller.UserID); err != nil {
		return User{}, fmt.Errorf("caller %q: %w", caller.UserID, ErrNotFound)
	}
	u, err := s.byID(ctx, caller.UserID)
	if err != nil {
		return User{}, fmt.Errorf("user %s: %w", caller.UserID, err)
	}
	return u, nil
}

// EnsureAdmin makes the account email an admin whose password is password,
// creating it if needed. The service calls it at start with the configured
// first admin, so the configuration stays the source of truth: a changed
// password there replaces the stored one.
func (s *UserService) EnsureAdmin(ctx context.Context, email, password string) (User, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return User{}, fmt.Errorf("admin: %w", err)
	}
	if err := validatePassword(password); err != nil {
		return User{}, fmt.Errorf("admin: %w", err)
	}
	u, err := s.ensure(ctx, email, password, "Administrator", RoleAdmin)
	if err != nil {
		return User{}, fmt.Errorf("admin: %w", err)
	}
	return u, nil
}

// EnsureServiceAccount makes ServiceAccountEmail(name) a service account
// (RoleService) whose password is password, creating it if needed. The
// service calls it at start for every configured account, so the
// configuration is the source of truth: rotating a password there replaces
// the stored one at the next start. A name is 1 to 63 lower-case letters,
// digits and dashes, starting with a letter.
func (s *UserService) EnsureServiceAccount(ctx context.Context, name, password string) (User, error) {
	if !validServiceName(name) {
		return User{}, fmt.Errorf("service account %q: %w", name,
			errkind.Field("name", "want 1 to 63 lower-case letters, digits and dashes, starting with a letter"))
	}
	if err := validatePassword(password); err != nil {
		return User{}, fmt.Errorf("service account %s: %w", name, err)
	}
	u, err := s.ensure(ctx, ServiceAccountEmail(name), password, name, RoleService)
	if err != nil {
		return User{}, fmt.Errorf("service account %s: %w", name, err)
	}
	return u, nil
}

// ensure makes the account email have role and password, creating it (with
// displayName) when there is none. Of two instances starting together, the
// one whose create loses updates the account the other created.
func (s *UserService) ensure(ctx context.Context, email, password, displayName string, role Role) (User, error) {
	u, err := s.store.ByEmail(ctx, email)
	if errors.Is(err, ErrNotFound) {
		u, err = s.create(ctx, email, password, displayName, role)
		if err == nil {
			return u, nil
		}
		if !errors.Is(err, ErrAlreadyExists) {
			return User{}, err
		}
		// Another instance created it meanwhile: bring that one in line.
		u, err = s.store.ByEmail(ctx, email)
	}
	if err != nil {
		return User{}, err
	}

	changed := false
	if u.Role != role {
		u.Role, changed = role, true
	}
	ok, err := s.hasher.Verify(ctx, password, u.PasswordHash)
	if err != nil {
		return User{}, fmt.Errorf("verify password: %w", err)
	}
	if !ok {
		if u.PasswordHash, err = s.hasher.Hash(ctx, password); err != nil {
			return User{}, fmt.Errorf("hash password: %w", err)
		}
		changed = true
	}
	if changed {
		if err := s.store.Update(ctx, u); err != nil {
			return User{}, fmt.Errorf("update %s: %w", u.ID, err)
		}
		s.invalidate(ctx, u.ID)
	}
	return u, nil
}

// byID reads the account id for GetUser and GetMe: through the cache when
// there is one, and without its password hash either way, so a hash never
// reaches a cache and lookups answer the same with or without one. Logins
// read by email from the store: their cost is the password hash, which a
// cache would not save.
func (s *UserService) byID(ctx context.Context, id string) (User, error) {
	load := func(ctx context.Context) (User, error) {
		u, err := s.store.ByID(ctx, id)
		u.PasswordHash = ""
		return u, err
	}
	if s.cache == nil {
		return load(ctx)
	}
	return s.cache.Get(ctx, id, load)
}

// invalidate drops the cached account id; call it after every committed
// change to the account.
func (s *UserService) invalidate(ctx context.Context, id string) {
	if s.cache != nil {
		s.cache.Invalidate(ctx, id)
	}
}

// validServiceName reports whether name can be a service account's name,
// which becomes the local part of its email.
func validServiceName(name string) bool {
	if name == "" || len(name) > 63 || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// normalizeEmail returns email trimmed and in lower case, or a field error
// when it is not a plain address.
func normalizeEmail(email string) (string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" || len(email) > maxEmailLen {
		return "", errkind.Field("email", fmt.Sprintf("must have 1 to %d characters", maxEmailLen))
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" {
		return "", errkind.Field("email", "must be an email address")
	}
	return email, nil
}

func validatePassword(password string) error {
	if n := utf8.RuneCountInString(password); n < minPasswordLen || n > maxPasswordLen {
		return errkind.Field("password", fmt.Sprintf("must have %d to %d characters", minPasswordLen, maxPasswordLen))
	}
	return nil
}
