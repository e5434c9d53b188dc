#!/usr/bin/env bash
# Tests run per test binary, from a log of `cargo test` runs, and the tests that skipped
# (scripts/test.sh writes both). Exits 1 when any test skipped or any binary failed.
#   scripts/test-summary.sh LOG SKIPS
set -euo pipefail
log="$1"
skips="$2"
echo
echo "== tests run per binary =="
awk '
  # cargo runs one package at a time, its unit tests first: name each binary by its package.
  /^ *Running unittests / {
    if ($3 == "src/lib.rs" || $3 == "src/main.rs") {
      pkg = $NF; sub(/\)$/, "", pkg); sub(/.*\//, "", pkg); sub(/-[0-9a-f]+$/, "", pkg)
    }
    bin = pkg " " $3; next
  }
  /^ *Running / { bin = (pkg == "" ? "" : pkg " ") $2; next }
  /^ *Finished / { pkg = ""; next }
  /^== cargo / { print; next }
  /^ *Doc-tests / { bin = "doc-tests " $2; next }
  /^test result:/ {
    passed = $4; failed = $6; ignored = $8
    printf "%-60s %5d passed %3d failed %3d ignored\n", bin, passed, failed, ignored
    total += passed; bad += failed
  }
  END { printf "%-60s %5d passed %3d failed\n", "total", total, bad; if (bad > 0) exit 1 }
' "$log"
if [ -s "$skips" ]; then
  echo "== skipped (a dependency was missing) =="
  cat "$skips"
  exit 1
fi
echo "no test skipped"
