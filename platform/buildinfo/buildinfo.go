// Package buildinfo holds what the linker stamps into every binary, so the
// version a service reports (slipway_build_info, /debug/config) is the one
// it was built as. deploy/docker/buildflags.mk sets it for make, the
// Dockerfile and CI alike.
package buildinfo

// Version is the build's version, set with
// -ldflags "-X github.com/slipway-dev/slipway/platform/buildinfo.Version=v1.2.3";
// "dev" for a plain go build.
var Version = "dev"
