// Package rpc serves slipway.user.v1.UserService: proto in, domain call,
// proto out, errors mapped once by server.Status.
package rpc

import (
	"context"
	"net/netip"

	"github.com/google/wire"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	userv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/user/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/services/user/internal/domain"
)

// ProviderSet provides the Handler.
var ProviderSet = wire.NewSet(NewHandler)

// Policy is who may call each method: anyone may register and log in;
// reading accounts needs a person's token (the domain then limits customers
// to their own). No service is named: none needs to read accounts, so none
// may, and none may act for a user here.
var Policy = auth.Policy{
	userv1.UserService_Register_FullMethodName: auth.Public,
	userv1.UserService_Login_FullMethodName:    auth.Public,
	userv1.UserService_GetUser_FullMethodName:  auth.Authenticated,
	userv1.UserService_GetMe_FullMethodName:    auth.Authenticated,
}

// Handler implements userv1.UserServiceServer over the domain's UserService.
type Handler struct {
	userv1.UnimplementedUserServiceServer
	users   *domain.UserService
	proxies TrustedProxies
}

// TrustedProxies are the proxies whose X-Forwarded-For names the client
// that the login limits key on (server.ClientAddr); nil trusts none.
type TrustedProxies []netip.Prefix

// NewHandler returns the handler over users.
func NewHandler(users *domain.UserService, proxies TrustedProxies) *Handler {
	return &Handler{users: users, proxies: proxies}
}

// Register creates a customer account.
func (h *Handler) Register(ctx context.Context, req *userv1.RegisterRequest) (*userv1.RegisterResponse, error) {
	u, err := h.users.Register(ctx, domain.Registration{
		Email:       req.GetEmail(),
		Password:    req.GetPassword(),
		DisplayName: req.GetDisplayName(),
		Client:      h.client(ctx),
	})
	if err != nil {
		return nil, server.Status(err)
	}
	return &userv1.RegisterResponse{User: toProto(u)}, nil
}

// Login exchanges an email and password for an access token.
func (h *Handler) Login(ctx context.Context, req *userv1.LoginRequest) (*userv1.LoginResponse, error) {
	s, err := h.users.Login(ctx, domain.Credentials{Email: req.GetEmail(), Password: req.GetPassword(), Client: h.client(ctx)})
	if err != nil {
		return nil, server.Status(err)
	}
	return &userv1.LoginResponse{
		AccessToken: s.Token.Value,
		TokenType:   "Bearer",
		ExpiresAt:   timestamppb.New(s.Token.ExpiresAt),
		User:        toProto(s.User),
	}, nil
}

// GetUser returns one account the caller may see.
func (h *Handler) GetUser(ctx context.Context, req *userv1.GetUserRequest) (*userv1.GetUserResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	u, err := h.users.GetUser(ctx, c, req.GetId())
	if err != nil {
		return nil, server.Status(err)
	}
	return &userv1.GetUserResponse{User: toProto(u)}, nil
}

// GetMe returns the caller's own account.
func (h *Handler) GetMe(ctx context.Context, _ *userv1.GetMeRequest) (*userv1.GetMeResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	u, err := h.users.GetMe(ctx, c)
	if err != nil {
		return nil, server.Status(err)
	}
	return &userv1.GetMeResponse{User: toProto(u)}, nil
}

// client is the key of the caller's address for the domain's limits: an
// IPv4 address, or an IPv6 /64 (what one subscriber gets); "" when the
// platform could not tell, which the limits treat as one shared client.
func (h *Handler) client(ctx context.Context) string {
	return clientKey(server.ClientAddr(ctx, h.proxies))
}

func clientKey(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return ""
	case a.Is4():
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}

// caller is the identity the auth hook verified. Its absence means the
// method was served without the hook, which must not pass as anonymous.
func caller(ctx context.Context) (domain.Caller, error) {
	c, ok := auth.FromContext(ctx)
	if !ok {
		return domain.Caller{}, status.Error(codes.Unauthenticated, "missing bearer token")
	}
	return domain.Caller{UserID: c.Subject, Role: domain.Role(c.Role)}, nil
}

func toProto(u domain.User) *userv1.User {
	return &userv1.User{
		Id:          u.ID,
		Email:       u.Email,
		DisplayName: u.DisplayName,
		Role:        roleToProto(u.Role),
		CreatedAt:   timestamppb.New(u.CreatedAt),
	}
}

func roleToProto(r domain.Role) userv1.Role {
	switch r {
	case domain.RoleCustomer:
		return userv1.Role_ROLE_CUSTOMER
	case domain.RoleAdmin:
		return userv1.Role_ROLE_ADMIN
	case domain.RoleService:
		return userv1.Role_ROLE_SERVICE
	}
	return userv1.Role_ROLE_UNSPECIFIED
}
