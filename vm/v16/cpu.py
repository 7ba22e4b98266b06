"""The V16 CPU (v16-spec.md sections 1-3 and 6), built from the instruction table.

``asm.v16.instructions.TABLE`` gives, for every opcode, its operands and its operation
family; this module implements each family once (``@semantics``) and builds the
256-entry dispatch table from the two.

One step follows the cycle of spec 6.1: fetch, fit, register bytes, fall-through, then
the family's own checks, and only then its effects. A stop (``hlt`` or an error) changes
nothing, so stepping again stops the same way, and the dump shows the machine as it was.

The surface is small and Unicorn-like, for the runner and the debugger alike:
``reg_read``/``reg_write`` by name, ``mem_read``/``mem_write``, ``step()``, ``run(count)``;
with the names of ``vm.x86.Machine`` too (``reg``/``set_reg``, ``read``/``write``,
``run(until=, count=, timeout=)``, ``hook_code``, ``hook_mem_read``, ``hook_mem_write``,
``hook_port_out``, ``hook_del``: docs/api.md).
"""

from __future__ import annotations

import time
from typing import Callable, Optional, Union

from asm.v16.instructions import (
    COND,
    FLAG_E,
    FLAG_G,
    FLAG_H,
    FLAG_L,
    FLAG_LETTERS,
    NEXT,
    TABLE,
    Instruction,
    Operand,
)
from formats.v16 import V16Image, read_v16

MEMORY_SIZE = 0x10000
DATA_START = 0x8000        # stores below this address are ErrSegv (the code area)
STACK_START = 0xC000       # SP = 0xC000: the stack is full

# Stop codes (spec 6.2): NoErr means "still running" and is never a stop reason.
NO_ERR, SYS_HLT, ERR_MEM, ERR_SEGV, ERR_INSTR = 0x00, 0x01, 0x02, 0x04, 0x08
STOP_NAMES = {SYS_HLT: "SysHlt", ERR_MEM: "ErrMem", ERR_SEGV: "ErrSegv", ERR_INSTR: "ErrInstr"}
EXIT_STATUS = {SYS_HLT: 0, ERR_MEM: 135, ERR_SEGV: 139, ERR_INSTR: 132}
# Not a machine stop: an ``out`` found ``output_room`` used up (the runner's --max-output).
OUTPUT_FULL = 0x100

REGISTER_NAMES = ("AX", "BX", "CX", "DX", "SP", "IP", "FLAGS")
TIME_SLICE = 4096       # run(timeout=) reads the clock every this many instructions
OUT_PORT = 0            # the port ``out`` writes to, for hook_port_out


class Stop(int):
    """What run() returns: the stop code (an int, NO_ERR when the machine did not stop,
    as run() always returned) with the ``reason`` of ``vm.x86.Stop``: 'halt' (hlt),
    'fault' (ErrMem, ErrSegv, ErrInstr: see ``code``), 'output' (OUTPUT_FULL), 'limit'
    (``count`` ran out), 'until' (IP reached ``until``), 'timeout', 'stopped' (a hook
    called request_stop)."""

    def __new__(cls, reason: str, code: int = NO_ERR) -> Stop:
        self = super().__new__(cls, code)
        self.reason, self.code, self.status, self.fault = reason, code, None, None
        return self

    @property
    def name(self) -> str:
        """The stop's name in the dump (``SysHlt``, ``ErrSegv``...), '' for NO_ERR."""
        return STOP_NAMES.get(self.code, "OutputFull" if self.code == OUTPUT_FULL else "")

    def __repr__(self) -> str:
        extra = f", code=0x{self.code:02X}" if self.code else ""
        return f"Stop({self.reason!r}{extra})"


def _stop_of(code: int) -> Stop:
    if code == NO_ERR:
        return Stop("limit")
    if code == SYS_HLT:
        return Stop("halt", code)
    return Stop("output" if code == OUTPUT_FULL else "fault", code)


class _Hooks:
    """The hooks of one CPU (``V16CPU._hooks`` while there are any)."""

    def __init__(self) -> None:
        self.lists: dict[str, list] = {"code": [], "mem_read": [], "mem_write": [],
                                       "port_out": []}
        self.code = self.lists["code"]
        self.reads = self.lists["mem_read"]
        self.writes = self.lists["mem_write"]
        self.ports_out = self.lists["port_out"]


class _Stop(Exception):
    """Raised by a check before any effect; step() turns it into its stop code."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def flag_letters(flags: int) -> str:
    """``E---`` style: the letters of bits 3..0, '-' where clear."""
    return "".join(c if flags & (8 >> i) else "-" for i, c in enumerate(FLAG_LETTERS))


_Handler = Callable[["V16CPU", Instruction, tuple, int], None]
_FAMILIES: dict[str, _Handler] = {}


def semantics(op: str) -> Callable[[_Handler], _Handler]:
    """Register the behaviour of one operation family of the instruction table."""
    def register(fn: _Handler) -> _Handler:
        _FAMILIES[op] = fn
        return fn
    return register


class V16CPU:
    """Four general registers, SP, IP, FLAGS and 64 KiB of memory.

    ``output`` collects the bytes written by ``out`` (the runner drains it); when
    ``output_room`` is set, an ``out`` finding that many bytes in ``output`` stops with
    OUTPUT_FULL instead (without effect, like every stop). ``last_write`` is
    (address, 2) after a step that stored a word, else None.
    """

    on_create: Optional[Callable] = None     # called with every new CPU (vm.run)
    _hooks: Optional[_Hooks] = None          # hook_* (docs/api.md); None: the fast path
    _stop_requested = False

    def __init__(self) -> None:
        self.mem = bytearray(MEMORY_SIZE)
        self.r = [0, 0, 0, 0]          # AX, BX, CX, DX by register number
        self.output = bytearray()
        self.output_room: Optional[int] = None
        self.reset()
        if V16CPU.on_create is not None:
            V16CPU.on_create(self)

    def reset(self) -> None:
        """Registers, FLAGS and memory to 0; SP 0 is the empty stack."""
        self.r[:] = [0, 0, 0, 0]
        self.sp = self.ip = self.flags = 0
        self.mem[:] = bytes(MEMORY_SIZE)
        self.output.clear()
        self.steps = 0
        self.stop = NO_ERR
        self.last_write: Optional[tuple[int, int]] = None

    def load(self, program: Union[bytes, V16Image]) -> None:
        """Reset, copy the image to its load address and set IP to its entry.

        ``program`` is the bytes of a .v16 file or a parsed image; raises
        formats.v16.V16FormatError for a bad file.
        """
        image = program if isinstance(program, V16Image) else read_v16(bytes(program))
        self.reset()
        self.mem[image.load:image.end] = image.code
        self.ip = image.entry

    # -- execution --------------------------------------------------------------------------

    def step(self) -> int:
        """Execute one instruction; returns NO_ERR, or the stop code (the instruction then
        had no effect and IP still points at it)."""
        ip = self.ip
        mem = self.mem
        self.last_write = None
        entry = _DISPATCH[mem[ip]]
        if entry is None:
            return self._stopped(ERR_INSTR)
        insn, handler, fields, length = entry
        nxt = ip + length
        if nxt > MEMORY_SIZE:
            return self._stopped(ERR_MEM)
        args = []
        for offset, size in fields:
            if size == 1:
                value = mem[ip + offset]
                if value > 3:
                    return self._stopped(ERR_INSTR)
            elif size == 2:
                value = mem[ip + offset] | (mem[ip + offset + 1] << 8)
            else:
                value = offset         # FIXED: the register number, kept in ``offset``
            args.append(value)
        if nxt == MEMORY_SIZE and (insn.flow == NEXT or
                                   (insn.flow == COND and not insn.taken(self.flags))):
            return self._stopped(ERR_MEM)
        try:
            handler(self, insn, args, nxt)
        except _Stop as stop:
            return self._stopped(stop.code)
        self.steps += 1
        self.stop = NO_ERR
        return NO_ERR

    def run(self, count: Optional[int] = None, *, until: Optional[int] = None,
            timeout: Optional[float] = None) -> Stop:
        """Run until a stop, or until ``count`` instructions have been tried; returns the
        stop code, or NO_ERR when ``count`` ran out first, as a :class:`Stop` (an int
        with a ``reason``). ``until``: stop before the instruction at that address
        (after leaving it first if IP starts there); ``timeout``: seconds."""
        if until is not None or timeout is not None or self._hooks is not None:
            return self._run_api(count, until, timeout)
        step = self.step
        if count is None:
            while True:
                code = step()
                if code:
                    return _stop_of(code)
        for _ in range(count):
            code = step()
            if code:
                return _stop_of(code)
        return Stop("limit")

    def _run_api(self, count: Optional[int], until: Optional[int],
                 timeout: Optional[float]) -> Stop:
        deadline = None if timeout is None else time.monotonic() + timeout
        step = self.step                 # the hooked step while there are code hooks
        until = -1 if until is None else until
        self._stop_requested = False
        n = 0
        while True:
            if n:
                if self._stop_requested:
                    self._stop_requested = False
                    return Stop("stopped")
                if self.ip == until:
                    return Stop("until")
                if deadline is not None and not n % TIME_SLICE \
                        and time.monotonic() >= deadline:
                    return Stop("timeout")
            if n == count:
                return Stop("limit")
            code = step()
            n += 1
            if code:
                return _stop_of(code)

    def request_stop(self) -> None:
        """From a hook: make run() return Stop('stopped') after the current instruction
        (while there are hooks, or with ``until``/``timeout``)."""
        self._stop_requested = True

    def _stopped(self, code: int) -> int:
        self.stop = code
        return code

    # -- memory, with the access rules of spec section 3 -----------------------------------

    def load16(self, address: int) -> int:
        if address == 0xFFFF:
            raise _Stop(ERR_MEM)          # the word would need byte 0x10000
        return self.mem[address] | (self.mem[address + 1] << 8)

    def check_store16(self, address: int) -> None:
        if address == 0xFFFF:
            raise _Stop(ERR_MEM)
        if address < DATA_START:
            raise _Stop(ERR_SEGV)         # the code area (0x7FFF included: its first byte)

    def store16(self, address: int, value: int) -> None:
        """Only after check_store16(address)."""
        self.mem[address] = value & 0xFF
        self.mem[address + 1] = value >> 8
        self.last_write = (address, 2)

    def check_push(self) -> int:
        """The address a push would write; ErrSegv when the stack is full. (SP outside its
        spec values can only come from a debugger; it is judged the same way.)"""
        new = (self.sp - 2) & 0xFFFF
        if new < STACK_START:
            raise _Stop(ERR_SEGV)
        if new == 0xFFFF:
            raise _Stop(ERR_MEM)
        return new

    def check_pop(self) -> int:
        """The value a pop would read; ErrSegv when the stack is empty (SP = 0)."""
        if self.sp < STACK_START:
            raise _Stop(ERR_SEGV)
        return self.load16(self.sp)

    def read_operand(self, kind: Operand, value: int) -> int:
        if kind is Operand.REG or kind is Operand.FIXED:
            return self.r[value]
        if kind is Operand.IMM:
            return value
        if kind is Operand.MEM:
            return self.load16(value)
        return self.load16(self.r[value])      # IND

    # -- the Unicorn-like surface -----------------------------------------------------------

    def reg_read(self, name: str) -> int:
        """AX, BX, CX, DX, SP, IP (or PC), FLAGS; any case."""
        key = _reg_key(name)
        return self.r[key] if isinstance(key, int) else getattr(self, key)

    def reg_write(self, name: str, value: int) -> None:
        key = _reg_key(name)
        if isinstance(key, int):
            self.r[key] = value & 0xFFFF
        else:
            setattr(self, key, value & (0x000F if key == "flags" else 0xFFFF))

    def mem_read(self, address: int, size: int) -> bytes:
        if address < 0 or size < 0 or address + size > MEMORY_SIZE:
            raise ValueError(f"cannot access memory at 0x{address:X}+{size}: outside "
                             "0x0000-0xFFFF")
        return bytes(self.mem[address:address + size])

    def mem_write(self, address: int, data: bytes) -> None:
        """Any address, the code area included (a debugger's write, not a store)."""
        self.mem_read(address, len(data))
        self.mem[address:address + len(data)] = data

    def registers(self) -> dict[str, int]:
        return {name: self.reg_read(name) for name in REGISTER_NAMES}

    # -- the names of vm.x86.Machine --------------------------------------------------------

    def reg(self, name: str) -> int:
        """Same as :meth:`reg_read`."""
        return self.reg_read(name)

    def set_reg(self, name: str, value: int) -> None:
        """Same as :meth:`reg_write`."""
        self.reg_write(name, value)

    read_reg, write_reg = reg, set_reg

    def regs(self) -> dict[str, int]:
        """Same as :meth:`registers`."""
        return self.registers()

    def read(self, addr: int, n: int) -> bytes:
        """Same as :meth:`mem_read`."""
        return self.mem_read(addr, n)

    def write(self, addr: int, data: bytes) -> None:
        """Same as :meth:`mem_write` (any address: not a guest store, no hook sees it)."""
        self.mem_write(addr, data)

    # -- hooks (docs/api.md): while there are hooks of a kind, the method they need is an
    # instance attribute (``step`` for code, ``load16``/``store16`` for memory); without
    # hooks the class's methods run untouched. ``out`` looks at ``_hooks`` itself.
    def _hook_add(self, kind: str, callback: Callable, begin: int, end: Optional[int]):
        from vm.x86.hooks import Hook
        if not callable(callback):
            raise TypeError("a hook callback must be callable")
        end = (0x10000 if kind == "port_out" else MEMORY_SIZE) if end is None else end
        if end <= begin:
            raise ValueError(f"empty hook range 0x{begin:x}-0x{end:x}")
        if self._hooks is None:
            self._hooks = _Hooks()
        h = Hook(kind, callback, begin, end)
        self._hooks.lists[kind].append(h)
        self._arm()
        return h

    def _arm(self) -> None:
        hooks = self._hooks
        for attr, on, fn in (("step", hooks.code, self._hooked_step),
                             ("load16", hooks.reads, self._hooked_load16),
                             ("store16", hooks.writes, self._hooked_store16)):
            if on:
                self.__dict__[attr] = fn
            else:
                self.__dict__.pop(attr, None)

    def hook_code(self, callback: Callable, begin: int = 0, end: Optional[int] = None):
        """``callback(cpu, address)`` before each instruction at an address in
        [begin, end) (default: all)."""
        return self._hook_add("code", callback, begin, end)

    def hook_mem_read(self, callback: Callable, begin: int = 0, end: Optional[int] = None):
        """``callback(cpu, address, size, value)`` after each word the program reads
        (operands ``[addr]``/``[reg]``, pop, ret) touching [begin, end)."""
        return self._hook_add("mem_read", callback, begin, end)

    def hook_mem_write(self, callback: Callable, begin: int = 0, end: Optional[int] = None):
        """``callback(cpu, address, data)`` after each word the program stores (mov to
        memory, push, call) touching [begin, end)."""
        return self._hook_add("mem_write", callback, begin, end)

    def hook_port_out(self, callback: Callable, begin: int = 0, end: int = 0x10000):
        """``callback(cpu, port, size, value) -> bool`` for ``out r`` (port 0, size 1,
        value the low byte of r), before the byte goes to ``output``; True swallows it."""
        return self._hook_add("port_out", callback, begin, end)

    def hook_del(self, handle) -> None:
        """Remove a hook (the handle a ``hook_*`` returned)."""
        hooks = self._hooks
        lst = None if hooks is None else hooks.lists.get(getattr(handle, "kind", None))
        if lst is None or handle not in lst:
            raise ValueError(f"{handle!r} is not a hook of this CPU")
        lst.remove(handle)
        self._arm()
        if not any(hooks.lists.values()):
            self._hooks = None

    def _hooked_step(self) -> int:
        ip = self.ip
        for h in list(self._hooks.code):
            if h.begin <= ip < h.end:
                h.callback(self, ip)
        return V16CPU.step(self)

    def _hooked_load16(self, address: int) -> int:
        value = V16CPU.load16(self, address)
        for h in list(self._hooks.reads):
            if h.covers(address, 2):
                h.callback(self, address, 2, value)
        return value

    def _hooked_store16(self, address: int, value: int) -> None:
        V16CPU.store16(self, address, value)
        data = bytes(self.mem[address:address + 2])
        for h in list(self._hooks.writes):
            if h.covers(address, 2):
                h.callback(self, address, data)

    def _port_out(self, value: int) -> bool:
        """The port hooks for ``out``; True when one swallowed the byte."""
        for h in list(self._hooks.ports_out):
            if h.begin <= OUT_PORT < h.end and h.callback(self, OUT_PORT, 1, value):
                return True
        return False

    def save(self) -> tuple:
        """The whole state, for restore() (snapshots, reverse execution)."""
        return (tuple(self.r), self.sp, self.ip, self.flags, self.steps, self.stop,
                bytes(self.mem), bytes(self.output))

    def restore(self, state: tuple) -> None:
        r, self.sp, self.ip, self.flags, self.steps, self.stop, mem, out = state
        self.r[:] = r
        self.mem[:] = mem
        self.output[:] = out

    # -- the register dump of spec 6.3 ------------------------------------------------------

    def dump(self, title: Optional[str] = None) -> str:
        """The three lines (with their LFs) printed at every stop; ``title`` replaces
        ``<Name> (0x<CC>)`` for the runner's own stops (``StepLimit``)."""
        if title is None:
            title = f"{STOP_NAMES.get(self.stop, 'NoErr')} (0x{self.stop:02X})"
        ax, bx, cx, dx = self.r
        return (f"V16 {title}\n"
                f"AX={ax:04X} BX={bx:04X} CX={cx:04X} DX={dx:04X}\n"
                f"SP={self.sp:04X} IP={self.ip:04X} FLAGS={self.flags:04X} "
                f"[{flag_letters(self.flags)}]\n")


def _reg_key(name: str) -> Union[int, str]:
    low = name.strip().lstrip("$").lower()
    if low == "pc":
        low = "ip"
    if low in ("ax", "bx", "cx", "dx"):
        return "abcd".index(low[0])
    if low in ("sp", "ip", "flags"):
        return low
    raise ValueError(f"no register '{name}' on V16 (AX, BX, CX, DX, SP, IP, FLAGS)")


# -- semantics, one function per family of the table ---------------------------------------

@semantics("nop")
def _nop(cpu: V16CPU, insn: Instruction, args: list, nxt: int) -> None:
    cpu.ip = nxt


@semantics("hlt")
def _hlt(cpu: V16CPU, insn: Instruction, args: list, nxt: int) -> None:
    raise _Stop(SYS_HLT)             # IP stays on the hlt


@semantics("out")
def _out(cpu: V16CPU, insn: Instruction, args: list, nxt: int) -> None:
    if cpu.output_room is not None and len(cpu.output) >= cpu.output_room:
        raise _Stop(OUTPUT_FULL)
    hooks = cpu._hooks
    if hooks is None or not hooks.ports_out or not cpu._port_out(cpu.r[args[0]] & 0xFF):
        cpu.output.append(cpu.r[args[0]] & 0xFF)
    cpu.ip = nxt


@semantics("mov")
def _mov(cpu: V16CPU, insn: Instruction, args: list, nxt: int) -> None:
    dst, src = insn.operands
    value = cpu.read_operand(src, args[1])
    if dst is Operand.REG or dst is Operand.FIXED:
        cpu.r[args[0]] = value
    else:
        address = args[0] if dst is Operand.MEM else cpu.r[args[0]]
        cpu.check_store16(address)
        cpu.store16(address, value)
    cpu.ip = nxt


@semantics("setflag")
def _setflag(cpu: V16CPU, insn: Instruction, args: list, nxt: int) -> None:
    cpu.flags |= insn.mask
    cpu.ip = nxt


@semantics("clearflag")
def _clearflag(cpu: V16CPU, insn: Instruction, args: list, nxt: int) -> None:
    cpu.flags &= ~insn.mask
    cpu.ip = nxt


@semantics("push")
def _push(cpu: V16CPU, insn: Instruction, args: list, nxt: int) -> None:
    cpu.sp = cpu.check_push()
    cpu.store16(cpu.sp, cpu.r[args[0]])
    cpu.ip = nxt


@semantics("pop")
def _pop(cpu: V16CPU, insn: Instruction, args: list, nxt: int) -> None:
    cpu.r[args[0]] = cpu.check_pop()
    cpu.sp = (cpu.sp + 2) & 0xFFFF
    cpu.ip = nxt


@semantics("call")
def _call(cpu: V16CPU, insn: Instruction, args: list, nxt: int) -> None:
    cpu.sp = cpu.check_push()
    cpu.store16(cpu.sp, nxt)
    cpu.ip = args[0]


@semantics("ret")
def _ret(cpu: V16CPU, insn: Instruction, args: list, nxt: int) -> None:
    cpu.ip = cpu.check_pop()
    cpu.sp = (cpu.sp + 2) & 0xFFFF


@semantics("add")
def _add(cpu: V16CPU, insn: Instruction, args: list, nxt: int) -> None:
    cpu.r[args[0]] = (cpu.r[args[0]] + cpu.read_operand(insn.operands[1], args[1])) & 0xFFFF
    cpu.ip = nxt


@semantics("sub")
def _sub(cpu: V16CPU, insn: Instruction, args: list, nxt: int) -> None:
    cpu.r[args[0]] = (cpu.r[args[0]] - cpu.read_operand(insn.operands[1], args[1])) & 0xFFFF
    cpu.ip = nxt


@semantics("inc")
def _inc(cpu: V16CPU, insn: Instruction, args: list, nxt: int) -> None:
    cpu.r[args[0]] = (cpu.r[args[0]] + 1) & 0xFFFF
    cpu.ip = nxt


@semantics("dec")
def _dec(cpu: V16CPU, insn: Instruction, args: list, nxt: int) -> None:
    cpu.r[args[0]] = (cpu.r[args[0]] - 1) & 0xFFFF
    cpu.ip = nxt


@semantics("cmp")
def _cmp(cpu: V16CPU, insn: Instruction, args: list, nxt: int) -> None:
    a = cpu.r[args[0]]
    b = cpu.read_operand(insn.operands[1], args[1])
    sa, sb = a - ((a & 0x8000) << 1), b - ((b & 0x8000) << 1)   # two's complement
    cpu.flags = ((FLAG_E if a == b else 0) | (FLAG_G if sa > sb else 0)
                 | (FLAG_H if a > b else 0) | (FLAG_L if a < b else 0))
    cpu.ip = nxt


@semantics("jump")
def _jump(cpu: V16CPU, insn: Instruction, args: list, nxt: int) -> None:
    cpu.ip = args[0] if insn.flow != COND or insn.taken(cpu.flags) else nxt


def _build_dispatch() -> list:
    """Per opcode: (row, handler, operand fields as (offset, size), length). A FIXED
    operand's field is (register number, 0): nothing is read for it."""
    table: list = [None] * 256
    for insn in TABLE:
        handler = _FAMILIES.get(insn.op)
        if handler is None:
            raise RuntimeError(f"no semantics for {insn.mnemonic} (family {insn.op!r})")
        fields, offset = [], 1
        for kind in insn.operands:
            if kind is Operand.FIXED:
                fields.append((insn.reg, 0))
            else:
                fields.append((offset, kind.size))
                offset += kind.size
        table[insn.opcode] = (insn, handler, tuple(fields), insn.length)
    return table


_DISPATCH = _build_dispatch()
