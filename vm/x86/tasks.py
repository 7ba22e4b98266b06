"""Hardware task switching (JMP/CALL to a TSS or task gate, interrupts through task
gates, IRET with NT back to the previous task; the busy bits, back link, CR0.TS and
CR3 of a 386 TSS) and virtual-8086 mode (entered by IRETD with VM set or a task switch,
left by an interrupt or exception through a ring-0 gate)."""

from __future__ import annotations

from vm.x86 import debugregs
from vm.x86 import flags as F
from vm.x86 import protected as P
from vm.x86.descriptors import Seg, check_data_load, check_ss_load, parse
from vm.x86.faults import GP, NP, TS, CPUException
from vm.x86.state import BASE, CS, DS, ES, ESP, FS, GS, SEL, SS

# 386 TSS: dynamic fields (offset of EIP, EFLAGS, the 8 GPRs, the 6 selectors, LDT)
TSS32 = dict(eip=0x20, flags=0x24, gpr=0x28, segs=0x48, ldt=0x60, width=4, cr3=0x1C,
             minimum=0x67)
TSS16 = dict(eip=0x0E, flags=0x10, gpr=0x12, segs=0x22, ldt=0x2A, width=2, cr3=None,
             minimum=0x2B)
SEG_ORDER = (ES, CS, SS, DS, FS, GS)


def _mark(e: CPUException) -> CPUException:
    """A fault after the switch committed: it belongs to the new task."""
    e.committed = True
    return e


def task_switch(cpu, sel: int, raw: int, addr: int, how: str, nip: int) -> None:
    """JMP/CALL far to a TSS descriptor or a task gate (how: "jmp" or "call")."""
    acc = raw >> 40 & 0xFF
    dpl = acc >> 5 & 3
    if dpl < cpu.cpl or dpl < (sel & 3):
        raise P.fault(GP, sel, "task switch privilege")
    if acc & 0x1F == 0x05:              # task gate: its selector names the TSS
        if not acc & 0x80:
            raise P.fault(NP, sel, "task gate not present")
        sel = raw >> 16 & 0xFFFF
        if sel & 4:
            raise P.fault(GP, sel, "TSS selector in the LDT")
        raw, addr = P.read_desc(cpu, sel)
        if raw >> 40 & 0x1F not in (0x01, 0x09):
            raise P.fault(GP, sel, "task gate to a busy or non-TSS descriptor")
    elif sel & 4:
        raise P.fault(GP, sel, "TSS selector in the LDT")
    switch(cpu, sel, raw, addr, how, nip)


def task_gate_interrupt(cpu, sel: int, return_ip: int, code, ext: int) -> None:
    """An interrupt or exception through a task gate: switch with nesting, then push the
    error code (if any) on the new task's stack."""
    if sel & 4:
        raise CPUException(GP, f"task gate to an LDT selector 0x{sel:04x}",
                           (sel & 0xFFFC) | ext)
    raw, addr = P.read_desc(cpu, sel, GP, ext)
    if raw >> 40 & 0x1F not in (0x01, 0x09):
        raise CPUException(GP, f"task gate to a busy or non-TSS descriptor 0x{sel:04x}",
                           (sel & 0xFFFC) | ext)
    switch(cpu, sel, raw, addr, "int", return_ip)
    if code is not None:
        try:
            P.push(cpu, code, 4 if raw >> 40 & 8 else 2)
        except CPUException as e:
            raise _mark(e) from None


def task_return(cpu) -> None:
    """IRET with NT set: back to the task named by the current TSS's back link."""
    t = cpu.trs
    sel = cpu.mmu.read(t.base, 2, 0)
    if sel & 4:
        raise P.fault(TS, sel, "back link in the LDT")
    raw, addr = P.read_desc(cpu, sel, TS)
    if raw >> 40 & 0x1F not in (0x03, 0x0B):
        raise P.fault(TS, sel, "back link to a TSS that is not busy")
    switch(cpu, sel, raw, addr, "iret", cpu.eip)


def switch(cpu, sel: int, raw: int, addr: int, how: str, return_ip: int) -> None:
    """The task switch proper: save the state in the current TSS, load the new one."""
    base, limit, acc, _ = parse(raw)
    new = TSS32 if acc & 8 else TSS16
    if not acc & 0x80:
        raise P.fault(NP, sel, "TSS not present")
    if limit < new["minimum"]:
        raise P.fault(TS, sel, "TSS limit too small")
    mmu = cpu.mmu
    old = cpu.trs
    cur = TSS32 if old.acc & 8 else TSS16
    w = cur["width"]
    # save the outgoing task
    flags = cpu.get_eflags()
    if how == "iret":
        flags &= ~P.NT
    r = cpu.r
    ob = old.base
    mmu.write(ob + cur["eip"], w, return_ip, 0)
    mmu.write(ob + cur["flags"], w, flags, 0)
    for k in range(8):
        mmu.write(ob + cur["gpr"] + k * w, w, r[k], 0)
    for k, n in enumerate(SEG_ORDER):
        mmu.write(ob + cur["segs"] + k * w, 2, r[SEL + n], 0)
    if how in ("jmp", "iret"):
        _busy(cpu, old.sel, False)
    # the incoming task
    nb = base
    w = new["width"]
    eip = mmu.read(nb + new["eip"], w, 0)
    nflags = mmu.read(nb + new["flags"], w, 0)
    gpr = [mmu.read(nb + new["gpr"] + k * w, w, 0) for k in range(8)]
    sels = [mmu.read(nb + new["segs"] + k * w, 2, 0) for k in range(6 if w == 4 else 4)]
    if w == 2:
        sels += [0, 0]
        nflags |= flags & 0xFFFF0000 & ~(P.VM | P.RF)
    ldt = mmu.read(nb + new["ldt"], 2, 0)
    cr3 = mmu.read(nb + new["cr3"], 4, 0) if new["cr3"] is not None else None
    if how in ("call", "int"):
        mmu.write(nb, 2, old.sel, 0)
        nflags |= P.NT
    if how != "iret":
        _busy(cpu, sel, True)
    # commit: from here a fault belongs to the new task
    cpu.trs = P.Seg(sel, base, limit, acc | 2, False)
    ctl = P.control(cpu)
    ctl["cr0"] = ctl.get("cr0", 0x10) | 8           # TS
    if cr3 is not None and mmu.paging:
        ctl["cr3"] = mmu.cr3 = cr3
        mmu.flush()
        cpu.machine.tr.flush()
    cpu.eip = eip
    cpu.flags = (nflags & ~F.ARITH) | 2
    cpu.lz = (F.NONE, nflags & F.ARITH, 0, 0)
    if cpu.dr[7] & 0x55:            # the local breakpoint enables L0-L3 end with the task
        cpu.dr[7] &= ~0x55
        debugregs.arm(cpu)
    for k in range(8):
        r[k] = gpr[k] if w == 4 else 0xFFFF0000 | gpr[k]     # as the 386 does
    for k, n in enumerate(SEG_ORDER):
        r[SEL + n] = sels[k]
    try:
        _load_task_segments(cpu, sels, ldt)
    except CPUException as e:
        raise _mark(e) from None
    debugregs.settle_rf(cpu)        # the new task's RF spares only a breakpoint at EIP


def _busy(cpu, sel: int, busy: bool) -> None:
    raw, addr = P.read_desc(cpu, sel)
    acc = raw >> 40 & 0xFF
    acc = acc | 2 if busy else acc & ~2
    cpu.mmu.write(addr + 5, 1, acc, 0)


def _load_task_segments(cpu, sels: list, ldt: int) -> None:
    """Load LDTR and the segment registers of the new task; problems are #TS(selector)
    (#NP for a segment not present)."""
    if cpu.flags & P.VM:
        for k, n in enumerate(SEG_ORDER):
            _real_seg(cpu, n, sels[k])
        cpu.cpl = 3
    else:
        for n in SEG_ORDER:      # until loaded, no selector is usable
            cpu.segs[n] = Seg(0, 0, 0, 0, False, valid=False)
        cpu.cpl = sels[1] & 3
    if ldt & 4:
        raise P.fault(TS, ldt, "LDT selector in the LDT")
    if ldt & 0xFFFC:
        raw, _ = P.read_desc(cpu, ldt, TS)
        lbase, llimit, lacc, _ = parse(raw)
        if lacc & 0x1F != 0x02:
            raise P.fault(TS, ldt, "not an LDT")
        if not lacc & 0x80:
            raise P.fault(TS, ldt, "LDT not present")
        cpu.ldtr = Seg(ldt, lbase, llimit, lacc, False)
    else:
        cpu.ldtr = Seg(ldt, 0, 0, 0x82, False, valid=False)
    if cpu.flags & P.VM:
        cpu.update_ctx()
        return
    cs = sels[1]
    if cs & 0xFFFC == 0:
        raise CPUException(TS, "null code selector in the TSS", 0)
    raw, addr = P.read_desc(cpu, cs, TS)
    base, limit, acc, big = parse(raw)
    if acc & 0x18 != 0x18:
        raise P.fault(TS, cs, "TSS code selector is not a code segment")
    dpl = acc >> 5 & 3
    if (acc & 4 and dpl > (cs & 3)) or (not acc & 4 and dpl != (cs & 3)):
        raise P.fault(TS, cs, "TSS code segment privilege")
    if not acc & 0x80:
        raise P.fault(NP, cs, "code segment not present")
    P.set_accessed(cpu, addr, raw)
    cpu.segs[CS] = Seg(cs, base, limit, acc | 1, big)
    cpu.r[BASE + CS] = base
    ss = sels[2]
    if ss & 0xFFFC == 0:
        raise CPUException(TS, "null stack selector in the TSS", 0)
    raw, addr = P.read_desc(cpu, ss, TS)
    base, limit, acc, big = parse(raw)
    check_ss_load(ss, acc, cpu.cpl, TS)
    P.set_accessed(cpu, addr, raw)
    cpu.segs[SS] = Seg(ss, base, limit, acc | 1, big)
    cpu.r[BASE + SS] = base
    cpu.update_ctx()
    for k, n in enumerate(SEG_ORDER):
        if n in (CS, SS):
            continue
        sel = sels[k]
        if sel & 0xFFFC == 0:
            cpu.r[BASE + n] = 0
            continue
        raw, addr = P.read_desc(cpu, sel, TS)
        base, limit, acc, big = parse(raw)
        try:
            check_data_load(n, sel, acc, cpu.cpl)
        except CPUException as e:
            if e.vector == GP:
                e.vector = TS
            raise
        P.set_accessed(cpu, addr, raw)
        cpu.segs[n] = Seg(sel, base, limit, acc | 1, big)
        cpu.r[BASE + n] = base


def _real_seg(cpu, n: int, sel: int) -> None:
    sel &= 0xFFFF
    cpu.segs[n] = Seg(sel, sel << 4, 0xFFFF, 0xF3 if n != CS else 0xFB, False)
    cpu.r[SEL + n], cpu.r[BASE + n] = sel, sel << 4


def v86_interrupt_frame(cpu, gsize: int, ext: int) -> None:
    """An interrupt or exception leaving virtual-8086 mode for a ring-0 handler: the
    ring-0 stack from the TSS gets GS FS DS ES SS ESP (then the caller pushes EFLAGS CS
    EIP), and the data segment registers become null."""
    r = cpu.r
    old = [r[SEL + n] for n in (GS, FS, DS, ES)]
    old_ss, old_esp = r[SEL + SS], r[ESP]
    cpu.flags &= ~P.VM           # the ring-0 stack is a protected-mode segment
    cpu.cpl = 0
    try:
        P._switch_stack(cpu, 0, ext)
        for v in old:
            P.push(cpu, v, gsize)
        P.push(cpu, old_ss, gsize)
        P.push(cpu, old_esp, gsize)
    except Exception:
        cpu.flags |= P.VM
        raise
    cpu.flags |= P.VM            # the caller pushes EFLAGS with VM set, then clears it
    for n in (GS, FS, DS, ES):
        cpu.segs[n] = Seg(0, 0, 0, 0, False, valid=False)
        r[SEL + n] = r[BASE + n] = 0


def v86_iret(cpu, size: int) -> None:
    """IRET in virtual-8086 mode: IOPL 3 only; then as in real mode (IOPL kept)."""
    if cpu.flags & P.IOPL != P.IOPL:
        raise CPUException(GP, "iret in V86 mode with IOPL < 3", 0)
    ip = P.peek(cpu, 0, size)
    sel = P.peek(cpu, size, size)
    fl = P.peek(cpu, 2 * size, size)
    P.release(cpu, 3 * size)
    mask = 0x4DD5 | P.IF | P.TF | (0x240000 if size == 4 else 0)
    cpu.flags = (cpu.flags & ~mask & ~F.ARITH) | (fl & mask & ~F.ARITH) | 2
    cpu.lz = (F.NONE, fl & F.ARITH, 0, 0)
    _real_seg(cpu, CS, sel)
    cpu.eip = ip & 0xFFFF
    cpu.update_ctx()


def return_to_v86(cpu, ip: int, sel: int, fl: int) -> None:
    """IRETD at CPL 0 with VM set in the popped EFLAGS: enter virtual-8086 mode with the
    ESP, SS, ES, DS, FS, GS that follow on the stack."""
    esp = P.peek(cpu, 12, 4)
    vals = [P.peek(cpu, off, 4) & 0xFFFF for off in (16, 20, 24, 28, 32)]
    cpu.flags = (fl & ~F.ARITH & 0x3F7FD5 | 2) | P.VM
    cpu.lz = (F.NONE, fl & F.ARITH, 0, 0)
    for n, v in zip((SS, ES, DS, FS, GS), vals):
        _real_seg(cpu, n, v)
    _real_seg(cpu, CS, sel)
    cpu.r[ESP] = esp
    cpu.cpl = 3
    cpu.eip = ip & 0xFFFF
    cpu.update_ctx()


def v86_far(cpu, sel: int, off: int, nip: int, size: int) -> None:
    """JMP/CALL far in virtual-8086 mode: as in real mode."""
    if nip >= 0:
        P.push(cpu, cpu.r[SEL + CS], size)
        P.push(cpu, nip, size)
    _real_seg(cpu, CS, sel)
    cpu.eip = off & (0xFFFF if size == 2 else 0xFFFFFFFF)
    cpu.update_ctx()


def v86_retf(cpu, size: int, adjust: int) -> None:
    ip = P.peek(cpu, 0, size)
    sel = P.peek(cpu, size, size)
    P.release(cpu, 2 * size + adjust)
    _real_seg(cpu, CS, sel)
    cpu.eip = ip & (0xFFFF if size == 2 else 0xFFFFFFFF)
    cpu.update_ctx()


for _fn in (task_switch, task_gate_interrupt, task_return, v86_interrupt_frame, v86_iret,
            return_to_v86, v86_far, v86_retf):
    setattr(P.LATER, _fn.__name__, _fn)
