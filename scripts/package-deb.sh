#!/usr/bin/env bash
# Build onemap's Debian package from the release binary (the web client embedded):
#   scripts/package-deb.sh [OUT_DIR]      → OUT_DIR/onemap_<version>_<arch>.deb
# (default OUT_DIR: $CARGO_TARGET_DIR/debian). The package holds /usr/bin/onemap, a systemd unit
# (onemap serve as the `onemap` system user, the store in /var/lib/onemap, logs to the journal),
# /etc/onemap/onemap.toml (a conffile), man pages and bash/zsh/fish completions generated from
# the command line. dpkg-deb only: no cargo-deb to build first.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/onemap/target}"
out="${1:-$CARGO_TARGET_DIR/debian}"
scripts/setup.sh demo >/dev/null
cargo build --release --locked --workspace --quiet
bin="$CARGO_TARGET_DIR/release/onemap"
version=$("$bin" --version | awk '{print $2}')
arch=$(dpkg --print-architecture)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

install -Dm755 "$bin" "$root/usr/bin/onemap"
install -Dm644 packaging/onemap.service "$root/lib/systemd/system/onemap.service"
install -Dm640 packaging/onemap.toml "$root/etc/onemap/onemap.toml"
"$bin" man --dir "$root/usr/share/man/man1"
gzip -9n "$root"/usr/share/man/man1/*.1
install -d "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
  "$root/usr/share/fish/vendor_completions.d"
"$bin" completions bash > "$root/usr/share/bash-completion/completions/onemap"
"$bin" completions zsh > "$root/usr/share/zsh/vendor-completions/_onemap"
"$bin" completions fish > "$root/usr/share/fish/vendor_completions.d/onemap.fish"
install -Dm644 README.md "$root/usr/share/doc/onemap/README.md"
install -Dm644 docs/SECURITY.md "$root/usr/share/doc/onemap/SECURITY.md"
cat > "$root/usr/share/doc/onemap/copyright" <<TXT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: onemap
Files: *
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
TXT

install -d "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<TXT
Package: onemap
Version: $version
Architecture: $arch
Maintainer: onemap developers <onemap@example.invalid>
Installed-Size: $size
Depends: libc6 (>= 2.34), libgcc-s1, libstdc++6, adduser
Section: science
Priority: optional
Homepage: https://example.invalid/onemap
Description: one map (一张图) GIS platform for a city
 Imports planning, land-use, pipeline, cadastral and heritage layers into one
 store and serves them as vector tiles, OGC API - Features and spatial
 queries over HTTP, with approval overlays, land-use checks and violation
 detection, accounts, API keys, an access policy and an access audit.
TXT
echo /etc/onemap/onemap.toml > "$root/DEBIAN/conffiles"
cat > "$root/DEBIAN/postinst" <<'TXT'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  if ! getent passwd onemap >/dev/null; then
    adduser --system --group --home /var/lib/onemap --no-create-home --quiet onemap
  fi
  install -d -o onemap -g onemap -m 0750 /var/lib/onemap
  chgrp onemap /etc/onemap/onemap.toml
  chmod 0640 /etc/onemap/onemap.toml
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null || true
    systemctl enable onemap.service >/dev/null 2>&1 || true
  fi
  echo "onemap: import layers as the onemap user (sudo -u onemap onemap --config /etc/onemap/onemap.toml import ...), add accounts (onemap users add), then: systemctl start onemap"
fi
TXT
cat > "$root/DEBIAN/prerm" <<'TXT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  systemctl stop onemap.service >/dev/null 2>&1 || true
  systemctl disable onemap.service >/dev/null 2>&1 || true
fi
TXT
cat > "$root/DEBIAN/postrm" <<'TXT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null || true; fi
# The store in /var/lib/onemap is the city's data: never removed by the package, also not on purge.
TXT
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
mkdir -p "$out"
deb="$out/onemap_${version}_${arch}.deb"
dpkg-deb --build --root-owner-group -Zgzip -z6 "$root" "$deb" >/dev/null
echo "$deb"
