#!/bin/sh
# Build the sample kernel's disk image with this project's tools and gcc:
#     sh samples/os/build.sh [OUTDIR]      (default: samples/os/build)
# then boot it:
#     pyvm --disk OUTDIR/os.img --serial stdout
#     qemu-system-i386 -nographic -drive format=raw,file=OUTDIR/os.img
set -e
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/build}
mkdir -p "$out"
PYASM=${PYASM:-pyasm}
PYLD=${PYLD:-pyld}
CC=${CC:-gcc}
$PYASM -f bin "$here/boot.asm" -o "$out/boot.bin"
$PYASM -f elf32 "$here/entry.asm" -o "$out/entry.o"
$CC -m32 -march=i386 -ffreestanding -fno-pic -fno-pie -fno-stack-protector \
    -fno-asynchronous-unwind-tables -fcf-protection=none -mgeneral-regs-only \
    -O2 -Wall -c "$here/kernel.c" -o "$out/kernel.o"
$PYLD -m elf_i386 -Ttext=0x10000 -e _start --oformat binary \
    "$out/entry.o" "$out/kernel.o" -o "$out/kernel.bin"
size=$(wc -c < "$out/kernel.bin")
if [ "$size" -gt 32768 ]; then
    echo "kernel.bin is $size bytes: more than the 64 sectors boot.asm loads" >&2
    exit 1
fi
# the boot sector, then the kernel padded to the 64 sectors the boot sector reads
cat "$out/boot.bin" "$out/kernel.bin" > "$out/os.img"
truncate -s $((512 + 32768)) "$out/os.img"
echo "$out/os.img"
