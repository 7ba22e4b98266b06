"""The A20 gate: with it off, address line 20 is held low, so every odd megabyte reads and
writes the even one below it (FFFF:0010 is 0000:0000, as on an 8086).

RAM is a shared memory file mapped once (``data``, the machine's ``mem.data``); turning
A20 off maps each odd MiB of that view onto the file's even MiB below, so both addresses
are the same host pages and the CPU pays nothing for the gate. Turning it on maps them
back. The machine's translations are dropped at each change (code at an aliased address
changed meaning), and while the gate is off a write into the high memory area also
invalidates translations of the low address it aliases.
"""

from __future__ import annotations

import mmap
import os
from typing import Optional

MIB = 1 << 20


class A20Memory:
    def __init__(self, size: int):
        self.size = -(-size // MIB) * MIB
        self.enabled = True
        self.machine = None
        self._fd: Optional[int] = None
        self._mmap = None
        try:
            import ctypes
            fd = os.memfd_create("pyvm-pc-ram", getattr(os, "MFD_CLOEXEC", 1))
            os.ftruncate(fd, self.size)
            buf = mmap.mmap(fd, self.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            libc = ctypes.CDLL(None, use_errno=True)
            fn = libc.mmap
            fn.restype = ctypes.c_void_p
            fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                           ctypes.c_int, ctypes.c_long]
            self._map = fn
            self._errno = ctypes.get_errno
            self._addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
            self._fd, self.data = fd, buf
        except (AttributeError, OSError, ImportError, ValueError, TypeError):
            # no memfd or ctypes: plain RAM, and the gate cannot be turned off
            self.data = bytearray(self.size)

    @property
    def can_mask(self) -> bool:
        return self._fd is not None

    def attach(self, machine) -> None:
        self.machine = machine

    def set(self, enabled: bool) -> None:
        enabled = bool(enabled)
        if enabled == self.enabled:
            return
        if not self.can_mask:
            if not enabled:
                from vm.x86.faults import Unsupported
                raise Unsupported("turning the A20 gate off needs memfd_create on the host")
            return
        for mib in range(1, self.size // MIB, 2):
            source = mib if enabled else mib - 1
            flags = mmap.MAP_SHARED | 0x10                  # MAP_FIXED
            got = self._map(self._addr + mib * MIB, MIB, mmap.PROT_READ | mmap.PROT_WRITE,
                            flags, self._fd, source * MIB)
            if got != self._addr + mib * MIB:
                raise OSError(self._errno(), "mmap(MAP_FIXED) of guest RAM failed")
        self.enabled = enabled
        m = self.machine
        if m is not None:
            m.flush_translations()
            mem = m.mem
            if not enabled and mem.size > MIB:
                mem.watch(MIB, min(2 * MIB, mem.size), self._high_write)

    def _high_write(self, addr: int, data: bytes) -> None:
        """A write at or above 1 MiB while the gate is off: the code it aliases changed."""
        mem = self.machine.mem
        if not self.enabled and mem.code_written is not None:
            mem.code_written(addr - MIB, addr - MIB + len(data))
