#!/usr/bin/env bash
# Build a Debian i386 root for `pyvm --root DIR` (and `qemu-i386 -L DIR`) from packages:
# the packages named (default: a small userland) and, recursively, the library packages
# they depend on, fetched with `apt-get download` and unpacked with `dpkg -x`. Nothing is
# installed on the host and no maintainer script runs, so the few links those scripts
# would make (/bin/sh, awk, lua) are made here.
#
#   scripts/make-i386-root.sh DIR [PACKAGE...]
#
# Needs apt with the i386 architecture enabled (`dpkg --add-architecture i386 &&
# apt-get update`; done here when run as root). DIR is replaced only when complete.
set -euo pipefail

DEFAULT_PACKAGES="libc6 coreutils dash gzip sed grep gawk bc lua5.4"

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    echo "usage: $0 DIR [PACKAGE...]   (default packages: $DEFAULT_PACKAGES)" >&2
    exit 2
fi
dest=$1
shift
packages=${*:-$DEFAULT_PACKAGES}

if ! dpkg --print-foreign-architectures | grep -qx i386; then
    if [ "$(id -u)" != 0 ]; then
        echo "$0: the i386 architecture is not enabled for apt; as root run:" >&2
        echo "    dpkg --add-architecture i386 && apt-get update" >&2
        exit 1
    fi
    dpkg --add-architecture i386
    apt-get update -qq
fi

# The closure: the named packages and every library package (lib*, gcc-*-base) their
# Depends and Pre-Depends reach; the first of alternatives, real packages only.
declare -A seen=()
queue=()
for p in $packages; do queue+=("${p%:i386}:i386"); done
while [ ${#queue[@]} -gt 0 ]; do
    p=${queue[0]}
    queue=("${queue[@]:1}")
    [ -n "${seen[$p]:-}" ] && continue
    seen[$p]=1
    deps=$(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
               --no-replaces --no-enhances "$p" \
           | awk '/^ *\|?(Pre)?Depends:/ { alt = ($1 ~ /^\|/); if (!skip) print $2;
                                           skip = alt; next }')
    for d in $deps; do
        case $d in
            "<"*) continue ;;                       # a virtual package
        esac
        d=${d%:i386}
        case $d in
            lib*|gcc-*-base) queue+=("$d:i386") ;;
        esac
    done
done

work=$(mktemp -d "${TMPDIR:-/tmp}/i386-root.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debs" "$work/root"
chmod 755 "$work" "$work/debs"          # apt downloads as _apt when it can
(cd "$work/debs" && apt-get download -qq "${!seen[@]}")
for deb in "$work"/debs/*.deb; do
    dpkg -x "$deb" "$work/root"
done

r=$work/root
# what the maintainer scripts and alternatives would have made
[ -e "$r/bin/sh" ] || ln -s dash "$r/bin/sh"
[ -e "$r/usr/bin/awk" ] || { [ -e "$r/usr/bin/gawk" ] && ln -s gawk "$r/usr/bin/awk"; }
[ -e "$r/usr/bin/lua" ] || { [ -e "$r/usr/bin/lua5.4" ] && ln -s lua5.4 "$r/usr/bin/lua"; }
mkdir -p "$r/tmp" "$r/etc" "$r/dev"
# the devices programs expect (2>/dev/null): pyvm emulates these names, qemu-i386 -L
# opens them, so they are the real nodes when we may make them
for dev in null:3 zero:5 full:7 random:8 urandom:9; do
    mknod -m 666 "$r/dev/${dev%:*}" c 1 "${dev#*:}" 2>/dev/null || {
        echo "$0: cannot mknod $r/dev/${dev%:*} (not root?): an empty file stands in" >&2
        : > "$r/dev/${dev%:*}"
    }
done
chmod 1777 "$r/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$r/etc/passwd"
printf 'root:x:0:\n' > "$r/etc/group"
# libc-bin's trigger: the loader's cache, so that ld.so in the root (pyvm's, qemu's,
# a chroot's) finds the root's libraries without a directory search
printf 'include /etc/ld.so.conf.d/*.conf\n' > "$r/etc/ld.so.conf"
ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)
"$ldconfig" -r "$r" 2>/dev/null || echo "$0: ldconfig -r failed: no ld.so.cache" >&2
ls "$work/debs" > "$r/.packages"

rm -rf "$dest.old"
[ -e "$dest" ] && mv "$dest" "$dest.old"
mkdir -p "$(dirname "$dest")"
mv "$r" "$dest"
rm -rf "$dest.old"
echo "$dest: $(wc -l < "$dest/.packages") packages: $(tr '\n' ' ' < "$dest/.packages")"
