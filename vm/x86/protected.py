"""Protected mode (386): entering and leaving it, segment register loads through the
GDT/LDT, far transfers (with call gates and privilege changes through the TSS stacks),
interrupts and exceptions through the IDT, IRET/RETF, the IOPL and I/O permission checks
and the descriptor-table instructions. Everything here runs as a helper called from a
compiled block (or from the run loop, for exceptions); real mode and flat user mode
never get here, so they pay nothing for it.
"""

from __future__ import annotations

from typing import Optional

from vm.x86 import debugregs
from vm.x86 import flags as F
from vm.x86.descriptors import (
    ACC_CE,
    ACC_CODE,
    ACC_P,
    ACC_S,
    Seg,
    SegList,
    check_data_load,
    check_ss_load,
    fault,
    gate,
    parse,
)
from vm.x86.faults import AC, GP, NP, TS, UD, CPUException
from vm.x86.faults import SS as SSF
from vm.x86.paging import MMU
from vm.x86.state import BASE, CS, DS, EAX, ECX, EDI, EDX, ES, ESI, ESP, FS, GS, PROT, REAL, SEL, SS

IF, TF, IOPL, NT, RF, VM = 0x200, 0x100, 0x3000, 0x4000, 0x10000, 0x20000


class _Later:
    """Hardware task switching and V86 mode live in tasks.py, which builds on this
    module; it fills these in when imported (system.py imports it)."""
    task_switch = task_gate_interrupt = task_return = None
    v86_interrupt_frame = v86_iret = return_to_v86 = v86_far = v86_retf = None


LATER = _Later()
ERROR_CODE_VECTORS = (8, 10, 11, 12, 13, 14, 17)


# ---- mode switches and control registers --------------------------------------------------

def enter(cpu) -> None:
    """CR0.PE set from real mode: the segment caches keep their real-mode contents."""
    r = cpu.r
    cpu.segs = SegList([Seg(r[SEL + n], r[BASE + n], 0xFFFF, 0x9B if n == CS else 0x93,
                            False) for n in range(6)])
    if getattr(cpu, "ldtr", None) is None:
        cpu.ldtr = Seg(0, 0, 0xFFFF, 0x82, False)
        cpu.trs = Seg(0, 0, 0xFFFF, 0x8B, False)
    if cpu.mmu is None:
        cpu.mmu = MMU(cpu, cpu.machine.mem)
    cpu.machine.tr.bind_mmu(cpu.mmu)
    cpu.pm, cpu.real, cpu.mode, cpu.cpl = True, False, PROT, 0
    cpu.update_ctx()
    cpu.machine.tr.flush()
    if cpu.dbg:                 # data breakpoints now watch linear addresses (the MMU)
        debugregs.arm(cpu)


def leave(cpu) -> None:
    """CR0.PE cleared: back to real-address mode. The data segment bases stay until
    the next load; real-mode code is keyed by CS, so the CS cache's base (normally that
    of a 16-bit descriptor, before the far jump that reloads CS) is kept by naming the
    paragraph it starts at."""
    cs = cpu.segs[CS]
    if cs.base & 0xF == 0 and cs.base <= 0xFFFF0:
        cpu.r[SEL + CS] = cs.base >> 4
    cpu.pm, cpu.real, cpu.mode, cpu.bits, cpu.cpl = False, True, REAL, 16, 0
    cpu.machine.tr.flush()
    if cpu.dbg:
        debugregs.arm(cpu)


def control(cpu) -> dict:
    return cpu.machine.control


def write_cr(cpu, name: str, value: int) -> int:
    """MOV CRn, reg (CPL 0 was checked by the block); returns the next key."""
    value &= 0xFFFFFFFF
    ctl = control(cpu)
    if name == "cr0":
        if value & 0x80000000 and not value & 1:
            raise CPUException(GP, "CR0.PG without CR0.PE", 0)
        old = ctl.get("cr0", 0x10)
        value |= 0x10               # ET: a 387 is present
        ctl["cr0"] = value
        if value & 1 and not cpu.pm:
            enter(cpu)
        elif not value & 1 and cpu.pm:
            leave(cpu)
        mmu = cpu.mmu
        if mmu is not None:
            mmu.wp = bool(value & 0x10000)
            paging = bool(value & 0x80000000)
            if paging != mmu.paging or (old ^ value) & 0x10000:
                mmu.paging = paging
                mmu.flush()
                cpu.machine.tr.flush()
    elif name == "cr3":
        ctl["cr3"] = value
        if cpu.mmu is None:
            cpu.mmu = MMU(cpu, cpu.machine.mem)
        cpu.mmu.cr3 = value
        cpu.mmu.flush()
        cpu.machine.tr.flush()
    elif name == "cr2":
        ctl["cr2"] = value
        if cpu.mmu is not None:
            cpu.mmu.cr2 = value
    elif name in ("cr1", "cr5", "cr6", "cr7"):
        raise CPUException(UD, f"mov to {name}")
    else:
        ctl[name] = value
    return cpu.key()


def read_cr(cpu, name: str) -> int:
    if name == "cr2" and cpu.mmu is not None:
        return cpu.mmu.cr2
    if name in ("cr1", "cr5", "cr6", "cr7"):
        raise CPUException(UD, f"mov from {name}")
    return control(cpu).get(name, 0x10 if name == "cr0" else 0)


def invlpg(cpu, lin: int) -> None:
    if cpu.mmu is not None:
        cpu.mmu.flush_page(lin)
    cpu.machine.tr.flush()


def clts(cpu) -> None:
    ctl = control(cpu)
    ctl["cr0"] = ctl.get("cr0", 0x10) & ~8


# ---- descriptor tables ----------------------------------------------------------------------

def read_desc(cpu, sel: int, vector: int = GP, ext: int = 0) -> tuple:
    """(raw descriptor, its linear address) of a selector; #GP(sel) past the table."""
    if sel & 4:
        t = cpu.ldtr
        if not t.valid or t.sel & ~3 == 0:
            raise CPUException(vector, f"selector 0x{sel:04x}: no LDT", (sel & 0xFFFC) | ext)
        base, limit = t.base, t.limit
    else:
        base, limit = control(cpu).get("gdt", (0, 0xFFFF))
    idx = sel & 0xFFF8
    if idx + 7 > limit:
        raise CPUException(vector, f"selector 0x{sel:04x} beyond the descriptor table",
                           (sel & 0xFFFC) | ext)
    a = (base + idx) & 0xFFFFFFFF
    mmu = cpu.mmu
    return mmu.read(a, 4, 0) | mmu.read(a + 4, 4, 0) << 32, a


def set_accessed(cpu, addr: int, raw: int, bit: int = 1) -> None:
    acc = raw >> 40 & 0xFF
    if not acc & bit:
        cpu.mmu.write(addr + 5, 1, acc | bit, 0)


def load_segment(cpu, n: int, sel: int) -> None:
    """MOV/POP/LxS to a segment register other than CS, with the protected-mode checks."""
    sel &= 0xFFFF
    r = cpu.r
    if cpu.flags & VM:
        cpu.segs[n] = Seg(sel, sel << 4, 0xFFFF, 0x93 if n != CS else 0x9B, False)
        r[SEL + n], r[BASE + n] = sel, sel << 4
        return
    if sel & 0xFFFC == 0:
        if n == SS:
            raise CPUException(GP, "null stack segment", 0)
        cpu.segs[n] = Seg(sel, 0, 0, 0, False, valid=False)
        r[SEL + n], r[BASE + n] = sel, 0
        return
    raw, addr = read_desc(cpu, sel)
    base, limit, acc, big = parse(raw)
    if n == SS:
        check_ss_load(sel, acc, cpu.cpl)
    else:
        check_data_load(n, sel, acc, cpu.cpl)
    set_accessed(cpu, addr, raw)
    cpu.segs[n] = Seg(sel, base, limit, acc | 1, big)
    r[SEL + n], r[BASE + n] = sel, base
    if n == SS:
        cpu.update_ctx()


def _null_outer(cpu) -> None:
    """After a return to an outer level: data segments the new CPL may not use become
    null."""
    for n in (ES, DS, FS, GS):
        s = cpu.segs[n]
        if not s.valid:
            continue
        if s.dpl < cpu.cpl and not (s.acc & ACC_CODE and s.acc & ACC_CE):
            cpu.segs[n] = Seg(0, 0, 0, 0, False, valid=False)
            cpu.r[SEL + n] = 0
            cpu.r[BASE + n] = 0


def _set_cs(cpu, sel: int, base: int, limit: int, acc: int, big: bool, cpl: int) -> None:
    cpu.cpl = cpl
    sel = sel & 0xFFFC | cpl
    cpu.segs[CS] = Seg(sel, base, limit, acc | 1, big)
    cpu.r[SEL + CS], cpu.r[BASE + CS] = sel, base
    cpu.update_ctx()


def _code_desc(cpu, sel: int, ext: int = 0) -> tuple:
    if sel & 0xFFFC == 0:
        raise CPUException(GP, "null code selector", ext)
    raw, addr = read_desc(cpu, sel, GP, ext)
    base, limit, acc, big = parse(raw)
    if acc & (ACC_S | ACC_CODE) != ACC_S | ACC_CODE:
        raise CPUException(GP, f"selector 0x{sel:04x} is not a code segment",
                           (sel & 0xFFFC) | ext)
    return raw, addr, base, limit, acc, big


# ---- the stack ------------------------------------------------------------------------------

def alignment_checked(cpu) -> bool:
    """#AC is armed (SDM vol. 3, 6.15): CPL 3 (V86 included), CR0.AM and EFLAGS.AC.
    Accesses the CPU makes as a supervisor (descriptor tables, the TSS, an inner
    stack after a privilege change) are never checked: their callers run at CPL < 3
    or read with user=0 without calling this."""
    return cpu.cpl == 3 and cpu.flags & 0x40000 != 0 and \
        control(cpu).get("cr0", 0) & 0x40000 != 0


def align_check(cpu, lin: int, size: int, ext: int = 0) -> None:
    """#AC(0) (EXT for an external event) when lin is not a multiple of size (2, 4;
    8 for quadwords) and alignment checking is on."""
    if lin & (size - 1) and alignment_checked(cpu):
        raise CPUException(AC, "alignment check", ext)


def push(cpu, value: int, size: int, ext: int = 0) -> None:
    """Push at the current CPL: far CALL, INT and exception frames, ENTER (at CPL 3
    these are user data accesses, so #AC applies)."""
    r = cpu.r
    ss = cpu.segs[SS]
    if ss.big:
        sp = (r[ESP] - size) & 0xFFFFFFFF
    else:
        sp = (r[ESP] - size) & 0xFFFF
    mmu = cpu.mmu
    lin = mmu.seg(SS, sp, size)
    if lin & (size - 1) and cpu.cpl == 3:
        align_check(cpu, lin, size, ext)
    mmu.write(lin, size, value & ((1 << 8 * size) - 1))
    r[ESP] = sp if ss.big else r[ESP] & 0xFFFF0000 | sp


def peek(cpu, offset: int, size: int) -> int:
    r = cpu.r
    ss = cpu.segs[SS]
    sp = (r[ESP] + offset) & (0xFFFFFFFF if ss.big else 0xFFFF)
    mmu = cpu.mmu
    lin = mmu.seg(SS, sp, size)
    if lin & (size - 1) and cpu.cpl == 3:
        align_check(cpu, lin, size)
    return mmu.read(lin, size)


def release(cpu, n: int) -> None:
    r = cpu.r
    if cpu.segs[SS].big:
        r[ESP] = (r[ESP] + n) & 0xFFFFFFFF
    else:
        r[ESP] = r[ESP] & 0xFFFF0000 | (r[ESP] + n) & 0xFFFF


def _tss_stack(cpu, dpl: int, ext: int = 0) -> tuple:
    """(SS, ESP) for privilege level dpl from the current TSS."""
    t = cpu.trs
    if t.acc & 0x0F in (0x9, 0xB):
        off, width = 4 + 8 * dpl, 4
    else:
        off, width = 2 + 4 * dpl, 2
    if off + 2 * width - 1 > t.limit:
        raise CPUException(TS, "TSS too small for the stack", (t.sel & 0xFFFC) | ext)
    mmu = cpu.mmu
    esp = mmu.read(t.base + off, width, 0)
    ss = mmu.read(t.base + off + width, 2, 0)
    return ss, esp


def _switch_stack(cpu, dpl: int, ext: int = 0) -> None:
    ss_sel, esp = _tss_stack(cpu, dpl, ext)
    if ss_sel & 0xFFFC == 0:
        raise CPUException(TS, "null stack selector in the TSS", ext)
    raw, addr = read_desc(cpu, ss_sel, TS, ext)
    base, limit, acc, big = parse(raw)
    if ss_sel & 3 != dpl or acc >> 5 & 3 != dpl or acc & (ACC_S | ACC_CODE | 2) != ACC_S | 2:
        raise CPUException(TS, f"invalid stack segment 0x{ss_sel:04x} in the TSS",
                           (ss_sel & 0xFFFC) | ext)
    if not acc & ACC_P:
        raise CPUException(SSF, f"stack segment 0x{ss_sel:04x} not present",
                           (ss_sel & 0xFFFC) | ext)
    set_accessed(cpu, addr, raw)
    cpu.segs[SS] = Seg(ss_sel, base, limit, acc | 1, big)
    cpu.r[SEL + SS], cpu.r[BASE + SS] = ss_sel, base
    cpu.r[ESP] = esp if big else cpu.r[ESP] & 0xFFFF0000 | esp & 0xFFFF


def _save(cpu) -> tuple:
    r = cpu.r
    return (list(r), list(cpu.segs), cpu.cpl, cpu.flags, cpu.eip)


def _restore(cpu, saved: tuple) -> None:
    r, segs, cpl, flags, eip = saved
    cpu.r[:] = r
    cpu.segs[:] = segs
    cpu.cpl, cpu.flags, cpu.eip = cpl, flags, eip
    cpu.update_ctx()


# ---- far transfers -------------------------------------------------------------------------

def far_jump(cpu, sel: int, off: int, nip: int, size: int, next_ip: int = -1) -> int:
    """JMP/CALL far (nip < 0 for a jump) in protected mode; returns the next key.
    ``next_ip``: the instruction after (what a task switch saves)."""
    if next_ip >= 0:
        cpu.eip = next_ip
    saved = _save(cpu)
    try:
        if cpu.flags & VM:
            LATER.v86_far(cpu, sel, off, nip, size)
        else:
            _far(cpu, sel & 0xFFFF, off, nip, size)
    except CPUException as e:
        if not getattr(e, "committed", False):
            _restore(cpu, saved)
        else:           # a task switch went through: the fault is the new task's
            e.eip = cpu.eip
        raise
    return cpu.key()


def _far(cpu, sel: int, off: int, nip: int, size: int) -> None:
    cpl = cpu.cpl
    call = nip >= 0
    raw, addr = _code_or_system(cpu, sel)
    base, limit, acc, big = parse(raw)
    if acc & ACC_S:
        if not acc & ACC_CODE:
            raise fault(GP, sel, "far transfer to a data segment")
        dpl = acc >> 5 & 3
        if acc & ACC_CE:
            if dpl > cpl:
                raise fault(GP, sel, "conforming code segment of a higher DPL")
        elif (sel & 3) > cpl or dpl != cpl:
            raise fault(GP, sel, "code segment privilege")
        if not acc & ACC_P:
            raise fault(NP, sel, "code segment not present")
        if size == 2:
            off &= 0xFFFF
        if off > limit:
            raise CPUException(GP, "far transfer beyond the segment limit", 0)
        if call:
            push(cpu, cpu.r[SEL + CS], size)
            push(cpu, nip, size)
        set_accessed(cpu, addr, raw)
        _set_cs(cpu, sel, base, limit, acc, big, cpl)
        cpu.eip = off
        return
    typ = acc & 0x1F
    if typ in (0x04, 0x0C):
        _call_gate(cpu, sel, raw, nip, size)
        return
    if typ in (0x05, 0x01, 0x09):
        LATER.task_switch(cpu, sel, raw, addr, "call" if call else "jmp", cpu.eip)
        return
    raise fault(GP, sel, "far transfer to a system segment")


def _code_or_system(cpu, sel: int) -> tuple:
    if sel & 0xFFFC == 0:
        raise CPUException(GP, "null code selector", 0)
    return read_desc(cpu, sel)


def _call_gate(cpu, gsel: int, graw: int, nip: int, size: int) -> None:
    cpl = cpu.cpl
    call = nip >= 0
    tsel, off, typ, gdpl, present, count = gate(graw)
    if gdpl < cpl or gdpl < (gsel & 3):
        raise fault(GP, gsel, "call gate privilege")
    if not present:
        raise fault(NP, gsel, "call gate not present")
    gsize = 4 if typ == 0x0C else 2
    if gsize == 2:
        off &= 0xFFFF
    raw, addr, base, limit, acc, big = _code_desc(cpu, tsel)
    dpl = acc >> 5 & 3
    if dpl > cpl or (not call and not acc & ACC_CE and dpl != cpl):
        raise fault(GP, tsel, "call gate target privilege")
    if not acc & ACC_P:
        raise fault(NP, tsel, "code segment not present")
    if call and not acc & ACC_CE and dpl < cpl:
        r = cpu.r
        old_ss, old_esp = r[SEL + SS], r[ESP]
        old_ss_seg = cpu.segs[SS]
        params = []
        osp = old_esp if old_ss_seg.big else old_esp & 0xFFFF
        for k in range(count):
            a = (osp + k * gsize) & (0xFFFFFFFF if old_ss_seg.big else 0xFFFF)
            lin = cpu.mmu.seg(SS, a, gsize)
            # the parameters are read from the caller's stack while CPL is still 3: a
            # user data access (#AC, SDM vol. 2A CALL); the copies to the inner stack
            # are made at the new CPL (0-2), which #AC never checks (vol. 3, 6.15)
            if cpl == 3:
                align_check(cpu, lin, gsize)
            params.append(cpu.mmu.read(lin, gsize))
        _switch_stack(cpu, dpl)
        cpu.cpl = dpl
        if off > limit:
            raise CPUException(GP, "call gate offset beyond the segment limit", 0)
        push(cpu, old_ss, gsize)
        push(cpu, old_esp, gsize)
        for v in reversed(params):
            push(cpu, v, gsize)
        push(cpu, cpu.r[SEL + CS], gsize)
        push(cpu, nip, gsize)
        set_accessed(cpu, addr, raw)
        _set_cs(cpu, tsel, base, limit, acc, big, dpl)
        cpu.eip = off
        return
    if off > limit:
        raise CPUException(GP, "call gate offset beyond the segment limit", 0)
    if call:
        push(cpu, cpu.r[SEL + CS], gsize)
        push(cpu, nip, gsize)
    set_accessed(cpu, addr, raw)
    _set_cs(cpu, tsel, base, limit, acc, big, cpl)
    cpu.eip = off


def far_return(cpu, size: int, adjust: int) -> int:
    saved = _save(cpu)
    try:
        if cpu.flags & VM:
            LATER.v86_retf(cpu, size, adjust)
        else:
            _retf(cpu, size, adjust)
    except CPUException as e:
        if not getattr(e, "committed", False):
            _restore(cpu, saved)
        else:           # a task switch went through: the fault is the new task's
            e.eip = cpu.eip
        raise
    return cpu.key()


def _return_cs(cpu, sel: int, what: str) -> tuple:
    """The code segment a far RET or IRET returns to, after the checks both make (SDM:
    never to an inner level; conforming DPL <= RPL, else DPL == RPL; present)."""
    rpl = sel & 3
    desc = _code_desc(cpu, sel)
    if rpl < cpu.cpl:
        raise fault(GP, sel, f"{what} to an inner privilege level")
    acc = desc[4]
    dpl = acc >> 5 & 3
    if (acc & ACC_CE and dpl > rpl) or (not acc & ACC_CE and dpl != rpl):
        raise fault(GP, sel, f"{what} code segment privilege")
    if not acc & ACC_P:
        raise fault(NP, sel, "code segment not present")
    return desc


def _retf(cpu, size: int, adjust: int) -> None:
    ip = peek(cpu, 0, size)
    sel = peek(cpu, size, size) & 0xFFFF
    rpl = sel & 3
    raw, addr, base, limit, acc, big = _return_cs(cpu, sel, "return")
    if size == 2:
        ip &= 0xFFFF
    if rpl == cpu.cpl:
        if ip > limit:
            raise CPUException(GP, "return beyond the segment limit", 0)
        release(cpu, 2 * size + adjust)
        set_accessed(cpu, addr, raw)
        _set_cs(cpu, sel, base, limit, acc, big, rpl)
        cpu.eip = ip
        return
    esp = peek(cpu, 2 * size + adjust, size)
    ss_sel = peek(cpu, 3 * size + adjust, size) & 0xFFFF
    _outer(cpu, sel, raw, addr, base, limit, acc, big, ip, ss_sel, esp, size)
    release(cpu, adjust)


def _outer(cpu, sel, raw, addr, base, limit, acc, big, ip, ss_sel, esp, size) -> None:
    """Return to the outer level sel & 3 with the stack ss_sel:esp."""
    rpl = sel & 3
    if ss_sel & 0xFFFC == 0:
        raise CPUException(GP, "return to a null stack segment", 0)
    sraw, saddr = read_desc(cpu, ss_sel)
    sbase, slimit, sacc, sbig = parse(sraw)
    check_ss_load(ss_sel, sacc, rpl)
    if ip > limit:
        raise CPUException(GP, "return beyond the segment limit", 0)
    set_accessed(cpu, addr, raw)
    set_accessed(cpu, saddr, sraw)
    cpu.segs[SS] = Seg(ss_sel, sbase, slimit, sacc | 1, sbig)
    r = cpu.r
    r[SEL + SS], r[BASE + SS] = ss_sel, sbase
    r[ESP] = esp if sbig else r[ESP] & 0xFFFF0000 | esp & 0xFFFF
    _set_cs(cpu, sel, base, limit, acc, big, rpl)
    cpu.eip = ip
    _null_outer(cpu)


# ---- interrupts and exceptions -------------------------------------------------------------

def interrupt(cpu, vector: int, return_ip: int, code: Optional[int] = None,
              soft: bool = False, ext: int = 0, fault: bool = False) -> int:
    """Deliver ``vector`` through the IDT; returns the handler's key. ``soft``: INT n
    (the gate's DPL is checked); ``ext``: an external event (exception, IRQ), the EXT
    bit of error codes; ``fault``: a fault-class exception other than an instruction
    breakpoint's #DB, whose EFLAGS image (on the stack, or in the old TSS through a task
    gate) has RF = 1 so the restarted instruction does not hit an instruction
    breakpoint again (SDM vol. 3, 17.3.1.1). Traps, interrupts and INT n push RF as it
    is (0 by then, but for a REP iteration's trap, debugregs.step)."""
    saved = _save(cpu)
    if fault:
        cpu.flags |= RF     # (restored with the rest if the delivery faults)
    try:
        _interrupt(cpu, vector, return_ip, code, soft, ext)
    except CPUException as e:
        if not getattr(e, "committed", False):
            _restore(cpu, saved)
        else:           # a task switch went through: the fault is the new task's
            e.eip = cpu.eip
        raise
    return cpu.key()


def _interrupt(cpu, vector: int, return_ip: int, code, soft: bool, ext: int) -> None:
    if soft and cpu.flags & VM and cpu.flags & IOPL != IOPL:
        raise CPUException(GP, "int in V86 mode with IOPL < 3", 0)
    base, limit = control(cpu).get("idt", (0, 0x3FF))
    gerr = vector * 8 + 2 + ext
    if vector * 8 + 7 > limit:
        raise CPUException(GP, f"vector {vector:#x} beyond the IDT limit", gerr)
    mmu = cpu.mmu
    a = (base + vector * 8) & 0xFFFFFFFF
    raw = mmu.read(a, 4, 0) | mmu.read(a + 4, 4, 0) << 32
    sel, off, typ, gdpl, present, _ = gate(raw)
    if typ not in (0x05, 0x06, 0x07, 0x0E, 0x0F):
        raise CPUException(GP, f"IDT entry {vector:#x} is not a gate", gerr)
    if soft and gdpl < cpu.cpl:
        raise CPUException(GP, f"int {vector:#x}: gate privilege", gerr)
    if not present:
        raise CPUException(NP, f"IDT entry {vector:#x} not present", gerr)
    if typ == 0x05:
        LATER.task_gate_interrupt(cpu, sel, return_ip, code, ext)
        return
    gsize = 4 if typ & 8 else 2
    if gsize == 2:
        off &= 0xFFFF
    raw, addr, cbase, climit, acc, big = _code_desc(cpu, sel, ext)
    dpl = acc >> 5 & 3
    if dpl > cpu.cpl:
        raise CPUException(GP, f"interrupt handler 0x{sel:04x} privilege",
                           (sel & 0xFFFC) | ext)
    if not acc & ACC_P:
        raise CPUException(NP, f"interrupt handler 0x{sel:04x} not present",
                           (sel & 0xFFFC) | ext)
    flags = cpu.get_eflags()
    r = cpu.r
    if cpu.flags & VM:
        if acc & ACC_CE or dpl != 0:
            raise CPUException(GP, "interrupt from V86 mode to a non-ring-0 handler",
                               (sel & 0xFFFC) | ext)
        LATER.v86_interrupt_frame(cpu, gsize, ext)
    elif not acc & ACC_CE and dpl < cpu.cpl:
        old_ss, old_esp = r[SEL + SS], r[ESP]
        _switch_stack(cpu, dpl, ext)
        cpu.cpl = dpl
        push(cpu, old_ss, gsize)
        push(cpu, old_esp, gsize)
    else:
        dpl = cpu.cpl
    if off > climit:
        raise CPUException(GP, "interrupt handler beyond the segment limit", ext)
    push(cpu, flags, gsize, ext)
    push(cpu, r[SEL + CS], gsize, ext)
    push(cpu, return_ip, gsize, ext)
    if code is not None:
        push(cpu, code, gsize, ext)
    set_accessed(cpu, addr, raw)
    cpu.flags &= ~(TF | NT | RF | VM)
    if not typ & 1:
        cpu.flags &= ~IF
    _set_cs(cpu, sel, cbase, climit, acc, big, dpl)
    cpu.eip = off


def iret(cpu, size: int, next_ip: int = -1) -> int:
    """IRET in protected mode (``next_ip``: the instruction after, which a return from
    a nested task saves in the outgoing TSS)."""
    if next_ip >= 0:
        cpu.eip = next_ip
    saved = _save(cpu)
    try:
        _iret(cpu, size)
    except CPUException as e:
        if not getattr(e, "committed", False):
            _restore(cpu, saved)
        else:           # a task switch went through: the fault is the new task's
            e.eip = cpu.eip
        raise
    cpu.update_ctx()                # the popped EFLAGS.AC (alignment checks) counts too
    debugregs.settle_rf(cpu)        # RF spares only an instruction breakpoint here
    if cpu.flags & TF:
        cpu.machine.request_single_step()
    return cpu.key()


def _iret(cpu, size: int) -> None:
    if cpu.flags & VM:
        LATER.v86_iret(cpu, size)
        return
    if cpu.flags & NT:
        LATER.task_return(cpu)
        return
    ip = peek(cpu, 0, size)
    sel = peek(cpu, size, size) & 0xFFFF
    fl = peek(cpu, 2 * size, size)
    if size == 4 and fl & VM and cpu.cpl == 0:
        LATER.return_to_v86(cpu, ip, sel, fl)
        return
    raw, addr, base, limit, acc, big = _return_cs(cpu, sel, "iret")
    rpl = sel & 3
    if size == 2:
        ip &= 0xFFFF
    old_cpl = cpu.cpl
    if rpl == cpu.cpl:
        if ip > limit:
            raise CPUException(GP, "iret beyond the segment limit", 0)
        release(cpu, 3 * size)
        set_accessed(cpu, addr, raw)
        _set_cs(cpu, sel, base, limit, acc, big, rpl)
        cpu.eip = ip
    else:
        esp = peek(cpu, 3 * size, size)
        ss_sel = peek(cpu, 4 * size, size) & 0xFFFF
        _outer(cpu, sel, raw, addr, base, limit, acc, big, ip, ss_sel, esp, size)
    set_flags(cpu, fl, size, old_cpl, iret=True)


def set_flags(cpu, value: int, size: int, cpl: int, iret: bool = False) -> None:
    """POPF/IRET in protected mode: IOPL changes only at CPL 0, IF only at CPL <= IOPL;
    VM and RF are not changed by POPF."""
    mask = 0x4DD5 | (0x240000 if size == 4 else 0)
    if iret and size == 4:
        mask |= RF
    if cpl == 0:
        mask |= IOPL
    if cpl <= (cpu.flags >> 12 & 3):
        mask |= IF
    if size == 2:
        mask &= 0xFFFF
    cpu.flags = (cpu.flags & ~mask & ~F.ARITH) | (value & mask & ~F.ARITH) | 2
    cpu.lz = (F.NONE, value & F.ARITH, 0, 0)


def popf(cpu, value: int, size: int) -> int:
    """POPF in protected mode; returns 1 when TF is set (single steps follow) or the
    translation context changed (EFLAGS.AC): the block then ends."""
    if cpu.flags & VM and cpu.flags & IOPL != IOPL:
        raise CPUException(GP, "popf in V86 mode with IOPL < 3", 0)
    ctx = cpu.ctx
    set_flags(cpu, value, size, cpu.cpl)
    cpu.update_ctx()                # EFLAGS.AC may turn alignment checking on or off
    if cpu.flags & TF:
        cpu.machine.request_single_step()
        return 1
    return int(cpu.ctx != ctx)


def iopl_check(cpu) -> None:
    """CLI/STI (and PUSHF/POPF/INT/IRET in V86 mode): CPL must not exceed IOPL."""
    cpl = 3 if cpu.flags & VM else cpu.cpl
    if cpl > (cpu.flags >> 12 & 3):
        raise CPUException(GP, "IOPL-sensitive instruction", 0)


def io_check(cpu, port: int, size: int) -> None:
    """IN/OUT/INS/OUTS: allowed at CPL <= IOPL, else by the TSS I/O permission bitmap."""
    if not cpu.pm:
        return
    if not cpu.flags & VM and cpu.cpl <= (cpu.flags >> 12 & 3):
        return
    t = cpu.trs
    if t.acc & 0x0F not in (0x9, 0xB) or t.limit < 0x67:
        raise CPUException(GP, f"port 0x{port:04x}: no I/O permission bitmap", 0)
    mmu = cpu.mmu
    iomap = mmu.read(t.base + 0x66, 2, 0)
    a = iomap + (port >> 3)
    if a + 1 > t.limit:
        raise CPUException(GP, f"port 0x{port:04x} beyond the I/O permission bitmap", 0)
    bits = mmu.read(t.base + a, 2, 0) >> (port & 7)
    if bits & ((1 << size) - 1):
        raise CPUException(GP, f"port 0x{port:04x} not permitted by the I/O bitmap", 0)


# ---- descriptor-table instructions ---------------------------------------------------------

def lldt(cpu, sel: int) -> None:
    sel &= 0xFFFF
    if sel & 0xFFFC == 0:
        cpu.ldtr = Seg(sel, 0, 0, 0x82, False, valid=False)
        return
    if sel & 4:
        raise fault(GP, sel, "LDT selector in the LDT")
    raw, addr = read_desc(cpu, sel)
    base, limit, acc, big = parse(raw)
    if acc & 0x1F != 0x02:
        raise fault(GP, sel, "not an LDT descriptor")
    if not acc & ACC_P:
        raise fault(NP, sel, "LDT not present")
    cpu.ldtr = Seg(sel, base, limit, acc, False)


def ltr(cpu, sel: int) -> None:
    sel &= 0xFFFF
    if sel & 0xFFFC == 0:
        raise CPUException(GP, "null TSS selector", 0)
    if sel & 4:
        raise fault(GP, sel, "TSS selector in the LDT")
    raw, addr = read_desc(cpu, sel)
    base, limit, acc, big = parse(raw)
    if acc & 0x1F not in (0x01, 0x09):
        raise fault(GP, sel, "not an available TSS")
    if not acc & ACC_P:
        raise fault(NP, sel, "TSS not present")
    cpu.mmu.write(addr + 5, 1, acc | 2, 0)         # busy
    cpu.trs = Seg(sel, base, limit, acc | 2, False)


def sldt(cpu) -> int:
    return cpu.ldtr.sel if cpu.pm else 0


def str_(cpu) -> int:
    return cpu.trs.sel if cpu.pm else 0


def _visible(cpu, sel: int, system_ok) -> Optional[tuple]:
    """The descriptor of sel if the CPL and RPL may see it (LAR/LSL/VERR/VERW)."""
    if sel & 0xFFFC == 0:
        return None
    try:
        raw, addr = read_desc(cpu, sel)
    except CPUException as e:
        if e.vector == GP:
            return None
        raise
    base, limit, acc, big = parse(raw)
    if acc & ACC_S:
        if not (acc & ACC_CODE and acc & ACC_CE):
            dpl = acc >> 5 & 3
            if dpl < cpu.cpl or dpl < (sel & 3):
                return None
    else:
        if not system_ok(acc & 0x0F):
            return None
        dpl = acc >> 5 & 3
        if dpl < cpu.cpl or dpl < (sel & 3):
            return None
    return raw, base, limit, acc, big


def lar(cpu, sel: int) -> int:
    """-1 when not accessible (ZF = 0), else the access rights dword."""
    d = _visible(cpu, sel & 0xFFFF, lambda t: t in (1, 2, 3, 4, 5, 9, 0xB, 0xC))
    if d is None:
        return -1
    return d[0] >> 32 & 0x00F0FF00


def lsl(cpu, sel: int) -> int:
    d = _visible(cpu, sel & 0xFFFF, lambda t: t in (1, 2, 3, 9, 0xB))
    if d is None:
        return -1
    return d[2]


def verify(cpu, sel: int, write: bool) -> int:
    """VERR/VERW: 1 (ZF set) when the segment may be read/written at this CPL."""
    d = _visible(cpu, sel & 0xFFFF, lambda t: False)
    if d is None:
        return 0
    acc = d[3]
    if write:
        return int(acc & (ACC_CODE | 2) == 2)
    return int(not acc & ACC_CODE or bool(acc & 2))


def state_items(cpu) -> dict:
    """The system state a trace line reports when it changes."""
    if not cpu.pm:
        return {"cr0": f"{read_cr(cpu, 'cr0'):08x}"}
    return {"cpl": str(cpu.cpl), "cr0": f"{read_cr(cpu, 'cr0'):08x}",
            "cr2": f"{read_cr(cpu, 'cr2'):08x}", "cr3": f"{read_cr(cpu, 'cr3'):08x}",
            "ldtr": f"{cpu.ldtr.sel:04x}", "tr": f"{cpu.trs.sel:04x}",
            "vm": str(cpu.flags >> 17 & 1)}


def describe(cpu) -> list:
    """Lines for --regs and the tracer: CR0/2/3, CPL and the descriptor caches."""
    ctl = control(cpu)
    lines = [f"cr0={read_cr(cpu, 'cr0'):08x} cr2={read_cr(cpu, 'cr2'):08x} "
             f"cr3={read_cr(cpu, 'cr3'):08x} cpl={cpu.cpl}"
             f"{' v86' if cpu.flags & VM else ''}"]
    gb, gl = ctl.get("gdt", (0, 0xFFFF))
    ib, il = ctl.get("idt", (0, 0x3FF))
    lines.append(f"gdtr={gb:08x}:{gl:04x} idtr={ib:08x}:{il:04x} "
                 f"ldtr={cpu.ldtr.sel:04x} tr={cpu.trs.sel:04x}")
    for n, name in enumerate(("es", "cs", "ss", "ds", "fs", "gs")):
        s = cpu.segs[n]
        lines.append(f"{name}={s!r}" if s.valid else f"{name}={s.sel:04x} (null)")
    dr = cpu.dr
    if dr[7] & 0x20FF or dr[6] != debugregs.DR6_ONES:     # breakpoints in use
        lines.append(" ".join(f"dr{n}={dr[n]:08x}" for n in (0, 1, 2, 3, 6, 7)))
    return lines


# ---- linear memory for helpers (x87 and SSE operands, FXSAVE images) ------------------------

def _spans(cpu, lin: int, n: int, write: bool) -> list:
    """(physical address, length) pieces of [lin, lin + n), every page translated (and
    checked, so a write faults before any byte changes) at the CPL's privilege."""
    mmu = cpu.mmu
    user = cpu.cpl == 3
    out = []
    end = lin + n
    while lin < end:
        k = min(end, (lin | 0xFFF) + 1) - lin
        a = lin & 0xFFFFFFFF
        out.append((mmu.phys(a, write, user) if mmu.paging else a, k))
        lin += k
    return out


def read_linear(cpu, lin: int, n: int) -> bytes:
    mem = cpu.mmu.mem
    out = b""
    for p, k in _spans(cpu, lin, n, False):
        chunk = bytes(mem.data[p:min(p + k, mem.size)]) if p < mem.size else b""
        out += chunk.ljust(k, b"\xff")        # beyond RAM: an empty bus
    if cpu.mmu.access_watch is not None:
        cpu.mmu.access_watch(lin, n, False)
    return out


def write_linear(cpu, lin: int, data: bytes) -> None:
    mmu = cpu.mmu
    spans = _spans(cpu, lin, len(data), True)
    k0 = 0
    for p, k in spans:
        mmu._pwrite(p, k, int.from_bytes(data[k0:k0 + k], "little"))
        k0 += k
    if mmu.access_watch is not None:
        mmu.access_watch(lin, len(data), True)


def write_masked(cpu, seg: int, lin: int, data: bytes, picked: list) -> None:
    """MASKMOVQ/MASKMOVDQU: data[k] to lin + k for each k in picked (ascending, not
    empty), through segment ``seg``'s write check and the page tables; the pages from
    the first picked byte to the last are checked for a write before any byte changes."""
    s = cpu.segs[seg]
    if s.acc & 0x0A != 0x02:
        raise CPUException(SSF if seg == SS else GP, "write to a read-only segment", 0)
    lo, hi = picked[0], picked[-1]
    mmu = cpu.mmu
    spans = _spans(cpu, lin + lo, hi - lo + 1, True)
    at = lo                 # the offset in data of each span's first byte
    for p, k in spans:
        for j in picked:
            if at <= j < at + k:
                mmu._pwrite(p + j - at, 1, data[j])
        at += k
    if mmu.access_watch is not None:
        mmu.access_watch((lin + lo) & 0xFFFFFFFF, hi - lo + 1, True)


# ---- string instructions -------------------------------------------------------------------

def string_op(cpu, op: int, size: int, a32: int, seg: int, rep: int) -> None:
    """MOVS CMPS STOS LODS SCAS INS OUTS (op 0..6, as system.STRING_OPS) through the
    segment checks and the page tables, element by element (restartable)."""
    r = cpu.r
    m = cpu.machine
    mmu = cpu.mmu
    amask = 0xFFFFFFFF if a32 else 0xFFFF
    step = -size if cpu.flags & 0x400 else size
    count = r[ECX] & amask if rep else 1
    if count == 0:
        return
    acc_mask = (1 << 8 * size) - 1
    if op in (5, 6):
        io_check(cpu, r[EDX] & 0xFFFF, size)
    src, dst = op in (0, 1, 3, 6), op in (0, 1, 2, 4, 5)
    align = size - 1 if cpu.ctxs[cpu.ctx][6] else 0     # #AC: CPL 3, CR0.AM, EFLAGS.AC
    while count:
        si, di = r[ESI] & amask, r[EDI] & amask
        if src:
            sa = mmu.seg(seg, si, size)
            if cpu.segs[seg].acc & 0x0A == 0x08:
                raise CPUException(GP, "read of an execute-only segment", 0)
            if sa & align:
                raise CPUException(AC, "alignment check", 0)
        if dst:
            da = mmu.seg(ES, di, size)
            if da & align:
                raise CPUException(AC, "alignment check", 0)
        if op == 0:
            v = mmu.read(sa, size)
            mmu.wr(ES, da, size, v)
        elif op == 2:
            mmu.wr(ES, da, size, r[EAX] & acc_mask)
        elif op == 3:
            r[EAX] = r[EAX] & ~acc_mask & 0xFFFFFFFF | mmu.read(sa, size)
        elif op in (1, 4):
            c = mmu.read(da, size)      # (ES:EDI first, as the CPU: which page faults)
            a = mmu.read(sa, size) if op == 1 else r[EAX] & acc_mask
            cpu.lz = (F.opcode(F.SUB, size), (a - c) & acc_mask, a, c)
        elif op == 5:
            mmu.wr(ES, da, size, m.port_read(r[EDX] & 0xFFFF, size) & acc_mask)
        else:
            m.port_write(r[EDX] & 0xFFFF, size, mmu.read(sa, size))
        if src:
            r[ESI] = r[ESI] & ~amask & 0xFFFFFFFF | (si + step) & amask
        if dst:
            r[EDI] = r[EDI] & ~amask & 0xFFFFFFFF | (di + step) & amask
        count -= 1
        if rep:
            r[ECX] = r[ECX] & ~amask & 0xFFFFFFFF | count
            if op in (1, 4) and (cpu.lz[1] == 0) != (rep == 1):
                break
            if cpu.dr_hits:             # a data breakpoint: #DB after this iteration
                debugregs.string_iteration(cpu, count)
