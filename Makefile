# scadaotel: two commands for a new user, `make run` and `make test`.
# Everything else the build needs comes from the Go module proxy; tools the
# tests need are installed by `make test-deps` (scripts/install-test-deps.sh,
# which .ci/run calls), never by `make test` itself.

GO        ?= go
BIN       := $(CURDIR)/bin
DIST      := $(CURDIR)/dist
DATA_DIR  ?= $(CURDIR)/data
VERSION   := $(shell git describe --tags --abbrev=0 2>/dev/null || echo 0.1.0-dev)
COMMIT    := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
CROSS_ARCHES := amd64 arm64 loong64 riscv64
JAEGER_VERSION := v1.76.0
JAEGER_LDFLAGS := -X github.com/jaegertracing/jaeger/internal/version.latestVersion=v2.13.0 \
                  -X github.com/jaegertracing/jaeger/internal/version.commitSHA=$(JAEGER_VERSION)
# Go test flags; `make test GOTESTFLAGS=-race` for a race run.
GOTESTFLAGS ?=
TEST_TIMEOUT ?= 18m
REPRO ?= 1
# The IEC 104 APDU decoder's fuzz target runs this long in make test
# (about 300k inputs on 2 vCPUs), and SOAK_FUZZ_TIME in make soak.
FUZZ_TIME ?= 20s
SOAK_FUZZ_TIME ?= 10m

.PHONY: all build build-appliance build-testbench victoria-metrics ui-assets check-ui-dist test-deps check-test-deps run test cross dist sbom lint bench soak clean

all: build

build: build-appliance $(BIN)/jaeger build-testbench

build-appliance:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/scadaotel ./collector

build-testbench:
	@if [ -d testbench/cmd/scadaotel-testbench ]; then \
		echo "CGO_ENABLED=0 $(GO) build -o $(BIN)/scadaotel-testbench ./testbench/cmd/scadaotel-testbench"; \
		CGO_ENABLED=0 $(GO) build -o $(BIN)/scadaotel-testbench ./testbench/cmd/scadaotel-testbench; fi

# Jaeger is built as a program from its own module (its collector release
# differs from ours); rebuilt only when that module changes.
$(BIN)/jaeger: tools/jaeger/go.mod tools/jaeger/go.sum
	CGO_ENABLED=0 $(GO) build -C tools/jaeger -trimpath -ldflags "$(JAEGER_LDFLAGS)" \
		-o $(BIN)/jaeger github.com/jaegertracing/jaeger/cmd/jaeger

# A real single-node VictoriaMetrics server, built from the same module
# version the appliance embeds: the peer for remote mode tests and make bench.
$(BIN)/victoria-metrics: go.mod go.sum
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/victoria-metrics \
		github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics

victoria-metrics: $(BIN)/victoria-metrics

run: build
	DATA_DIR="$(DATA_DIR)" BIN="$(BIN)" ./scripts/run.sh

# The UI's assets are committed (ui/dist), so a build needs no node; this
# rebuilds them from ui/web/src with the locked npm packages.
ui-assets:
	ui/web/build.sh

# Checks that the committed ui/dist is what ui/web/src builds to (needs node,
# npm and `npm ci` in ui/web, as `make test-deps` does); touches no file.
check-ui-dist:
	./scripts/check-ui-dist.sh

# Debian packages, locked npm packages and pinned Go-built tools
# (telemetrygen, into bin/) the tests use (idempotent; root or sudo for
# apt; no system service is left enabled).
test-deps:
	BIN="$(BIN)" ./scripts/install-test-deps.sh

# What make test needs, checked (nothing installed): names what is missing
# and says to run `make test-deps`.
check-test-deps:
	@BIN="$(BIN)" ./scripts/check-test-deps.sh

# Packages whose tests also run under the race detector (in-process,
# concurrent code; -short keeps the long property runs out of it).
RACE_PKGS := ./tenants/... ./processors/... ./connectors/... ./testbench/mqbridge/... ./internal/... \
	./extensions/tenantauthextension/... ./extensions/tracequeryextension/... ./extensions/logstorageextension/... \
	./exporters/durableotlpexporter/...

# Unit tests and the end-to-end tests (build tag e2e: they run the binaries
# built here and real peer processes), never from the test cache (-count=1).
# Plain `go test ./...` runs the unit tests alone and needs no binaries.
test: check-test-deps build $(BIN)/victoria-metrics
	SCADAOTEL_ALLOW_ROOT=1 SCADAOTEL_BIN=$(BIN)/scadaotel JAEGER_BIN=$(BIN)/jaeger TESTBENCH_BIN=$(BIN)/scadaotel-testbench \
		VICTORIAMETRICS_BIN=$(BIN)/victoria-metrics TELEMETRYGEN_BIN=$(BIN)/telemetrygen $(GO) test -tags e2e -count=1 -timeout $(TEST_TIMEOUT) $(GOTESTFLAGS) ./...
	$(GO) test -count=1 -race -short -timeout $(TEST_TIMEOUT) $(RACE_PKGS)
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeAPDU$$' -fuzztime $(FUZZ_TIME) ./internal/iec104

# Static binaries for every architecture, then a reproducibility check: the
# same commit rebuilt from a clone elsewhere with an empty build cache must
# give byte-identical binaries (REPRO=0 skips it; it rebuilds everything).
cross:
	GO="$(GO)" DIST="$(DIST)" LDFLAGS="$(LDFLAGS)" CROSS_ARCHES="$(CROSS_ARCHES)" REPRO="$(REPRO)" ./scripts/cross.sh

# Release tarballs per architecture: binaries, systemd units, default
# configs, README (packaging/README.md says how to install one).
dist:
	GO="$(GO)" DIST="$(DIST)" LDFLAGS="$(LDFLAGS)" JAEGER_LDFLAGS="$(JAEGER_LDFLAGS)" VERSION="$(VERSION)" \
		CROSS_ARCHES="$(CROSS_ARCHES)" ./scripts/dist.sh

# CycloneDX SBOMs of scadaotel and Jaeger in dist/, schema-checked, naming
# the pinned collector, VictoriaMetrics, sarama and Jaeger versions.
sbom: $(BIN)/jaeger
	GO="$(GO)" DIST="$(DIST)" BIN="$(BIN)" ./scripts/sbom.sh

# gofmt, go vet and staticcheck (a tool dependency in go.mod: `go tool`
# builds it from the module proxy); vet and staticcheck run twice, for the
# unit tests and with the end-to-end tests (build tag e2e); govulncheck
# (tools/supplychain) when its database can be reached, else it says so.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./...
	$(GO) tool staticcheck ./...
	$(GO) tool staticcheck -tags e2e ./...
	@if curl -sf --max-time 5 -o /dev/null https://vuln.go.dev/index/db.json; then \
		echo "$(GO) tool -modfile=tools/supplychain/go.mod govulncheck ./..."; \
		$(GO) tool -modfile=tools/supplychain/go.mod govulncheck ./...; \
	else echo "govulncheck skipped: the vulnerability database (vuln.go.dev) cannot be reached from here"; fi

# Side by side with a vanilla collector, VictoriaMetrics and Telegraf (about
# 10 minutes; refuses on a busy machine). Development run on a busy machine:
# make bench BENCH_FLAGS=--allow-busy (results marked NOT publishable).
bench: build $(BIN)/victoria-metrics
	GO="$(GO)" BENCH_FLAGS="$(BENCH_FLAGS)" ./scripts/bench.sh

soak: build
	$(BIN)/scadaotel-testbench run --scenario testbench/scenarios/soak.yaml
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeAPDU$$' -fuzztime $(SOAK_FUZZ_TIME) ./internal/iec104

clean:
	rm -rf $(BIN) $(DIST)
