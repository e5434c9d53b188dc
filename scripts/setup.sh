#!/usr/bin/env bash
# Install what onemap needs from Debian, PyPI and npm. Idempotent; called by scripts/test.sh and
# scripts/demo.sh, never typed by hand.
#   scripts/setup.sh demo   — a C++ compiler for DuckDB's bundled build; Node.js + npm, the npm
#                             packages (pinned by the lockfile) and the web client built into
#                             tile-server/web/dist, which the onemap binary embeds
#   scripts/setup.sh test   — plus PostgreSQL 15 + PostGIS 3 (the oracle the tests compare against)
#                             and Chromium (the web client's end-to-end test drives it), OWSLib and
#                             jsonschema for Python (a real OGC API client checks the server),
#                             python3-qgis + qgis-providers (QGIS headless, a real desktop client),
#                             libgdal-dev + pkg-config + gdal-bin (the `gdal` feature and its test),
#                             cmake + sqlite3 (the `proj` feature builds PROJ 9.6 from source),
#                             proj-bin (cs2cs, an oracle for the Gauss–Krüger zones),
#                             and from PyPI the tests' independent oracles (prcoords) and
#                             third-party data (geopandas' wheel: Natural Earth)
set -euo pipefail
mode="${1:-test}"
need=()
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ "$mode" = test ]; then
  [ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
  dpkg -s postgresql-15-postgis-3 >/dev/null 2>&1 || need+=(postgresql-15-postgis-3)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  dpkg -s python3-owslib >/dev/null 2>&1 || need+=(python3-owslib)
  # The `gdal` feature's build (libgdal 3.6 + pkg-config) and ogr2ogr for its test files.
  dpkg -s libgdal-dev >/dev/null 2>&1 || need+=(libgdal-dev)
  command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
  command -v ogr2ogr >/dev/null 2>&1 || need+=(gdal-bin)
  dpkg -s python3-jsonschema >/dev/null 2>&1 || need+=(python3-jsonschema)
  # QGIS (headless) adds collections and draws tiles as an analyst's desktop does.
  dpkg -s python3-qgis >/dev/null 2>&1 || need+=(python3-qgis)
  dpkg -s qgis-providers >/dev/null 2>&1 || need+=(qgis-providers)
  # man(1) renders the generated man pages in the CLI test.
  command -v man >/dev/null 2>&1 || need+=(man-db)
  # scripts/check-package.sh: the package's dependency adduser, and systemd-analyze for its unit.
  command -v adduser >/dev/null 2>&1 || need+=(adduser)
  command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
  # pyproj: PROJ's geodesic areas, the oracle for the corpus test.
  dpkg -s python3-pyproj >/dev/null 2>&1 || need+=(python3-pyproj)
  # The `proj` feature: PROJ's CMake build, and the sqlite3 shell that builds its proj.db.
  command -v cmake >/dev/null 2>&1 || need+=(cmake)
  command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
  # cs2cs: PROJ's command line, the oracle for every Gauss–Krüger zone.
  command -v cs2cs >/dev/null 2>&1 || need+=(proj-bin)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "onemap setup: installing ${need[*]}" >&2
  if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
    echo "onemap setup: need root (or sudo) to apt-get install ${need[*]}" >&2; exit 1; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# PyPI packages the tests use as independent oracles (prcoords: GCJ-02/BD-09), pinned, in a
# folder of the project's own (never the system's site-packages).
if [ "$mode" = test ]; then
  py="${ONEMAP_PYTHON_DEPS:-$HOME/.cache/onemap/python}"
  pins="prcoords==1.0.2"
  if [ "$(cat "$py/.onemap-stamp" 2>/dev/null)" != "$pins" ]; then
    echo "onemap setup: pip install $pins into $py" >&2
    python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
      --upgrade --target "$py" $pins
    echo "$pins" > "$py/.onemap-stamp"
  fi
fi

# Third-party data the corpus test imports with default options, as a package ships it:
# geopandas 0.14.4's wheel carries Natural Earth's countries and cities (and NYC's boroughs).
# Unpacked outside git, fetched once.
if [ "$mode" = test ]; then
  corpus="${ONEMAP_CORPUS:-$HOME/.cache/onemap/corpus}"
  wheel="geopandas==0.14.4"
  if [ "$(cat "$corpus/.onemap-stamp" 2>/dev/null)" != "$wheel" ]; then
    echo "onemap setup: fetching $wheel's datasets from PyPI into $corpus" >&2
    rm -rf "$corpus" && mkdir -p "$corpus"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --dest "$corpus" "$wheel"
    python3 -m zipfile -e "$corpus"/geopandas-*.whl "$corpus/geopandas"
    echo "$wheel" > "$corpus/.onemap-stamp"
  fi
fi

# npm packages (MapLibre GL JS for the web client; the tests' MVT decoder, style validator,
# mvt-fixtures, playwright-core), pinned by the lockfile; reinstalled only when it changes. Then the
# web client is built into tile-server/web/dist for the binary to embed.
web="$(cd "$(dirname "$0")/.." && pwd)/tile-server/web"
stamp="$(sha256sum "$web/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$web/node_modules/.onemap-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "onemap setup: npm ci in tile-server/web" >&2
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$stamp" > "$web/node_modules/.onemap-stamp"
fi
(cd "$web" && npm run --silent build >/dev/null)
