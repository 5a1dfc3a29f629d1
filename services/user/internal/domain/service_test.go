package domain_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/mock/gomock"

	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/services/user/internal/domain"
	"github.com/slipway-dev/slipway/services/user/internal/domain/mock"
	"github.com/slipway-dev/slipway/services/user/internal/password"
)

var (
	errDisk = errors.New("disk on fire")
	now     = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	fixedID = uuid.MustParse("0195518e-0000-7000-8000-000000000001")
	otherID = "0195518e-0000-7000-8000-000000000002"
)

// cheapHasher is the real Argon2id with test-sized parameters.
func cheapHasher() *password.Argon2id {
	return password.New(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
}

type fixture struct {
	store  *mock.MockUserStore
	tokens *mock.MockTokenIssuer
	hasher domain.PasswordHasher
	svc    *domain.UserService
}

// newFixture builds the service over a mock store and token issuer and the
// given hasher (a cheap real one when nil).
func newFixture(t *testing.T, hasher domain.PasswordHasher) *fixture {
	t.Helper()
	ctrl := gomock.NewController(t)
	if hasher == nil {
		hasher = cheapHasher()
	}
	f := &fixture{store: mock.NewMockUserStore(ctrl), tokens: mock.NewMockTokenIssuer(ctrl), hasher: hasher}
	f.svc = domain.NewUserService(f.store, hasher, f.tokens)
	f.svc.SetClock(func() time.Time { return now })
	f.svc.SetIDs(func() (uuid.UUID, error) { return fixedID, nil })
	return f
}

// account returns a stored user whose password is pw.
func account(t *testing.T, h domain.PasswordHasher, role domain.Role, pw string) domain.User {
	t.Helper()
	hash, err := h.Hash(context.Background(), pw)
	require.NoError(t, err)
	return domain.User{
		ID: fixedID.String(), Email: "alice@example.com", DisplayName: "Alice",
		Role: role, PasswordHash: hash, CreatedAt: now.Truncate(time.Microsecond),
	}
}

func TestRegister(t *testing.T) {
	valid := domain.Registration{Email: "  Alice@Example.COM ", Password: "correct horse", DisplayName: " Alice "}

	tests := []struct {
		name      string
		reg       domain.Registration
		storeErr  error // returned by Create; nil and expectCreate=false means Create is not reached
		reach     bool
		wantKind  error
		wantField string
	}{
		{name: "creates a customer", reg: valid, reach: true},
		{name: "duplicate email", reg: valid, reach: true, storeErr: fmt.Errorf("insert: %w", domain.ErrAlreadyExists), wantKind: errkind.AlreadyExists},
		{name: "store failure", reg: valid, reach: true, storeErr: errDisk, wantKind: errDisk},
		{name: "not an email", reg: with(valid, func(r *domain.Registration) { r.Email = "alice" }), wantKind: errkind.Invalid, wantField: "email"},
		{name: "email with a name", reg: with(valid, func(r *domain.Registration) { r.Email = "Alice <a@example.com>" }), wantKind: errkind.Invalid, wantField: "email"},
		{name: "email too long", reg: with(valid, func(r *domain.Registration) { r.Email = strings.Repeat("a", 250) + "@x.io" }), wantKind: errkind.Invalid, wantField: "email"},
		{name: "short password", reg: with(valid, func(r *domain.Registration) { r.Password = "short" }), wantKind: errkind.Invalid, wantField: "password"},
		{name: "long password", reg: with(valid, func(r *domain.Registration) { r.Password = strings.Repeat("p", 129) }), wantKind: errkind.Invalid, wantField: "password"},
		{name: "blank display name", reg: with(valid, func(r *domain.Registration) { r.DisplayName = "   " }), wantKind: errkind.Invalid, wantField: "display_name"},
		{name: "long display name", reg: with(valid, func(r *domain.Registration) { r.DisplayName = strings.Repeat("é", 65) }), wantKind: errkind.Invalid, wantField: "display_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			var stored domain.User
			if tt.reach {
				f.store.EXPECT().Create(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, u domain.User) error {
					stored = u
					return tt.storeErr
				})
			}

			u, err := f.svc.Register(t.Context(), tt.reg)

			if tt.wantKind != nil {
				require.ErrorIs(t, err, tt.wantKind)
				if tt.wantField != "" {
					var fe *errkind.FieldError
					require.ErrorAs(t, err, &fe)
					assert.Equal(t, tt.wantField, fe.Field)
				}
				assert.Zero(t, u)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, stored, u, "the service returns what it stored")
			assert.Equal(t, fixedID.String(), u.ID)
			assert.Equal(t, "alice@example.com", u.Email, "emails are stored trimmed and lower case")
			assert.Equal(t, "Alice", u.DisplayName)
			assert.Equal(t, domain.RoleCustomer, u.Role, "registration never makes an admin")
			assert.Equal(t, now.Truncate(time.Microsecond), u.CreatedAt)
			assert.True(t, strings.HasPrefix(u.PasswordHash, "$argon2id$"))
			ok, err := f.hasher.Verify(t.Context(), "correct horse", u.PasswordHash)
			require.NoError(t, err)
			assert.True(t, ok)
		})
	}
}

func TestRegisterDuplicateNamesTheEmail(t *testing.T) {
	f := newFixture(t, nil)
	f.store.EXPECT().Create(gomock.Any(), gomock.Any()).Return(domain.ErrAlreadyExists)

	_, err := f.svc.Register(t.Context(), domain.Registration{Email: "Bob@example.com", Password: "password1", DisplayName: "Bob"})
	assert.ErrorIs(t, err, errkind.AlreadyExists)
	assert.ErrorContains(t, err, "bob@example.com")
}

func TestRegisterHashFailure(t *testing.T) {
	hasher := mock.NewMockPasswordHasher(gomock.NewController(t))
	f := newFixture(t, hasher)
	hasher.EXPECT().Hash(gomock.Any(), "password1").Return("", errDisk)

	_, err := f.svc.Register(t.Context(), domain.Registration{Email: "bob@example.com", Password: "password1", DisplayName: "Bob"})
	assert.ErrorIs(t, err, errDisk)
}

func with(r domain.Registration, change func(*domain.Registration)) domain.Registration {
	change(&r)
	return r
}

func TestLogin(t *testing.T) {
	token := domain.Token{Value: "signed.jwt.token", ExpiresAt: now.Add(time.Hour)}
	alice := account(t, cheapHasher(), domain.RoleCustomer, "correct horse")

	tests := []struct {
		name     string
		email    string
		password string
		found    error // ByEmail's error; nil means alice is found
		issueErr error
		issue    bool
		want     error
	}{
		{name: "right password", email: "alice@example.com", password: "correct horse", issue: true},
		{name: "email in any case", email: " ALICE@example.com", password: "correct horse", issue: true},
		{name: "wrong password", email: "alice@example.com", password: "wrong horse", want: domain.ErrInvalidCredentials},
		{name: "unknown email", email: "nobody@example.com", password: "correct horse", found: domain.ErrNotFound, want: domain.ErrInvalidCredentials},
		{name: "store failure", email: "alice@example.com", password: "correct horse", found: errDisk, want: errDisk},
		{name: "token failure", email: "alice@example.com", password: "correct horse", issue: true, issueErr: errDisk, want: errDisk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.store.EXPECT().ByEmail(gomock.Any(), strings.ToLower(strings.TrimSpace(tt.email))).DoAndReturn(
				func(context.Context, string) (domain.User, error) {
					if tt.found != nil {
						return domain.User{}, fmt.Errorf("select: %w", tt.found)
					}
					return alice, nil
				})
			if tt.issue {
				f.tokens.EXPECT().Issue(gomock.Any(), alice).Return(token, tt.issueErr)
			}

			s, err := f.svc.Login(t.Context(), domain.Credentials{Email: tt.email, Password: tt.password})

			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
				assert.Zero(t, s)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, token, s.Token)
			assert.Equal(t, alice, s.User)
		})
	}
}

func TestLoginFailuresAreIndistinguishable(t *testing.T) {
	f := newFixture(t, nil)
	alice := account(t, f.hasher, domain.RoleCustomer, "correct horse")
	f.store.EXPECT().ByEmail(gomock.Any(), "alice@example.com").Return(alice, nil)
	f.store.EXPECT().ByEmail(gomock.Any(), "nobody@example.com").Return(domain.User{}, domain.ErrNotFound)

	_, wrongPassword := f.svc.Login(t.Context(), domain.Credentials{Email: "alice@example.com", Password: "wrong horse"})
	_, unknownEmail := f.svc.Login(t.Context(), domain.Credentials{Email: "nobody@example.com", Password: "wrong horse"})

	require.Error(t, wrongPassword)
	assert.Equal(t, wrongPassword, unknownEmail, "the two failures must be the same error")
	assert.EqualError(t, unknownEmail, "invalid email or password")
	assert.ErrorIs(t, unknownEmail, errkind.Unauthenticated)
}

func TestLoginUnknownEmailStillHashes(t *testing.T) {
	hasher := mock.NewMockPasswordHasher(gomock.NewController(t))
	f := newFixture(t, hasher)
	f.store.EXPECT().ByEmail(gomock.Any(), gomock.Any()).Return(domain.User{}, domain.ErrNotFound).Times(2)
	// The dummy hash is made once and verified against on every unknown email.
	hasher.EXPECT().Hash(gomock.Any(), gomock.Any()).Return("$dummy", nil).Times(1)
	hasher.EXPECT().Verify(gomock.Any(), "guess-1", "$dummy").Return(false, nil)
	hasher.EXPECT().Verify(gomock.Any(), "guess-2", "$dummy").Return(false, nil)

	_, err := f.svc.Login(t.Context(), domain.Credentials{Email: "nobody@example.com", Password: "guess-1"})
	assert.ErrorIs(t, err, domain.ErrInvalidCredentials)
	_, err = f.svc.Login(t.Context(), domain.Credentials{Email: "nobody@example.com", Password: "guess-2"})
	assert.ErrorIs(t, err, domain.ErrInvalidCredentials)
}

func TestLoginUpgradesAnOutdatedHash(t *testing.T) {
	old := password.New(password.Params{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	f := newFixture(t, nil)
	alice := account(t, old, domain.RoleCustomer, "correct horse")
	f.store.EXPECT().ByEmail(gomock.Any(), "alice@example.com").Return(alice, nil)
	var upgraded domain.User
	f.store.EXPECT().Update(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, u domain.User) error {
		upgraded = u
		return nil
	})
	f.tokens.EXPECT().Issue(gomock.Any(), gomock.Any()).Return(domain.Token{Value: "t"}, nil)

	_, err := f.svc.Login(t.Context(), domain.Credentials{Email: "alice@example.com", Password: "correct horse"})
	require.NoError(t, err)
	assert.False(t, f.hasher.NeedsRehash(upgraded.PasswordHash))
	assert.Equal(t, alice.ID, upgraded.ID)
}

func TestGetUser(t *testing.T) {
	self := fixedID.String()
	tests := []struct {
		name     string
		caller   domain.Caller
		id       string
		reach    bool  // whether the store is asked
		storeErr error // ByID's error
		want     error
	}{
		{name: "customer reads itself", caller: domain.Caller{UserID: self, Role: domain.RoleCustomer}, id: self, reach: true},
		{name: "customer reads another", caller: domain.Caller{UserID: self, Role: domain.RoleCustomer}, id: otherID, want: domain.ErrNotFound},
		{name: "admin reads another", caller: domain.Caller{UserID: self, Role: domain.RoleAdmin}, id: otherID, reach: true},
		{name: "service reads any", caller: domain.Caller{UserID: "order", Role: domain.RoleService}, id: otherID, reach: true},
		{name: "unknown role", caller: domain.Caller{UserID: self, Role: "root"}, id: self, want: errkind.PermissionDenied},
		{name: "not a uuid", caller: domain.Caller{UserID: self, Role: domain.RoleAdmin}, id: "42", want: errkind.Invalid},
		{name: "missing account", caller: domain.Caller{UserID: self, Role: domain.RoleAdmin}, id: otherID, reach: true, storeErr: domain.ErrNotFound, want: domain.ErrNotFound},
		{name: "store failure", caller: domain.Caller{UserID: self, Role: domain.RoleAdmin}, id: otherID, reach: true, storeErr: errDisk, want: errDisk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			want := domain.User{ID: tt.id, Email: "x@example.com", Role: domain.RoleCustomer}
			if tt.reach {
				f.store.EXPECT().ByID(gomock.Any(), tt.id).Return(want, tt.storeErr)
			}

			u, err := f.svc.GetUser(t.Context(), tt.caller, tt.id)

			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, want, u)
		})
	}
}

func TestGetUserCanonicalisesTheID(t *testing.T) {
	f := newFixture(t, nil)
	self := fixedID.String()
	f.store.EXPECT().ByID(gomock.Any(), self).Return(domain.User{ID: self}, nil)

	_, err := f.svc.GetUser(t.Context(), domain.Caller{UserID: self, Role: domain.RoleCustomer}, strings.ToUpper(self))
	assert.NoError(t, err, "an upper-case id is the caller's own")
}

func TestGetMe(t *testing.T) {
	self := fixedID.String()
	tests := []struct {
		name     string
		caller   domain.Caller
		reach    bool
		storeErr error
		want     error
	}{
		{name: "customer", caller: domain.Caller{UserID: self, Role: domain.RoleCustomer}, reach: true},
		{name: "admin", caller: domain.Caller{UserID: self, Role: domain.RoleAdmin}, reach: true},
		{name: "deleted account", caller: domain.Caller{UserID: self, Role: domain.RoleCustomer}, reach: true, storeErr: domain.ErrNotFound, want: domain.ErrNotFound},
		{name: "service account reads itself", caller: domain.Caller{UserID: self, Role: domain.RoleService}, reach: true},
		{name: "a service subject that is no account id", caller: domain.Caller{UserID: "order", Role: domain.RoleService}, want: domain.ErrNotFound},
		{name: "subject not a uuid", caller: domain.Caller{UserID: "x", Role: domain.RoleCustomer}, want: domain.ErrNotFound},
		{name: "store failure", caller: domain.Caller{UserID: self, Role: domain.RoleCustomer}, reach: true, storeErr: errDisk, want: errDisk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			want := domain.User{ID: self, Email: "alice@example.com"}
			if tt.reach {
				f.store.EXPECT().ByID(gomock.Any(), self).Return(want, tt.storeErr)
			}
			u, err := f.svc.GetMe(t.Context(), tt.caller)
			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, want, u)
		})
	}
}

func TestEnsureAdmin(t *testing.T) {
	const email, pw = "admin@example.com", "admin-password"
	h := cheapHasher()
	admin := account(t, h, domain.RoleAdmin, pw)
	admin.Email = email
	customer := admin
	customer.Role = domain.RoleCustomer
	stalePassword := account(t, h, domain.RoleAdmin, "old-admin-password")
	stalePassword.Email = email

	tests := []struct {
		name       string
		setup      func(f *fixture)
		wantUpdate bool // whether the stored account is updated
		want       error
	}{
		{
			name: "creates the admin",
			setup: func(f *fixture) {
				f.store.EXPECT().ByEmail(gomock.Any(), email).Return(domain.User{}, domain.ErrNotFound)
				f.store.EXPECT().Create(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, u domain.User) error {
					assert.Equal(t, domain.RoleAdmin, u.Role)
					assert.Equal(t, email, u.Email)
					return nil
				})
			},
		},
		{
			name: "already in place",
			setup: func(f *fixture) {
				f.store.EXPECT().ByEmail(gomock.Any(), email).Return(admin, nil)
			},
		},
		{
			name: "promotes a customer",
			setup: func(f *fixture) {
				f.store.EXPECT().ByEmail(gomock.Any(), email).Return(customer, nil)
			},
			wantUpdate: true,
		},
		{
			name: "replaces a changed password",
			setup: func(f *fixture) {
				f.store.EXPECT().ByEmail(gomock.Any(), email).Return(stalePassword, nil)
			},
			wantUpdate: true,
		},
		{
			name: "another instance created it first",
			setup: func(f *fixture) {
				gomock.InOrder(
					f.store.EXPECT().ByEmail(gomock.Any(), email).Return(domain.User{}, domain.ErrNotFound),
					f.store.EXPECT().Create(gomock.Any(), gomock.Any()).Return(domain.ErrAlreadyExists),
					f.store.EXPECT().ByEmail(gomock.Any(), email).Return(customer, nil),
				)
			},
			wantUpdate: true,
		},
		{
			name: "store failure",
			setup: func(f *fixture) {
				f.store.EXPECT().ByEmail(gomock.Any(), email).Return(domain.User{}, errDisk)
			},
			want: errDisk,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, h)
			tt.setup(f)
			var updated domain.User
			if tt.wantUpdate {
				f.store.EXPECT().Update(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, u domain.User) error {
					updated = u
					return nil
				})
			}

			u, err := f.svc.EnsureAdmin(t.Context(), " Admin@Example.com", pw)

			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, domain.RoleAdmin, u.Role)
			assert.Equal(t, email, u.Email)
			ok, err := h.Verify(t.Context(), pw, u.PasswordHash)
			require.NoError(t, err)
			assert.True(t, ok, "the configured password logs in")
			if tt.wantUpdate {
				assert.Equal(t, u, updated)
			}
		})
	}
}

func TestEnsureAdminRejectsABadConfig(t *testing.T) {
	f := newFixture(t, nil)
	_, err := f.svc.EnsureAdmin(t.Context(), "not-an-email", "admin-password")
	assert.ErrorIs(t, err, errkind.Invalid)
	_, err = f.svc.EnsureAdmin(t.Context(), "admin@example.com", "short")
	assert.ErrorIs(t, err, errkind.Invalid)
}

func TestEnsureServiceAccount(t *testing.T) {
	const name, email, pw = "order", "order@service.slipway.local", "service-password"
	h := cheapHasher()
	inPlace := account(t, h, domain.RoleService, pw)
	inPlace.Email, inPlace.DisplayName = email, name
	rotated := account(t, h, domain.RoleService, "old-service-password")
	rotated.Email, rotated.DisplayName = email, name
	customer := inPlace
	customer.Role = domain.RoleCustomer

	tests := []struct {
		name       string
		setup      func(f *fixture)
		wantCreate bool // whether a new account is stored
		wantUpdate bool // whether the stored account is updated
		want       error
	}{
		{
			name: "creates the account",
			setup: func(f *fixture) {
				f.store.EXPECT().ByEmail(gomock.Any(), email).Return(domain.User{}, domain.ErrNotFound)
			},
			wantCreate: true,
		},
		{
			name: "already in place changes nothing",
			setup: func(f *fixture) {
				f.store.EXPECT().ByEmail(gomock.Any(), email).Return(inPlace, nil)
			},
		},
		{
			name: "a rotated password replaces the stored one",
			setup: func(f *fixture) {
				f.store.EXPECT().ByEmail(gomock.Any(), email).Return(rotated, nil)
			},
			wantUpdate: true,
		},
		{
			name: "an account of another role at the address becomes the service",
			setup: func(f *fixture) {
				f.store.EXPECT().ByEmail(gomock.Any(), email).Return(customer, nil)
			},
			wantUpdate: true,
		},
		{
			name: "another instance created it first",
			setup: func(f *fixture) {
				gomock.InOrder(
					f.store.EXPECT().ByEmail(gomock.Any(), email).Return(domain.User{}, domain.ErrNotFound),
					f.store.EXPECT().Create(gomock.Any(), gomock.Any()).Return(domain.ErrAlreadyExists),
					f.store.EXPECT().ByEmail(gomock.Any(), email).Return(rotated, nil),
				)
			},
			wantUpdate: true,
		},
		{
			name: "store failure",
			setup: func(f *fixture) {
				f.store.EXPECT().ByEmail(gomock.Any(), email).Return(domain.User{}, errDisk)
			},
			want: errDisk,
		},
		{
			name: "update failure",
			setup: func(f *fixture) {
				f.store.EXPECT().ByEmail(gomock.Any(), email).Return(rotated, nil)
				f.store.EXPECT().Update(gomock.Any(), gomock.Any()).Return(errDisk)
			},
			want: errDisk,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, h)
			tt.setup(f)
			var stored, updated domain.User
			if tt.wantCreate {
				f.store.EXPECT().Create(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, u domain.User) error {
					stored = u
					return nil
				})
			}
			if tt.wantUpdate {
				f.store.EXPECT().Update(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, u domain.User) error {
					updated = u
					return nil
				})
			}

			u, err := f.svc.EnsureServiceAccount(t.Context(), name, pw)

			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
				assert.ErrorContains(t, err, "service account order")
				assert.NotContains(t, err.Error(), pw)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, domain.RoleService, u.Role)
			assert.Equal(t, email, u.Email)
			ok, err := h.Verify(t.Context(), pw, u.PasswordHash)
			require.NoError(t, err)
			assert.True(t, ok, "the configured password logs in")
			switch {
			case tt.wantCreate:
				assert.Equal(t, u, stored)
				assert.Equal(t, name, u.DisplayName)
			case tt.wantUpdate:
				assert.Equal(t, u, updated)
			}
		})
	}
}

func TestEnsureServiceAccountRejectsABadConfig(t *testing.T) {
	tests := []struct {
		name, account, password, field string
	}{
		{name: "empty name", account: "", password: "service-password", field: "name"},
		{name: "upper case", account: "Order", password: "service-password", field: "name"},
		{name: "an address, not a name", account: "order@example.com", password: "service-password", field: "name"},
		{name: "leading digit", account: "1order", password: "service-password", field: "name"},
		{name: "too long", account: strings.Repeat("a", 64), password: "service-password", field: "name"},
		{name: "short password", account: "order", password: "short", field: "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil) // the store is never reached
			_, err := f.svc.EnsureServiceAccount(t.Context(), tt.account, tt.password)
			require.ErrorIs(t, err, errkind.Invalid)
			var fe *errkind.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.field, fe.Field)
			assert.NotContains(t, err.Error(), tt.password)
		})
	}
}

func TestRegisterRefusesServiceAddresses(t *testing.T) {
	for _, email := range []string{"order@service.slipway.local", " Order@SERVICE.slipway.local"} {
		t.Run(email, func(t *testing.T) {
			f := newFixture(t, nil) // the store is never reached
			_, err := f.svc.Register(t.Context(), domain.Registration{Email: email, Password: "correct horse", DisplayName: "Order"})
			require.ErrorIs(t, err, errkind.Invalid)
			var fe *errkind.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, "email", fe.Field)
			assert.Contains(t, fe.Description, "reserved")
		})
	}
}
