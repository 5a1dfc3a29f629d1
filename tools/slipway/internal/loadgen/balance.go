package loadgen

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	userv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/user/v1"
)

// instancesScheme is the resolver scheme of a connection to every instance
// of a service; each connection registers its own resolver under it.
const instancesScheme = "slipway-instances"

// retriedMethods are the methods a connection to several instances retries
// on UNAVAILABLE (an instance stopping or gone), on another instance: each
// is safe to repeat. CreateOrder carries its idempotency key, so a repeat
// whose first attempt was stored answers the same order; the others only
// read or issue a token.
var retriedMethods = []string{
	orderv1.OrderService_CreateOrder_FullMethodName,
	orderv1.OrderService_GetOrder_FullMethodName,
	userv1.UserService_Login_FullMethodName,
	userv1.UserService_GetMe_FullMethodName,
	inventoryv1.InventoryService_ListProducts_FullMethodName,
	inventoryv1.InventoryService_GetProduct_FullMethodName,
}

// Retry policy of a connection to several instances (gRPC's own, from the
// service config): 4 attempts in all, backoff from 50 ms doubling to 400 ms
// at most (gRPC draws each wait at random below it). A restart that takes
// its instance out of the rotation is then ridden out on the others.
const (
	retryMaxAttempts    = 4
	retryInitialBackoff = "0.05s"
	retryMaxBackoff     = "0.4s"
)

// balancedServiceConfig is round robin over the instances, and the retry
// policy for retriedMethods.
func balancedServiceConfig() string {
	type name struct {
		Service string `json:"service"`
		Method  string `json:"method"`
	}
	var names []name
	for _, m := range retriedMethods {
		svc, method, _ := strings.Cut(strings.TrimPrefix(m, "/"), "/")
		names = append(names, name{svc, method})
	}
	cfg := map[string]any{
		"loadBalancingConfig": []any{map[string]any{"round_robin": map[string]any{}}},
		"methodConfig": []any{map[string]any{
			"name": names,
			"retryPolicy": map[string]any{
				"maxAttempts": retryMaxAttempts, "initialBackoff": retryInitialBackoff, "maxBackoff": retryMaxBackoff,
				"backoffMultiplier": 2, "retryableStatusCodes": []string{"UNAVAILABLE"},
			},
		}},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		panic(fmt.Sprintf("loadgen: service config: %v", err)) // static data: cannot fail
	}
	return string(b)
}

// instancesTarget is the target and dial options of a connection to every
// address of list (host:port,host:port): a manual resolver of this
// connection alone, round robin and the retry policy.
func instancesTarget(list string) (string, []grpc.DialOption) {
	r := manual.NewBuilderWithScheme(instancesScheme)
	var state resolver.State
	addrs := strings.Split(list, ",")
	for _, a := range addrs {
		state.Endpoints = append(state.Endpoints, resolver.Endpoint{Addresses: []resolver.Address{{Addr: a}}})
	}
	r.InitialState(state)
	return instancesScheme + ":///" + addrs[0], []grpc.DialOption{
		grpc.WithResolvers(r),
		grpc.WithDefaultServiceConfig(balancedServiceConfig()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: instanceBackoff, MinConnectTimeout: 20 * time.Second}),
	}
}

// instanceBackoff is how soon a connection to one instance is tried again
// after it failed: from 100 ms, growing to 2 s at most, where gRPC's
// default starts at 1 s and grows to 2 min. An instance that restarted
// rejoins the rotation within a fraction of a second of serving again.
var instanceBackoff = backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second}
