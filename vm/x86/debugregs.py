"""The debug registers DR0-DR7 (Intel SDM vol. 3, ch. 17 "Debug, Branch Profile, TSC,
and Intel Resource Director Technology Features", 17.2-17.3), in real and protected mode.

- MOV to/from DRn: CPL 0 only (#GP(0), checked by the block); DR4/DR5 are DR6/DR7 while
  CR4.DE is clear and #UD when it is set; with DR7.GD set any access is a fault-class
  #DB with DR6.BD set, and GD is cleared for the handler.
- Instruction breakpoints (R/W 00): a fault-class #DB before the instruction at that
  linear address runs, unless EFLAGS.RF is set. RF is cleared once the check is done,
  so it suppresses exactly one re-trigger; IRETD (and a task switch) loads it from the
  image the handler left.
- Data breakpoints (R/W 01 writes, 11 reads or writes; LEN 1, 2, 4 or 8 bytes, the
  address aligned down to the length): a trap-class #DB after the instruction that
  accessed an overlapping byte; in a REP string instruction, after the iteration (the
  saved EIP then names the instruction, with RF set in the pushed EFLAGS).
- DR6: B0-B3 name the breakpoints that matched this event (as QEMU: instruction
  breakpoints also when not enabled), BS a single-step trap (TF) taken with it, BD a
  general-detect fault; DR6 reads with bits 4-11 and 16-31 set, DR7 with bit 10.

How the engine pays for it: nothing while DR7 enables no breakpoint. Instruction
breakpoints are compiled in, like the debugger's (``Translator.dr_stops``): a block
ends before each address and one starting there first calls :func:`code_break`;
everything else runs at full speed. With a data breakpoint enabled (``cpu.dbg``) the
run loop executes one instruction at a time through :func:`step`, the translator
compiles every load and store as the slow path (``Translator.watching``) and the
memory (real mode: ``Memory.access_watch``; protected mode: ``MMU.access_watch``,
linear addresses) reports each access to :func:`_watcher`'s closure. I/O breakpoints
(R/W 10 with CR4.DE) are not modelled.
"""

from __future__ import annotations

from vm.x86.faults import DB, UD, CPUException

RF, TF = 0x10000, 0x100
BS, BD = 0x4000, 0x2000
GD = 0x2000                     # DR7 bit 13: general detect
DR6_ONES, DR7_ONES = 0xFFFF0FF0, 0x400
LENGTHS = (1, 2, 8, 4)          # DR7 LENn encodings


class InstructionBreak(CPUException):
    """The fault-class #DB of an instruction breakpoint: the one fault whose EFLAGS
    image keeps RF as it is instead of 1 (SDM vol. 3, 17.3.1.1; machine._pm_exception)."""

    keeps_rf = True

    def __init__(self):
        super().__init__(DB, "instruction breakpoint")


class StringBreak(CPUException):
    """A REP string instruction hit a data breakpoint with iterations left: it stops
    there (registers advanced, EIP still on it) and step() delivers the #DB."""

    def __init__(self):
        super().__init__(DB, "data breakpoint inside a REP string instruction")


def string_iteration(cpu, left: int) -> None:
    """After one iteration of a REP string instruction (`left` more to go)."""
    if cpu.dr_hits and left:
        raise StringBreak()


def _number(cpu, n: int, write: bool) -> int:
    if n in (4, 5):
        if cpu.machine.control.get("cr4", 0) & 8:       # CR4.DE
            raise CPUException(UD, f"mov {'to' if write else 'from'} dr{n} with CR4.DE set")
        n += 2
    dr = cpu.dr
    if dr[7] & GD:              # general detect: a fault before the MOV
        dr[7] &= ~GD
        dr[6] |= BD
        raise CPUException(DB, "debug register access with DR7.GD set")
    return n


def read_dr(cpu, n: int) -> int:
    """MOV r32, DRn (CPL 0 checked by the caller)."""
    return cpu.dr[_number(cpu, n, False)]


def write_dr(cpu, n: int, value: int) -> None:
    """MOV DRn, r32: the breakpoints take effect from the next instruction."""
    n = _number(cpu, n, True)
    value &= 0xFFFFFFFF
    if n == 6:
        value |= DR6_ONES
    elif n == 7:
        value |= DR7_ONES
    cpu.dr[n] = value
    if n != 6:
        arm(cpu)


def _breakpoints(dr7: int) -> tuple:
    """(instruction breakpoint numbers, data breakpoints as (n, reads too)) that DR7
    enables (an I/O breakpoint, R/W 10, is not modelled)."""
    code, data = [], []
    for n in range(4):
        if not dr7 >> 2 * n & 3:
            continue
        rw = dr7 >> 16 + 4 * n & 3
        if rw == 0:
            code.append(n)
        elif rw in (1, 3):
            data.append((n, rw == 3))
    return code, data


def arm(cpu) -> None:
    """Recompute what the translator and the memory watch for, after a change to
    DR0-DR3, DR7 or the CPU mode (the watch moves between Memory and the MMU)."""
    m = cpu.machine
    dr = cpu.dr
    code, data = _breakpoints(dr[7])
    spans = []
    for n, reads in data:
        length = LENGTHS[dr[7] >> 18 + 4 * n & 3]
        lo = dr[n] & ~(length - 1) & 0xFFFFFFFF
        spans.append((n, lo, lo + length, reads))
    watch = _watcher(cpu, tuple(spans)) if spans else None
    m.mem.access_watch = None if cpu.pm else watch
    if cpu.mmu is not None:
        cpu.mmu.access_watch = watch if cpu.pm else None
    tr = m.tr
    stops = frozenset(dr[n] for n in code)
    if tr.set_watching("dr", bool(spans)) or tr.dr_stops != stops:
        tr.dr_stops = stops
        tr.flush()
    cpu.dbg = bool(spans)
    if cpu.dbg:         # leave the compiled-block loop: step() takes over
        m.request_single_step()


def _watcher(cpu, spans: tuple):
    def watch(addr: int, size: int, write: bool) -> None:
        end = addr + size
        for n, lo, hi, reads in spans:
            if addr < hi and end > lo and (write or reads):
                cpu.dr_hits |= 1 << n
    return watch


def code_break(cpu, lin: int) -> None:
    """Called by compiled code before the instruction at an enabled instruction
    breakpoint: RF set spares it once (and is cleared, as after the check on a CPU),
    else a fault-class #DB with DR6 B0-B3 naming every instruction-type DRn holding
    lin, enabled or not (as QEMU reports them)."""
    if cpu.flags & RF:
        cpu.flags &= ~RF
        return
    dr = cpu.dr
    dr7 = dr[7]
    bits = 0
    for n in range(4):
        if not dr7 >> 16 + 4 * n & 3 and dr[n] == lin:
            bits |= 1 << n
    dr[6] = dr[6] & ~0xF | bits
    raise InstructionBreak()


def settle_rf(cpu) -> None:
    """After IRET or a task switch loaded EFLAGS: RF only matters to the instruction it
    returns to, and only code_break consumes it; anywhere else the next instruction
    would clear it at once, so clear it now."""
    if cpu.flags & RF and cpu.linear_ip() not in cpu.machine.tr.dr_stops:
        cpu.flags &= ~RF


def step(m, key: int) -> int:
    """Run one instruction while a data breakpoint is armed; returns the next key. The
    trap-class #DB after it (data breakpoints, and TF's single step, in one exception
    with DR6 B0-B3 and BS) is delivered here; instruction breakpoints are compiled in
    (code_break)."""
    cpu = m.cpu
    tr = m.tr
    fn = tr.cache1.get(key)
    if fn is None:
        fn = tr.translate(key, True)
    trap = (cpu.real or cpu.pm) and cpu.flags & TF and not fn.meta.trapless
    cpu.dr_hits = 0
    try:
        key = m._traced(fn) if m.tracer is not None else fn()
    except StringBreak as e:
        tr.unwind_exc(e)        # (the block's state at the string instruction)
        # the trap after an iteration that is not the last: the saved EIP names the
        # instruction, and RF is 1 in the pushed EFLAGS so it resumes without an
        # instruction-breakpoint #DB (SDM 17.3.1.1; a real-mode frame has no RF)
        hits, cpu.dr_hits = cpu.dr_hits, 0
        cpu.dr[6] = cpu.dr[6] & ~0xF | hits
        if cpu.pm:
            cpu.flags |= RF
        return m._deliver(DB, cpu.eip)
    except BaseException:
        cpu.dr_hits = 0         # a fault: the instruction will run again
        raise
    hits, cpu.dr_hits = cpu.dr_hits, 0
    if cpu.ss_shadow == cpu.steps[0]:   # MOV/POP SS: held until after the next one
        cpu.dr_held |= hits
        hits = 0
    elif cpu.dr_held:
        hits |= cpu.dr_held
        cpu.dr_held = 0
    single = trap and cpu.ss_shadow != cpu.steps[0]
    if hits or single:
        dr = cpu.dr
        dr[6] = dr[6] & ~0xF | hits | (BS if single else 0)
        cpu.set_key(key)
        key = m._deliver(DB, cpu.eip)
    return key
