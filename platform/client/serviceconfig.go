package client

import (
	"fmt"
	"strings"
)

// serviceConfig is the default service config of every connection: round
// robin over the resolved addresses. Retries are not grpc-go's (its service
// config caps them at 5 attempts and cannot honour RetryInfo); they are the
// retrier's.
const serviceConfig = `{"loadBalancingConfig":[{"round_robin":{}}]}`

// checkMethod accepts a full method name, "/package.Service/Method".
func checkMethod(full string) error {
	service, method, ok := strings.Cut(strings.TrimPrefix(full, "/"), "/")
	if !strings.HasPrefix(full, "/") || !ok || service == "" || method == "" || strings.Contains(method, "/") {
		return fmt.Errorf("retry method %q: want a full method name such as /slipway.inventory.v1.InventoryService/Reserve", full)
	}
	return nil
}
