#!/usr/bin/env bash
# The demo: build onemap, import the Xinzheng sample set into ./onemap.duckdb (once) and serve it
# on http://127.0.0.1:8080 (Ctrl-C stops). ONEMAP_DB / ONEMAP_BIND override.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh demo
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/onemap/target}"
# The same package and target selection as scripts/test.sh, so cargo resolves the same features and
# reuses the one DuckDB build (a narrower `--bin onemap` build would compile DuckDB's C++ again).
cargo build --release --workspace --all-targets --locked
# `onemap demo` imports the sample set (sample-data/manifest.toml) into the store if it is not
# there yet, then serves it. ONEMAP_DB / ONEMAP_BIND override the store and address.
exec "$CARGO_TARGET_DIR/release/onemap" demo "$@"
