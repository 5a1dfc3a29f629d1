package domain

import "github.com/google/wire"

// ProviderSet provides the PaymentService; the store package binds
// PaymentStore and the app binds Provider.
var ProviderSet = wire.NewSet(NewPaymentService)
