package domain

import "github.com/google/wire"

// ProviderSet provides the NotificationService; the store package provides
// NotificationStore and the app picks the Channel.
var ProviderSet = wire.NewSet(NewNotificationService)
