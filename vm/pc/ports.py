"""The PC's I/O port bus: IN and OUT reach the device that claims the port.

A device registers byte handlers for its ports; a 16- or 32-bit access to a byte device is
split into byte accesses at consecutive ports (as the ISA bus does), unless the device
takes whole words itself (``wide=True``). A read of a port nobody claims returns all ones,
a write to one is dropped, as on an ISA bus with nothing behind the address.

``--port-log FILE`` writes one line per OUT: the instruction count, the port, the access
size and the value, with POST codes (ports 80h and 190h) named, so a test ROM's progress
can be followed.
"""

from __future__ import annotations

from typing import Callable, Optional, TextIO

POST_PORTS = (0x80, 0x190)
MASKS = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF}


class Handler:
    __slots__ = ("read", "write", "wide")

    def __init__(self, read: Optional[Callable], write: Optional[Callable], wide: bool):
        self.read, self.write, self.wide = read, write, wide


class PortBus:
    def __init__(self):
        self.handlers: dict = {}
        self.log: Optional[TextIO] = None
        self.steps: Callable[[], int] = lambda: 0
        self.post: list = []            # POST codes written, in order

    def claim(self, ports, read: Optional[Callable] = None, write: Optional[Callable] = None,
              wide: bool = False) -> None:
        """``read(port, size) -> int`` and ``write(port, size, value)`` for ``ports``;
        size is always 1 unless ``wide``."""
        h = Handler(read, write, wide)
        for p in ports:
            self.handlers[p] = h

    def attach(self, machine) -> None:
        machine.on_port_in = lambda m, port, size: self.read(port, size)
        machine.on_port_out = lambda m, port, size, value: self.write(port, size, value)

    def read(self, port: int, size: int) -> int:
        h = self.handlers.get(port)
        if h is not None and (h.wide or size == 1):
            return (h.read(port, size) if h.read is not None else MASKS[size]) & MASKS[size]
        value = 0
        for k in range(size):
            h = self.handlers.get((port + k) & 0xFFFF)
            b = h.read((port + k) & 0xFFFF, 1) if h is not None and h.read else 0xFF
            value |= (b & 0xFF) << (8 * k)
        return value

    def write(self, port: int, size: int, value: int) -> None:
        if self.log is not None:
            self._log(port, size, value)
        if port in POST_PORTS and size == 1:
            self.post.append(value)
        h = self.handlers.get(port)
        if h is not None and (h.wide or size == 1):
            if h.write is not None:
                h.write(port, size, value & MASKS[size])
            return
        for k in range(size):
            p = (port + k) & 0xFFFF
            h = self.handlers.get(p)
            if h is not None and h.write is not None:
                h.write(p, 1, (value >> (8 * k)) & 0xFF)

    def _log(self, port: int, size: int, value: int) -> None:
        note = f"  POST {value:02X}h" if port in POST_PORTS and size == 1 else ""
        self.log.write(f"{self.steps():>12} out {port:04x} {'bwxd'[size - 1]} "
                       f"{value:0{2 * size}x}{note}\n")
