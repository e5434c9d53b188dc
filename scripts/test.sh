#!/usr/bin/env bash
# The whole test suite: `scripts/test.sh` (extra arguments go to `cargo test`).
# One cargo profile (release) for tests, demo and benches: DuckDB's C++ is built once.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/onemap/target}"
cargo test --release --workspace --locked "$@"
# The `gdal` feature (system libgdal): formats only GDAL/OGR reads. Its own feature set, so cargo
# builds the importers and what uses them a second time (DuckDB is not rebuilt).
cargo test --release --workspace --locked --features gdal --test importers_gdal
# The `proj` feature (PROJ 9.6 built from source): every unit test again with PROJ linked — the
# CRS module then checks proj4rs against PROJ — and files in systems only PROJ knows, end to end.
# Not together with `gdal` (libgdal links Debian's PROJ 9.1).
cargo test --release --workspace --locked --features proj --lib --test crs_proj
