package domain

import "github.com/google/wire"

// ProviderSet provides the PaymentService; the store package binds PaymentStore.
var ProviderSet = wire.NewSet(NewPaymentService)
