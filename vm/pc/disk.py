"""BIOS disk services (int 13h) for a 16-bit image run on the BIOS: the image file itself
is hard disk 80h, as if it had been written to sector 0 of a disk and booted from it, so
a boot sector can load the rest of its own file with AH=02h (CHS) or AH=42h (LBA).

The disk has 16 heads and 63 sectors a track and as many cylinders as the image needs;
sectors past the end of the image read as zeros. Writes (AH=03h, 43h) change the disk in
memory only, never the file, unless it is ``pyvm --disk IMAGE --disk-write``.
"""

from __future__ import annotations

from vm.pc.services import DiskError, ServiceTable, read_bytes, write_bytes

DISK = ServiceTable(0x13, "BIOS")
TABLES = (DISK,)

SECTOR = 512
HEADS, SECTORS_PER_TRACK = 16, 63
DRIVE = 0x80


class Disk:
    def __init__(self, image: bytes, backing=None):
        """``backing``: a file opened for writing in place (``pyvm --disk-write``): every
        write goes to it too; otherwise writes change only the copy in memory."""
        per_cylinder = HEADS * SECTORS_PER_TRACK
        sectors = max(1, -(-len(image) // SECTOR))
        self.cylinders = min(1024, -(-sectors // per_cylinder))
        self.sectors = self.cylinders * per_cylinder
        self.data = bytearray(image)
        self.backing = backing
        self.capacity = max(1, -(-len(image) // SECTOR))    # the image's own sectors
        self.size = len(image)          # --disk-write writes the file within it, never past

    def check(self, m) -> None:
        if m.reg("dl") != DRIVE:
            raise DiskError(0x01, f"no drive {m.reg('dl'):02X}h")

    def transfer(self, lba: int, count: int, write: bool, buffer) -> bytes:
        """Read or write ``count`` sectors at ``lba``; buffer is (seg, off) in memory."""
        if count == 0 or lba + count > self.sectors:
            raise DiskError(0x04, f"sectors {lba}..{lba + count - 1} are not on the disk")
        start, end = lba * SECTOR, (lba + count) * SECTOR
        if write:
            data = buffer()
            if len(self.data) < end:
                self.data.extend(bytes(end - len(self.data)))
            self.data[start:end] = data
            if self.backing is not None and start < self.size:
                # the file keeps its size (a guest must not grow it to fill the disk):
                # sectors past its end live in the copy in memory only
                try:
                    self.backing.seek(start)
                    self.backing.write(data[:self.size - start])
                    self.backing.flush()
                except OSError as e:
                    raise DiskError(0xCC, f"cannot write the image: {e.strerror or e}") \
                        from None
            return data
        data = bytes(self.data[start:end])
        return data + bytes(end - start - len(data))


def _chs(m) -> int:
    cx, dh = m.reg("cx"), m.reg("dh")
    cylinder = cx >> 8 | (cx & 0xC0) << 2
    sector = cx & 0x3F
    if sector == 0 or sector > SECTORS_PER_TRACK or dh >= HEADS:
        raise DiskError(0x04, f"no sector C={cylinder} H={dh} S={sector}")
    return (cylinder * HEADS + dh) * SECTORS_PER_TRACK + sector - 1


@DISK.service(0x00, "reset", "dl", "ah cf", carry=True)
def reset(disk: Disk, m) -> None:
    disk.check(m)
    m.set_reg("ah", 0)


@DISK.service(0x01, "status", "dl", "ah cf", carry=True)
def status(disk: Disk, m) -> None:
    m.set_reg("ah", 0)              # failures are reported by the call that failed


@DISK.service(0x02, "read_sectors", "al ch cl dh dl es:bx", "ax cf", carry=True)
def read_sectors(disk: Disk, m) -> str:
    disk.check(m)
    lba, count = _chs(m), m.reg("al")
    write_bytes(m, "es", m.reg("bx"), disk.transfer(lba, count, False, None))
    m.set_reg("ax", count)
    return f"LBA {lba}"


@DISK.service(0x03, "write_sectors", "al ch cl dh dl es:bx", "ax cf", carry=True)
def write_sectors(disk: Disk, m) -> str:
    disk.check(m)
    lba, count = _chs(m), m.reg("al")
    disk.transfer(lba, count, True,
                  lambda: read_bytes(m, "es", m.reg("bx"), count * SECTOR))
    m.set_reg("ax", count)
    return f"LBA {lba}"


@DISK.service(0x08, "drive_parameters", "dl", "cx dx cf", carry=True)
def drive_parameters(disk: Disk, m) -> None:
    disk.check(m)
    last = disk.cylinders - 1
    m.set_reg("cx", (last & 0xFF) << 8 | (last >> 8) << 6 | SECTORS_PER_TRACK)
    m.set_reg("dx", (HEADS - 1) << 8 | 1)
    m.set_reg("ax", 0)


@DISK.service(0x15, "disk_type", "dl", "ah cx dx cf", carry=True)
def disk_type(disk: Disk, m) -> None:
    disk.check(m)
    m.set_reg("ah", 3)                          # a fixed disk
    m.set_reg("cx", disk.sectors >> 16)
    m.set_reg("dx", disk.sectors & 0xFFFF)


@DISK.service(0x41, "extensions_present", "bx dl", "ah bx cx cf", carry=True)
def extensions_present(disk: Disk, m) -> None:
    disk.check(m)
    if m.reg("bx") != 0x55AA:
        raise DiskError(0x01, "BX is not 55AAh")
    m.set_reg("bx", 0xAA55)
    m.set_reg("ah", 0x21)                       # EDD 1.1
    m.set_reg("cx", 1)                          # the packet functions 42h-44h, 47h, 48h


def _packet(m) -> tuple:
    """(lba, count, buffer seg, buffer off) from the disk address packet at DS:SI."""
    p = read_bytes(m, "ds", m.reg("si"), 16)
    if p[0] < 16:
        raise DiskError(0x01, f"disk address packet of {p[0]} bytes")
    count = int.from_bytes(p[2:4], "little")
    off, seg = int.from_bytes(p[4:6], "little"), int.from_bytes(p[6:8], "little")
    return int.from_bytes(p[8:16], "little"), count, seg, off


@DISK.service(0x42, "extended_read", "dl ds:si", "ah cf", carry=True)
def extended_read(disk: Disk, m) -> str:
    disk.check(m)
    lba, count, seg, off = _packet(m)
    m.write(seg * 16 + off, disk.transfer(lba, count, False, None))
    m.set_reg("ah", 0)
    return f"LBA {lba} x{count} -> {seg:04x}:{off:04x}"


@DISK.service(0x43, "extended_write", "al dl ds:si", "ah cf", carry=True)
def extended_write(disk: Disk, m) -> str:
    disk.check(m)
    lba, count, seg, off = _packet(m)
    disk.transfer(lba, count, True, lambda: m.read(seg * 16 + off, count * SECTOR))
    m.set_reg("ah", 0)
    return f"LBA {lba} x{count} <- {seg:04x}:{off:04x}"


@DISK.service(0x48, "extended_parameters", "dl ds:si", "ah cf", carry=True)
def extended_parameters(disk: Disk, m) -> str:
    """The EDD 1.1 result buffer at DS:SI (the caller sets its size, at least 1Ah):
    size, flags (geometry valid), cylinders, heads, sectors per track, total sectors,
    bytes per sector."""
    disk.check(m)
    size = int.from_bytes(read_bytes(m, "ds", m.reg("si"), 2), "little")
    if size < 0x1A:
        raise DiskError(0x01, f"result buffer of {size} bytes")
    info = (0x1A).to_bytes(2, "little") + (2).to_bytes(2, "little") \
        + disk.cylinders.to_bytes(4, "little") + HEADS.to_bytes(4, "little") \
        + SECTORS_PER_TRACK.to_bytes(4, "little") + disk.capacity.to_bytes(8, "little") \
        + SECTOR.to_bytes(2, "little")
    write_bytes(m, "ds", m.reg("si"), info)
    m.set_reg("ah", 0)
    return f"{disk.capacity} sectors"


@DISK.service(0x44, "extended_verify", "dl ds:si", "ah cf", carry=True)
def extended_verify(disk: Disk, m) -> str:
    disk.check(m)
    lba, count, _, _ = _packet(m)
    disk.transfer(lba, count, False, None)      # the sectors are there and readable
    m.set_reg("ah", 0)
    return f"LBA {lba} x{count}"


@DISK.service(0x47, "extended_seek", "dl ds:si", "ah cf", carry=True)
def extended_seek(disk: Disk, m) -> str:
    disk.check(m)
    lba, _, _, _ = _packet(m)
    if lba >= disk.sectors:
        raise DiskError(0x04, f"sector {lba} is not on the disk")
    m.set_reg("ah", 0)
    return f"LBA {lba}"
