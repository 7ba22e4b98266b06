#!/usr/bin/env bash
# Fetch the busybox the Linux tests run: Debian's static i386 build (busybox-static:i386),
# unpacked with `dpkg -x` into DIR (default /tmp/pyvm-busybox), so that
#
#   export PYVM_BUSYBOX=DIR/bin/busybox
#
# points the tests (tests/linux/kit.py) at it. Needs apt with the i386 architecture
# enabled (done here when run as root).
set -euo pipefail

dest=${1:-/tmp/pyvm-busybox}

if ! dpkg --print-foreign-architectures | grep -qx i386; then
    if [ "$(id -u)" != 0 ]; then
        echo "$0: the i386 architecture is not enabled for apt; as root run:" >&2
        echo "    dpkg --add-architecture i386 && apt-get update" >&2
        exit 1
    fi
    dpkg --add-architecture i386
    apt-get update -qq
fi

rm -rf "$dest" && mkdir -p "$dest"
for attempt in 1 2 3; do
    (cd "$dest" && apt-get download -qq busybox-static:i386 \
        && dpkg -x busybox-static_*.deb .) && break
    echo "busybox-static:i386 download failed (attempt $attempt)" >&2
    [ "$attempt" = 3 ] && exit 1
    sleep $((attempt * 10))
    [ "$(id -u)" = 0 ] && apt-get update -qq || true
done
echo "export PYVM_BUSYBOX=$dest/bin/busybox"
