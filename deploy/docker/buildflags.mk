# Go build flags of every Slipway binary, defined once.
#
# The Makefile includes this file and uses $(GO_BUILDFLAGS) and $(GO_LDFLAGS);
# deploy/docker/Dockerfile and CI, which may not run the Makefile, print them:
#
#   make -s -f deploy/docker/buildflags.mk VERSION=v1.2.3 print-GO_LDFLAGS
#
# Plain make only: the golang images ship make, and nothing else is needed.

# VERSION is what the binaries report (slipway_build_info, /debug/config).
# Images pass it as a build argument; elsewhere it comes from git.
ifeq ($(origin VERSION),undefined)
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
endif

# VERSION_VAR is the string variable the linker sets to VERSION.
VERSION_VAR := github.com/slipway-dev/slipway/platform/buildinfo.Version

# Release builds: reproducible paths, no symbol table or DWARF.
GO_BUILDFLAGS := -trimpath
GO_LDFLAGS := -s -w -X $(VERSION_VAR)=$(VERSION)

# Debug builds (dlv): full paths, so an editor maps them to the checkout,
# DWARF kept, optimisations and inlining off.
GO_DEBUG_BUILDFLAGS :=
GO_DEBUG_GCFLAGS := all=-N -l
GO_DEBUG_LDFLAGS := -X $(VERSION_VAR)=$(VERSION)

# print-NAME prints the value of NAME, e.g. make -f buildflags.mk print-GO_LDFLAGS.
print-%:
	@printf '%s\n' '$($*)'
