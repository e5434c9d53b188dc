#!/usr/bin/env bash
# Each outside dependency a test needs, hidden in turn (ONEMAP_TEST_HIDE): the test must fail
# with a message naming what is missing — never pass by skipping. Run by .ci/run after the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/onemap/target}"
status=0
# dependency (as the test names it) : test binary : one test in it
for case in \
  "PostgreSQL:postgis_oracle:engine_agrees_with_postgis" \
  "npm packages:web_tiles:" \
  "mvt-fixtures:mvt_fixtures:" \
  "playwright-core:web_client:" \
  "python3-owslib:ogc_client:owslib_reads_every_collection_to_the_end" \
  "python3-qgis:ogc_client:qgis_adds_every_collection_and_draws_its_tiles" \
  "ogr2ogr:importers:every_geopackage_table_in_one_run" \
  "ogrinfo:importers:export_round_trips_through_the_importers" \
  "prcoords:offset_oracle:" \
  "third-party corpus:corpus:" \
  "cs2cs:crs_cs2cs:"; do
  IFS=: read -r dep bin test <<<"$case"
  out=$(ONEMAP_TEST_HIDE="$dep" cargo test --release --workspace --locked --test "$bin" -- $test 2>&1) && ok=1 || ok=0
  if [ $ok = 1 ]; then
    echo "FAIL: with $dep hidden, tests/$bin passed"; status=1
  elif grep -q "$dep.* is missing" <<<"$out"; then
    echo "ok: with $dep hidden, tests/$bin fails: $(grep -o "[^']*$dep[^']* is missing[^\"]*" <<<"$out" | head -1)"
  else
    echo "FAIL: with $dep hidden, tests/$bin failed without naming it"; status=1
  fi
done
exit $status
