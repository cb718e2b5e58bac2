#!/usr/bin/env bash
# Builds the meet Debian package (meet_<version>_<arch>.deb) from release binaries with dpkg-deb:
#   /usr/bin/{meet-control,meet-relay,meetctl}
#   /lib/systemd/system/{meet-relay,meet-control}.service   (systemd/, with ExecStart in /usr/bin)
#   /etc/meet/meet.toml                                      (packaging/meet.toml, a conffile)
#   /usr/share/doc/meet/meet.example.toml                    (every key, commented)
# and the maintainer scripts of packaging/debian/ (the `meet` user, /var/lib/meet, the services
# enabled). Install and remove: docs/operations.md, "Install from the Debian package".
#
# Usage: packaging/build-deb.sh [--bin-dir DIR] [--out DIR]
#   --bin-dir  where the binaries are (default: $CARGO_TARGET_DIR/release or target/release)
#   --out      where the .deb goes (default: target/debian); its path is printed on stdout.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN_DIR=${CARGO_TARGET_DIR:-target}/release
OUT=target/debian
while [ $# -gt 0 ]; do
    case $1 in
        --bin-dir) BIN_DIR=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        *) echo "usage: $0 [--bin-dir DIR] [--out DIR]" >&2; exit 2 ;;
    esac
done

for tool in dpkg-deb dpkg; do
    command -v "$tool" >/dev/null || { echo "build-deb.sh: $tool is needed (Debian's dpkg)" >&2; exit 1; }
done
BINARIES=(meet-control meet-relay meetctl)
for b in "${BINARIES[@]}"; do
    [ -x "$BIN_DIR/$b" ] || { echo "build-deb.sh: no $BIN_DIR/$b; run cargo build --release --bins" >&2; exit 1; }
done

VERSION=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
[ -n "$VERSION" ] || { echo "build-deb.sh: no version in Cargo.toml [workspace.package]" >&2; exit 1; }
ARCH=$(dpkg --print-architecture)

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
install -d -m 0755 "$STAGE/DEBIAN" "$STAGE/usr/bin" "$STAGE/lib/systemd/system" "$STAGE/etc/meet" \
    "$STAGE/usr/share/doc/meet"
for b in "${BINARIES[@]}"; do
    install -m 0755 "$BIN_DIR/$b" "$STAGE/usr/bin/$b"
    # Release builds keep line tables for backtraces; the package does not need them.
    if command -v objcopy >/dev/null; then
        objcopy --strip-debug "$STAGE/usr/bin/$b"
    fi
done
for unit in meet-relay meet-control; do
    sed 's#/usr/local/bin/#/usr/bin/#g' "systemd/$unit.service" >"$STAGE/lib/systemd/system/$unit.service"
    chmod 0644 "$STAGE/lib/systemd/system/$unit.service"
done
install -m 0640 packaging/meet.toml "$STAGE/etc/meet/meet.toml"
install -m 0644 meet.example.toml "$STAGE/usr/share/doc/meet/meet.example.toml"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$STAGE/DEBIAN/"
echo /etc/meet/meet.toml >"$STAGE/DEBIAN/conffiles"

INSTALLED_SIZE=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
cat >"$STAGE/DEBIAN/control" <<CONTROL
Package: meet
Version: $VERSION
Architecture: $ARCH
Maintainer: meet developers <meet@localhost>
Installed-Size: $INSTALLED_SIZE
Depends: libc6 (>= 2.34), libgcc-s1, passwd, init-system-helpers (>= 1.54)
Section: net
Priority: optional
Description: self-hosted video conferencing server
 meet-control (web client, signalling, Server API, webhooks), meet-relay (the
 media relay, an SFU) and meetctl (the operator's command line), with systemd
 units that run both daemons as the meet system user.
CONTROL

mkdir -p "$OUT"
DEB="$OUT/meet_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zgzip --build "$STAGE" "$DEB" >&2
echo "$DEB"
