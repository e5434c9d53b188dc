#!/usr/bin/env bash
# Fuzz every target for N minutes each (bolero, random and structure-aware inputs, stable Rust,
# the same release build as the tests: no second DuckDB build):
#   scripts/fuzz.sh --minutes 10            every target
#   scripts/fuzz.sh --minutes 2 fuzz_wkb    targets whose name contains a word
# One target at a time. A failure prints bolero's input and seed; the script
# saves the report under fuzz-reports/ and exits non-zero. Reproduce with
#   BOLERO_RANDOM_SEED=<seed> cargo test --release --test fuzz <target>
# and keep the input under <crate>/tests/__fuzz__/<target>/crashes/ so every test run replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=1
filter=""
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) filter="$1"; shift ;;
  esac
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/onemap/target}"
scripts/setup.sh test >/dev/null
cargo test --release --locked --workspace --test fuzz --no-run 2>&1 | tail -1
mkdir -p fuzz-reports
export BOLERO_RANDOM_TEST_TIME_MS=$(( minutes * 60 * 1000 ))
# Inputs up to 64 KiB (bolero's default is 4 KiB): deep nesting needs room.
export BOLERO_RANDOM_MAX_LEN=65536
status=0
summary=fuzz-reports/summary.txt
: > "$summary"
for crate in onemap-engine onemap-importers onemap-tile-server; do
  targets=$(cargo test --release --locked -p "$crate" --test fuzz -- --list 2>/dev/null | sed -n 's/: test$//p' | grep -- "$filter" || true)
  for t in $targets; do
    log="fuzz-reports/$crate-$t.log"
    started=$(date +%s)
    if cargo test --release --locked -p "$crate" --test fuzz -- --exact "$t" --nocapture >"$log" 2>&1; then
      result=clean
    else
      result=FAILED; status=1
    fi
    iterations=$(grep -o 'iterations: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || true)
    echo "$crate $t: $result after $(( $(date +%s) - started )) s${iterations:+, $iterations inputs}" | tee -a "$summary"
  done
done
exit $status
