// Package openapi embeds the generated OpenAPI v3 document of each service so
// the service can serve it at /openapi.yaml. The documents are written by
// `make gen`; this file is the only hand-written one in the tree.
package openapi

import _ "embed"

// User is the OpenAPI v3 document of slipway.user.v1.UserService.
//
//go:embed user.yaml
var User []byte

// Inventory is the OpenAPI v3 document of slipway.inventory.v1.InventoryService.
//
//go:embed inventory.yaml
var Inventory []byte

// Order is the OpenAPI v3 document of slipway.order.v1.OrderService.
//
//go:embed order.yaml
var Order []byte

// Notification is the OpenAPI v3 document of slipway.notification.v1.NotificationService.
//
//go:embed notification.yaml
var Notification []byte
