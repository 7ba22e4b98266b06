"""The emulator ports a guest uses to talk to its host, as Bochs and QEMU provide them.

- Port E9h, the debug console (Bochs ``port_e9_hack``, QEMU ``-debugcon``): every byte
  written goes to stdout; a read returns E9h, how a guest detects the port.
- Port F4h, QEMU's ``isa-debug-exit`` device: writing V ends the run with exit status
  ``(V << 1) | 1``, as ``qemu-system-i386 -device isa-debug-exit,iobase=0xf4`` exits.
- Port 604h, QEMU's ACPI PM1a control (the ``pc`` machine): writing 2000h (SLP_EN with
  sleep type 0, "soft off") powers off: exit status 0.
- Port 8900h, Bochs' shutdown port: writing the bytes of "Shutdown" powers off: status 0.
"""

from __future__ import annotations

from vm.x86.faults import MachineExit

DEBUGCON = 0xE9
EXIT_PORT = 0xF4
ACPI_PM1A_CNT = 0x604
ACPI_SLEEP = 0x2000
BOCHS_SHUTDOWN = 0x8900


class PowerOff(MachineExit):
    """The guest switched the machine off through an emulator port."""


class DebugPorts:
    def __init__(self, write_out):
        self.write_out = write_out      # bytes -> the host's stdout
        self.shutdown = b""

    def install(self, bus) -> None:
        bus.claim((DEBUGCON,), lambda p, s: DEBUGCON, self.debugcon)
        bus.claim((EXIT_PORT,), None, self.exit_port, wide=True)
        bus.claim((ACPI_PM1A_CNT, ACPI_PM1A_CNT + 1), None, self.acpi, wide=True)
        bus.claim((BOCHS_SHUTDOWN,), None, self.bochs)

    def debugcon(self, port: int, size: int, value: int) -> None:
        self.write_out(bytes((value,)))

    def exit_port(self, port: int, size: int, value: int) -> None:
        raise PowerOff(((value << 1) | 1) & 0xFF)

    def acpi(self, port: int, size: int, value: int) -> None:
        if port == ACPI_PM1A_CNT and value & ACPI_SLEEP and not (value >> 10) & 7:
            raise PowerOff(0)

    def bochs(self, port: int, size: int, value: int) -> None:
        want = b"Shutdown"
        self.shutdown = (self.shutdown + bytes((value,)))[-len(want):]
        if self.shutdown == want:
            raise PowerOff(0)
