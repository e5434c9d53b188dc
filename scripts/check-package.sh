#!/usr/bin/env bash
# The Debian package on this (throwaway CI) machine: builds it, installs it with dpkg -i, runs
# the installed onemap, checks the unit file with systemd-analyze verify, serves the demo as the
# `onemap` user with the installed config, then removes the package. Run by .ci/run; needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "FAIL: package: $*" >&2; exit 1; }
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || fail "needs root (dpkg -i) or sudo"
  exec sudo -E "$0" "$@"
fi
# It installs and purges the package and removes /var/lib/onemap afterwards: never on a machine
# where onemap is installed or a store lives there already.
if dpkg -s onemap >/dev/null 2>&1 || [ -e /var/lib/onemap ]; then
  fail "onemap is installed or /var/lib/onemap exists here; this check runs on a throwaway machine only"
fi
deb=$(scripts/package-deb.sh)
[ "$(dpkg-deb --field "$deb" Package)" = onemap ] || fail "no control file in $deb"
cleanup() { dpkg --purge onemap >/dev/null 2>&1 || true; rm -rf /var/lib/onemap; }
trap cleanup EXIT
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >/dev/null || fail "dpkg -i $deb"
version=$(/usr/bin/onemap --version) || fail "the installed onemap does not run"
getent passwd onemap >/dev/null || fail "no onemap system user"
[ "$(stat -c %U /var/lib/onemap)" = onemap ] || fail "/var/lib/onemap is not the onemap user's"
[ "$(stat -c '%a %G' /etc/onemap/onemap.toml)" = "640 onemap" ] || fail "/etc/onemap/onemap.toml is not 0640 root:onemap"
systemd-analyze verify /lib/systemd/system/onemap.service || fail "systemd-analyze verify onemap.service"
man -w onemap-serve >/dev/null || fail "no man page onemap-serve(1)"
# The service's own command, as its user, on the installed config (a free port instead of 8080).
runuser -u onemap -- /usr/bin/onemap --config /etc/onemap/onemap.toml --quiet demo --no-serve \
  || fail "importing the demo as the onemap user"
log=$(mktemp)
runuser -u onemap -- /usr/bin/onemap --config /etc/onemap/onemap.toml --log-format json \
  serve --bind 127.0.0.1:0 2>"$log" &
pid=$!
for _ in $(seq 50); do grep -q "http://" "$log" && break; sleep 0.2; done
base=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | head -1)
[ -n "$base" ] || { kill "$pid" 2>/dev/null; fail "the service did not start: $(cat "$log")"; }
health=$(python3 -c "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1] + '/health').status)" "$base") \
  || { kill "$pid"; fail "GET /health"; }
kill "$pid"; wait "$pid" 2>/dev/null || true
[ "$health" = 200 ] || fail "GET /health answered $health"
echo "ok: package $(basename "$deb") installs, runs ($version), its unit verifies, and it serves $base as the onemap user"
