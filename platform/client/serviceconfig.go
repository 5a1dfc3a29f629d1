package client

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The retry policy of WithRetry. grpc-go jitters each backoff itself.
const (
	retryMaxAttempts       = 4
	retryInitialBackoff    = 50 * time.Millisecond
	retryMaxBackoff        = time.Second
	retryBackoffMultiplier = 2
)

// The JSON shape of a gRPC service config (gRFC A6 for retries).
type (
	serviceConfigJSON struct {
		LoadBalancingConfig []map[string]struct{} `json:"loadBalancingConfig"`
		MethodConfig        []methodConfigJSON    `json:"methodConfig,omitempty"`
	}
	methodConfigJSON struct {
		Name        []methodNameJSON `json:"name"`
		RetryPolicy *retryPolicyJSON `json:"retryPolicy,omitempty"`
	}
	methodNameJSON struct {
		Service string `json:"service"`
		Method  string `json:"method"`
	}
	retryPolicyJSON struct {
		MaxAttempts          int      `json:"maxAttempts"`
		InitialBackoff       string   `json:"initialBackoff"`
		MaxBackoff           string   `json:"maxBackoff"`
		BackoffMultiplier    float64  `json:"backoffMultiplier"`
		RetryableStatusCodes []string `json:"retryableStatusCodes"`
	}
)

// serviceConfig returns the default service config of a connection:
// round_robin, and the retry policy for exactly the retryable methods.
func serviceConfig(retryable []string) (string, error) {
	sc := serviceConfigJSON{LoadBalancingConfig: []map[string]struct{}{{"round_robin": {}}}}
	var names []methodNameJSON
	for _, full := range retryable {
		name, err := parseMethod(full)
		if err != nil {
			return "", err
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	if len(names) > 0 {
		sc.MethodConfig = []methodConfigJSON{{
			Name: names,
			RetryPolicy: &retryPolicyJSON{
				MaxAttempts:          retryMaxAttempts,
				InitialBackoff:       durationJSON(retryInitialBackoff),
				MaxBackoff:           durationJSON(retryMaxBackoff),
				BackoffMultiplier:    retryBackoffMultiplier,
				RetryableStatusCodes: []string{"UNAVAILABLE"},
			},
		}}
	}
	b, err := json.Marshal(sc)
	if err != nil {
		return "", fmt.Errorf("service config: %w", err)
	}
	return string(b), nil
}

// parseMethod splits "/package.Service/Method".
func parseMethod(full string) (methodNameJSON, error) {
	service, method, ok := strings.Cut(strings.TrimPrefix(full, "/"), "/")
	if !strings.HasPrefix(full, "/") || !ok || service == "" || method == "" || strings.Contains(method, "/") {
		return methodNameJSON{}, fmt.Errorf("retry method %q: want a full method name such as /slipway.inventory.v1.InventoryService/Reserve", full)
	}
	return methodNameJSON{Service: service, Method: method}, nil
}

// durationJSON writes d the way service configs spell durations ("0.05s").
func durationJSON(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}
