"""The B32 CPU (spec sections 1, 3 and 6), built from the instruction table.

``asm.b32.instructions.TABLE`` says, for every opcode, which operation family it belongs
to and which register it acts on; this module implements each family once
(``@semantics``) and builds the 256-entry dispatch table from the two.
"""

from __future__ import annotations

import time
from typing import Callable, Optional, Union

from asm.b32.instructions import (
    CF_EQ,
    CF_GT,
    CF_LT,
    CF_NE,
    PF_CY,
    PF_OV,
    REGISTER_MASK,
    TABLE,
    Instruction,
)
from formats.b32 import B32Image, read_b32
from vm.b32.screen import Screen

MEMORY_SIZE = 0x10000   # 65,536 bytes (the tutorial's 65,535 was an off-by-one)


class B32Fault(Exception):
    """The program cannot continue; ``address`` is where it stopped."""

    def __init__(self, message: str, address: int):
        super().__init__(message)
        self.address = address


class IllegalOpcode(B32Fault):
    def __init__(self, address: int, opcode: int):
        super().__init__(f"illegal opcode ${opcode:02X} at ${address:04X}", address)
        self.opcode = opcode


class StepLimitReached(B32Fault):
    def __init__(self, address: int, steps: int):
        super().__init__(f"step limit reached: {steps} instructions ran without reaching END",
                         address)
        self.steps = steps


class Stop:
    """Why ``run(until=, count=, timeout=)`` returned, as ``vm.x86.Stop``: ``reason`` is
    'halt' (END ran), 'until' (IP reached ``until``), 'limit' (``count`` instructions
    ran), 'timeout', 'stopped' (a hook called request_stop) or 'fault' (``fault`` is the
    IllegalOpcode)."""

    def __init__(self, reason: str, status: Optional[int] = None,
                 fault: Optional[BaseException] = None):
        self.reason, self.status, self.fault = reason, status, fault

    def __repr__(self) -> str:
        extra = f", fault={self.fault!r}" if self.fault is not None else ""
        return f"Stop({self.reason!r}{extra})"


class _Hooks:
    """The hooks of one CPU (``B32CPU._hooks`` while there are any)."""

    def __init__(self) -> None:
        self.lists: dict[str, list] = {"code": [], "mem_read": [], "mem_write": []}
        self.code = self.lists["code"]
        self.writes = self.lists["mem_write"]


TIME_SLICE = 4096       # run(timeout=) reads the clock every this many instructions

_Handler = Callable[["B32CPU", Instruction, Optional[int]], None]
_FAMILIES: dict[str, _Handler] = {}


def semantics(op: str) -> Callable[[_Handler], _Handler]:
    """Register the behaviour of one operation family of the instruction table."""
    def register(fn: _Handler) -> _Handler:
        _FAMILIES[op] = fn
        return fn
    return register


class B32CPU:
    """Registers, flags and 64 KiB of memory; the screen lives at $A000 in that memory."""

    on_create: Optional[Callable] = None     # called with every new CPU (vm.run)
    _hooks: Optional[_Hooks] = None          # hook_* (docs/api.md); None: the fast path
    _stop_requested = False

    def __init__(self) -> None:
        self.mem = bytearray(MEMORY_SIZE)
        self.screen = Screen(self.mem)
        self.reset()
        if B32CPU.on_create is not None:
            B32CPU.on_create(self)

    def reset(self) -> None:
        """Registers and flags to 0, memory cleared, screen blank (spaces on $07)."""
        self.A = self.B = 0
        self.X = self.Y = 0
        self.IP = 0
        self.CF = 0
        self.PF = 0
        self.halted = False
        self.steps = 0
        self.mem[:] = bytes(MEMORY_SIZE)
        self.screen.clear()

    # D is not stored: it is always A (high byte) and B (low byte), spec 3.3.
    @property
    def D(self) -> int:
        return (self.A << 8) | self.B

    @D.setter
    def D(self, value: int) -> None:
        self.A = (value >> 8) & 0xFF
        self.B = value & 0xFF

    @property
    def OV(self) -> int:
        return self.PF & PF_OV

    @OV.setter
    def OV(self, on: bool) -> None:
        self.PF = (self.PF | PF_OV) if on else (self.PF & ~PF_OV)

    @property
    def CY(self) -> int:
        return (self.PF & PF_CY) >> 1

    @CY.setter
    def CY(self, on: bool) -> None:
        self.PF = (self.PF | PF_CY) if on else (self.PF & ~PF_CY)

    def load(self, program: Union[bytes, B32Image]) -> None:
        """Reset, copy the image to its load address and point IP at its entry.

        ``program`` is the bytes of a .b32 file or a parsed image; raises
        formats.b32.B32FormatError for a bad file.
        """
        image = program if isinstance(program, B32Image) else read_b32(bytes(program))
        self.reset()
        self.mem[image.load:image.end] = image.code
        self.IP = image.entry

    def step(self) -> bool:
        """Execute one instruction; returns False once END has run."""
        if self.halted:
            return False
        ip = self.IP
        mem = self.mem
        entry = _DISPATCH[mem[ip]]
        if entry is None:
            raise IllegalOpcode(ip, mem[ip])
        insn, handler, size = entry
        if size == 0:
            value = None
        elif size == 1:
            value = mem[(ip + 1) & 0xFFFF]
        else:
            value = mem[(ip + 1) & 0xFFFF] | (mem[(ip + 2) & 0xFFFF] << 8)
        self.IP = (ip + 1 + size) & 0xFFFF     # jumps overwrite it
        handler(self, insn, value)
        self.steps += 1
        return not self.halted

    def run(self, max_steps: Optional[int] = None,
            trace: Optional[Callable[[B32CPU], None]] = None, *,
            until: Optional[int] = None, count: Optional[int] = None,
            timeout: Optional[float] = None) -> Union[int, Stop]:
        """Run until END; returns the number of instructions executed.

        Raises IllegalOpcode, or StepLimitReached when ``max_steps`` instructions have run
        without reaching END (no limit when None). ``trace`` is called before each step.

        With ``until``, ``count`` or ``timeout`` (the surface of ``vm.x86.Machine.run``)
        it returns a :class:`Stop` instead and raises nothing: it stops before the
        instruction at ``until`` (after leaving it first if IP starts there), after
        ``count`` instructions (``max_steps`` if count is None) or ``timeout`` seconds.
        """
        if until is not None or count is not None or timeout is not None:
            if trace is not None:
                raise TypeError("run(trace=) does not combine with until/count/timeout: "
                                "use hook_code")
            return self._run_api(max_steps if count is None else count, until, timeout)
        start = self.steps
        if max_steps is None and trace is None:
            step = self.step
            while step():
                pass
            return self.steps - start
        while not self.halted:
            if max_steps is not None and self.steps - start >= max_steps:
                raise StepLimitReached(self.IP, self.steps - start)
            if trace is not None:
                trace(self)
            self.step()
        return self.steps - start

    def _run_api(self, count: Optional[int], until: Optional[int],
                 timeout: Optional[float]) -> Stop:
        deadline = None if timeout is None else time.monotonic() + timeout
        step = self.step                 # the hooked step while there are hooks
        until = -1 if until is None else until
        self._stop_requested = False
        n = 0
        try:
            while True:
                if self.halted:
                    return Stop("halt")
                if n:
                    if self._stop_requested:
                        self._stop_requested = False
                        return Stop("stopped")
                    if self.IP == until:
                        return Stop("until")
                    if deadline is not None and not n % TIME_SLICE \
                            and time.monotonic() >= deadline:
                        return Stop("timeout")
                if n == count:
                    return Stop("limit")
                step()
                n += 1
        except IllegalOpcode as e:
            return Stop("fault", fault=e)

    def request_stop(self) -> None:
        """From a hook: make ``run(until=/count=/timeout=)`` return Stop('stopped') after
        the current instruction."""
        self._stop_requested = True

    def cell(self, row: int, col: int) -> tuple[int, int]:
        """(character, attribute) bytes of a screen cell."""
        return self.screen.cell(row, col)

    # -- the Unicorn-like surface shared with vm.x86.Machine (docs/api.md) ------------------
    REGISTER_NAMES = ("A", "B", "D", "X", "Y", "IP", "CF", "PF")

    def reg(self, name: str) -> int:
        """A register by name: A, B, D (A:B), X, Y, IP, CF, PF (any case)."""
        key = name.upper()
        if key not in self.REGISTER_NAMES:
            raise KeyError(f"unknown register {name!r}")
        return getattr(self, key)

    def set_reg(self, name: str, value: int) -> None:
        key = name.upper()
        if key not in self.REGISTER_NAMES:
            raise KeyError(f"unknown register {name!r}")
        setattr(self, key, value & (0xFF if key in ("A", "B", "CF", "PF") else 0xFFFF))

    def regs(self) -> dict:
        return {n: getattr(self, n) for n in self.REGISTER_NAMES}

    def read(self, addr: int, n: int) -> bytes:
        if addr < 0 or addr + n > MEMORY_SIZE:
            raise ValueError(f"B32 memory is $0000-$FFFF: cannot read {n} at {addr:#x}")
        return bytes(self.mem[addr:addr + n])

    def write(self, addr: int, data: bytes) -> None:
        if addr < 0 or addr + len(data) > MEMORY_SIZE:
            raise ValueError(f"B32 memory is $0000-$FFFF: cannot write {len(data)} at "
                             f"{addr:#x}")
        self.mem[addr:addr + len(data)] = data

    def read_reg(self, name: str) -> int:
        """Same as :meth:`reg`."""
        return self.reg(name)

    def write_reg(self, name: str, value: int) -> None:
        """Same as :meth:`set_reg`."""
        self.set_reg(name, value)

    # -- hooks (docs/api.md): while there are code or write hooks, ``step`` is an instance
    # attribute (``_hooked_step``); without hooks the class's step runs untouched.
    def _hook_add(self, kind: str, callback: Callable, begin: int,
                  end: Optional[int]):
        from vm.x86.hooks import Hook
        if not callable(callback):
            raise TypeError("a hook callback must be callable")
        end = MEMORY_SIZE if end is None else end
        if end <= begin:
            raise ValueError(f"empty hook range 0x{begin:x}-0x{end:x}")
        if self._hooks is None:
            self._hooks = _Hooks()
        h = Hook(kind, callback, begin, end)
        self._hooks.lists[kind].append(h)
        if self._hooks.code or self._hooks.writes:
            self.step = self._hooked_step
        return h

    def hook_code(self, callback: Callable, begin: int = 0, end: Optional[int] = None):
        """``callback(cpu, address)`` before each instruction at an address in
        [begin, end) (default: all)."""
        return self._hook_add("code", callback, begin, end)

    def hook_mem_read(self, callback: Callable, begin: int = 0, end: Optional[int] = None):
        """``callback(cpu, address, size, value)`` for data reads in [begin, end): B32
        instructions read memory only as code (operands are immediate), so it never fires;
        it is here so that code written for vm.x86.Machine runs unchanged."""
        return self._hook_add("mem_read", callback, begin, end)

    def hook_mem_write(self, callback: Callable, begin: int = 0, end: Optional[int] = None):
        """``callback(cpu, address, data)`` after each ``STA ,X`` to an address in
        [begin, end); the screen is memory at $A000, so this sees screen writes."""
        return self._hook_add("mem_write", callback, begin, end)

    def hook_del(self, handle) -> None:
        """Remove a hook (the handle a ``hook_*`` returned)."""
        hooks = self._hooks
        lst = None if hooks is None else hooks.lists.get(getattr(handle, "kind", None))
        if lst is None or handle not in lst:
            raise ValueError(f"{handle!r} is not a hook of this CPU")
        lst.remove(handle)
        if not (hooks.code or hooks.writes):
            self.__dict__.pop("step", None)          # back to the fast path
        if not any(hooks.lists.values()):
            self._hooks = None

    def _hooked_step(self) -> bool:
        if self.halted:
            return False
        hooks = self._hooks
        ip = self.IP
        for h in list(hooks.code):
            if h.begin <= ip < h.end:
                h.callback(self, ip)
        if not hooks.writes or self.mem[self.IP] not in _STORE_OPCODES:
            return B32CPU.step(self)
        address = self.X
        running = B32CPU.step(self)
        data = bytes((self.mem[address],))
        for h in list(hooks.writes):
            if h.begin <= address < h.end:
                h.callback(self, address, data)
        return running

    def registers(self) -> str:
        """One line with every register and flag, for --regs and fault reports."""
        return (f"A=${self.A:02X} B=${self.B:02X} D=${self.D:04X} X=${self.X:04X} "
                f"Y=${self.Y:04X} IP=${self.IP:04X} CF=${self.CF:02X} PF=${self.PF:02X} "
                f"(OV={self.OV} CY={self.CY}) steps={self.steps}")


# -- semantics, one function per family of the table ------------------------------------

@semantics("load")
def _load(cpu: B32CPU, insn: Instruction, value: int) -> None:
    setattr(cpu, insn.reg, value)


@semantics("store")
def _store(cpu: B32CPU, insn: Instruction, value: None) -> None:
    # The screen is memory at $A000, so STA ,X there also changes the screen.
    cpu.mem[cpu.X] = cpu.A


@semantics("halt")
def _halt(cpu: B32CPU, insn: Instruction, value: None) -> None:
    cpu.halted = True


@semantics("compare")
def _compare(cpu: B32CPU, insn: Instruction, value: int) -> None:
    # Unsigned; CF ends up $01 (equal), $06 (NE|LT) or $0A (NE|GT).
    reg = getattr(cpu, insn.reg)
    if reg == value:
        cpu.CF = CF_EQ
    else:
        cpu.CF = CF_NE | (CF_LT if reg < value else CF_GT)


@semantics("jump")
def _jump(cpu: B32CPU, insn: Instruction, value: int) -> None:
    if insn.when is None or cpu.CF & insn.when:
        cpu.IP = value


@semantics("inc")
def _inc(cpu: B32CPU, insn: Instruction, value: None) -> None:
    mask = REGISTER_MASK[insn.reg]
    old = getattr(cpu, insn.reg)
    setattr(cpu, insn.reg, (old + 1) & mask)
    cpu.OV = old == mask          # set exactly when the register wraps to 0


@semantics("dec")
def _dec(cpu: B32CPU, insn: Instruction, value: None) -> None:
    setattr(cpu, insn.reg, (getattr(cpu, insn.reg) - 1) & REGISTER_MASK[insn.reg])
    cpu.OV = False                # no borrow flag; DECD clears OV too (section 9 #7)


@semantics("rol")
def _rol(cpu: B32CPU, insn: Instruction, value: None) -> None:
    old = getattr(cpu, insn.reg)  # 9-bit rotation through CY
    setattr(cpu, insn.reg, ((old << 1) | cpu.CY) & 0xFF)
    cpu.CY = old & 0x80


@semantics("ror")
def _ror(cpu: B32CPU, insn: Instruction, value: None) -> None:
    old = getattr(cpu, insn.reg)
    setattr(cpu, insn.reg, (old >> 1) | (cpu.CY << 7))
    cpu.CY = old & 0x01


@semantics("adc")
def _adc(cpu: B32CPU, insn: Instruction, value: None) -> None:
    # "Add carry": an increment when CY is set; CY itself is left alone.
    if cpu.CY:
        _inc(cpu, insn, None)


@semantics("add")
def _add(cpu: B32CPU, insn: Instruction, value: int) -> None:
    total = getattr(cpu, insn.reg) + value
    setattr(cpu, insn.reg, total & 0xFF)
    cpu.OV = total > 0xFF         # carry out (section 9 #5), not the tutorial's old==$FF


@semantics("addab")
def _addab(cpu: B32CPU, insn: Instruction, value: None) -> None:
    total = cpu.A + cpu.B
    cpu.D = total                 # A becomes 0 or 1, B the low byte
    cpu.OV = total > 0xFF         # section 9 #4: the tutorial's test was inverted


def _build_dispatch() -> list:
    table: list = [None] * 256
    for insn in TABLE:
        handler = _FAMILIES.get(insn.op)
        if handler is None:
            raise RuntimeError(f"no semantics for {insn.mnemonic} (family {insn.op!r})")
        table[insn.opcode] = (insn, handler, insn.operand.size)
    return table


_DISPATCH = _build_dispatch()
_STORE_OPCODES = frozenset(i.opcode for i in TABLE if i.op == "store")
