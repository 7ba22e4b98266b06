"""Architectural state of the x86 CPU, kept in plain lists and ints so compiled blocks can
load it into local variables cheaply."""

from __future__ import annotations

from vm.x86.flags import ARITH, NO_LAZY, NONE, arith

# Slots of CPUState.r: general registers, then segment selectors, then segment bases.
EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI = range(8)
SEL = 8                 # r[SEL + n]: selector of segment register n
BASE = 14               # r[BASE + n]: its base address
ES, CS, SS, DS, FS, GS = range(6)
NSLOTS = 20

GPR32 = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")
GPR16 = ("ax", "cx", "dx", "bx", "sp", "bp", "si", "di")
GPR8 = ("al", "cl", "dl", "bl", "ah", "ch", "dh", "bh")
SREGS = ("es", "cs", "ss", "ds", "fs", "gs")
SLOT_NAMES = GPR32 + SREGS + tuple(s + "_base" for s in SREGS)

REAL, FLAT32, PROT = "real", "flat32", "prot"


class CPUState:
    """Registers and flags. ``mode`` is REAL (real-address mode: 16-bit default sizes,
    base = selector * 16) or FLAT32 (32-bit user mode with flat CS/DS/ES/SS; FS and GS
    have their own bases for TLS); a real-mode CPU that sets CR0.PE becomes PROT
    (protected mode, V86 included: ``pm`` true, ``real`` false; protected.py)."""

    def __init__(self, mode: str):
        if mode not in (REAL, FLAT32):
            raise ValueError(f"unknown CPU mode {mode!r}")
        self.mode = mode
        self.real = mode == REAL
        self.bits = 16 if self.real else 32
        self.r = [0] * NSLOTS
        self.eip = 0
        self.flags = 0x2            # EFLAGS without the six arithmetic bits (see lz)
        self.lz = NO_LAZY           # lazy arithmetic flags, see flags.py
        self.steps = [0]            # instructions retired (a list: blocks bump it)
        self.idt_base = 0           # real mode: LIDT moves the interrupt vector table
        self.tsc_base = 0
        self.xmm = [0] * 8          # XMM0-7 as 128-bit ints (a list that is never replaced:
                                    # compiled blocks hold it)
        self.mxcsr = 0x1F80         # SSE control/status (vm/x86/sse.py)
        # protected mode (vm/x86/protected.py): entered from real mode by CR0.PE
        self.pm = False
        self.cpl = 0
        self.segs: list = []        # descriptor caches (descriptors.Seg), in protected mode
        self.ctx = 0                # translation context (see key())
        self.ctxs: list = [None]    # context id -> (CS base, limit, D, CPL, SS B)
        self.ctx_ids: dict = {}
        self.mmu = None             # paging.MMU, in protected mode
        # the interrupt shadow: the step count right after an STI that set IF, and after
        # a MOV/POP SS (which also holds off a single-step trap); see inhibit_irq
        self.irq_shadow = -1
        self.ss_shadow = -1
        # debug registers DR0-DR7 (vm/x86/debugregs.py; DR4/DR5 alias DR6/DR7): `dbg`
        # is true while DR7 enables a data breakpoint (the run loop then steps one
        # instruction at a time), `dr_hits` collects the data breakpoints an instruction
        # hit (DR6 B0-B3)
        self.dr = [0, 0, 0, 0, 0, 0, 0xFFFF0FF0, 0x400]
        self.dbg = False
        self.dr_hits = 0
        self.dr_held = 0            # hits of a MOV/POP SS, reported after the next one

    @property
    def inhibit_irq(self) -> bool:
        """True at the instruction boundary right after STI (that set IF), MOV SS or
        POP SS: an external interrupt must wait until one more instruction has run."""
        s = self.steps[0]
        return s == self.irq_shadow or s == self.ss_shadow

    def clear_shadow(self) -> None:
        """An interrupt or exception was delivered: the shadow ends."""
        self.irq_shadow = self.ss_shadow = -1

    # -- flags -------------------------------------------------------------------------------
    def get_eflags(self) -> int:
        return (self.flags & ~ARITH) | arith(*self.lz)

    def set_eflags(self, value: int) -> None:
        self.flags = (value & ~ARITH) | 0x2
        self.lz = (NONE, value & ARITH, 0, 0)

    # -- segments ----------------------------------------------------------------------------
    def set_segment(self, n: int, selector: int, base: int = None) -> None:
        """Load a segment register: in real mode base = selector * 16."""
        self.r[SEL + n] = selector & 0xFFFF
        if base is None:
            base = (selector & 0xFFFF) << 4 if self.real else self.r[BASE + n]
        self.r[BASE + n] = base & 0xFFFFFFFF

    def key(self) -> int:
        """Translation-cache key of the current instruction: EIP in flat mode, CS:IP
        packed as ``cs << 16 | ip`` in real mode, ``context << 32 | eip`` in protected
        mode (the context names the code segment, CPL and stack size a block assumed)."""
        if self.real:
            return self.r[SEL + CS] << 16 | (self.eip & 0xFFFF)
        if self.pm:
            return self.ctx << 32 | self.eip
        return self.eip

    def set_key(self, key: int) -> None:
        if self.real:
            self.eip = key & 0xFFFF
            cs = key >> 16
            if cs != self.r[SEL + CS]:
                self.set_segment(CS, cs)
        elif self.pm:
            self.eip = key & 0xFFFFFFFF
        else:
            self.eip = key

    def update_ctx(self) -> None:
        """Protected mode: after a change of CS, CPL or SS, find the context id."""
        cs, ss = self.segs[CS], self.segs[SS]
        # alignment checking (#AC) at CPL 3 with CR0.AM and EFLAGS.AC: compiled in
        ac = self.cpl == 3 and self.flags & 0x40000 != 0 and \
            self.machine.control.get("cr0", 0) & 0x40000 != 0
        t = (cs.base, cs.limit, cs.big, self.cpl, ss.big, self.flags >> 17 & 1, ac)
        n = self.ctx_ids.get(t)
        if n is None:
            n = self.ctx_ids[t] = len(self.ctxs)
            self.ctxs.append(t)
        self.ctx = n
        self.bits = 32 if cs.big else 16

    def linear_ip(self) -> int:
        if self.pm:
            return (self.segs[CS].base + self.eip) & 0xFFFFFFFF
        return (self.r[BASE + CS] + self.eip) & 0xFFFFFFFF if not self.real else \
            self.r[BASE + CS] + (self.eip & 0xFFFF)
