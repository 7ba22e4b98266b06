"""``pyvm --debug PROGRAM`` / ``python -m vm.debug PROGRAM``: a gdb-like command line.

Commands are read from stdin, one per line (a prompt is printed only on a terminal), so
a session can be scripted from a pipe. The program's own output goes to stdout too.
Every bad command or address is one ``error:`` line and the session goes on.
"""

from __future__ import annotations

import ast
import contextlib
import operator
import os
import re
import signal
import sys
import threading
from typing import Callable, Dict, Iterator, List, TextIO

from vm.debug.core import DebugError, Debugger, StopEvent, signal_name

_SIZES = {"b": 1, "h": 2, "w": 4, "g": 8}
_TYPES = {"char": 1, "short": 2, "int": 4, "long": 4, "unsigned": 4, "uint8_t": 1,
          "uint16_t": 2, "uint32_t": 4, "byte": 1, "word": 2, "dword": 4}
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.FloorDiv: operator.floordiv, ast.Div: operator.floordiv,
           ast.Mod: operator.mod, ast.BitAnd: operator.and_, ast.BitOr: operator.or_,
           ast.BitXor: operator.xor, ast.LShift: operator.lshift,
           ast.RShift: operator.rshift}

HELP = """\
break|b LOC, tbreak LOC     LOC: *ADDR, ADDR, SYMBOL, SYMBOL+N or FILE:LINE (DWARF)
delete [N]                  delete one (or every) breakpoint/watchpoint
stepi|si [N], nexti|ni [N]  one instruction (ni steps over calls)
step|s, next|n              same as si/ni (no source line information)
finish                      run until the current function returns (x86, V16)
continue|c                  run until a breakpoint, watchpoint, catch, fault or exit
reverse-stepi|rsi [N]       one instruction backwards
reverse-continue|rc         back to the previous breakpoint/watchpoint hit
watch|rwatch|awatch ADDR [LEN]   data watchpoint (write, read, read/write)
catch syscall [N...]        stop before system calls (all, or these numbers)
catch interrupt N           stop before INT N (x86)
catch exec                  stop when a Linux program runs another (its symbols loaded)
info registers|i r [REG], info breakpoints|i b, info history, info float
info line [LOC]             the source line at LOC (default pc), from DWARF line tables
info symbol ADDR            the symbol (and section) ADDR is in, as NAME + OFFSET
x/NFU ADDR                  memory: F x d u c s i, U b h w g
disassemble [ADDR [N]]      N instructions (default 10) from ADDR (default pc)
print|p EXPR                $reg, symbols, numbers, + - * / & | << >>
set $REG = V, set var $REG = V, set *ADDR = V, set *(TYPE*)ADDR = V
backtrace|bt                return addresses up the frame-pointer chain
screen                      B32: print the screen (V16 programs write to stdout)
quit|q"""


class CommandError(Exception):
    pass


class DebuggerCLI:
    def __init__(self, dbg: Debugger, out: TextIO, pid: int = 0):
        self.d = dbg
        self.out = out
        self.pid = pid
        self.done = False
        self._commands: Dict[str, Callable[[str], None]] = {}
        for names, fn in (
                (("break", "b", "br", "brea"), self.cmd_break),
                (("tbreak", "tb"), lambda a: self.cmd_break(a, True)),
                (("delete", "d"), self.cmd_delete),
                (("stepi", "si"), self.cmd_stepi),
                (("nexti", "ni"), self.cmd_nexti),
                (("step", "s"), self.cmd_stepi),
                (("next", "n"), self.cmd_nexti),
                (("finish", "fin"), self.cmd_finish),
                (("continue", "c", "cont"), self.cmd_continue),
                (("reverse-stepi", "rsi", "reverse-step", "rs", "reverse-nexti", "rni",
                  "reverse-next", "rn"), self.cmd_rstepi),
                (("reverse-continue", "rc"), self.cmd_rcontinue),
                (("watch",), lambda a: self.cmd_watch(a, "write")),
                (("rwatch",), lambda a: self.cmd_watch(a, "read")),
                (("awatch",), lambda a: self.cmd_watch(a, "access")),
                (("catch",), self.cmd_catch),
                (("info", "i"), self.cmd_info),
                (("disassemble", "disas", "disass"), self.cmd_disassemble),
                (("print", "p", "output"), self.cmd_print),
                (("set",), self.cmd_set),
                (("backtrace", "bt", "where"), self.cmd_backtrace),
                (("screen",), self.cmd_screen),
                (("run", "r", "start"), self.cmd_run),
                (("help", "h"), lambda a: self.say(HELP)),
                (("quit", "q", "exit"), self.cmd_quit)):
            for n in names:
                self._commands[n] = fn

    # -- I/O -------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def execute(self, line: str) -> None:
        line = line.strip()
        if not line or line.startswith("#"):
            return
        m = re.match(r"([A-Za-z][\w-]*)(/\S*)?\s*(.*)$", line)
        if m is None:
            self.say(f'error: undefined command: "{line}". Try "help".')
            return
        name, fmt, arg = m.group(1), m.group(2), m.group(3)
        try:
            if name == "x":
                self.cmd_x(fmt or "", arg)
                return
            fn = self._commands.get(name)
            if fn is None:
                self.say(f'error: undefined command: "{name}". Try "help".')
                return
            fn(arg.strip())
        except (DebugError, CommandError) as e:
            self.say(f"error: {e}")
        sys.stdout.flush()

    # -- values ----------------------------------------------------------------------------
    def value(self, text: str) -> int:
        text = text.strip()
        if not text:
            raise CommandError("an expression is needed")
        names: Dict[str, int] = {}

        def sub_reg(m: re.Match) -> str:
            key = f"_r{len(names)}"
            names[key] = self.d.get_reg(m.group(1))
            return key
        expr = re.sub(r"\$(\w+)", sub_reg, text)

        def sub_sym(m: re.Match) -> str:
            word = m.group(0)
            if word in names or re.fullmatch(r"(char|short|int|long|unsigned)", word):
                return word
            key = f"_r{len(names)}"
            names[key] = self.d.resolve(word)
            return key
        # symbols (NASM local labels have dots: start.next) before Python sees them
        expr = re.sub(r"(?<![\w.])[A-Za-z_.][\w.@]*", lambda m: m.group(0) if
                      re.fullmatch(r"_r\d+", m.group(0)) else sub_sym(m), expr)
        expr = re.sub(r"\(\s*(?:unsigned\s+)?\w+\s*\*\s*\)", "", expr)   # pointer casts
        try:
            tree = ast.parse(expr, mode="eval")
        except SyntaxError:
            raise CommandError(f"cannot read the expression {text!r}") from None
        return self._eval(tree.body, names, text)

    def _eval(self, node, names: Dict[str, int], text: str) -> int:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in names:
                return names[node.id]
            return self.d.resolve(node.id)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            a = self._eval(node.left, names, text)
            b = self._eval(node.right, names, text)
            try:
                return _BINOPS[type(node.op)](a, b)
            except (ZeroDivisionError, ValueError):
                raise CommandError(f"cannot evaluate {text!r}") from None
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Invert,
                                                                  ast.UAdd)):
            v = self._eval(node.operand, names, text)
            return -v if isinstance(node.op, ast.USub) else ~v if \
                isinstance(node.op, ast.Invert) else v
        raise CommandError(f"cannot evaluate {text!r}")

    def location(self, text: str) -> int:
        text = text.strip()
        if not text:
            raise CommandError("a location is needed")
        if text.startswith("*"):
            text = text[1:]
        m = re.fullmatch(r"(\S+):(\d+)", text)
        if m is not None and self.lines is not None:
            addr = self.lines.address_of(m.group(1), int(m.group(2)))
            if addr is None:
                raise CommandError(f'no line {m.group(2)} in file "{m.group(1)}"')
            return addr
        return self.value(text)

    # -- reports ---------------------------------------------------------------------------
    def where(self, addr: int) -> str:
        sym = self.d.describe(addr)
        at = self.lines.line_at(addr) if self.lines is not None else None
        src = f" at {at[0]}:{at[1]}" if at else ""
        return f"0x{addr:08x} in {sym} (){src}" if sym else f"0x{addr:08x}{src}"

    def show_source(self, addr: int) -> None:
        """gdb's ``LINE<tab>TEXT`` for the source line at ``addr``, when known."""
        at = self.lines.line_at(addr) if self.lines is not None else None
        if at:
            text = self.lines.text(*at)
            self.say(f"{at[1]}\t{text}" if text is not None else f"{at[1]}\tin {at[0]}")

    def show_pc(self) -> None:
        pc = self.d.pc
        for addr, _, text in self.d.disassemble(pc, 1):
            sym = self.d.describe(addr)
            self.say(f"=> 0x{addr:08x}{f' <{sym}>' if sym else ''}:\t{text}")

    @property
    def lines(self):
        """A program assembled/compiled with -g: its DWARF line table
        (vm/debug/sourcelines), the debugger's (an exec loads the new program's)."""
        return getattr(self.d, "source_lines", None)

    def report(self, ev: StopEvent) -> None:
        r = ev.reason
        if ev.dump:
            # the machine's own report at its stop (V16), on stderr as its runner puts it
            self.out.flush()
            sys.stderr.write(ev.dump)
            sys.stderr.flush()
        if r == "exited":
            if ev.message == "the program is not being run":
                self.say("error: the program is not being run.")
            elif ev.signal and ev.status is not None and ev.status == 128 + ev.signal:
                self.say(f"\nProgram terminated with signal {signal_name(ev.signal)}.")
            elif ev.status:
                self.say(f"[Inferior 1 (process {self.pid}) exited with code "
                         f"0{ev.status:o}]")
            else:
                self.say(f"[Inferior 1 (process {self.pid}) exited normally]")
            return
        if r == "error":
            self.say(f"error: {ev.message}")
            return
        if r == "breakpoint":
            self.say(f"\nBreakpoint {ev.number}, {self.where(ev.pc)}")
        elif r == "watchpoint" and ev.watch is not None:
            wp, old, new = ev.watch
            kind = {"write": "Hardware watchpoint", "read": "Hardware read watchpoint",
                    "access": "Hardware access (read/write) watchpoint"}[wp.kind]
            self.say(f"\n{kind} {wp.number}: *0x{wp.address:x}\n")
            if wp.kind == "write" or old != new:
                self.say(f"Old value = {_num(old)}\nNew value = {_num(new)}")
            else:
                self.say(f"Value = {_num(new)}")
            self.say(self.where(self.d.pc))
        elif r == "signal":
            self.say(f"\nProgram received signal {signal_name(ev.signal)}"
                     f"{', ' + ev.message if ev.message else ''}.")
            self.say(self.where(ev.pc))
        elif r in ("syscall", "interrupt"):
            what = "syscall" if r == "syscall" else "interrupt"
            self.say(f"\nCatchpoint (call to {what} {ev.number}), {self.where(ev.pc)}")
        elif r == "exec":
            path = getattr(self.d.target, "exe_path", "")
            self.say(f"process {self.pid} is executing new program: {path}")
            self.say(f"\nCatchpoint (exec'd {path}), {self.where(ev.pc)}")
        elif r == "history":
            self.say("\nNo more reverse-execution history.")
            self.say(self.where(ev.pc))
        elif r == "finish":
            self.say(f"Run till exit: now {self.where(ev.pc)}")
        else:
            self.say(self.where(ev.pc))
        self.show_source(ev.pc)
        self.show_pc()

    # -- commands --------------------------------------------------------------------------
    def _count(self, arg: str) -> int:
        if not arg:
            return 1
        n = self.value(arg)
        if n < 1:
            raise CommandError("the count must be positive")
        return n

    def cmd_break(self, arg: str, temporary: bool = False) -> None:
        addr = self.d.pc if not arg else self.location(arg)
        bp = self.d.add_breakpoint(addr, temporary)
        sym = self.d.describe(addr)
        kind = "Temporary breakpoint" if temporary else "Breakpoint"
        at = self.lines.line_at(addr) if self.lines is not None else None
        src = f": file {at[0]}, line {at[1]}." if at else ""
        self.say(f"{kind} {bp.number} at 0x{addr:x}{f' <{sym}>' if sym else ''}{src}")

    def cmd_delete(self, arg: str) -> None:
        if arg.startswith("breakpoints"):
            arg = arg[len("breakpoints"):].strip()
        if not arg:
            self.d.delete(None)
            return
        for part in arg.split():
            self.d.delete(self.value(part))

    def cmd_stepi(self, arg: str) -> None:
        self.report(self.d.stepi(self._count(arg)))

    def cmd_nexti(self, arg: str) -> None:
        self.report(self.d.nexti(self._count(arg)))

    def cmd_finish(self, arg: str) -> None:
        self.report(self.d.finish())

    def cmd_continue(self, arg: str) -> None:
        if self.d.exited is None:
            self.say("Continuing.")
        self.report(self.d.cont())

    def cmd_rstepi(self, arg: str) -> None:
        self.report(self.d.reverse_stepi(self._count(arg)))

    def cmd_rcontinue(self, arg: str) -> None:
        self.say("Continuing.")
        self.report(self.d.reverse_continue())

    def cmd_watch(self, arg: str, kind: str) -> None:
        parts = arg.split()
        if not parts:
            raise CommandError("watch needs an address")
        size = _word(self.d)
        target = arg
        m = re.match(r"\*\s*\(\s*(?:unsigned\s+)?(\w+)\s*\*\s*\)\s*(.+)$", arg)
        if m is not None:
            size = _TYPES.get(m.group(1), size)
            target = m.group(2)
        elif len(parts) == 2:
            target, size = parts[0], self.value(parts[1])
        addr = self.location(target)
        wp = self.d.add_watchpoint(addr, size, kind)
        name = {"write": "Hardware watchpoint", "read": "Hardware read watchpoint",
                "access": "Hardware access (read/write) watchpoint"}[kind]
        self.say(f"{name} {wp.number}: *0x{addr:x} ({size} bytes)")

    def cmd_catch(self, arg: str) -> None:
        parts = arg.split()
        if parts == ["exec"] and hasattr(self.d.target, "new_image"):
            self.d.stop_at_exec = True      # (a Linux program's: stop in the new image)
            self.say("Catchpoint (exec)")
            return
        if not parts or parts[0] not in ("syscall", "interrupt", "int"):
            raise CommandError("usage: catch syscall [N...] | catch interrupt N | "
                               "catch exec")
        d = self.d
        if not hasattr(d, "catch_vectors"):
            raise CommandError("this machine has no system calls or interrupts")
        nums = [self.value(p) for p in parts[1:]]
        if parts[0] == "syscall":
            if d.catch_syscalls is None:
                d.catch_syscalls = set()
            d.catch_syscalls.update(nums)
            self.say(f"Catchpoint (syscall{' ' + ' '.join(map(str, nums)) if nums else ''})")
        else:
            if not nums:
                raise CommandError("catch interrupt needs a vector number")
            d.catch_vectors.update(n & 0xFF for n in nums)
            self.say(f"Catchpoint (interrupt {' '.join(hex(n) for n in nums)})")

    def cmd_info(self, arg: str) -> None:
        parts = arg.split()
        what = parts[0] if parts else ""
        if what in ("registers", "r", "reg", "register", "all-registers"):
            regs = self.d.registers()
            names = [p.lstrip("$") for p in parts[1:]] or list(regs)
            note = getattr(self.d, "reg_note", lambda n, v: str(v))
            for n in names:
                n = next((k for k in regs if k.lower() == n.lower()), n)   # as listed
                v = self.d.get_reg(n) if n not in regs else regs[n]
                self.say(f"{n:<15}0x{v:<18x}{note(n, v)}")
        elif what in ("breakpoints", "b", "break", "watchpoints"):
            bps = list(self.d.breakpoints.values())
            wps = list(self.d.watchpoints.values())
            if not bps and not wps:
                self.say("No breakpoints or watchpoints.")
                return
            self.say("Num     Type            Address    What")
            for b in bps:
                sym = self.d.describe(b.address)
                self.say(f"{b.number:<8}{'breakpoint':<16}0x{b.address:08x} {sym}"
                         f"{f'  (hit {b.hits} times)' if b.hits else ''}")
            for w in wps:
                kind = {"write": "hw watchpoint", "read": "read watchpoint",
                        "access": "acc watchpoint"}[w.kind]
                self.say(f"{w.number:<8}{kind:<16}0x{w.address:08x} {w.length} bytes"
                         f"{f'  (hit {w.hits} times)' if w.hits else ''}")
        elif what in ("history", "record"):
            info = self.d.history_info()
            for k, v in info.items():
                self.say(f"{k}: {v}")
            self.say(f"instructions: {self.d.steps}")
        elif what == "float":
            fpu = getattr(self.d, "fpu", lambda: None)()
            if fpu is None:
                raise CommandError("no floating-point unit")
            from vm.x86 import float80
            for i in range(8):
                v = fpu.st(i)
                self.say(f"st{i}  {'empty' if v is None else _f80(float80, v)}")
            self.say(f"control 0x{fpu.control:04x}  status 0x{fpu.status:04x}  "
                     f"tag 0x{fpu.tag:04x}")
        elif what == "line":
            addr = self.location(" ".join(parts[1:])) if parts[1:] else self.d.pc
            at = self.lines.line_at(addr) if self.lines is not None else None
            if at is None:
                self.say(f"No line number information available for address 0x{addr:x}")
            else:
                self.say(f'Line {at[1]} of "{at[0]}" at address 0x{addr:x}')
        elif what == "symbol":
            self._info_symbol(" ".join(parts[1:]))
        else:
            raise CommandError('info needs: registers, breakpoints, line, symbol, history '
                               'or float')

    def _info_symbol(self, text: str) -> None:
        """gdb's ``info symbol ADDR``: NAME [+ OFF] in section SECTION."""
        addr = self.value(text) & 0xFFFFFFFF
        syms = getattr(self.d, "symbols", None)
        name = self.d.describe(addr)
        section = syms.section_of(addr) if syms is not None and \
            hasattr(syms, "section_of") else ""
        if not name or (getattr(syms, "sections", None) and not section):
            self.say(f"No symbol matches {text}.")
            return
        base, _, off = name.partition("+")
        where = f" in section {section}" if section else ""
        self.say(f"{base} + {off}{where}" if off else f"{base}{where}")

    def cmd_x(self, fmt: str, arg: str) -> None:
        m = re.fullmatch(r"/?(\d*)([xduics]?)([bhwg]?)([xduics]?)", fmt)
        if m is None:
            raise CommandError(f"bad format {fmt!r}")
        count = int(m.group(1) or 1)
        letter = m.group(2) or m.group(4) or "x"
        size = _SIZES[m.group(3) or ("b" if letter in "cs" else "w")]
        addr = self.location(arg) if arg else self.d.pc
        if count > 4096:
            raise CommandError("at most 4096 units")
        if letter == "i":
            for a, _, text in self.d.disassemble(addr, count):
                mark = "=> " if a == self.d.pc else "   "
                sym = self.d.describe(a)
                self.say(f"{mark}0x{a:08x}{f' <{sym}>' if sym else ''}:\t{text}")
            return
        if letter == "s":
            for _ in range(count):
                raw = self.d.read(addr, 1)
                s = b""
                while raw[0] and len(s) < 4096:
                    s += raw
                    raw = self.d.read(addr + len(s), 1)
                self.say(f"0x{addr:08x}:\t{s.decode('latin-1')!r}")
                addr += len(s) + 1
            return
        data = self.d.read(addr, count * size)
        per_line = max(1, 16 // size) if letter == "x" else max(1, 8 // size)
        for i in range(0, count, per_line):
            vals = []
            for j in range(i, min(count, i + per_line)):
                v = int.from_bytes(data[j * size:(j + 1) * size], "little")
                if letter == "x":
                    vals.append(f"0x{v:0{2 * size}x}")
                elif letter == "d":
                    vals.append(str(v - (1 << (8 * size)) if v >> (8 * size - 1) else v))
                elif letter == "c":
                    vals.append(f"{v}{' ' + repr(chr(v)) if 32 <= v < 127 else ''}")
                else:
                    vals.append(str(v))
            a = addr + i * size
            sym = self.d.describe(a)
            self.say(f"0x{a:08x}{f' <{sym}>' if sym else ''}:\t" + "\t".join(vals))

    def cmd_disassemble(self, arg: str) -> None:
        parts = arg.replace(",", " ").split()
        addr = self.location(parts[0]) if parts else self.d.pc
        count = self.value(parts[1]) if len(parts) > 1 else 10
        count = max(1, min(count, 1000))
        self.say("Dump of assembler code:")
        for a, raw, text in self.d.disassemble(addr, count):
            mark = "=> " if a == self.d.pc else "   "
            sym = self.d.describe(a)
            self.say(f"{mark}0x{a:08x}{f' <{sym}>' if sym else ''}:\t{raw.hex(' '):<24}"
                     f"{text}")
        self.say("End of assembler dump.")

    def cmd_print(self, arg: str) -> None:
        v = self.value(arg)
        self.say(f"$1 = {v} (0x{v & 0xFFFFFFFF:x})")

    def cmd_set(self, arg: str) -> None:
        arg = re.sub(r"^(var|variable)\s+", "", arg.strip())
        if "=" not in arg:
            raise CommandError("usage: set $REG = VALUE | set *ADDR = VALUE")
        lhs, rhs = arg.split("=", 1)
        lhs = lhs.strip()
        value = self.value(rhs)
        if lhs.startswith("$"):
            self.d.set_reg(lhs[1:], value)
            return
        m = re.match(r"\*\s*\(\s*(?:unsigned\s+)?(\w+)\s*\*\s*\)\s*(.+)$", lhs) or \
            re.match(r"\{\s*(?:unsigned\s+)?(\w+)\s*\}\s*(.+)$", lhs)
        if m is not None:
            size = _TYPES.get(m.group(1))
            if size is None:
                raise CommandError(f"unknown type {m.group(1)!r}")
            addr = self.value(m.group(2))
        elif lhs.startswith("*"):
            size = _word(self.d)
            addr = self.value(lhs[1:])
        else:
            # a plain symbol: a variable of 4 bytes (1 on B32, 2 on V16)
            size = _word(self.d)
            addr = self.value(lhs)
        self.d.write(addr, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))

    def cmd_backtrace(self, arg: str) -> None:
        for i, a in enumerate(self.d.backtrace()):
            sym = self.d.describe(a)
            # a caller's line is the call's: look up the byte before the return address
            at = self.lines.line_at(a - 1 if i else a) if self.lines is not None else None
            src = f" at {at[0]}:{at[1]}" if at else ""
            self.say(f"#{i}  0x{a:08x} in {sym or '??'} (){src}")

    def cmd_screen(self, arg: str) -> None:
        fn = getattr(self.d, "screen_text", None)
        if fn is None:
            raise CommandError("only B32 programs have a screen")
        self.out.write(fn())
        self.out.flush()

    def cmd_run(self, arg: str) -> None:
        self.say("The program is already started (stopped before its first instruction); "
                 "use continue.")

    def cmd_quit(self, arg: str) -> None:
        self.done = True


def _word(dbg: Debugger) -> int:
    """The default size of a watched or written variable: 4 bytes, 1 on B32, 2 on V16."""
    return {"b32": 1, "v16": 2}.get(dbg.arch, 4)


def _num(raw: bytes) -> str:
    v = int.from_bytes(raw, "little")
    if len(raw) <= 4:
        return str(v)
    return f"0x{v:x}"


def _f80(float80, v) -> str:
    try:
        return repr(float80.to_float(v)) if hasattr(float80, "to_float") else str(v)
    except Exception:
        return str(v)


def run_session(dbg: Debugger, stdin: TextIO, out: TextIO, pid: int = 0) -> int:
    cli = DebuggerCLI(dbg, out, pid)
    tty = hasattr(stdin, "isatty") and stdin.isatty()
    pc = dbg.pc
    sym = dbg.describe(pc)
    cli.say(f"pyvm debugger: stopped before the first instruction, 0x{pc:08x}"
            f"{f' <{sym}>' if sym else ''}. Type help for the commands.")
    while not cli.done:
        if tty:
            out.write("(pyvm) ")
            out.flush()
        line = stdin.readline()
        if not line:
            break
        with _ctrl_c_stops(dbg) as unseen:
            try:
                cli.execute(line)
            except KeyboardInterrupt:
                unseen[0] = True
        if unseen[0]:
            cli.say("Quit")
    dbg.close()
    return 0


@contextlib.contextmanager
def _ctrl_c_stops(dbg: Debugger) -> Iterator[list]:
    """While a command runs: Ctrl-C stops a running x86 program between two slices
    (X86Debugger.interrupt_check: 'Program received signal SIGINT', as gdb says) rather
    than raising KeyboardInterrupt inside a compiled block, which left the machine
    half way through it. Yields [True] when a Ctrl-C came and no run took it."""
    unseen = [False]
    if not hasattr(dbg, "interrupt_check") or \
            threading.current_thread() is not threading.main_thread():
        yield unseen
        return

    # written by the handler: a guest waiting in the host (sleep) wakes up on it
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)

    def check() -> bool:
        hit, unseen[0] = unseen[0], False
        if hit:
            with contextlib.suppress(OSError):
                os.read(wake_r, 4096)
        return hit

    def handler(signum, frame) -> None:
        if not getattr(dbg, "_polling", False):
            # no run is asking (between the steps of stepi N, a command's own work):
            # stop the command as before ("Quit"); no block is half done
            raise KeyboardInterrupt
        unseen[0] = True
        with contextlib.suppress(OSError):
            os.write(wake_w, b"!")
    old = signal.signal(signal.SIGINT, handler)
    dbg.interrupt_check = check
    dbg.interrupt_fds = [wake_r]
    try:
        yield unseen
    finally:
        dbg.interrupt_check = None
        dbg.interrupt_fds = []
        signal.signal(signal.SIGINT, old)
        os.close(wake_r)
        os.close(wake_w)


def debug_main(kind: str, path: str, data: bytes, opts, *, stdin=None, stdout=None,
               history: bool = True) -> int:
    """``pyvm --debug``: set the program up, then read commands until quit or EOF.
    Returns 0, or 1 when the program cannot be set up."""
    import os

    from vm.debug.core import make_debugger
    from vm.debug.targets import TargetError, load
    commands = stdin if stdin is not None else sys.stdin
    out = stdout if stdout is not None else sys.stdout
    try:
        target = load(kind, path, data, opts)
        dbg = make_debugger(target, history=history)
        from vm.debug.sourcelines import SourceLines
        dbg.source_lines = SourceLines.from_elf(data, path,
                                                getattr(target, "load_bias", 0))
    except TargetError as e:
        print(f"pyvm: {path}: {e}", file=sys.stderr)
        return 1
    if stdout is not None and hasattr(dbg, "emit"):
        from vm.debug.core import stream_writer
        dbg.emit = stream_writer(out)       # V16's ``out`` bytes go with the session
    return run_session(dbg, commands, out, os.getpid())


__all__: List[str] = ["DebuggerCLI", "debug_main", "run_session"]
