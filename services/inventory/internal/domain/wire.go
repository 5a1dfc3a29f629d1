package domain

import "github.com/google/wire"

// ProviderSet provides the InventoryService; the store package binds Store.
var ProviderSet = wire.NewSet(NewInventoryService)
