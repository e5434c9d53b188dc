#!/usr/bin/env bash
# The whole test suite: `scripts/test.sh` (extra arguments go to `cargo test`).
# One cargo profile (release) for tests, demo and benches: DuckDB's C++ is built once.
# Always --workspace: building one package alone unifies build-dependency features differently
# and rebuilds DuckDB's C++.
# A test whose outside dependency is missing fails (tests/common: `require`); the output of
# every cargo run is kept in $CARGO_TARGET_DIR/onemap-test.log and skips (only with
# ONEMAP_TEST_ALLOW_MISSING, never in CI) in onemap-skipped.txt, for scripts/test-summary.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/onemap/target}"
mkdir -p "$CARGO_TARGET_DIR"
log="$CARGO_TARGET_DIR/onemap-test.log"
export ONEMAP_SKIP_LOG="$CARGO_TARGET_DIR/onemap-skipped.txt"
: > "$log"
: > "$ONEMAP_SKIP_LOG"
run() {
  echo "== $* ==" | tee -a "$log"
  "$@" 2>&1 | tee -a "$log"
  return "${PIPESTATUS[0]}"
}
run cargo test --release --workspace --locked "$@"
# The `gdal` feature (system libgdal): formats only GDAL/OGR reads. Its own feature set, so cargo
# builds the importers and what uses them a second time (DuckDB is not rebuilt).
run cargo test --release --workspace --locked --features gdal --test importers_gdal
# The `proj` feature (PROJ 9.6 built from source): every unit test again with PROJ linked — the
# CRS module then checks proj4rs against PROJ — and files in systems only PROJ knows, end to end.
# Not together with `gdal` (libgdal links Debian's PROJ 9.1).
run cargo test --release --workspace --locked --features proj --lib --test crs_proj
scripts/test-summary.sh "$log" "$ONEMAP_SKIP_LOG"
