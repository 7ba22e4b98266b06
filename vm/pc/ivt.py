"""The real-mode interrupt vector table and the hook that routes INT n to the BIOS and
DOS services.

Every vector points at a stub in the BIOS ROM segment (F000:1000 + 8 * vector), so the
IVT is real memory a program can read, save and replace (int 21h AH=25h/35h or by
hand). The stub is ``int n; retf 2`` (``iret`` for hardware interrupt vectors): the
machine's ``on_interrupt`` hook sees an ``int n`` whose vector still points at its stub,
or one executed by the stub itself (a program's handler chaining to the old vector), and
runs the service in Python; otherwise the CPU takes the program's own handler.

CPU exceptions go through the IVT as on hardware. The default handlers of the fault
vectors (divide error, invalid opcode, ...) end the program with a fault report: one
line naming the fault and the disassembled faulting instruction, then a register dump;
exit status 128 + the signal Linux would send (136 SIGFPE, 132 SIGILL, 139 SIGSEGV,
133 SIGTRAP), as for flat binaries.
"""

from __future__ import annotations

from typing import Optional

from vm.pc.services import DosError, ServiceStop, set_cf, show_regs
from vm.x86.faults import BP, BR, DB, DE, GP, NM, OF, SS, UD, StopMachine
from vm.x86.signals import SIGNAL_NAMES, SIGNALS, SIGSEGV, SIGTRAP
from vm.x86.state import BASE, CS, ESP, SEL
from vm.x86.state import SS as SS_REG
from vm.x86.trace import disassemble

ROM_SEG = 0xF000
STUB_BASE = 0x1000
STUB_SIZE = 8
RESET_VECTOR = 0xFFFF0
EXIT_UNSUPPORTED = 1

# vectors whose default handler is a plain IRET: hardware interrupts, and the hooks DOS
# and the BIOS call for the program (timer tick, Ctrl-Break, critical error, idle)
IRET_VECTORS = frozenset(list(range(0x08, 0x0C)) + [0x0E, 0x0F, 0x1B, 0x1C, 0x23, 0x24,
                                                      0x28] + list(range(0x70, 0x78)))
FAULT_VECTORS = frozenset((DE, DB, BP, OF, BR, UD, NM, SS, GP))
# of those, the ones that are also ordinary INT calls on a PC: print screen (5), IRQ 4
# and 5 (12, 13); as an INT they do nothing
SHARED_VECTORS = frozenset((BR, SS, GP))
TRAP_NAMES = {BP: "breakpoint (int3)", DB: "debug trap (int1)", OF: "overflow trap (into)"}


class GuestFault(ServiceStop):
    """The program ended with a CPU fault: the message is the report line; the runner
    puts back ``state`` (cs, ip, sp, flags as at the fault, or None) and adds a
    register dump. (The state is applied after the exception has left the machine's
    compiled block, which restores the interrupted instruction's own state.)"""

    def __init__(self, message: str, status: int, state: Optional[tuple] = None):
        super().__init__(message, status)
        self.state = state

    def restore(self, m) -> None:
        if self.state is None:
            return
        cs, ip, sp, fl = self.state
        cpu = m.cpu
        cpu.set_segment(CS, cs)
        cpu.eip = ip
        cpu.r[ESP] = cpu.r[ESP] & 0xFFFF0000 | sp
        cpu.set_eflags(cpu.get_eflags() & 0xFFFF0000 | fl)


def stub_ip(vector: int) -> int:
    return STUB_BASE + STUB_SIZE * vector


class InterruptRouter:
    """The ``on_interrupt`` hook of a real-mode machine: owns the IVT and the ROM stubs
    and calls the service tables of the personalities it is given."""

    def __init__(self, machine, personalities: list):
        """``personalities``: (tables, object) pairs; a service of one of the tables is
        called with that object (a BIOS, a DOSSystem)."""
        self.m = machine
        self.routes: dict = {}
        for tables, owner in personalities:
            for t in tables:
                self.routes[t.vector] = (t, owner)
        self.exception: Optional[tuple] = None  # (vector, ss, sp) of a frame being delivered
        machine.on_interrupt = self.on_interrupt

    def install(self) -> None:
        """Write the IVT and the ROM stubs."""
        m = self.m
        rom = bytearray(STUB_SIZE * 256)
        ivt = bytearray()
        for v in range(256):
            at = STUB_SIZE * v
            if v in IRET_VECTORS:
                rom[at] = 0xCF                                      # iret
            else:
                rom[at:at + 5] = bytes((0xCD, v, 0xCA, 0x02, 0x00))  # int v; retf 2
            ivt += stub_ip(v).to_bytes(2, "little") + ROM_SEG.to_bytes(2, "little")
        m.write(ROM_SEG * 16 + STUB_BASE, bytes(rom))
        m.write(m.cpu.idt_base, bytes(ivt))
        m.write(RESET_VECTOR, b"\xfa\xf4")                  # a jump to reset: cli; hlt
        m.write(0xFFFF5, b"01/01/92\0\xfc")                 # ROM date, model byte (AT)

    # -- the hook ----------------------------------------------------------------------------
    def on_interrupt(self, m, vector: int, software: bool) -> bool:
        r = m.cpu.r
        if not software:
            # a CPU exception: let the IVT deliver it; remember the frame it pushes so
            # the default handler can tell it from an INT of the same vector
            self.exception = (vector, r[SEL + SS_REG], (r[ESP] - 6) & 0xFFFF)
            return False
        cs, ip = r[SEL + CS], m.cpu.eip & 0xFFFF
        from_stub = cs == ROM_SEG and ip == stub_ip(vector) + 2
        if not from_stub and self.vector_of(vector) != (ROM_SEG, stub_ip(vector)):
            return False                                    # the program's own handler
        if vector in FAULT_VECTORS:
            if from_stub:
                exc = self.exception
                self.exception = None
                if exc == (vector, r[SEL + SS_REG], r[ESP] & 0xFFFF):
                    self.fault_from_frame(vector)
            if vector not in SHARED_VECTORS:
                if from_stub:
                    self.fault_from_frame(vector)
                self.fault_at_int(vector)
        route = self.routes.get(vector)
        if route is None:
            if vector in IRET_VECTORS or vector in SHARED_VECTORS:
                return True
            self.unsupported(None, vector, from_stub)
        table, owner = route
        self.call(table, owner, from_stub)
        return True

    def vector_of(self, vector: int) -> tuple:
        entry = self.m.cpu.idt_base + 4 * vector
        return self.m.mem.r16(entry + 2), self.m.mem.r16(entry)

    # -- services ----------------------------------------------------------------------------
    def call(self, table, owner, from_stub: bool) -> None:
        m = self.m
        ah = m.reg("ah")
        svc = table.lookup(ah)
        if svc is None:
            self.unsupported(table, table.vector, from_stub)
        tracer = m.tracer
        label = table.label(ah)
        before = show_regs(m, svc.args) if tracer is not None else ""
        try:
            note = svc.fn(owner, m)
            if svc.carry:
                set_cf(m, False)
        except DosError as e:
            m.set_reg("ax", e.ax)
            set_cf(m, True)
            note = e.note
        except (StopMachine, ServiceStop):
            if tracer is not None:
                tracer.event(f"{label} {svc.name}({before})")
            raise
        if tracer is not None:
            after = show_regs(m, svc.results)
            text = f"{label} {svc.name}({before})"
            if after:
                text += f" -> {after}"
            if note:
                text += f"  {note}"
            tracer.event(text)

    def caller(self, from_stub: bool) -> tuple:
        """(cs, ip) of the INT instruction that made the current call."""
        m = self.m
        r = m.cpu.r
        if from_stub:   # the program's handler chained here: name its caller
            sp = r[BASE + SS_REG] + (r[ESP] & 0xFFFF)
            ip, cs = m.mem.r16(sp), m.mem.r16(sp + 2)
        else:
            cs, ip = r[SEL + CS], m.cpu.eip & 0xFFFF
        lin = cs * 16 + ((ip - 2) & 0xFFFF)
        if m.mem.data[lin] == 0xCD:
            return cs, (ip - 2) & 0xFFFF
        return cs, (ip - 1) & 0xFFFF            # int3, into, int1: one byte

    def unsupported(self, table, vector: int, from_stub: bool) -> None:
        m = self.m
        cs, ip = self.caller(from_stub)
        what = f"{table.owner} service" if table is not None else "interrupt"
        text = f"unsupported {what} int {vector:02X}h AH={m.reg('ah'):02X}h at {cs:04x}:{ip:04x}"
        if table is None and 0x20 <= vector <= 0x2F:
            text += " (DOS services need a .COM program)"
        if m.tracer is not None:
            m.tracer.event(text)
        raise ServiceStop(text, EXIT_UNSUPPORTED)

    # -- faults ------------------------------------------------------------------------------
    def fault_from_frame(self, vector: int) -> None:
        """The default handler of a fault vector: pop the frame the CPU pushed (so the
        registers are as at the fault) and end the program."""
        m = self.m
        r = m.cpu.r
        sp = r[BASE + SS_REG] + (r[ESP] & 0xFFFF)
        ip, cs, fl = m.mem.r16(sp), m.mem.r16(sp + 2), m.mem.r16(sp + 4)
        line, status = fault_report(m, vector, cs, ip)
        raise GuestFault(line, status, (cs, ip, (r[ESP] + 6) & 0xFFFF, fl))

    def fault_at_int(self, vector: int) -> None:
        """An INT to a fault vector's default handler (int3, int 0...)."""
        cs, ip = self.caller(False)
        raise GuestFault(*fault_report(self.m, vector, cs, ip, software=True))


def fault_report(m, vector: int, cs: int, ip: int, software: bool = False,
                 message: Optional[str] = None) -> tuple:
    """(report line, exit status) for a fault at cs:ip that ends the program."""
    from asm.x86.decoder import decode
    try:
        insn = decode(m.mem.data, cs * 16 + ip, 16, ip)
    except Exception:
        insn = None
    text = disassemble(insn, 16)
    if vector in TRAP_NAMES:
        sig, what = SIGTRAP, TRAP_NAMES[vector]
    else:
        sig, what = SIGNALS.get(vector, (SIGSEGV, f"exception {vector}"))
        if software:
            what = f"{what} (int {vector:02X}h)"
    if message and message not in what:
        what = f"{what}: {message}"
    return f"{what} ({SIGNAL_NAMES[sig]}) at {cs:04x}:{ip:04x}: {text}", 128 + sig
