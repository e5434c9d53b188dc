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
