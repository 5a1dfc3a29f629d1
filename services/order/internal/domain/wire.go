package domain

import "github.com/google/wire"

// ProviderSet provides the OrderService; the app binds OrderStore and
// StockReserver to the store and stock packages.
var ProviderSet = wire.NewSet(NewOrderService)
