# test-tools.sh, sourced by install-test-deps.sh (which installs these with
# `go install` into $BIN, bin/ by default) and check-test-deps.sh (which
# checks them): the Go-built test tools and their pinned versions, in one
# place.
#   telemetrygen - the OpenTelemetry project's own OTLP load generator: an
#                  OTLP client this project did not write, for the TLS test
TELEMETRYGEN_PKG=github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen
TELEMETRYGEN_VERSION=v0.161.0

# tg_pinned BINARY: go's build information of BINARY names the pinned module
# (so moving the pin makes make test-deps rebuild it).
tg_pinned() {
  local info
  info=$(go version -m "$1" 2>/dev/null) || return 1
  [[ "$info" == *$'\tmod\t'"$TELEMETRYGEN_PKG"$'\t'"$TELEMETRYGEN_VERSION"$'\t'* ]]
}
