"""``pyvm --disk IMAGE``: pyvm's BIOS boots a disk image on the PC, as a PC BIOS does:
the first sector is read to 0000:7C00 and entered with DL=80h (the first hard disk)
once it ends with the boot signature 55h AAh. The image is hard disk 80h for int 13h;
its writes go to a copy in memory unless ``--disk-write`` asks to write the file itself.
"""

from __future__ import annotations

import errno
import os
import stat

from formats.inputs import InputError, read_open
from formats.outputs import parent_fd
from vm.options import RunOptions
from vm.pc.bios import TABLES as BIOS_TABLES
from vm.pc.disk import TABLES as DISK_TABLES
from vm.pc.disk import Disk
from vm.pc.ivt import InterruptRouter
from vm.pc.pcbios import PCBIOS
from vm.pc.system import SetupError, build, execute, fail

BOOT_ORG = 0x7C00
BOOT_DRIVE = 0x80
SECTOR = 512


class RealModeRouter(InterruptRouter):
    """The BIOS services answer INT n only in real-address mode: a protected-mode
    kernel's INT goes through its own IDT."""

    def on_interrupt(self, m, vector: int, software: bool) -> bool:
        if not m.cpu.real:
            return False
        return super().on_interrupt(m, vector, software)


def open_image(path: str, write: bool):
    """The image file, opened to be read (and with ``--disk-write`` written in place).
    A final symlink is not followed for writing: the image usually lies where guests
    write (the start directory), and one of an earlier run may have replaced it with a
    link to any file or disk of the user, which the boot sector would then write; or one
    of its directories with a link (as open_run_output refuses for the other files a run
    writes: formats/outputs.py)."""
    if not write:
        return open(path, "rb")
    parent, name = parent_fd(path)     # (a link among its directories: as for outputs)
    try:
        fd = os.open(name, os.O_RDWR | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC,
                     dir_fd=parent)
    except OSError as e:
        if e.errno == errno.ELOOP and stat.S_ISLNK(
                os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
            raise OSError(errno.ELOOP, "--disk-write: a symbolic link, not followed (a "
                          "guest may have made it): name the image itself") from None
        raise
    finally:
        os.close(parent)
    return os.fdopen(fd, "r+b")


def run_disk(path: str, opts: RunOptions) -> int:
    try:
        f = open_image(path, opts.disk_write)
    except OSError as e:
        return fail(path, e.strerror or str(e))
    try:
        try:
            image = read_open(f, path)
        except InputError as e:
            return fail(path, str(e))
        if len(image) < SECTOR:
            return fail(path, f"not a bootable disk: {len(image)} bytes, less than one "
                        "sector")
        if image[510:512] != b"\x55\xaa":
            return fail(path, "not a bootable disk: the first sector does not end with "
                        "55h AAh")
        try:
            pc, budget = build(opts)
        except SetupError as e:
            return fail(path, str(e))
        m = pc.m
        pc.kbc.take_keys = lambda: not m.cpu.real   # int 16h reads them in real mode
        bios = PCBIOS(pc, pc.console)
        disk = Disk(image, backing=f if opts.disk_write else None)
        RealModeRouter(m, [(BIOS_TABLES, bios), (DISK_TABLES, disk)]).install()
        bios.install()
        m.load(BOOT_ORG, image[:SECTOR])
        for seg in ("cs", "ds", "es", "ss"):
            m.set_segment(seg, 0)
        m.set_reg("dl", BOOT_DRIVE)
        m.set_reg("sp", BOOT_ORG)
        m.set_reg("ip", BOOT_ORG)
        m.set_reg("flags", 0x0202)
        return execute(pc, path, opts, budget)
    finally:
        f.close()
