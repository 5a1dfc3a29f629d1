package domain

import "github.com/google/wire"

// ProviderSet provides the OrderService; the app binds OrderStore,
// StockReserver and Payments to their adapters and provides the
// SagaConfig from its configuration.
var ProviderSet = wire.NewSet(NewOrderService)
