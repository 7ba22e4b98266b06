"""The x87 FPU: register stack, control/status/tag words and instruction execution.

The CPU hands every x87 instruction (and wait/fwait, fxsave, fxrstor) to ``X87.execute``
with the linear address of its memory operand. Semantics are chosen by opcode bytes, as the
hardware does (the table's mnemonics for some aliases such as operand-less ``fadd`` mean
the popping form), through dispatch tables built once per instance; each instruction
object is decoded once into a plan (``vm/x86/x87fast.py``), which the CPU's glue runs
directly the next time.

Arithmetic is done by ``float80`` with true 80-bit semantics. Exceptions follow the
hardware's masked responses; an unmasked one sets ES/B and the next waiting x87 instruction
raises ``X87Fault`` (#MF) before it executes, which the CPU turns into int 16 / SIGFPE.
"""

from __future__ import annotations

import struct
from typing import List, Optional

from vm.x86 import float80 as f80
from vm.x86 import x87fast
from vm.x86.float80 import C1, DE, F80, IE, INDEFINITE, ZE

SF = 0x40
ES = 0x80
C0, C2, C3 = 0x100, 0x400, 0x4000
B = 0x8000
CC = C0 | C1 | C2 | C3
EXC = 0x3F

# dispatch kinds: does the instruction wait for pending exceptions / record FIP, FOP, FDP
NORMAL, WAITING_CONTROL, NOWAIT = 0, 1, 2

INT_INDEFINITE = {2: 0x8000, 4: 0x80000000, 8: 1 << 63}
_U16, _P16 = struct.Struct("<H").unpack_from, struct.Struct("<H").pack_into  # fldcw, fnstcw


class X87Fault(Exception):
    """#MF: a waiting x87 instruction found an unmasked exception pending (ES set)."""


class X87:
    """x87 state machine. Registers are held in physical order (``regs[p]``, ``empty[p]``);
    ST(i) is physical (TOP + i) mod 8; values are ``float80`` tuples.

    ``execute(insn, ea, ctx)`` runs one decoded instruction; ``ctx`` provides ``read(addr,
    n)``, ``write(addr, data)``, ``get_eflags()`` (fcmovcc), ``set_eflags_zpc(zf, pf, cf)``
    (fcomi & co.; the CPU also clears OF, SF and AF), ``set_ax(value)`` (fnstsw ax) and,
    optionally, ``get_sreg(name)`` for the FCS/FDS selectors saved by fnstenv (otherwise
    ``selectors`` is used). Raises ``X87Fault`` for #MF. Inspection: ``st(i)``, ``control``,
    ``status``, ``tag``, ``fpu_ip``, ``fpu_dp``, ``state_bytes_fxsave()``."""

    def __init__(self) -> None:
        self.regs: List[F80] = [f80.POS_ZERO] * 8
        self.empty: List[bool] = [True] * 8
        self.cw = 0x037F
        self.sw = 0                 # status word without TOP
        self.top = 0
        self.fip = self.fdp = self.fop = 0
        self.fcs = self.fds = 0
        self.mxcsr = 0x1F80
        self.mxcsr_mask = 0x2FFFF
        # selectors recorded as FCS/FDS when ctx has no get_sreg (Linux i386 user values)
        self.selectors = {"cs": 0x23, "ds": 0x2B, "ss": 0x2B, "es": 0x2B, "fs": 0, "gs": 0}
        self.real_mode = False      # fnstenv/fnsave layouts of real (vs protected) mode
        # Which x87 pointers a save shows differs between real parts (the FPU oracle sets
        # these to match the host). AMD stores FOP/FIP/FDP in an fxsave image only while an
        # exception is pending (ES set), zeros otherwise. Intel parts since the Pentium 4
        # record FOP only for an instruction that raises an unmasked exception (FOP
        # compatibility mode off, the default), newer ones FDP/FDS likewise
        # (CPUID.7:EBX[6]) and store FCS/FDS as zero (CPUID.7:EBX[13]).
        self.fxsave_pointers_only_on_es = True
        # id(insn) -> (insn, run(ea, ctx)), see _plan; the CPU's x87 glue (vm/x86/system.py)
        # runs a plan itself after setting _ctx
        self.plans: dict = {}
        self._lazy_fop = self._lazy_fdp = self._zero_fcs_fds = False
        self._sctx = self._sfile = None   # a context whose selectors plans read directly
        self.amd = False                # AMD's answers for f2xm1(1.0) and fsincos's C1
        self._ctx = None
        # the Memory the plans read and write directly while a page has no flags (the
        # context's own read/write otherwise), or None: set with _ctx by whoever runs a plan
        self._mem = None
        self._build_dispatch()
        self.fninit()

    # the pointer models are read when an instruction's plan is made: changing one drops
    # the plans
    @property
    def lazy_fop(self) -> bool:
        return self._lazy_fop

    @lazy_fop.setter
    def lazy_fop(self, value: bool) -> None:
        self._lazy_fop = value
        self.plans.clear()

    @property
    def lazy_fdp(self) -> bool:
        return self._lazy_fdp

    @lazy_fdp.setter
    def lazy_fdp(self, value: bool) -> None:
        self._lazy_fdp = value
        self.plans.clear()

    @property
    def zero_fcs_fds(self) -> bool:
        return self._zero_fcs_fds

    @zero_fcs_fds.setter
    def zero_fcs_fds(self, value: bool) -> None:
        self._zero_fcs_fds = value
        self.plans.clear()
        self._sctx = None

    # ---- public state -------------------------------------------------------------------
    @property
    def control(self) -> int:
        return self.cw

    @control.setter
    def control(self, value: int) -> None:
        self._load_cw(value)

    @property
    def status(self) -> int:
        return (self.sw & ~0x3800) | (self.top << 11)

    @status.setter
    def status(self, value: int) -> None:
        self.sw = value & ~0x3800 & 0xFFFF
        self.top = (value >> 11) & 7

    @property
    def tag(self) -> int:
        """Full tag word (00 valid, 01 zero, 10 special, 11 empty) computed from contents."""
        tw = 0
        for p in range(8):
            tw |= self._tag_of(p) << (2 * p)
        return tw

    @property
    def fpu_ip(self) -> int:
        return self.fip

    @property
    def fpu_dp(self) -> int:
        return self.fdp

    def st(self, i: int) -> Optional[F80]:
        """ST(i) as a float80 tuple, or None when empty."""
        p = (self.top + i) & 7
        return None if self.empty[p] else self.regs[p]

    def state_bytes_fxsave(self) -> bytes:
        return self._fxsave_image(b"\0" * 512)

    def _tag_of(self, p: int) -> int:
        if self.empty[p]:
            return 3
        c = f80.classify(self.regs[p])
        if c == f80.NORMAL:
            return 0
        return 1 if c == f80.ZERO else 2

    # ---- execution ---------------------------------------------------------------------------
    def execute(self, insn, ea: Optional[int], ctx) -> None:
        self._ctx = ctx
        self._mem = getattr(ctx, "direct_mem", None)
        plan = self.plans.get(id(insn))
        if plan is None or plan[0] is not insn:
            plan = self._plan(insn)
        plan[1](ea, ctx)

    def release(self) -> None:
        """Forget the plans (closures of this unit: a reference cycle) once the unit will
        run no more, so that it is freed at once, not by the cycle collector."""
        self.plans.clear()

    def _plan(self, insn) -> tuple:
        """Decode an instruction once into ``run(ea, ctx)``; kept per instruction object
        (the translator keeps the object for as long as its block lives)."""
        plan = (insn, x87fast.plan(self, insn))
        if insn.raw[len(insn.prefixes)] != 0x0F:    # fxsave/fxrstor need the CPU's glue
            plans = self.plans
            if len(plans) >= 16384:     # retranslated code leaves stale entries behind
                plans.clear()
            plans[id(insn)] = plan
        return plan

    def _execute_decoded(self, insn, ea: Optional[int], ctx) -> None:
        """Execute from the opcode bytes (the plans' general case)."""
        self._ctx = ctx
        raw = insn.raw
        p = len(insn.prefixes)
        b0 = raw[p]
        if b0 == 0x9B:              # wait/fwait
            if self.sw & ES:
                raise X87Fault("pending x87 exception")
            return
        if b0 == 0x0F:              # fxsave / fxrstor (alignment checks are the CPU's)
            digit = (raw[p + 2] >> 3) & 7
            if digit == 0:          # bytes 160-511 (XMM area, reserved) are kept as they are
                ctx.write(ea, self._fxsave_image(ctx.read(ea, 512)))
            elif digit == 1:
                self._fxrstor(ctx.read(ea, 512))
            else:
                raise NotImplementedError(f"0F AE /{digit} is not an x87 instruction")
            return
        b1 = raw[p + 1]
        if b1 >= 0xC0:
            fn, arg, kind = self._reg_ops[((b0 & 7) << 6) | (b1 & 0x3F)]
            if kind != NOWAIT:
                if self.sw & ES:
                    raise X87Fault("pending x87 exception")
                if kind == NORMAL:      # FDP/FDS keep the last memory operand's address
                    self.fip = insn.address
                    self.fcs = self._sreg(ctx, "cs")
                    if self.lazy_fop or self.lazy_fdp:
                        self._lazy_pointers(fn, (self, arg), ((b0 & 7) << 8) | b1, None,
                                            None)
                        return
                    self.fop = ((b0 & 7) << 8) | b1
            fn(self, arg)
            return
        fn, kind = self._mem_ops[((b0 & 7) << 3) | ((b1 >> 3) & 7)]
        if kind != NOWAIT:
            if self.sw & ES:
                raise X87Fault("pending x87 exception")
            if kind == NORMAL:
                self.fip = insn.address
                self.fcs = self._sreg(ctx, "cs")
                if self.lazy_fop or self.lazy_fdp:
                    self._lazy_pointers(fn, (self, ea, ctx, insn), ((b0 & 7) << 8) | b1, ea,
                                        self._sreg(ctx, self._data_seg(insn)))
                    return
                self.fop = ((b0 & 7) << 8) | b1
                self.fdp = ea
                self.fds = self._sreg(ctx, self._data_seg(insn))
        fn(self, ea, ctx, insn)

    def _pending(self) -> None:
        raise X87Fault("pending x87 exception")

    def _lazy_pointers(self, fn, args, fop: int, fdp, fds) -> None:
        """Run one instruction on a part that records FOP (and/or FDP/FDS) only when the
        instruction raises an unmasked exception."""
        if not self.lazy_fop:
            self.fop = fop
        if fdp is not None and not self.lazy_fdp:
            self.fdp, self.fds = fdp, fds
        es = self.sw & ES
        fn(*args)
        if self.sw & ES and not es:
            self.fop = fop
            if fdp is not None:
                self.fdp, self.fds = fdp, fds

    def _sreg(self, ctx, name: str) -> int:
        if self.zero_fcs_fds:
            return 0
        get = getattr(ctx, "get_sreg", None)
        return get(name) if get is not None else self.selectors.get(name, 0)

    @staticmethod
    def _data_seg(insn) -> str:
        if insn.seg:
            return insn.seg
        for op in insn.operands:
            regs = getattr(op, "regs", None)
            if regs is not None:
                if regs and regs[0][0] in ("ebp", "esp", "bp"):
                    return "ss"
                break
        return "ds"

    # ---- stack and exception helpers ----------------------------------------------------------
    def _get(self, i: int) -> Optional[F80]:
        p = (self.top + i) & 7
        return None if self.empty[p] else self.regs[p]

    def _put(self, i: int, v: F80) -> None:
        p = (self.top + i) & 7
        self.regs[p] = v
        self.empty[p] = False

    def _pop(self) -> None:
        self.empty[self.top] = True
        self.top = (self.top + 1) & 7

    def _signal(self, flags: int, keep_c1: bool = False) -> bool:
        """Record exception flags (and C1 from ``flags``); False when an unmasked IE, DE or
        ZE means the result must not be delivered."""
        if flags & IE:                  # an invalid operation outranks a denormal operand
            flags &= ~DE
        unmasked = flags & ~self.cw & EXC
        if unmasked & (IE | DE | ZE):   # the operation is suppressed: only that is reported
            self.sw |= (flags & (IE | DE | ZE | SF)) | ES | B
            if flags & C1:
                self.sw |= C1
            elif not keep_c1:
                self.sw &= ~C1
            return False
        sw = self.sw | (flags & (EXC | SF))
        if flags & C1:
            sw |= C1
        elif not keep_c1:
            sw &= ~C1
        if unmasked:
            sw |= ES | B
        self.sw = sw
        return True

    def _push(self, v: F80, flags: int = 0) -> None:
        t = (self.top - 1) & 7
        if not self.empty[t]:
            if self._signal(IE | SF | C1):
                self.top = t
                self.regs[t] = INDEFINITE
                self.empty[t] = False
            return
        # a load completes despite an unmasked denormal exception (not so arithmetic)
        if self._signal(flags) or not flags & IE:
            self.top = t
            self.regs[t] = v
            self.empty[t] = False

    def _underflow(self) -> bool:
        return self._signal(IE | SF)

    def _overflow_two_results(self) -> bool:
        """fptan/fsincos/fxtract with ST(7) in use: masked, ST(0) and the push become the
        indefinite. Returns True when the instruction is done."""
        if self.empty[(self.top - 1) & 7]:
            return False
        if self._signal(IE | SF | C1):
            self._put(0, INDEFINITE)
            self.top = (self.top - 1) & 7
            self._put(0, INDEFINITE)
        return True

    # ---- dispatch tables ------------------------------------------------------------------------
    @classmethod
    def _build_dispatch(cls) -> None:
        """The opcode tables, once per class: plain functions taken with the unit as
        their first argument (bound methods would tie every unit to its own table of
        several hundred, a reference cycle per thread that only the cycle collector
        frees: 3000 threads held 115 MB)."""
        if "_reg_ops" in cls.__dict__:
            return
        reg: list = [(cls._invalid, 0, NOWAIT)] * 512
        mem: list = [(cls._invalid_mem, NOWAIT)] * 64

        def r(b0, b1, fn, arg=None, kind=NORMAL):
            reg[((b0 & 7) << 6) | (b1 & 0x3F)] = (fn, arg, kind)

        def m(b0, digit, fn, kind=NORMAL):
            mem[((b0 & 7) << 3) | digit] = (fn, kind)

        arith = ("add", "mul", None, None, "sub", "subr", "div", "divr")
        for i in range(8):
            for d, op in enumerate(arith):
                if op is None:
                    continue
                r(0xD8, 0xC0 + 8 * d + i, cls._arith_st0, (op, i))
                # DC/DE: E0 (d=4) is st0-sti into sti, i.e. the "subr" of the destination
                op_i = {"sub": "subr", "subr": "sub", "div": "divr", "divr": "div"}.get(op, op)
                r(0xDC, 0xC0 + 8 * d + i, cls._arith_sti, (op_i, i, False))
                r(0xDE, 0xC0 + 8 * d + i, cls._arith_sti, (op_i, i, True))
            r(0xD8, 0xD0 + i, cls._fcom_reg, (i, 0, False))
            r(0xD8, 0xD8 + i, cls._fcom_reg, (i, 1, False))
            r(0xDC, 0xD0 + i, cls._fcom_reg, (i, 0, False))     # undocumented aliases
            r(0xDC, 0xD8 + i, cls._fcom_reg, (i, 1, False))
            r(0xDE, 0xD0 + i, cls._fcom_reg, (i, 1, False))
            r(0xDD, 0xE0 + i, cls._fcom_reg, (i, 0, True))
            r(0xDD, 0xE8 + i, cls._fcom_reg, (i, 1, True))
            r(0xDB, 0xF0 + i, cls._fcomi, (i, False, False))
            r(0xDB, 0xE8 + i, cls._fcomi, (i, True, False))
            r(0xDF, 0xF0 + i, cls._fcomi, (i, False, True))
            r(0xDF, 0xE8 + i, cls._fcomi, (i, True, True))
            r(0xD9, 0xC0 + i, cls._fld_sti, i)
            r(0xD9, 0xC8 + i, cls._fxch, i)
            r(0xDD, 0xC8 + i, cls._fxch, i)
            r(0xDF, 0xC8 + i, cls._fxch, i)
            r(0xDD, 0xD0 + i, cls._fst_sti, (i, False))
            r(0xDD, 0xD8 + i, cls._fst_sti, (i, True))
            r(0xD9, 0xD8 + i, cls._fst_sti, (i, True))
            r(0xDF, 0xD0 + i, cls._fst_sti, (i, True))
            r(0xDF, 0xD8 + i, cls._fst_sti, (i, True))
            r(0xDD, 0xC0 + i, cls._ffree, (i, False))
            r(0xDF, 0xC0 + i, cls._ffree, (i, True))
            for cc in range(4):
                r(0xDA, 0xC0 + 8 * cc + i, cls._fcmov, (i, cc, False))
                r(0xDB, 0xC0 + 8 * cc + i, cls._fcmov, (i, cc, True))
        r(0xDE, 0xD9, cls._fcompp, False)
        r(0xDA, 0xE9, cls._fcompp, True)
        r(0xDF, 0xE0, cls._fnstsw_ax, None, NOWAIT)
        r(0xD9, 0xD0, cls._nop)
        simple = {0xE0: cls._fchs, 0xE1: cls._fabs, 0xE4: cls._ftst, 0xE5: cls._fxam,
                  0xF0: cls._f2xm1, 0xF1: cls._fyl2x, 0xF2: cls._fptan, 0xF3: cls._fpatan,
                  0xF4: cls._fxtract, 0xF5: cls._fprem1, 0xF6: cls._fdecstp,
                  0xF7: cls._fincstp, 0xF8: cls._fprem, 0xF9: cls._fyl2xp1,
                  0xFA: cls._fsqrt, 0xFB: cls._fsincos, 0xFC: cls._frndint,
                  0xFD: cls._fscale, 0xFE: cls._fsin, 0xFF: cls._fcos}
        for b1, fn in simple.items():
            r(0xD9, b1, fn)
        for b1, name in ((0xE8, "one"), (0xE9, "l2t"), (0xEA, "l2e"), (0xEB, "pi"),
                         (0xEC, "lg2"), (0xED, "ln2"), (0xEE, "zero")):
            r(0xD9, b1, cls._fldconst, name)
        r(0xDB, 0xE0, cls._nop, None, NOWAIT)      # fneni/fndisi/fsetpm: 8087/287 only
        r(0xDB, 0xE1, cls._nop, None, NOWAIT)
        r(0xDB, 0xE4, cls._nop, None, NOWAIT)
        r(0xDB, 0xE2, cls._fnclex, None, NOWAIT)
        r(0xDB, 0xE3, cls._fninit_op, None, NOWAIT)

        # memory forms: D8 m32real, DC m64real, DA m32int, DE m16int
        for b0, kind in ((0xD8, "r4"), (0xDC, "r8"), (0xDA, "i4"), (0xDE, "i2")):
            for d, op in enumerate(arith):
                if op is not None:
                    m(b0, d, cls._arith_mem(op, kind))
            m(b0, 2, cls._fcom_mem(kind, 0))
            m(b0, 3, cls._fcom_mem(kind, 1))
        m(0xD9, 0, cls._fld_mem("r4"))
        m(0xDD, 0, cls._fld_mem("r8"))
        m(0xDB, 5, cls._fld_mem("r10"))
        m(0xDF, 0, cls._fld_mem("i2"))
        m(0xDB, 0, cls._fld_mem("i4"))
        m(0xDF, 5, cls._fld_mem("i8"))
        m(0xDF, 4, cls._fld_mem("bcd"))
        m(0xD9, 2, cls._fst_mem("r4", False))
        m(0xDD, 2, cls._fst_mem("r8", False))
        m(0xD9, 3, cls._fst_mem("r4", True))
        m(0xDD, 3, cls._fst_mem("r8", True))
        m(0xDB, 7, cls._fst_mem("r10", True))
        m(0xDF, 2, cls._fst_mem("i2", False))
        m(0xDB, 2, cls._fst_mem("i4", False))
        m(0xDF, 3, cls._fst_mem("i2", True))
        m(0xDB, 3, cls._fst_mem("i4", True))
        m(0xDF, 7, cls._fst_mem("i8", True))
        m(0xDF, 1, cls._fst_mem("t2", True))
        m(0xDB, 1, cls._fst_mem("t4", True))
        m(0xDD, 1, cls._fst_mem("t8", True))
        m(0xDF, 6, cls._fst_mem("bcd", True))
        m(0xD9, 5, cls._fldcw, WAITING_CONTROL)
        m(0xD9, 7, cls._fnstcw, NOWAIT)
        m(0xDD, 7, cls._fnstsw, NOWAIT)
        m(0xD9, 4, cls._fldenv, WAITING_CONTROL)
        m(0xD9, 6, cls._fnstenv, NOWAIT)
        m(0xDD, 4, cls._frstor, WAITING_CONTROL)
        m(0xDD, 6, cls._fnsave, NOWAIT)
        cls._reg_ops = reg
        cls._mem_ops = mem


    def _invalid(self, arg) -> None:
        raise NotImplementedError("x87 register encoding not implemented")

    def _invalid_mem(self, ea, ctx, insn) -> None:
        raise NotImplementedError("x87 memory encoding not implemented")

    def _nop(self, arg) -> None:
        pass

    # ---- arithmetic -----------------------------------------------------------------------------
    def _compute(self, op: str, a: F80, b: F80) -> tuple:
        """a op b for op in add mul sub subr div divr (subr: b - a)."""
        cw = self.cw
        if op == "add":
            return f80.add(a, b, cw)
        if op == "mul":
            return f80.mul(a, b, cw)
        if op == "sub":
            return f80.add(a, b, cw, True)
        if op == "subr":
            return f80.add(b, a, cw, True)
        if op == "div":
            return f80.div(a, b, cw)
        return f80.div(b, a, cw)

    def _arith_st0(self, arg) -> None:
        op, i = arg
        a = self._get(0)
        b = self._get(i)
        if a is None or b is None:
            if self._underflow():
                self._put(0, INDEFINITE)
            return
        v, fl = self._compute(op, a, b)
        if self._signal(fl):
            self._put(0, v)

    def _arith_sti(self, arg) -> None:
        """DC/DE register forms: ST(i) = ST(i) op ST(0), optionally popping."""
        op, i, pop = arg
        a = self._get(i)
        b = self._get(0)
        if a is None or b is None:
            if self._underflow():
                self._put(i, INDEFINITE)
                if pop:
                    self._pop()
            return
        v, fl = self._compute(op, a, b)
        if self._signal(fl):
            self._put(i, v)
            if pop:
                self._pop()

    def _load_operand(self, ctx, ea: int, kind: str, quiet: bool) -> tuple:
        """Memory operand as (value, flags); SNaNs stay signalling unless ``quiet``."""
        if kind == "r4":
            raw = int.from_bytes(ctx.read(ea, 4), "little")
            return f80.from_ieee(raw, f80.SINGLE, quiet)
        if kind == "r8":
            raw = int.from_bytes(ctx.read(ea, 8), "little")
            return f80.from_ieee(raw, f80.DOUBLE, quiet)
        if kind == "r10":
            return f80.from_bytes(ctx.read(ea, 10)), 0
        if kind == "bcd":
            return f80.from_bcd(ctx.read(ea, 10)), 0
        n = int(kind[1:])
        return f80.from_int(int.from_bytes(ctx.read(ea, n), "little", signed=True)), 0

    @staticmethod
    def _arith_mem(op: str, kind: str):
        def run(self, ea, ctx, insn):
            b, fl0 = self._load_operand(ctx, ea, kind, False)
            a = self._get(0)
            if a is None:
                if self._underflow():
                    self._put(0, INDEFINITE)
                return
            v, fl = self._compute(op, a, b)
            if self._signal(fl | fl0):
                self._put(0, v)
        return run

    def _fsqrt(self, arg) -> None:
        self._unary(lambda a: f80.sqrt(a, self.cw))

    def _frndint(self, arg) -> None:
        self._unary(lambda a: f80.rndint(a, self.cw))

    def _f2xm1(self, arg) -> None:
        self._unary(lambda a: f80.f2xm1(a, self.cw, self.amd))

    def _unary(self, fn) -> None:
        a = self._get(0)
        if a is None:
            if self._underflow():
                self._put(0, INDEFINITE)
            return
        v, fl = fn(a)
        if self._signal(fl):
            self._put(0, v)

    def _fchs(self, arg) -> None:
        a = self._get(0)
        if a is None:
            if self._underflow():
                self._put(0, INDEFINITE)
            return
        self._signal(0)
        self._put(0, f80.neg(a))

    def _fabs(self, arg) -> None:
        a = self._get(0)
        if a is None:
            if self._underflow():
                self._put(0, INDEFINITE)
            return
        self._signal(0)
        self._put(0, f80.absval(a))

    def _binary_st1(self, fn, pop: bool) -> None:
        """Operations on ST(0) and ST(1) with the result in ST(1) (pop) or ST(0)."""
        a = self._get(0)
        b = self._get(1)
        dst = 1 if pop else 0
        if a is None or b is None:
            if self._underflow():
                self._put(dst, INDEFINITE)
                if pop:
                    self._pop()
            return
        v, fl = fn(a, b)
        if self._signal(fl):
            self._put(dst, v)
            if pop:
                self._pop()

    def _fscale(self, arg) -> None:
        self._binary_st1(lambda a, b: f80.scale(a, b, self.cw), False)

    def _fpatan(self, arg) -> None:
        self._binary_st1(lambda x, y: f80.atan2(y, x, self.cw), True)

    def _fyl2x(self, arg) -> None:
        self._binary_st1(lambda x, y: f80.yl2x(x, y, self.cw), True)

    def _fyl2xp1(self, arg) -> None:
        self._binary_st1(lambda x, y: f80.yl2xp1(x, y, self.cw), True)

    def _fprem(self, arg) -> None:
        self._prem(False)

    def _fprem1(self, arg) -> None:
        self._prem(True)

    def _prem(self, nearest: bool) -> None:
        a = self._get(0)
        b = self._get(1)
        if a is None or b is None:
            if self._underflow():
                self._put(0, INDEFINITE)
            return
        v, fl, q, complete = f80.prem(a, b, self.cw, nearest)
        if not self._signal(fl):
            return
        self._put(0, v)
        sw = self.sw & ~(C0 | C1 | C2 | C3)
        if not complete:
            sw |= C2
        elif not fl & IE:
            q = abs(q)
            sw |= (C0 if q & 4 else 0) | (C3 if q & 2 else 0) | (C1 if q & 1 else 0)
        self.sw = sw

    def _trig(self, which: str) -> None:
        a = self._get(0)
        if a is None:
            if self._underflow():
                self._put(0, INDEFINITE)
            return
        v, fl, out_of_range = f80.trig(a, self.cw, which)
        if out_of_range:
            self._signal(0)
            self.sw |= C2
            return
        self.sw &= ~C2
        if self._signal(fl):
            self._put(0, v)

    def _fsin(self, arg) -> None:
        self._trig("sin")

    def _fcos(self, arg) -> None:
        self._trig("cos")

    def _two_result_operand(self):
        """ST0 for fptan/fsincos/fxtract, or None when the instruction is already over:
        ST0 empty (indefinite pushed when masked) or no room for the second result."""
        a = self._get(0)
        if a is None:
            if self._underflow():
                self._put(0, INDEFINITE)
                self._push(INDEFINITE)
            return None
        if self._overflow_two_results():
            return None
        return a

    def _fptan(self, arg) -> None:
        a = self._two_result_operand()
        if a is None:
            return
        v, fl, out_of_range = f80.trig(a, self.cw, "tan")
        if out_of_range:
            self._signal(0)
            self.sw |= C2
            return
        self.sw &= ~C2
        if self._signal(fl):
            self._put(0, v)
            # 1.0 is pushed, or the NaN again when the result is one
            self._push(v if f80.is_nan(v) else f80.ONE, fl & C1)

    def _fsincos(self, arg) -> None:
        a = self._two_result_operand()
        if a is None:
            return
        s, fs, out_of_range = f80.trig(a, self.cw, "sin")
        if out_of_range:
            self._signal(0)
            self.sw |= C2
            return
        c, fc, _ = f80.trig(a, self.cw, "cos")
        self.sw &= ~C2
        # C1 tells of the rounding of the cosine (pushed last) on Intel, the sine on AMD
        fl = (fs | fc) & ~C1 | ((fs if self.amd else fc) & C1)
        if self._signal(fl):
            self._put(0, s)
            self._push(c, fl & C1)

    def _fxtract(self, arg) -> None:
        a = self._two_result_operand()
        if a is None:
            return
        e, m, fl = f80.xtract(a)
        if self._signal(fl):
            self._put(0, e)
            self._push(m)

    # ---- compares -------------------------------------------------------------------------------
    def _set_cc(self, rel) -> None:
        sw = self.sw & ~(C0 | C2 | C3)
        if rel is None:
            sw |= C0 | C2 | C3
        elif rel == 0:
            sw |= C3
        elif rel < 0:
            sw |= C0
        self.sw = sw

    def _compare(self, a, b, quiet: bool, pops: int) -> None:
        if a is None or b is None:
            if self._underflow():
                self._set_cc(None)
                for _ in range(pops):
                    self._pop()
            return
        rel, fl = f80.compare(a, b, quiet)
        if self._signal(fl):
            self._set_cc(rel)
            for _ in range(pops):
                self._pop()

    def _fcom_reg(self, arg) -> None:
        i, pops, quiet = arg
        self._compare(self._get(0), self._get(i), quiet, pops)

    def _fcompp(self, quiet: bool) -> None:
        self._compare(self._get(0), self._get(1), quiet, 2)

    @staticmethod
    def _fcom_mem(kind: str, pops: int):
        def run(self, ea, ctx, insn):
            b, fl0 = self._load_operand(ctx, ea, kind, False)
            a = self._get(0)
            if a is None:
                self._compare(None, None, False, pops)
                return
            rel, fl = f80.compare(a, b, False)
            if self._signal(fl | fl0):
                self._set_cc(rel)
                for _ in range(pops):
                    self._pop()
        return run

    def _ftst(self, arg) -> None:
        self._compare(self._get(0), f80.POS_ZERO, False, 0)

    def _fcomi(self, arg) -> None:
        i, quiet, pop = arg
        a = self._get(0)
        b = self._get(i)
        ctx = self._ctx
        if a is None or b is None:      # fcomi leaves C1 alone (this part, at least)
            if self._signal(IE | SF, True):
                ctx.set_eflags_zpc(True, True, True)
                if pop:
                    self._pop()
            return
        rel, fl = f80.compare(a, b, quiet)
        if self._signal(fl, True):
            ctx.set_eflags_zpc(rel is None or rel == 0, rel is None, rel is None or rel < 0)
            if pop:
                self._pop()

    def _fxam(self, arg) -> None:
        p = self.top
        v = self.regs[p]
        sw = self.sw & ~CC
        if v[0]:
            sw |= C1
        if self.empty[p]:
            sw |= C3 | C0
        else:
            c = f80.classify(v)
            sw |= (C3, C3 | C2, C2, C2 | C0, C0, C0, 0)[c]
        self.sw = sw

    # ---- loads, stores, moves -----------------------------------------------------------------------
    @staticmethod
    def _fld_mem(kind: str):
        def run(self, ea, ctx, insn):
            v, fl = self._load_operand(ctx, ea, kind, True)
            self._push(v, fl)
        return run

    def _fld_sti(self, i: int) -> None:
        v = self._get(i)
        if v is None:
            if self._underflow():
                self._push(INDEFINITE)
            return
        self._push(v)

    def _fldconst(self, name: str) -> None:
        if name == "one":
            v = f80.ONE
        elif name == "zero":
            v = f80.POS_ZERO
        else:
            v = f80.constant(name, self.cw)
        self._push(v)

    @staticmethod
    def _fst_mem(kind: str, pop: bool):
        def run(self, ea, ctx, insn):
            a = self._get(0)
            if a is None:
                if self._underflow():
                    ctx.write(ea, self._indefinite_bytes(kind))
                    if pop:
                        self._pop()
                return
            data, fl = self._convert_out(a, kind)
            ok = self._signal(fl)
            if data is None or not ok:
                return
            ctx.write(ea, data)
            if pop:
                self._pop()
        return run

    def _convert_out(self, a: F80, kind: str) -> tuple:
        cw = self.cw
        if kind == "r10":
            return f80.to_bytes(a), 0
        if kind in ("r4", "r8"):
            fmt = f80.SINGLE if kind == "r4" else f80.DOUBLE
            raw, fl = f80.to_ieee(a, cw, fmt)
            if raw is None:
                return None, fl
            return raw.to_bytes(4 if kind == "r4" else 8, "little"), fl
        if kind == "bcd":
            return f80.to_bcd(a, cw)
        n = int(kind[1:])
        i, fl = f80.to_int(a, cw, 8 * n, kind[0] == "t")
        if i is None:
            i = INT_INDEFINITE[n]
        return (i & ((1 << (8 * n)) - 1)).to_bytes(n, "little"), fl

    @staticmethod
    def _indefinite_bytes(kind: str) -> bytes:
        if kind == "r10":
            return f80.to_bytes(INDEFINITE)
        if kind == "r4":
            return f80.ieee_indefinite(f80.SINGLE).to_bytes(4, "little")
        if kind == "r8":
            return f80.ieee_indefinite(f80.DOUBLE).to_bytes(8, "little")
        if kind == "bcd":
            return f80.BCD_INDEFINITE
        n = int(kind[1:])
        return INT_INDEFINITE[n].to_bytes(n, "little")

    def _fst_sti(self, arg) -> None:
        i, pop = arg
        a = self._get(0)
        if a is None:
            if self._underflow():
                self._put(i, INDEFINITE)
                if pop:
                    self._pop()
            return
        self._signal(0)
        self._put(i, a)
        if pop:
            self._pop()

    def _fxch(self, i: int) -> None:
        a = self._get(0)
        b = self._get(i)
        if a is None or b is None:
            if not self._underflow():
                return
            a = INDEFINITE if a is None else a
            b = INDEFINITE if b is None else b
        else:
            self._signal(0)
        self._put(0, b)
        self._put(i, a)

    def _fcmov(self, arg) -> None:
        i, cc, negate = arg
        fl = self._ctx.get_eflags()
        cond = (fl & 1, fl & 0x40, fl & 0x41, fl & 4)[cc] != 0
        if negate:
            cond = not cond
        a = self._get(0)
        b = self._get(i)
        if a is None or b is None:        # indefinite whatever the condition
            if self._underflow():
                self._put(0, INDEFINITE)
            return
        self._signal(0)
        if cond:
            self._put(0, b)

    def _ffree(self, arg) -> None:
        i, pop = arg
        self.sw &= ~C1
        self.empty[(self.top + i) & 7] = True
        if pop:
            self._pop()

    def _fincstp(self, arg) -> None:
        self.sw &= ~C1
        self.top = (self.top + 1) & 7

    def _fdecstp(self, arg) -> None:
        self.sw &= ~C1
        self.top = (self.top - 1) & 7

    # ---- control ------------------------------------------------------------------------------------
    def fninit(self) -> None:
        self.cw = 0x037F
        self.sw = 0
        self.top = 0
        self.empty = [True] * 8
        self.fip = self.fdp = self.fop = 0
        self.fcs = self.fds = 0

    def _fninit_op(self, arg) -> None:
        self.fninit()

    def _fnclex(self, arg) -> None:
        self.sw &= ~(EXC | SF | ES | B)

    def _load_cw(self, cw: int) -> None:
        self.cw = cw & 0x1F7F | 0x40
        self._update_es()

    def _update_es(self) -> None:
        if self.sw & ~self.cw & EXC:
            self.sw |= ES | B
        else:
            self.sw &= ~(ES | B)

    def _fldcw(self, ea, ctx, insn) -> None:
        cw = self.cw = x87fast.read_op(self, ctx, ea, 2, _U16) & 0x1F7F | 0x40
        if self.sw & ~cw & EXC:         # (_load_cw inline: glibc's casts run it a lot)
            self.sw |= ES | B
        else:
            self.sw &= ~(ES | B)

    def _fnstcw(self, ea, ctx, insn) -> None:
        x87fast.write_op(self, ctx, ea, 2, _P16, self.cw)

    def _fnstsw(self, ea, ctx, insn) -> None:
        ctx.write(ea, self.status.to_bytes(2, "little"))

    def _fnstsw_ax(self, arg) -> None:
        self._ctx.set_ax(self.status)

    # environment images: 28 bytes (32-bit) or 14 bytes (16-bit operand size)
    def _env_bytes(self, osize: int) -> bytes:
        cw, sw, tw = self.cw, self.status, self.tag
        if osize == 16:
            if self.real_mode:
                return struct.pack("<7H", cw, sw, tw, self.fip & 0xFFFF,
                                   ((self.fip >> 4) & 0xF000) | self.fop, self.fdp & 0xFFFF,
                                   (self.fdp >> 4) & 0xF000)
            return struct.pack("<7H", cw, sw, tw, self.fip & 0xFFFF, self.fcs,
                               self.fdp & 0xFFFF, self.fds)
        if self.real_mode:
            return struct.pack("<7I", cw | 0xFFFF0000, sw | 0xFFFF0000, tw | 0xFFFF0000,
                               self.fip & 0xFFFF | 0xFFFF0000,
                               ((self.fip >> 4) & 0x0FFFF000) | self.fop,
                               self.fdp & 0xFFFF | 0xFFFF0000, (self.fdp >> 4) & 0x0FFFF000)
        return struct.pack("<HHHHHHIHHIHH", cw, 0xFFFF, sw, 0xFFFF, tw, 0xFFFF, self.fip,
                           self.fcs, self.fop, self.fdp, self.fds, 0xFFFF)

    def _load_env(self, data: bytes, osize: int) -> None:
        if osize == 16:
            cw, sw, tw, ip, w4, dp, w6 = struct.unpack_from("<7H", data)
            if self.real_mode:
                self.fip = ip | ((w4 & 0xF000) << 4)
                self.fop = w4 & 0x7FF
                self.fdp = dp | ((w6 & 0xF000) << 4)
                self.fcs = self.fds = 0
            else:
                self.fip, self.fcs, self.fdp, self.fds = ip, w4, dp, w6
        else:
            cw, sw, tw, ip, w4, dp, w6 = struct.unpack_from("<7I", data)
            if self.real_mode:
                self.fip = (ip & 0xFFFF) | ((w4 & 0x0FFFF000) << 4)
                self.fop = w4 & 0x7FF
                self.fdp = (dp & 0xFFFF) | ((w6 & 0x0FFFF000) << 4)
                self.fcs = self.fds = 0
            else:
                self.fip, self.fdp = ip, dp
                self.fcs = w4 & 0xFFFF
                self.fop = (w4 >> 16) & 0x7FF
                self.fds = w6 & 0xFFFF
        if self.zero_fcs_fds:
            self.fcs = self.fds = 0
        self.cw = cw & 0x1F7F | 0x40
        self.status = sw & 0xFFFF
        self._update_es()               # ES and B follow the flags and masks, not the image
        for p in range(8):
            self.empty[p] = (tw >> (2 * p)) & 3 == 3

    def _fnstenv(self, ea, ctx, insn) -> None:
        ctx.write(ea, self._env_bytes(insn.osize))
        self.cw |= EXC

    def _fldenv(self, ea, ctx, insn) -> None:
        n = 14 if insn.osize == 16 else 28
        self._load_env(ctx.read(ea, n), insn.osize)

    def _fnsave(self, ea, ctx, insn) -> None:
        regs = b"".join(f80.to_bytes(self.regs[(self.top + i) & 7]) for i in range(8))
        ctx.write(ea, self._env_bytes(insn.osize) + regs)
        self.fninit()

    def _frstor(self, ea, ctx, insn) -> None:
        n = 14 if insn.osize == 16 else 28
        data = ctx.read(ea, n + 80)
        self._load_env(data, insn.osize)
        for i in range(8):
            self.regs[(self.top + i) & 7] = f80.from_bytes(data[n + 10 * i:n + 10 * i + 10])

    def _fxsave_image(self, old: bytes) -> bytes:
        out = bytearray(old[:512].ljust(512, b"\0"))
        ftw = 0
        for p in range(8):
            if not self.empty[p]:
                ftw |= 1 << p
        ptrs = (self.fop, self.fip, self.fcs, self.fdp, self.fds)
        if self.fxsave_pointers_only_on_es and not self.sw & ES:
            ptrs = (0, 0, 0, 0, 0)
        struct.pack_into("<HHBBHIHHIHHII", out, 0, self.cw, self.status, ftw, 0, ptrs[0],
                         ptrs[1], ptrs[2], 0, ptrs[3], ptrs[4], 0, self.mxcsr, self.mxcsr_mask)
        for i in range(8):
            out[32 + 16 * i:48 + 16 * i] = f80.to_bytes(self.regs[(self.top + i) & 7]) + bytes(6)
        return bytes(out)

    def _fxrstor(self, data: bytes) -> None:
        cw, sw, ftw, _, fop, fip, fcs, _, fdp, fds, _, mxcsr = struct.unpack_from(
            "<HHBBHIHHIHHI", data)
        self.cw = cw & 0x1F7F | 0x40
        self.status = sw
        self._update_es()
        self.fop, self.fip, self.fcs, self.fdp, self.fds = fop & 0x7FF, fip, fcs, fdp, fds
        if self.zero_fcs_fds:
            self.fcs = self.fds = 0
        self.mxcsr = mxcsr
        for p in range(8):
            self.empty[p] = not (ftw >> p) & 1
        for i in range(8):
            self.regs[(self.top + i) & 7] = f80.from_bytes(data[32 + 16 * i:42 + 16 * i])
