#!/usr/bin/env bash
# Install what onemap needs from Debian. Idempotent; called by scripts/test.sh and scripts/demo.sh,
# never typed by hand.
#   scripts/setup.sh demo   — a C++ compiler for DuckDB's bundled build
#   scripts/setup.sh test   — plus PostgreSQL 15 + PostGIS 3 (the oracle the tests compare against)
set -euo pipefail
mode="${1:-test}"
need=()
command -v g++ >/dev/null 2>&1 || need+=(g++)
if [ "$mode" = test ]; then
  [ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
  dpkg -s postgresql-15-postgis-3 >/dev/null 2>&1 || need+=(postgresql-15-postgis-3)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "onemap setup: installing ${need[*]}" >&2
  if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
    echo "onemap setup: need root (or sudo) to apt-get install ${need[*]}" >&2; exit 1; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
