"""Families that mostly run as Python helpers on the CPU state: string instructions,
interrupts and far transfers, segment loads, port I/O, BCD, CPUID/RDTSC, the x87 glue and
the system instructions. Each generator decides how its helper is called (which
registers it touches) so the compiled block stays precise around it.
"""

from __future__ import annotations

from types import FunctionType
from typing import Optional

from asm.x86.operands import FarPtr, Imm, Mem, Reg
from vm.x86 import debugregs
from vm.x86 import flags as F
from vm.x86 import protected as P
from vm.x86 import tasks as _tasks  # noqa: F401  (task switching and V86 mode, see LATER)
from vm.x86.emit import MASK, SEG_NUM, Builder, family
from vm.x86.faults import (
    AC,
    BP,
    DB,
    DE,
    GP,
    MF,
    NM,
    OF,
    UD,
    CPUException,
    Halted,
    SoftwareInterrupt,
)
from vm.x86.state import BASE, CS, DS, EAX, EBP, ECX, EDI, EDX, ESI, ESP, FS, SEL, SS

TRAP_TRACE = 2      # Linux's si_code for a single step's SIGTRAP

# ---- stack and memory access for helpers ------------------------------------------------


def _push(cpu, value: int, size: int) -> None:
    r = cpu.r
    if cpu.pm:
        P.push(cpu, value, size)
        return
    if cpu.real:
        sp = (r[ESP] - size) & 0xFFFF
        if sp > 0x10000 - size:
            raise CPUException(12, "stack segment limit exceeded")
        cpu.machine.mem.write(r[BASE + SS] + sp, (value & MASK[size]).to_bytes(size, "little"))
        r[ESP] = r[ESP] & 0xFFFF0000 | sp
    else:
        sp = (r[ESP] - size) & 0xFFFFFFFF
        cpu.machine.mem.write(sp, (value & MASK[size]).to_bytes(size, "little"))
        r[ESP] = sp


def _pop(cpu, size: int, adjust: int = 0) -> int:
    r = cpu.r
    if cpu.pm:
        v = P.peek(cpu, 0, size)
        P.release(cpu, size + adjust)
        return v
    if cpu.real:
        sp = r[ESP] & 0xFFFF
        if sp > 0x10000 - size:
            raise CPUException(12, "stack segment limit exceeded")
        v = int.from_bytes(cpu.machine.mem.read(r[BASE + SS] + sp, size), "little")
        r[ESP] = r[ESP] & 0xFFFF0000 | (sp + size + adjust) & 0xFFFF
    else:
        sp = r[ESP]
        v = int.from_bytes(cpu.machine.mem.read(sp, size), "little")
        r[ESP] = (sp + size + adjust) & 0xFFFFFFFF
    return v


def _peek(cpu, offset: int, size: int) -> int:
    """Read the stack at SP+offset without popping (to check before changing state)."""
    r = cpu.r
    if cpu.pm:
        return P.peek(cpu, offset, size)
    if cpu.real:
        o = (r[ESP] + offset) & 0xFFFF
        if o > 0x10000 - size:
            raise CPUException(12, "stack segment limit exceeded")
        a = r[BASE + SS] + o
    else:
        a = (r[ESP] + offset) & 0xFFFFFFFF
    return int.from_bytes(cpu.machine.mem.read(a, size), "little")


# ---- segment registers ------------------------------------------------------------------

def load_segment(cpu, n: int, sel: int) -> None:
    """Flat mode: load a segment register from the machine's descriptor table."""
    sel &= 0xFFFF
    table = cpu.machine.descriptors
    if sel & ~3 == 0:
        if n == SS:
            raise CPUException(GP, "null stack segment", 0)
        cpu.r[SEL + n] = sel
        cpu.r[BASE + n] = 0
        return
    if sel not in table:
        # #GP(selector): the error code is the selector without its RPL (the sigcontext's
        # err on Linux)
        raise CPUException(GP, f"segment selector 0x{sel:04x} not in the descriptor table",
                           sel & 0xFFFC)
    cpu.r[SEL + n] = sel
    cpu.r[BASE + n] = table[sel] & 0xFFFFFFFF


def load_seg(b: Builder, n: int, value: str) -> None:
    """Emit a segment register load (MOV/POP sreg)."""
    if n == CS:
        b.raise_exc(UD, "cs cannot be loaded with mov or pop")
        b.end_dynamic("0")
        return
    if b.real:
        b.set_seg(n, value)
    elif b.pm:
        b.call(P.load_segment, f"{n}, {value}", reads=(), writes=(SEL + n, BASE + n),
               flags=False)
        if n == SS:     # the stack size is part of the block's context
            b.end_dynamic(f"cpu.ctx << 32 | {b.nip:#x}")
    else:
        b.call(load_segment, f"{n}, {value}", reads=(), writes=(SEL + n, BASE + n),
               flags=False)


@family("lds", "les", "lss", "lfs", "lgs")
def load_far_pointer(b: Builder, i) -> None:
    dst, m = i.operands
    if not isinstance(m, Mem):
        b.raise_exc(UD, f"{i.form.mnemonic} with a register operand")
        b.end_dynamic("0")
        return
    size = b.osize
    ea = b.ea(m, size + 2, size)
    off = b.load(ea, size)
    a2 = b.bind(f"{ea} + {size}" if b.real else f"({ea} + {size}) & 0xffffffff", "a")
    sel = b.load(a2, 2)
    load_seg(b, SEG_NUM[i.form.mnemonic[1:]], sel)
    b.operand(dst).write(off)


# ---- far transfers and interrupts -------------------------------------------------------

def _set_cs(cpu, sel: int) -> None:
    if cpu.real:
        cpu.set_segment(CS, sel)
        return
    if sel not in cpu.machine.descriptors or sel != cpu.r[SEL + CS]:
        # #GP(selector), as load_segment's: the selector without its RPL
        raise CPUException(GP, f"far transfer to selector 0x{sel:04x}", sel & 0xFFFC)


def far_jump(cpu, sel: int, off: int, nip: int, size: int) -> int:
    """JMP/CALL far (nip < 0 for a jump); returns the next key."""
    if cpu.pm:
        return P.far_jump(cpu, sel, off, nip, size)
    if not cpu.real and sel != cpu.r[SEL + CS]:
        raise CPUException(GP, f"far transfer to selector 0x{sel:04x}", sel & 0xFFFC)
    if nip >= 0:
        r = cpu.r
        sp0 = r[ESP]
        try:
            _push(cpu, r[SEL + CS], size)
            _push(cpu, nip, size)
        except CPUException:
            r[ESP] = sp0
            raise
    _set_cs(cpu, sel)
    cpu.eip = off & (0xFFFF if size == 2 else 0xFFFFFFFF)
    return cpu.key()


def far_transfer(b: Builder, i, call: bool) -> None:
    op = i.operands[0]
    size = b.osize
    if isinstance(op, FarPtr):
        sel, off = f"{op.seg:#x}", f"{op.offset:#x}"
    elif isinstance(op, Mem):
        ea = b.ea(op, size + 2, size)
        off = b.load(ea, size)
        sel = b.load(b.bind(f"{ea} + {size}" if b.real else f"({ea} + {size}) & 0xffffffff",
                            "a"), 2)
    else:
        b.raise_exc(UD, "far transfer through a register")
        b.end_dynamic("0")
        return
    k = b.tmp("k")
    if b.pm:
        b.call(P.far_jump, f"{sel}, {off}, {b.nip if call else -1}, {size}, {b.nip:#x}",
               result=k)
        b.end_dynamic(k)
        return
    b.call(far_jump, f"{sel}, {off}, {b.nip if call else -1}, {size}",
           reads=(ESP, SEL + SS, BASE + SS), writes=(ESP, SEL + CS, BASE + CS), flags=False,
           result=k)
    b.end_dynamic(k)


def far_return(cpu, size: int, adjust: int) -> int:
    if cpu.pm:
        return P.far_return(cpu, size, adjust)
    ip = _peek(cpu, 0, size)
    sel = _peek(cpu, size, size) & 0xFFFF
    _set_cs(cpu, sel)
    _pop(cpu, size)
    _pop(cpu, size, adjust)
    cpu.eip = ip if size == 4 else ip & 0xFFFF
    return cpu.key()


@family("retf", "retfw", "retfd")
def retf(b: Builder, i) -> None:
    adjust = i.operands[0].value & 0xFFFF if i.operands else 0
    k = b.tmp("k")
    if b.pm:
        b.call(far_return, f"{b.osize}, {adjust}", result=k)
        b.end_dynamic(k)
        return
    b.call(far_return, f"{b.osize}, {adjust}", reads=(ESP, SEL + SS, BASE + SS),
           writes=(ESP, SEL + CS, BASE + CS), flags=False, result=k)
    b.end_dynamic(k)


def deliver(cpu, vector: int, return_ip: int) -> int:
    """Real mode: take an interrupt through the IVT (push FLAGS, CS, IP; clear IF, TF,
    AC); returns the handler's key. Flat (user) mode has no IVT: the exception goes to
    the personality (a single step's #DB: SIGTRAP, si_code TRAP_TRACE, as Linux)."""
    if not cpu.real:
        cpu.eip = return_ip
        e = CPUException(vector, "single-step trap (TF)" if vector == DB else "")
        if vector == DB:
            e.si_code = TRAP_TRACE
        raise e
    mem = cpu.machine.mem
    entry = cpu.idt_base + vector * 4
    ip = mem.r16(entry)
    cs = mem.r16(entry + 2)
    r = cpu.r
    sp0 = r[ESP]
    try:
        _push(cpu, cpu.get_eflags() & 0xFFFF, 2)
        _push(cpu, r[SEL + CS], 2)
        _push(cpu, return_ip, 2)
    except CPUException:
        r[ESP] = sp0
        raise
    cpu.flags &= ~(F.IF | F.TF | F.AC)
    cpu.set_segment(CS, cs)
    cpu.eip = ip
    return cpu.key()


def interrupt(cpu, vector: int, nip: int) -> int:
    """INT n (and INT3/INTO/INT1 when they trap): the machine's hook first (a BIOS,
    DOS or Linux personality), then the IVT in real mode; flat mode has no IVT."""
    cpu.eip = nip
    m = cpu.machine
    if cpu.pm:
        if m._hooks is not None and m._hooks.interrupts and m.on_interrupt(m, vector, True):
            return cpu.key()
        return P.interrupt(cpu, vector, nip, None, soft=True)
    hook = m.on_interrupt
    if hook is not None and hook(m, vector, True):
        return cpu.key()
    if not cpu.real:
        raise SoftwareInterrupt(vector, f"int 0x{vector:02x}")
    key = deliver(cpu, vector, nip)
    if m.tracer is not None:
        m.tracer.event(f"interrupt 0x{vector:02x} -> {key >> 16:04x}:{key & 0xFFFF:04x}")
    return key


def interrupt_on_overflow(cpu, vector: int, nip: int) -> int:
    """INTO: interrupt 4 when OF is set, else on to the next instruction."""
    if cpu.get_eflags() & 0x800:
        return interrupt(cpu, vector, nip)
    cpu.eip = nip
    return cpu.key()


@family("int", "int3", "into", "int1", "icebp")
def int_n(b: Builder, i) -> None:
    m = i.form.mnemonic
    vector = {"int3": BP, "into": OF, "int1": DB, "icebp": DB}.get(m)
    if vector is None:
        vector = i.operands[0].value & 0xFF
    k = b.tmp("k")
    # INTO tests OF in the helper: a call emitted under an `if` would write registers
    # and flags back on the taken path only
    b.call(interrupt_on_overflow if m == "into" else interrupt, f"{vector}, {b.nip}",
           result=k)
    b.end_dynamic(k)


def iret(cpu, size: int) -> int:
    if cpu.pm:
        return P.iret(cpu, size)
    ip = _peek(cpu, 0, size)
    sel = _peek(cpu, size, size) & 0xFFFF
    fl = _peek(cpu, 2 * size, size)
    _set_cs(cpu, sel)
    for _ in range(3):
        _pop(cpu, size)
    mask = F.popf_mask(cpu.real, size)
    if size == 4 and cpu.real:      # IRETD loads RF (debug registers: debugregs.py)
        mask |= 0x10000
    cpu.flags = (cpu.flags & ~mask & ~F.ARITH) | (fl & mask & ~F.ARITH) | 2
    cpu.lz = (F.NONE, fl & F.ARITH, 0, 0)
    cpu.eip = ip if size == 4 else ip & 0xFFFF
    debugregs.settle_rf(cpu)
    if cpu.flags & F.TF:
        cpu.machine.request_single_step()
    return cpu.key()


@family("iret", "iretw", "iretd")
def iret_family(b: Builder, i) -> None:
    k = b.tmp("k")
    if b.pm:
        b.call(P.iret, f"{b.osize}, {b.nip:#x}", result=k)
        b.end_dynamic(k)
        return
    b.call(iret, f"{b.osize}", reads=(ESP, SEL + SS, BASE + SS),
           writes=(ESP, SEL + CS, BASE + CS), result=k)
    b.end_dynamic(k)


def halt(cpu) -> None:
    """HLT: the machine's on_halt hook may wait for an interrupt and return True to go
    on (after the HLT); otherwise the run ends."""
    m = cpu.machine
    if m.on_halt is not None:
        if m.on_halt(m):
            return
    raise Halted("hlt")


@family("hlt")
def hlt(b: Builder, i) -> None:
    if b.privileged():
        return
    b.call(halt)
    b.end_here()


def enter_frame(cpu, alloc: int, level: int, size: int) -> None:
    r = cpu.r
    saved = r[ESP], r[EBP]
    try:
        _push(cpu, r[EBP], size)
        frame = r[ESP]
        sp_mask = 0xFFFF if cpu.real or (cpu.pm and not cpu.segs[SS].big) else 0xFFFFFFFF
        bp = r[EBP]
        for _ in range(1, level):
            bp = (bp - size) & sp_mask
            if cpu.pm:
                lin = cpu.mmu.seg(SS, bp & (0xFFFFFFFF if cpu.segs[SS].big else 0xFFFF),
                                  size)
                P.align_check(cpu, lin, size)       # a user data access at CPL 3
                v = cpu.mmu.read(lin, size)
            elif cpu.real:
                v = int.from_bytes(cpu.machine.mem.read(r[BASE + SS] + bp, size), "little")
            else:
                v = int.from_bytes(cpu.machine.mem.read(bp, size), "little")
            _push(cpu, v, size)
        if level:
            _push(cpu, frame, size)
        if cpu.pm:      # the final stack pointer must be writable (else #SS or #PF)
            top = (r[ESP] - alloc) & sp_mask
            lin = cpu.mmu.seg(SS, top, 1)
            if cpu.mmu.paging:
                cpu.mmu.phys(lin, True, cpu.cpl == 3)
        if cpu.real or (cpu.pm and not cpu.segs[SS].big):
            r[EBP] = r[EBP] & ~0xFFFF & 0xFFFFFFFF | frame & 0xFFFF if size == 2 else frame
            r[ESP] = r[ESP] & 0xFFFF0000 | (r[ESP] - alloc) & 0xFFFF
        else:
            r[EBP] = r[EBP] & 0xFFFF0000 | frame & 0xFFFF if size == 2 else frame
            r[ESP] = (r[ESP] - alloc) & 0xFFFFFFFF
    except CPUException:
        r[ESP], r[EBP] = saved
        raise


# ---- string instructions ----------------------------------------------------------------

STRING_OPS = {"movs": 0, "cmps": 1, "stos": 2, "lods": 3, "scas": 4, "ins": 5, "outs": 6}


class StringStep(CPUException):
    """TF set: a REP string instruction traps after each iteration but its last, EIP
    still on it (registers advanced), as the CPU does; the last one traps as any
    instruction does (machine.py)."""

    si_code = TRAP_TRACE

    def __init__(self):
        super().__init__(DB, "single-step trap (TF) inside a REP string instruction")


def string_op(cpu, op: int, size: int, a32: int, seg: int, rep: int) -> None:
    """One string instruction, with its REP/REPE/REPNE prefix (rep: 0 none, 1 REP/REPE,
    2 REPNE). Registers advance element by element, so a fault leaves them where the
    CPU would (the instruction then restarts)."""
    if cpu.pm:
        P.string_op(cpu, op, size, a32, seg, rep)
        return
    r = cpu.r
    m = cpu.machine
    mem = m.mem
    amask = 0xFFFFFFFF if a32 else 0xFFFF
    step = -size if cpu.flags & F.DF else size
    count = r[ECX] & amask if rep else 1
    if count == 0:
        return
    # (an FS/GS base plus the offset wraps at 4 GiB: the reads below mask the sum)
    sbase = r[BASE + seg] if cpu.real or seg >= 4 else 0
    dbase = r[BASE + 0] if cpu.real else 0
    stepping = rep and cpu.flags & F.TF
    if op in (0, 2) and step > 0 and count > 1 and mem.access_watch is None \
            and not stepping:
        count -= _bulk(cpu, op, size, amask, sbase, dbase, count)
        if count == 0:
            return
    acc_mask = MASK[size]
    si, di = r[ESI] & amask, r[EDI] & amask
    top = 0x10000 - size if cpu.real else 1 << 32
    while count:
        if (si > top and op in (0, 1, 3, 6)) or (di > top and op in (0, 1, 2, 4, 5)):
            raise CPUException(GP, "segment limit exceeded")
        if op == 0:         # movs
            mem.write(dbase + di, mem.read((sbase + si) & 0xFFFFFFFF, size))
        elif op == 2:       # stos
            mem.write(dbase + di, (r[EAX] & acc_mask).to_bytes(size, "little"))
        elif op == 3:       # lods
            v = int.from_bytes(mem.read((sbase + si) & 0xFFFFFFFF, size), "little")
            r[EAX] = r[EAX] & ~acc_mask & 0xFFFFFFFF | v
        elif op == 1 or op == 4:    # cmps / scas
            # ES:EDI is read first, as the CPU does (its fault wins) and Unicorn's hooks say
            c = int.from_bytes(mem.read(dbase + di, size), "little")
            if op == 1:
                a = int.from_bytes(mem.read((sbase + si) & 0xFFFFFFFF, size), "little")
            else:
                a = r[EAX] & acc_mask
            cpu.lz = (F.opcode(F.SUB, size), (a - c) & acc_mask, a, c)
        elif op == 5:       # ins
            v = m.port_read(r[EDX] & 0xFFFF, size)
            mem.write(dbase + di, (v & acc_mask).to_bytes(size, "little"))
        else:               # outs
            v = int.from_bytes(mem.read((sbase + si) & 0xFFFFFFFF, size), "little")
            m.port_write(r[EDX] & 0xFFFF, size, v)
        if op in (0, 1, 3, 6):
            si = (si + step) & amask
            r[ESI] = r[ESI] & ~amask & 0xFFFFFFFF | si
        if op in (0, 1, 2, 4, 5):
            di = (di + step) & amask
            r[EDI] = r[EDI] & ~amask & 0xFFFFFFFF | di
        count -= 1
        if rep:
            r[ECX] = r[ECX] & ~amask & 0xFFFFFFFF | count
            if op in (1, 4):
                zf = cpu.lz[1] == 0
                if zf != (rep == 1):
                    break
            if cpu.dr_hits:         # a data breakpoint: #DB after this iteration
                debugregs.string_iteration(cpu, count)
            if stepping and count:
                cpu.dr[6] = cpu.dr[6] & ~0xF | 0x4000      # DR6: BS only
                raise StringStep()


def _bulk(cpu, op: int, size: int, amask: int, sbase: int, dbase: int, count: int) -> int:
    """REP MOVS/STOS forward as slice operations, as far as it is safe: no index wrap,
    all inside memory, no watched or read-only page. Updates ECX/ESI/EDI and returns the
    number of elements done (0: take the element-by-element path)."""
    r = cpu.r
    mem = cpu.machine.mem
    data = mem.data
    si, di = r[ESI] & amask, r[EDI] & amask
    n = count
    if amask == 0xFFFF:
        n = min(n, (0x10000 - di) // size)
        if op == 0:
            n = min(n, (0x10000 - si) // size)
    nbytes = n * size
    d = dbase + di
    if n <= 1 or d + nbytes > mem.size:
        return 0
    wf = mem.wf
    pages = wf[d >> 12:((d + nbytes - 1) >> 12) + 1]
    if any(f & ~1 for f in pages):      # read-only or watched: element by element
        return 0
    if op == 0:
        s = sbase + si
        if s + nbytes > mem.size:
            return 0
        if not mem.readable(s, nbytes):
            return 0
        hooks = cpu.machine._hooks
        if hooks is not None and hooks.reads:   # each element's read is reported
            return 0
        if s < d < s + nbytes:
            # overlapping forward copy repeats the first (d - s) bytes, like the CPU, when
            # each element is read whole before it is overwritten: d - s >= size
            gap = d - s
            if gap < size:
                return 0
            chunk = bytes(data[s:d])
            data[d:d + nbytes] = (chunk * (nbytes // gap + 1))[:nbytes]
        else:
            data[d:d + nbytes] = data[s:s + nbytes]
    else:
        data[d:d + nbytes] = (r[EAX] & MASK[size]).to_bytes(size, "little") * n
    if any(pages):
        mem.code_written(d, d + nbytes)
    keep = ~amask & 0xFFFFFFFF
    if op == 0:
        r[ESI] = r[ESI] & keep | (si + nbytes) & amask
    r[EDI] = r[EDI] & keep | (di + nbytes) & amask
    r[ECX] = r[ECX] & keep | ((r[ECX] & amask) - n) & amask
    return n


def _string_family(b: Builder, i) -> None:
    mn = i.form.mnemonic
    op = STRING_OPS[mn[:-1]]
    size = {"b": 1, "w": 2, "d": 4}[mn[-1]]
    if op in (5, 6) and not b.pm and b.privileged():
        return
    seg = SEG_NUM[i.seg] if i.seg and op in (0, 1, 3, 6) else DS
    rep = 0 if i.rep is None else (2 if i.rep == "repne" and op in (1, 4) else 1)
    args = f"{op}, {size}, {int(i.asize == 32)}, {seg}, {rep}"
    if not b.real and not b.pm and i.asize == 32 and seg < FS and op in (0, 2, 3):
        if rep and op in (0, 2):
            _inline_rep(b, op, size, args)
            return
        if not rep:
            _inline_single(b, op, size)
            return
    b.call(string_op, args, writes=(EAX, ECX, ESI, EDI), flags=True)


def _inline_single(b: Builder, op: int, size: int) -> None:
    """Flat mode LODS/STOS/MOVS without REP: one element, inline."""
    step = b.bind(f"(-{size} if cpu.flags & 0x400 else {size})", "st")
    if op == 3:
        si = b.get(ESI)
        b.write_reg(EAX, size, False, b.load(si, size))
        b.set(ESI, f"({si} + {step}) & 0xffffffff")
        return
    di = b.get(EDI)
    if op == 0:
        si = b.get(ESI)
        v = b.load(si, size)
        b.set(ESI, f"({si} + {step}) & 0xffffffff")
    else:
        v = b.read_reg(EAX, size)
    b.set(EDI, f"({di} + {step}) & 0xffffffff")
    b.store(di, size, v)


def _inline_rep(b: Builder, op: int, size: int, args: str) -> None:
    """Flat mode REP MOVS/STOS: a slice operation when it is forward, at most a page,
    inside memory, not overlapping (MOVS) and not touching a flagged page; else the
    helper."""
    for slot in (EAX, ECX, ESI, EDI):
        if slot in b.dirty:
            b.emit(f"r[{slot}] = {b.ver[slot]}")
            b.dirty.discard(slot)
    b.may_fault()
    b.has_store = b.has_helper = True
    ecx, edi = b.get(ECX), b.get(EDI)
    if op == 0:
        b.get(ESI)
    b.call_site((EAX, ECX, ESI, EDI), False)
    size_mem = b.tr.mem.size
    n, e = b.tmp("n"), b.tmp("e")
    new = {s: b._newname(s) for s in ((ECX, EDI, ESI) if op == 0 else (ECX, EDI))}
    lines = [f"{n} = {ecx} * {size}", f"{e} = {edi} + {n}"]
    if op == 0:
        esi = b.get(ESI)
        src = b.tmp("s")
        lines.insert(0, f"{src} = {b.get(ESI)}")
        ok = (f"0 < {n} <= 4096 and not cpu.flags & 0x400 and {e} <= {size_mem} and "
              f"{src} + {n} <= {size_mem} and ({e} <= {src} or {edi} >= {src} + {n}) and "
              f"not (wf[{edi} >> 12] or wf[({e} - 1) >> 12])")
        if b.tr.mem.guarded:        # rf covers the page after too: at most 4096 bytes
            ok += f" and not rf[{src} >> 12]"
        fast = [f"mem[{edi}:{e}] = mem[{src}:{src} + {n}]",
                f"{new[ESI]} = ({esi} + {n}) & 0xffffffff"]
    else:
        val = f"({b.get(EAX)} & {MASK[size]:#x}).to_bytes({size}, 'little') * {ecx}"
        ok = (f"0 < {n} <= 4096 and not cpu.flags & 0x400 and {e} <= {size_mem} and "
              f"not (wf[{edi} >> 12] or wf[({e} - 1) >> 12])")
        fast = [f"mem[{edi}:{e}] = {val}"]
    if b.single:        # single steps: TF traps between iterations (string_op)
        ok = f"not cpu.flags & 0x100 and {ok}"
    fast += [f"{new[EDI]} = {e} & 0xffffffff", f"{new[ECX]} = 0"]
    call = f"{b.glob(string_op)}(cpu, {args})"
    slow = [call] + [f"{new[s]} = r[{s}]" for s in new]
    b.emit("\n".join(lines))
    b.emit(f"if {ok}:\n" + "\n".join("    " + x for x in fast) + "\nelse:\n" +
           "\n".join("    " + x for x in slow))
    for s, name in new.items():
        b.ver[s] = name
        b.dirty.add(s)


for _m in STRING_OPS:
    for _s in "bwd":
        family(_m + _s)(_string_family)


# ---- port I/O ---------------------------------------------------------------------------

def port_in(cpu, port: int, size: int) -> int:
    if cpu.pm:
        P.io_check(cpu, port, size)
    return cpu.machine.port_read(port, size) & MASK[size]


def port_out(cpu, port: int, size: int, value: int) -> None:
    if cpu.pm:
        P.io_check(cpu, port, size)
    cpu.machine.port_write(port, size, value & MASK[size])


@family("in", "out")
def in_out(b: Builder, i) -> None:
    if not b.pm and b.privileged():
        return
    a, c = i.operands
    if i.form.mnemonic == "in":
        acc, p = a, c
    else:
        p, acc = a, c
    port = f"{p.value & 0xFF:#x}" if isinstance(p, Imm) else b.reg("dx")
    size = {"al": 1, "ax": 2, "eax": 4}[acc.name]
    if i.form.mnemonic == "in":
        v = b.tmp("v")
        b.call(port_in, f"{port}, {size}", reads=(), writes=(), flags=False, result=v)
        b.set_reg(acc.name, v)
    else:
        b.call(port_out, f"{port}, {size}, {b.reg(acc.name)}", reads=(), writes=(),
               flags=False)


# ---- BCD --------------------------------------------------------------------------------

def bcd(op: str, ax: int, fo: int, base: int) -> tuple:
    """DAA DAS AAA AAS AAM AAD on AX with flags fo: (new AX, new six flag bits)."""
    al, ah = ax & 0xFF, ax >> 8
    cf, af = fo & F.CF, fo & F.AF
    if op == "daa":
        old_al, old_cf = al, cf
        cf = 0
        if (al & 0xF) > 9 or af:
            cf = old_cf or al + 6 > 0xFF
            al = (al + 6) & 0xFF
            af = F.AF
        else:
            af = 0
        if old_al > 0x99 or old_cf:
            al = (al + 0x60) & 0xFF
            cf = 1
        else:
            cf = 0
        of = 0
        res = al
    elif op == "das":
        old_al, old_cf = al, cf
        cf = 0
        if (al & 0xF) > 9 or af:
            cf = old_cf or al < 6
            al = (al - 6) & 0xFF
            af = F.AF
        else:
            af = 0
        if old_al > 0x99 or old_cf:
            al = (al - 0x60) & 0xFF
            cf = 1
        of = 0
        res = al
    elif op in ("aaa", "aas"):
        if (al & 0xF) > 9 or af:
            if op == "aaa":
                ax = (ax + 0x106) & 0xFFFF
            else:
                ax = (ax - 6) & 0xFFFF
                ax = (ax - 0x100) & 0xFFFF
            af, cf = F.AF, 1
        else:
            af = cf = 0
        ax &= 0xFF0F
        al, ah = ax & 0xFF, ax >> 8
        of = 0
        res = al
    elif op == "aam":
        if base == 0:
            raise CPUException(DE, "aam 0")
        ah, al = divmod(al, base)
        res, cf, af, of = al, 0, 0, 0
    else:   # aad
        al = (al + ah * base) & 0xFF
        ah = 0
        res, cf, af, of = al, 0, 0, 0
    f = (1 if cf else 0) | af | F.PARITY[res] | of
    if res == 0:
        f |= F.ZF
    if res & 0x80:
        f |= F.SF
    return ah << 8 | al, f


@family("daa", "das", "aaa", "aas", "aam", "aad")
def bcd_family(b: Builder, i) -> None:
    op = i.form.mnemonic
    base = i.operands[0].value & 0xFF if i.operands else 10
    ax = b.reg("ax")
    fo = b.flags_value()
    v, f = b.tmp("v"), b.tmp("fm")
    b.may_fault()
    b.emit(f"{v}, {f} = {b.glob(bcd)}({op!r}, {ax}, {fo}, {base})")
    b.set_reg("ax", v)
    b.set_mat(f)


# ---- identification and time ------------------------------------------------------------

VENDOR = b"GenuineIntel"
FEATURE_TSC, FEATURE_CX8, FEATURE_CMOV, FEATURE_FPU = 1 << 4, 1 << 8, 1 << 15, 1
FEATURE_FXSR, FEATURE_SSE, FEATURE_SSE2 = 1 << 24, 1 << 25, 1 << 26     # vm/x86/sse.py
FEATURE_MMX, FEATURE_CLFSH = 1 << 23, 1 << 19                             # vm/x86/mmx.py
FEATURE_ECX_SSE3, FEATURE_ECX_MONITOR = 1 << 0, 1 << 3                    # ECX of leaf 1
CLFLUSH_LINE = 8            # EBX[15:8] of leaf 1: CLFLUSH line size in 8-byte units (64)


def cpuid_values(leaf: int, fpu: bool) -> tuple:
    """An honest answer: family 6 model 1 (Pentium Pro) with only what is implemented:
    CLFLUSH, and with the x87 unit (which holds the MMX registers) MMX, FXSAVE/FXRSTOR,
    SSE, SSE2, SSE3 and MONITOR/MWAIT (#UD at CPL 3, as Linux leaves them)."""
    if leaf == 0:
        v = VENDOR
        return (1, int.from_bytes(v[0:4], "little"), int.from_bytes(v[8:12], "little"),
                int.from_bytes(v[4:8], "little"))
    if leaf == 1:
        edx = FEATURE_TSC | FEATURE_CX8 | FEATURE_CMOV | FEATURE_CLFSH | (
            FEATURE_FPU | FEATURE_MMX | FEATURE_FXSR | FEATURE_SSE | FEATURE_SSE2 if fpu else 0)
        ecx = FEATURE_ECX_SSE3 | FEATURE_ECX_MONITOR if fpu else 0
        return (0x0619, CLFLUSH_LINE << 8, ecx, edx)
    return (0, 0, 0, 0)


def cpuid(cpu) -> None:
    r = cpu.r
    r[EAX], r[3], r[ECX], r[EDX] = cpuid_values(r[EAX], cpu.machine.has_fpu())


@family("cpuid")
def cpuid_family(b: Builder, i) -> None:
    b.call(cpuid, reads=(EAX,), writes=(EAX, ECX, EDX, 3), flags=False)


def rdtsc(cpu, done: int) -> None:
    """The time stamp counter counts instructions (``done``: retired earlier in this
    block, not yet added to the step count)."""
    t = cpu.steps[0] + done + cpu.tsc_base
    cpu.r[EAX] = t & 0xFFFFFFFF
    cpu.r[EDX] = t >> 32 & 0xFFFFFFFF


@family("rdtsc")
def rdtsc_family(b: Builder, i) -> None:
    b.call(rdtsc, f"{'c + ' if b.loop_mode else ''}{b.idx}", reads=(), writes=(EAX, EDX),
           flags=False)


# ---- x87 --------------------------------------------------------------------------------

class _FPUSide:
    """What the x87 unit may touch outside itself besides memory (the interface of
    vm/x86/fpu.py)."""
    __slots__ = ()

    def get_eflags(self) -> int:
        return self.cpu.get_eflags()

    def set_eflags_zpc(self, zf, pf, cf) -> None:
        """FCOMI & co.: ZF PF CF from the comparison, OF SF AF cleared."""
        self.cpu.lz = (F.NONE, (F.ZF if zf else 0) | (F.PF if pf else 0) | (F.CF if cf else 0),
                       0, 0)

    def set_ax(self, value: int) -> None:
        self.cpu.r[EAX] = self.cpu.r[EAX] & 0xFFFF0000 | value & 0xFFFF

    def get_sreg(self, name: str) -> int:
        """A segment selector (the FPU records FCS/FDS)."""
        return self.cpu.r[SEL + SREG_NUM[name]]


class FPUContext(_FPUSide):
    """The x87 unit's view of a machine outside protected mode: ``read(addr, n)`` and
    ``write(addr, data)`` are the memory's own checked accesses (``paged`` is the view
    through the page tables, for protected mode). ``direct_mem``: the Memory the unit's
    plans access directly while a page has no flags (vm/x86/x87fast.py read_op,
    write_op)."""
    __slots__ = ("cpu", "sreg_file", "_paged", "direct_mem")

    def __init__(self, cpu):
        self.cpu = cpu
        self.direct_mem = cpu.machine.mem
        # the selectors' list and indices: FCS/FDS read without calls (vm/x86/x87fast.py)
        self.sreg_file = (cpu.r, {name: SEL + n for name, n in SREG_NUM.items()})
        self._paged: Optional[_PagedFPUContext] = None

    # looked up at each access, not bound once: the debugger replaces the memory's
    # write (watchpoints, reverse history: vm/debug/core.py) after the machine is built
    def read(self, addr: int, n: int) -> bytes:
        return self.cpu.machine.mem.read(addr, n)

    def write(self, addr: int, data) -> None:
        self.cpu.machine.mem.write(addr, data)

    @property
    def paged(self) -> _PagedFPUContext:
        if self._paged is None:
            self._paged = _PagedFPUContext(self)
        return self._paged


class _PagedFPUContext(_FPUSide):
    """Protected mode: x87 memory operands are linear addresses, through paging."""
    __slots__ = ("cpu", "sreg_file")
    direct_mem = None           # no direct access: every operand goes through the MMU

    def __init__(self, flat: FPUContext):
        self.cpu, self.sreg_file = flat.cpu, flat.sreg_file

    def read(self, addr: int, n: int) -> bytes:
        return P.read_linear(self.cpu, addr, n)

    def write(self, addr: int, data: bytes) -> None:
        P.write_linear(self.cpu, addr, data)


SREG_NUM = {"es": 0, "cs": 1, "ss": 2, "ds": 3, "fs": 4, "gs": 5}


_NO_PLANS: dict = {}        # a unit without plans (tests' stand-ins): always execute()


def x87(cpu, insn, ea: Optional[int], _protected: bool = True) -> None:
    """The helper a block calls for an x87 instruction: in blocks translated in protected
    mode (paging and CR0.EM/TS, when the CPU is in it) this, in the others x87_flat, the
    same code without that test (``_protected`` False: no call more per instruction)."""
    m = cpu.machine
    ctx = m.fpu_context
    if _protected and cpu.pm:
        ctx = ctx.paged
        if m.control.get("cr0", 0) & 0xC:       # CR0.EM or CR0.TS: #NM
            cr0 = m.control["cr0"]
            mn = insn.form.mnemonic
            if (mn not in ("wait", "fwait") and cr0 & 0xC) or (cr0 & 0xA == 0xA):
                raise CPUException(NM, "coprocessor not available (CR0.EM/TS)")
    try:
        fpu = m._fpu
        if fpu is not None:         # an instruction run before: its plan (vm/x86/x87fast.py)
            plan = getattr(fpu, "plans", _NO_PLANS).get(id(insn))
            if plan is not None and plan[0] is insn:
                fpu._ctx = ctx
                fpu._mem = ctx.direct_mem
                plan[1](ea, ctx)
                return
        _x87_first(cpu, m, insn, ea, ctx)
    except CPUException:
        raise
    except Exception as e:      # the unit's #MF (X87Fault): int 16 / SIGFPE
        _x87_fault(e)


# (the same code object, its default False; named so that a warm run finds it again by
# name: vm/x86/warmblocks.py)
x87_flat = FunctionType(x87.__code__, x87.__globals__, "x87_flat", (False,))
x87_flat.__qualname__ = "x87_flat"


def _x87_fault(e: Exception) -> None:
    """The unit's #MF (X87Fault) as the CPU's (int 16 / SIGFPE); anything else as it is."""
    if type(e).__name__ != "X87Fault":
        raise e
    raise CPUException(MF, str(e) or "x87 floating-point error") from None


def _x87_first(cpu, m, insn, ea: Optional[int], ctx) -> None:
    """An instruction without a plan yet (or fxsave/fxrstor, which never get one)."""
    fpu = m.fpu()
    if fpu is None:
        if insn.form.mnemonic in ("wait", "fwait"):
            return
        raise CPUException(UD, "x87 instructions are not available")
    fx = insn.form.mnemonic in ("fxsave", "fxrstor")
    if fx:                          # MXCSR and XMM0-7 live in the CPU (vm/x86/sse.py)
        fpu.mxcsr = cpu.mxcsr
        fpu.mxcsr_mask = 0xFFFF     # the bits LDMXCSR/FXRSTOR accept (Intel's value)
    fpu.execute(insn, ea, ctx)
    if fx:
        _fx_xmm(cpu, ctx, insn.form.mnemonic == "fxsave", ea)


def _fx_xmm(cpu, mem, save: bool, ea: int) -> None:
    """The SSE part of an FXSAVE/FXRSTOR image: MXCSR at 24, XMM0-7 at 160 (``mem``: the
    unit's context, paged in protected mode)."""
    if save:
        mem.write(ea + 160, b"".join(x.to_bytes(16, "little") for x in cpu.xmm))
        return
    mxcsr = cpu.machine.fpu().mxcsr
    if mxcsr & ~0xFFFF:             # beyond MXCSR_MASK (vm/x86/sse.py)
        raise CPUException(GP, "fxrstor: reserved MXCSR bits set")
    cpu.mxcsr = mxcsr
    data = mem.read(ea + 160, 128)
    cpu.xmm[:] = [int.from_bytes(data[16 * k:16 * k + 16], "little") for k in range(8)]


# x87 memory operands whose size the decoder leaves open: bytes and the alignment #AC
# wants (SDM vol. 3, table 6-7: FSTENV/FLDENV and FSAVE/FRSTOR areas 4, or 2 with a
# 16-bit operand size; control and status words 2)
_X87_WORD = ("fldcw", "fnstcw", "fstcw", "fnstsw", "fstsw")
_X87_ENV = ("fnstenv", "fstenv", "fldenv")
_X87_STATE = ("fnsave", "fsave", "frstor")


def _x87_operand(b: Builder, i, op: Mem) -> str:
    mn = i.form.mnemonic
    if not b.pm:
        ea = b.ea(op)
    elif mn in _X87_ENV or mn in _X87_STATE:
        o16 = b.osize == 2
        n = (14 if o16 else 28) + (0 if mn in _X87_ENV else 80)
        ea = b.ea(op, n, 2 if o16 else 4)
    elif mn in ("fxsave", "fxrstor"):
        ea = b.ea(op, 512, 1)
    else:
        ea = b.ea(op, op.size or (2 if mn in _X87_WORD else 1))
    if mn in ("fxsave", "fxrstor"):     # a 16-byte boundary, else #GP(0) in every mode
        ea = b.bind(ea, "a")
        b.raise_if(f"{ea} & 15", GP, f"{mn}: operand not on a 16-byte boundary")
    return ea


def _x87_family(b: Builder, i) -> None:
    ea = "None"
    for op in i.operands:
        if isinstance(op, Mem):
            ea = _x87_operand(b, i, op)
    # only fnstsw ax touches a register, fcomi & co. and fcmovcc the flags: the others
    # leave the block's registers and lazy flags where they are
    mn = i.form.mnemonic
    ax = (EAX,) if mn in ("fnstsw", "fstsw") and ea == "None" else ()
    b.call(x87 if b.pm else x87_flat, f"{b.glob(i, f'insn_{b.tr.nextid}_{b.idx}')}, {ea}",
           reads=ax, writes=ax, flags=mn.startswith(("fcomi", "fucomi", "fcmov")))


# the table's x87 mnemonics (every "f..." one and wait), listed rather than found by
# parsing insns.tab at import: a warm run (vm/x86/warmblocks.py) never decodes, so it
# need not load the table (tests/test_x86_warmcache.py checks the list against it)
X87_MNEMONICS = frozenset("""
    f2xm1 fabs fadd faddp fbld fbstp fchs fclex fcmovb fcmovbe fcmove fcmovnb fcmovnbe
    fcmovne fcmovnu fcmovu fcom fcomi fcomip fcomp fcompp fcos fdecstp fdisi fdiv fdivp
    fdivr fdivrp feni ffree ffreep fiadd ficom ficomp fidiv fidivr fild fimul fincstp
    finit fist fistp fisttp fisub fisubr fld fld1 fldcw fldenv fldl2e fldl2t fldlg2
    fldln2 fldpi fldz fmul fmulp fnclex fndisi fneni fninit fnop fnsave fnstcw fnstenv
    fnstsw fpatan fprem fprem1 fptan frndint frstor fsave fscale fsetpm fsin fsincos fsqrt
    fst fstcw fstenv fstp fstsw fsub fsubp fsubr fsubrp ftst fucom fucomi fucomip fucomp
    fucompp fwait fxam fxch fxrstor fxsave fxtract fyl2x fyl2xp1 wait""".split())
family(*sorted(X87_MNEMONICS))(_x87_family)


# ---- system instructions ----------------------------------------------------------------

def control_register(b: Builder, i) -> None:
    """MOV to/from CRn, DRn, TRn (CPL 0). Writing CR0 may enter or leave protected mode
    and paging, CR3 flushes the TLB: the block ends with the new key."""
    if b.privileged():
        return
    dst, src = i.operands
    if isinstance(dst, Reg) and dst.name[:2] in ("cr", "dr", "tr"):
        k = b.tmp("k")
        b.call(write_control, f"{dst.name!r}, {b.reg(src.name)}, {b.nip:#x}", reads=(),
               writes=(), flags=False, result=k)
        b.end_dynamic(k)
    else:
        v = b.tmp("v")
        b.call(read_control, f"{src.name!r}", reads=(), writes=(), flags=False, result=v)
        b.set_reg(dst.name, v)


def write_control(cpu, name: str, value: int, nip: int) -> int:
    """Returns the key of the next instruction (CR0 may have changed the mode)."""
    cpu.eip = nip
    if name.startswith("cr"):
        return P.write_cr(cpu, name, value)
    if name.startswith("dr"):
        debugregs.write_dr(cpu, int(name[2]), value)
        return cpu.key()
    cpu.machine.control[name] = value & 0xFFFFFFFF
    return cpu.key()


def read_control(cpu, name: str) -> int:
    if name.startswith("dr"):
        return debugregs.read_dr(cpu, int(name[2]))
    return P.read_cr(cpu, name)


def descriptor_table(cpu, op: str, ea: int, size: int) -> None:
    """LGDT/LIDT/SGDT/SIDT: 6-byte limit + base images (a 16-bit operand keeps 24 bits
    of the base, and SGDT/SIDT store its top byte as 0, as the 386 does)."""
    m = cpu.machine
    if cpu.pm:
        rd = lambda a, n: cpu.mmu.read(a & 0xFFFFFFFF, n)             # noqa: E731
        wr = lambda a, n, v: cpu.mmu.write(a & 0xFFFFFFFF, n, v)      # noqa: E731
    else:
        rd = lambda a, n: int.from_bytes(m.mem.read(a, n), "little")   # noqa: E731
        wr = lambda a, n, v: m.mem.write(a, v.to_bytes(n, "little"))  # noqa: E731
    if op in ("lgdt", "lidt"):
        limit = rd(ea, 2)
        base = rd(ea + 2, 4) & (0xFFFFFFFF if size == 4 else 0xFFFFFF)
        m.control[op[1:]] = (base, limit)
        if op == "lidt":
            cpu.idt_base = base
    else:
        base, limit = m.control.get(op[1:], (0, 0x3FF if op == "sidt" else 0xFFFF))
        wr(ea, 2, limit)
        wr(ea + 2, 4, base if size == 4 else base & 0xFFFFFF)


# Linux user mode: with UMIP the CPU faults SGDT/SIDT/SMSW/SLDT/STR at CPL 3 and the
# kernel (arch/x86/kernel/umip.c) answers with fixed values, whatever the operand size:
# tables of limit 0 at dummy bases, CR0's PE MP ET NE WP AM PG, the TSS's selector
# (GDT_ENTRY_TSS 8), no LDT
UMIP_GDT_BASE, UMIP_IDT_BASE = 0xFFFE0000, 0xFFFF0000
UMIP_CR0, UMIP_TR = 0x80050033, 0x40


def umip_table(cpu, op: str, ea: int) -> None:
    """SGDT/SIDT in Linux user mode: limit 0 and the dummy base, 6 bytes at once."""
    base = UMIP_GDT_BASE if op == "sgdt" else UMIP_IDT_BASE
    cpu.machine.mem.write(ea, (base << 16).to_bytes(6, "little"))


@family("lgdt", "lidt", "sgdt", "sidt")
def table_register(b: Builder, i) -> None:
    op = i.form.mnemonic
    if op in ("lgdt", "lidt") and b.privileged():
        return
    if not b.real and not b.pm:     # user mode may read them: what Linux answers
        ea = b.ea(i.operands[0])
        b.call(umip_table, f"{op!r}, {ea}", reads=(), writes=(), flags=False)
        return
    ea = b.ea(i.operands[0], 6)
    if b.pm and b.ac and op in ("sgdt", "sidt"):
        # SGDT/SIDT at CPL 3 store the limit as a word and the base as a doubleword at
        # +2, each checked for #AC (SDM vol. 3, 6.15; Bochs does the same two stores)
        b.raise_if(f"{ea} & 3 != 2", AC, "alignment check")
    b.call(descriptor_table, f"{op!r}, {ea}, {b.osize}", reads=(), writes=(), flags=False)
    b.end_here()


@family("smsw")
def smsw(b: Builder, i) -> None:
    d = b.operand(i.operands[0], 2 if isinstance(i.operands[0], Mem) else None)
    if not b.real and not b.pm:     # Linux user mode (UMIP, see above)
        d.write(f"{UMIP_CR0 & MASK[d.size]:#x}")
        return
    v = b.tmp("v")
    b.call(read_control, "'cr0'", reads=(), writes=(), flags=False, result=v)
    d.write(f"{v} & {MASK[d.size]:#x}")


@family("lmsw")
def lmsw(b: Builder, i) -> None:
    if b.privileged():
        return
    v = b.operand(i.operands[0], 2).read()
    k = b.tmp("k")
    b.call(write_msw, f"{v}, {b.nip:#x}", reads=(), writes=(), flags=False, result=k)
    b.end_dynamic(k)


def write_msw(cpu, value: int, nip: int) -> int:
    """LMSW: PE, MP, EM, TS from the operand; PE cannot be cleared this way."""
    cpu.eip = nip
    cr0 = P.read_cr(cpu, "cr0")
    return P.write_cr(cpu, "cr0", cr0 & ~0xE | value & 0xF | cr0 & 1)


def invalidate_page(cpu, lin: int) -> None:
    P.invlpg(cpu, lin)


@family("clts", "invd", "wbinvd", "invlpg")
def cache_control(b: Builder, i) -> None:
    if b.privileged():
        return
    op = i.form.mnemonic
    if op == "clts":
        b.call(P.clts, reads=(), writes=(), flags=False)
    elif op == "invlpg":
        if not isinstance(i.operands[0], Mem):
            b.raise_exc(UD, "invlpg with a register operand")
            b.end_dynamic("0")
            return
        seg = b.default_seg(i.operands[0])
        off = b.offset(i.operands[0])
        lin = f"({b.get(BASE + seg)} + {off}) & 0xffffffff" if b.pm else off
        b.call(invalidate_page, lin, reads=(), writes=(), flags=False)
        b.end_here()


@family("rdmsr", "wrmsr", "rdpmc", "sysexit")
def msr(b: Builder, i) -> None:
    if not b.privileged():
        b.raise_exc(GP, f"{i.form.mnemonic}: no model-specific registers")
        b.end_dynamic("0")


@family("sysenter", "rsm")
def not_available(b: Builder, i) -> None:
    b.raise_exc(UD if i.form.mnemonic == "rsm" or b.real else GP,
                f"{i.form.mnemonic} is not available")
    b.end_dynamic("0")


def _sel_read(b: Builder, op) -> str:
    return b.operand(op, 2).read() if isinstance(op, Mem) else \
        f"{b.operand(op).read()} & 0xffff"


def _protected_family(b: Builder, i) -> None:
    """Protected mode: LLDT LTR SLDT STR LAR LSL VERR VERW (ARPL is shared)."""
    op = i.form.mnemonic
    if op in ("lldt", "ltr"):
        if b.privileged():
            return
        fn = P.lldt if op == "lldt" else P.ltr
        b.call(fn, _sel_read(b, i.operands[0]), reads=(), writes=(), flags=False)
        return
    if op in ("sldt", "str"):
        d = b.operand(i.operands[0], 2 if isinstance(i.operands[0], Mem) else None)
        v = b.tmp("v")
        b.call(P.sldt if op == "sldt" else P.str_, reads=(), writes=(), flags=False,
               result=v)
        d.write(v if d.size != 4 else f"{v} & 0xffff")
        return
    fo = b.flags_value()
    v = b.tmp("v")
    if op in ("verr", "verw"):
        sel = _sel_read(b, i.operands[0])
        b.call(P.verify, f"{sel}, {op == 'verw'}", reads=(), writes=(), flags=False,
               result=v)
        b.set_mat(f"{fo} & 0xfbf | (0x40 if {v} else 0)")
        return
    dst = b.operand(i.operands[0])
    sel = _sel_read(b, i.operands[1])
    old = dst.read()
    b.call(P.lar if op == "lar" else P.lsl, sel, reads=(), writes=(), flags=False, result=v)
    dst.write(f"({v} & {MASK[dst.size]:#x} if {v} >= 0 else {old})")
    b.set_mat(f"{fo} & 0xfbf | (0x40 if {v} >= 0 else 0)")


@family("lldt", "ltr", "sldt", "str", "lar", "lsl", "verr", "verw", "arpl")
def protected_only(b: Builder, i) -> None:
    """Protected-mode instructions: #UD in real mode. In flat user mode the LDT and TR
    are empty and no selector is accessible through LAR/LSL/VERR/VERW (ZF = 0)."""
    op = i.form.mnemonic
    if b.real:
        b.raise_exc(UD, f"{op} is not recognised in real mode")
        b.end_dynamic("0")
        return
    if b.pm and op != "arpl":
        if b.v86:
            b.raise_exc(UD, f"{op} is not recognised in V86 mode")
            b.end_dynamic("0")
            return
        _protected_family(b, i)
        return
    if op in ("lldt", "ltr"):
        b.privileged()
        return
    if op in ("sldt", "str"):       # Linux user mode (UMIP, see above)
        d = b.operand(i.operands[0], 2 if isinstance(i.operands[0], Mem) else None)
        d.write(f"{UMIP_TR if op == 'str' else 0:#x}")
        return
    fo = b.flags_value()
    if op == "arpl":
        if b.pm and b.v86:
            b.raise_exc(UD, "arpl is not recognised in V86 mode")
            b.end_dynamic("0")
            return
        d, s = b.operand(i.operands[0], 2), b.operand(i.operands[1], 2)
        a, c = d.read(), s.read()
        adj = b.bind(f"({a} & 3) < ({c} & 3)", "adj")
        if d.is_reg:
            d.write(f"({a} & 0xfffc | {c} & 3 if {adj} else {a})")
        else:
            b.emit(f"if {adj}:")
            b.depth += 1
            d.write(f"{a} & 0xfffc | {c} & 3")
            b.depth -= 1
        b.set_mat(f"{fo} & 0xfbf | (0x40 if {adj} else 0)")
        return
    b.set_mat(f"{fo} & 0xfbf")
