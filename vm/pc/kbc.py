"""The 8042 keyboard controller (ports 60h and 64h), the keyboard behind it, and the A20
gate: output port bit 1 (commands D0h/D1h) and the "fast A20" bit 1 of port 92h.

Controller commands (IBM PC/AT Technical Reference, 8042 section): 20h/60h read/write the
command byte (bit 0: IRQ 1 on output buffer full, bit 2: system flag, bit 4: keyboard
disabled, bit 6: translate to scan code set 1), AAh self test (55h), ABh keyboard
interface test (00h), ADh/AEh disable/enable the keyboard, A7h/A8h/A9h the auxiliary
port, C0h read the input port, D0h/D1h read/write the output port, D2h write the
keyboard output buffer, DDh/DFh A20 off/on, FEh (and any Fxh pulsing bit 0) reset.
Keyboard commands written to port 60h are answered as a keyboard does: FAh (ACK) for
EDh LEDs, F0h scan code set, F2h identify (ABh 83h), F3h typematic, F4h/F5h
enable/disable, F6h defaults, FFh reset (FAh AAh), EEh echo (EEh).

Keys come from the host's stdin (when the console is the keyboard): each byte becomes
the set 1 make and break codes of the US key that types it, delivered one byte per read
of port 60h, with IRQ 1 when the command byte asks for it. Under pyvm's own BIOS the
keys belong to int 16h while the CPU is in real mode, and to the 8042 after.
"""

from __future__ import annotations

from typing import Callable, Optional

from vm.pc.bios import SCAN_CODES

DATA, COMMAND = 0x60, 0x64
SYSTEM_CONTROL_A = 0x92

SHIFTED = set('~!@#$%^&*()_+{}|:"<>?ABCDEFGHIJKLMNOPQRSTUVWXYZ')
LSHIFT = 0x2A


def scan_bytes(key: int) -> bytes:
    """Set 1 make and break codes for one typed byte (Shift around shifted keys)."""
    if key == 0x0A:
        key = 0x0D
    code = SCAN_CODES.get(key)
    if code is None:
        return b""
    if chr(key) in SHIFTED:
        return bytes((LSHIFT, code, code | 0x80, LSHIFT | 0x80))
    return bytes((code, code | 0x80))


class KeyboardController:
    def __init__(self, a20: Callable[[bool], None], reset: Callable[[str], None],
                 irq1: Callable[[bool], None], keys: Optional[Callable[[], Optional[int]]]):
        self.set_a20 = a20
        self.reset = reset
        self.irq1 = irq1
        self.keys = keys            # the next typed byte without waiting, or None
        self.command_byte = 0x45    # IRQ 1 on, system flag, translate (as a BIOS leaves it)
        self.output: list = []      # bytes waiting in the output buffer (head first)
        self.pending_cmd: Optional[int] = None    # a controller command awaiting data
        self.kbd_cmd: Optional[int] = None        # a keyboard command awaiting data
        self.last_was_command = False
        self.output_port = 0x03     # bit 0: no reset; bit 1: A20 on
        self.port92 = 0x02
        self.scanning = True
        # the gate follows the last write to either control (QEMU wires both to the
        # one A20 line, and a guest switching with one expects it to take effect)
        self.a20 = True

    def install(self, bus) -> None:
        bus.claim((DATA,), lambda p, s: self.read_data(), lambda p, s, v: self.write_data(v))
        bus.claim((COMMAND,), lambda p, s: self.status(), lambda p, s, v: self.command(v))
        bus.claim((SYSTEM_CONTROL_A,), lambda p, s: self.port92,
                  lambda p, s, v: self.write_92(v))

    # -- ports -------------------------------------------------------------------------------
    def status(self) -> int:
        self.poll_keys()
        return (1 if self.output else 0) | (self.command_byte & 4) | \
            (8 if self.last_was_command else 0) | 0x10

    def read_data(self) -> int:
        self.poll_keys()
        if not self.output:
            return 0
        value = self.output.pop(0)
        self.irq1(False)            # OBF drops; the next byte is a new edge on IRQ 1
        self._irq()
        return value

    def write_data(self, value: int) -> None:
        self.last_was_command = False
        cmd, self.pending_cmd = self.pending_cmd, None
        if cmd == 0x60:
            self.command_byte = value
        elif cmd == 0xD1:
            self._set_output_port(value)
        elif cmd == 0xD2:
            self._put(value)
        elif cmd == 0xD3 or cmd == 0xD4:
            pass                    # the auxiliary device is not there
        else:
            self.keyboard(value)

    def command(self, value: int) -> None:
        self.last_was_command = True
        if value == 0x20:
            self._put(self.command_byte)
        elif value in (0x60, 0xD1, 0xD2, 0xD3, 0xD4):
            self.pending_cmd = value
        elif value == 0xAA:
            self.command_byte |= 4
            self._put(0x55)
        elif value == 0xAB:
            self._put(0x00)
        elif value == 0xA9:
            self._put(0xFF)         # no auxiliary port
        elif value == 0xAD:
            self.command_byte |= 0x10
        elif value == 0xAE:
            self.command_byte &= ~0x10
        elif value == 0xA7:
            self.command_byte |= 0x20
        elif value == 0xA8:
            self.command_byte &= ~0x20
        elif value == 0xC0:
            self._put(0xA0)         # keyboard not inhibited, colour display
        elif value == 0xD0:
            self._put(self.output_port | (0x10 if self.output else 0))
        elif value == 0xDD:
            self._set_output_port(self.output_port & ~2)
        elif value == 0xDF:
            self._set_output_port(self.output_port | 2)
        elif value >= 0xF0 and not value & 1:
            self.reset(f"8042 command {value:02X}h")

    def write_92(self, value: int) -> None:
        self.port92 = value & 0x03 | (self.port92 & ~0x03 & 0xFF)
        self.a20 = bool(value & 2)
        self.set_a20(self.a20)
        if value & 1:
            self.reset("port 92h bit 0")

    def _set_output_port(self, value: int) -> None:
        self.output_port = value
        self.a20 = bool(value & 2)
        self.set_a20(self.a20)
        if not value & 1:
            self.reset("8042 output port bit 0")

    # -- the keyboard ------------------------------------------------------------------------
    def keyboard(self, value: int) -> None:
        cmd, self.kbd_cmd = self.kbd_cmd, None
        if cmd is not None:
            if cmd == 0xF0 and value == 0:
                self._put(0xFA)
                self._put(self._translated(0x02))   # the keyboard's scan code set 2
            else:
                self._put(0xFA)
            return
        if value in (0xED, 0xF0, 0xF3):
            self.kbd_cmd = value
            self._put(0xFA)
        elif value == 0xEE:
            self._put(0xEE)
        elif value == 0xF2:
            for b in (0xFA, 0xAB, self._translated(0x83)):
                self._put(b)
        elif value == 0xF4:
            self.scanning = True
            self._put(0xFA)
        elif value == 0xF5:
            self.scanning = False
            self._put(0xFA)
        elif value == 0xF6:
            self._put(0xFA)
        elif value == 0xFF:
            self._put(0xFA)
            self._put(0xAA)
        else:
            self._put(0xFE)         # resend: not a command

    def _translated(self, code: int) -> int:
        """A byte from the keyboard as the controller passes it on: with translation
        (command byte bit 6) set 2 codes become set 1 codes (the few answers here)."""
        if self.command_byte & 0x40:
            return {0x02: 0x41, 0x83: 0x41, 0x01: 0x43, 0x03: 0x3F}.get(code, code)
        return code

    # whether typed keys are the 8042's now (pyvm's BIOS reads them itself for int 16h
    # while the CPU is in real mode: boot.py)
    take_keys = staticmethod(lambda: True)

    def poll_keys(self) -> None:
        """Take typed keys from the host when the buffer is empty."""
        if self.output or self.keys is None or not self.scanning or \
                self.command_byte & 0x10 or not self.take_keys():
            return
        k = self.keys()
        if k is not None:
            for b in scan_bytes(k):
                self.output.append(b)
            self._irq()

    def _put(self, value: int) -> None:
        self.output.append(value & 0xFF)
        self._irq()

    def _irq(self) -> None:
        self.irq1(bool(self.output) and bool(self.command_byte & 1))

    def update(self) -> None:
        if self.command_byte & 1:
            self.poll_keys()
