module github.com/slipway-dev/slipway/services/notification

go 1.26.7

require (
	github.com/slipway-dev/slipway/api v0.0.0
	github.com/slipway-dev/slipway/platform v0.0.0
)

replace (
	github.com/slipway-dev/slipway/api => ../../api
	github.com/slipway-dev/slipway/platform => ../../platform
)
