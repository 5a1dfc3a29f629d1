module github.com/slipway-dev/slipway/services/user

go 1.26
