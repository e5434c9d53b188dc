#!/usr/bin/env bash
# Fuzz every target for N minutes each (bolero: random and structure-aware inputs, on stable Rust,
# in the same release build as the tests — no second build of DuckDB's C++):
#   scripts/fuzz.sh --minutes 10              every target, two at a time (one per core)
#   scripts/fuzz.sh --minutes 2 wkb           targets whose name contains a word
# A failing input makes the target fail: its report (bolero's input and seed) is kept under
# fuzz-reports/, the script exits 1. Reproduce with BOLERO_RANDOM_SEED=<seed> and the target's
# test binary, and keep the input under <crate>/tests/__fuzz__/<target>/crashes/ so every test
# run replays it. fuzz-reports/summary.txt has every target's result and input count.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=1
filter=""
jobs=2
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) filter="$1"; shift ;;
  esac
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/onemap/target}"
scripts/setup.sh test >/dev/null
# Always --workspace: one package alone would rebuild DuckDB's C++ with other features.
bins=$(cargo test --release --locked --workspace --test fuzz --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p')
mkdir -p fuzz-reports
summary=fuzz-reports/summary.txt
: > "$summary"
export BOLERO_RANDOM_TEST_TIME_MS=$(( minutes * 60 * 1000 ))
# Inputs up to 64 KiB (bolero's default is 4 KiB): deep nesting needs room.
export BOLERO_RANDOM_MAX_LEN=65536
run_one() {
  local bin="$1" t="$2" log="fuzz-reports/$2.log" started result
  started=$(date +%s)
  if "$bin" --exact "$t" --nocapture >"$log" 2>&1; then result=clean; else result=FAILED; fi
  local n
  n=$(sed -n "s/^$t: \([0-9]*\) inputs$/\1/p" "$log" | tail -1)
  echo "$t: $result after $(( $(date +%s) - started )) s, ${n:-?} inputs" | tee -a "$summary"
  [ "$result" = clean ]
}
pids=()
status=0
for bin in $bins; do
  for t in $("$bin" --list 2>/dev/null | sed -n 's/: test$//p' | grep -- "$filter" || true); do
    run_one "$bin" "$t" & pids+=($!)
    if [ ${#pids[@]} -ge "$jobs" ]; then
      wait "${pids[0]}" || status=1
      pids=("${pids[@]:1}")
    fi
  done
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
echo "== $(grep -c clean "$summary") clean, $(grep -c FAILED "$summary" || true) failed; reports in fuzz-reports/"
exit $status
