#!/usr/bin/env bash
# Make sure a nats-server binary exists for the integration tests (npm's pretest).
# Order: $NATS_SERVER_BIN, PATH, ~/go/bin, Debian's package (as root), `go install`.
# Where none of these can work it stops with one line saying how to get one.
set -uo pipefail
found() { echo "nats-server: $1 ($("$1" --version 2>/dev/null))"; exit 0; }
[ -n "${NATS_SERVER_BIN:-}" ] && [ -x "$NATS_SERVER_BIN" ] && found "$NATS_SERVER_BIN"
command -v nats-server >/dev/null 2>&1 && found "$(command -v nats-server)"
[ -x "$HOME/go/bin/nats-server" ] && found "$HOME/go/bin/nats-server"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing nats-server from Debian's packages…" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server) >/dev/null 2>&1
  command -v nats-server >/dev/null 2>&1 && found "$(command -v nats-server)"
fi
if command -v go >/dev/null 2>&1; then
  echo "building nats-server with go install…" >&2
  GOBIN="$HOME/go/bin" go install github.com/nats-io/nats-server/v2@latest >/dev/null 2>&1
  [ -x "$HOME/go/bin/nats-server" ] && found "$HOME/go/bin/nats-server"
fi
echo "the tests need nats-server: run 'apt-get install nats-server' or 'go install github.com/nats-io/nats-server/v2@latest', or set NATS_SERVER_BIN" >&2
exit 1
