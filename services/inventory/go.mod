module github.com/slipway-dev/slipway/services/inventory

go 1.26
