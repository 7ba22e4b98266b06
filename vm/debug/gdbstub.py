"""``pyvm --gdb [HOST:]PORT PROGRAM``: a GDB remote serial protocol stub on the core.

It listens on 127.0.0.1 unless another host is named, serves one connection, and stops
before the first instruction (as ``qemu-i386 -g``). Registers follow gdb's i386 target
description (core registers, segment registers, x87 st0-st7 and its control registers,
fs_base/gs_base, then SSE xmm0-7 and mxcsr, as QEMU's; sent as target.xml). gdb's
Ctrl-C (0x03) stops a running program with SIGINT: the core asks the connection between
slices of the run (X86Debugger.interrupt_check). Malformed packets get an E reply, a
wrong checksum a '-'. Real mode: ``eip`` as gdb sees it is the *linear* address
CS * 16 + IP (so breakpoints, ``x/i $pc`` and disassembly work on linear addresses);
writing it keeps CS when the address lies in the current code segment. Linux programs
with several processes: the stub shows the first process only; children run freely.
That process's threads are gdb's threads (ids: guest TIDs, pPID.TID with gdb's
multiprocess+): the T reply names the thread that stopped, Hg picks whose registers
g/p/G/P see (the shared Machine is given that thread's context), vCont;s:TID steps
one; qXfer:auxv, vFile (vm/debug/hostio.py) and QCatchSyscalls serve gdb's Linux
support.
B32 and V16 programs are not served (gdb has neither architecture): ``pyvm --debug``
debugs them.
"""

from __future__ import annotations

import os
import re
import select
import socket
import sys
from typing import Optional, Tuple

from vm.debug.core import SIGINT, DebugError, StopEvent, X86Debugger
from vm.debug.hostio import HostIO

REGS = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags",
        "cs", "ss", "ds", "es", "fs", "gs")
FPU_CTRL = ("fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop")
# after the core (x87 included): SSE (xmm0-7, mxcsr), then the TLS bases, as QEMU's
# i386 target description has them (`info registers xmm0`, `p $fs_base`)
X87_END = len(REGS) + 8 + len(FPU_CTRL)
XMM0 = X87_END
MXCSR = XMM0 + 8
BASES = ("fs_base", "gs_base")
NREGS = MXCSR + 1 + len(BASES)
# a Linux program's: gdb's i386 GNU/Linux support (catch syscall, signal frames, calls)
# needs the org.gnu.gdb.i386.linux feature, whose one register is orig_eax (the system
# call the thread is in, -1 when none), as gdbserver's description has it
ORIG_EAX = NREGS
EAX, EIP = REGS.index("eax"), REGS.index("eip")
# the value eax shows while a call waits (Linux's restart codes): -ERESTARTNOHAND for
# the calls a handler ends for good, -ERESTART_RESTARTBLOCK for sleeps with a time,
# -ERESTARTSYS for the rest (read, wait4, futex without a timeout...)
_ERESTARTSYS, _ERESTARTNOHAND, _ERESTART_RESTARTBLOCK = -512, -514, -516
_NOHAND = {"pause", "sigsuspend", "rt_sigsuspend", "select", "_newselect", "pselect6",
           "pselect6_time64"}
_TIMED = {"nanosleep", "clock_nanosleep", "clock_nanosleep_time64"}
# calls a stop ends with EINTR on Linux, never restarted (signal(7))
_EINTR = {"epoll_wait", "epoll_pwait", "epoll_pwait2", "rt_sigtimedwait",
          "rt_sigtimedwait_time64"}
_RESTART_CODES = (_ERESTARTSYS, -513, _ERESTARTNOHAND, _ERESTART_RESTARTBLOCK)

# (highest first, as QEMU's: gdb shows them in this order, `[ IOPL=0 IF ]`)
_EFLAGS = "".join(f'<field name="{n}" start="{b}" end="{e}"/>' for n, b, e in reversed((
    ("CF", 0, 0), ("", 1, 1), ("PF", 2, 2), ("AF", 4, 4), ("ZF", 6, 6), ("SF", 7, 7),
    ("TF", 8, 8), ("IF", 9, 9), ("DF", 10, 10), ("OF", 11, 11), ("IOPL", 12, 13),
    ("NT", 14, 14), ("RF", 16, 16), ("VM", 17, 17), ("AC", 18, 18), ("VIF", 19, 19),
    ("VIP", 20, 20), ("ID", 21, 21))))
_MXCSR = "".join(f'<field name="{n}" start="{b}" end="{b}"/>' for n, b in (
    ("IE", 0), ("DE", 1), ("ZE", 2), ("OE", 3), ("UE", 4), ("PE", 5), ("DAZ", 6),
    ("IM", 7), ("DM", 8), ("ZM", 9), ("OM", 10), ("UM", 11), ("PM", 12), ("FZ", 15)))
_VEC128 = ('<vector id="v4f" type="ieee_single" count="4"/>'
           '<vector id="v2d" type="ieee_double" count="2"/>'
           '<vector id="v16i8" type="int8" count="16"/>'
           '<vector id="v8i16" type="int16" count="8"/>'
           '<vector id="v4i32" type="int32" count="4"/>'
           '<vector id="v2i64" type="int64" count="2"/>'
           '<union id="vec128"><field name="v4_float" type="v4f"/>'
           '<field name="v2_double" type="v2d"/><field name="v16_int8" type="v16i8"/>'
           '<field name="v8_int16" type="v8i16"/><field name="v4_int32" type="v4i32"/>'
           '<field name="v2_int64" type="v2i64"/><field name="uint128" type="uint128"/>'
           '</union>')


def target_xml(arch: str = "i386", osabi: str = "") -> str:
    """``osabi``: GNU/Linux for a Linux program, as gdbserver's (gdb then knows its
    system calls: catch syscall, and its signal frames)."""
    regs = []
    for i, n in enumerate(REGS):
        t = {"eip": "code_ptr", "esp": "data_ptr", "ebp": "data_ptr",
             "eflags": "i386_eflags"}.get(n, "int32")
        regs.append(f'<reg name="{n}" bitsize="32" type="{t}" regnum="{i}"/>')
    for i in range(8):
        regs.append(f'<reg name="st{i}" bitsize="80" type="i387_ext"/>')
    for n in FPU_CTRL:
        regs.append(f'<reg name="{n}" bitsize="32" type="int" group="float"/>')
    sse = "".join(f'<reg name="xmm{i}" bitsize="128" type="vec128" regnum="{XMM0 + i}"/>'
                  for i in range(8))
    sse += f'<reg name="mxcsr" bitsize="32" type="i386_mxcsr" group="vector" regnum="{MXCSR}"/>'
    bases = "".join(f'<reg name="{n}" bitsize="32" type="int32" regnum="{MXCSR + 1 + i}"/>'
                    for i, n in enumerate(BASES))
    return ('<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd">'
            f'<target version="1.0"><architecture>{arch}</architecture>'
            + (f"<osabi>{osabi}</osabi>" if osabi else "") +
            ('<feature name="org.gnu.gdb.i386.linux"><reg name="orig_eax" bitsize="32" '
             f'type="int" regnum="{ORIG_EAX}"/></feature>' if osabi else "") +
            '<feature name="org.gnu.gdb.i386.core">'
            f'<flags id="i386_eflags" size="4">{_EFLAGS}</flags>'
            + "".join(regs) + bases + "</feature>"      # (the bases there, as QEMU)
            '<feature name="org.gnu.gdb.i386.sse">' + _VEC128 +
            f'<flags id="i386_mxcsr" size="4">{_MXCSR}</flags>' + sse + "</feature></target>")


# The longest packet kept while its end has not come (gdb sends at most the PacketSize we
# advertise, 0x4000, plus escapes): a longer one is dropped as a garbled packet, so a
# client (anyone who can reach the port) cannot make the stub hold unbounded input.
MAX_PACKET = 0x10000
_HEX = re.compile(rb"[0-9a-fA-F]{1,16}")
_ACKS = re.compile(rb"[-+\x03]*")       # acknowledgements and interrupts


def _num(field: bytes) -> int:
    """A protocol number: unsigned hex, at most 64 bits (``int(x, 16)`` would also take a
    sign, spaces, ``0x`` and any length: ``m0,-5`` read the whole address space)."""
    if not _HEX.fullmatch(field):
        raise ValueError(f"bad number {field[:20]!r}")
    return int(field, 16)


def _checksum(data: bytes) -> bytes:
    return b"%02x" % (sum(data) & 0xFF)


def _escape(data: bytes) -> bytes:
    out = bytearray()
    for b in data:
        if b in b"#$}*":
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def _unescape(data: bytes) -> bytes:
    """X's binary data: '}' escapes the byte after it (XOR 0x20); a '}' at the end
    escapes nothing (ValueError)."""
    out = bytearray()
    it = iter(data)
    for b in it:
        if b == 0x7D:
            nxt = next(it, None)
            if nxt is None:
                raise ValueError("binary data ends in an escape")
            out.append(nxt ^ 0x20)
        else:
            out.append(b)
    return bytes(out)


_HEXPAIRS = re.compile(rb"(?:[0-9a-fA-F]{2})*")


def _hex_bytes(field: bytes) -> bytes:
    """Hex digit pairs (``bytes.fromhex`` also takes spaces)."""
    if not _HEXPAIRS.fullmatch(field):
        raise ValueError(f"bad hex data {field[:20]!r}")
    return bytes.fromhex(field.decode())


class Connection:
    """Packets from gdb. ``buf[pos:]`` is what has come and is not read yet: parsed by
    index, the consumed prefix dropped once per receive (slicing it off per byte or
    per packet copied the whole buffer each time: 16 MiB of '+' took 39 s)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""
        self.pos = 0
        self.ack = True
        self.gone = False           # gdb closed the connection (seen while running)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0
        return True

    def _interrupt_at(self) -> int:
        """Where the first Ctrl-C outside a packet lies in ``buf[pos:]`` (-1: none):
        noise or acknowledgements may come before it, a packet's payload is not
        looked into (an X packet carries raw bytes)."""
        buf, i = self.buf, self.pos
        while True:
            start = buf.find(b"$", i)
            c = buf.find(b"\x03", i, len(buf) if start < 0 else start)
            if c >= 0 or start < 0:
                return c
            end = buf.find(b"#", start)
            if end < 0:
                return -1
            i = end + 3

    def interrupted(self) -> bool:
        """Has gdb sent Ctrl-C (asked while the program runs: reads what has come,
        without waiting)? The interrupt is consumed. True also when gdb went away."""
        try:
            ready = select.select([self.sock], [], [], 0)[0]
            if ready and not self._fill():
                self.gone = True
                return True
        except (OSError, ValueError):
            self.gone = True
            return True
        c = self._interrupt_at()
        if c < 0:
            return False
        self.buf = self.buf[:c] + self.buf[c + 1:]
        return True

    def read_packet(self) -> Optional[bytes]:
        """The next packet's payload (None when gdb went away); b'\\x03' for Ctrl-C (a
        run of them, with acknowledgements among them, is one interrupt). A packet
        whose checksum is wrong is refused ('-', gdb sends it again) and not run."""
        while True:
            buf = self.buf
            start = buf.find(b"$", self.pos)
            c = buf.find(b"\x03", self.pos, len(buf) if start < 0 else start)
            if c >= 0:                          # (noise before it is dropped with it)
                self.pos = _ACKS.match(buf, c).end()
                return b"\x03"
            if start >= 0:
                end = buf.find(b"#", start)
                if end >= 0 and len(buf) >= end + 3:
                    self.pos = end + 3
                    payload = buf[start + 1:end]
                    if buf[end + 1:end + 3].lower() != _checksum(payload) and self.ack:
                        self.sock.sendall(b"-")     # (no-ack mode: run, as gdbserver)
                        continue
                    if self.ack:
                        self.sock.sendall(b"+")
                    return payload
                self.pos = start                # (what came before a packet: noise)
                if end < 0 and len(buf) - start > MAX_PACKET:
                    self.buf, self.pos = b"", 0     # garbled: dropped, and asked again
                    if self.ack:
                        self.sock.sendall(b"-")
            else:
                self.buf, self.pos = b"", 0     # noise (or acknowledgements) only
            if not self._fill():
                return None

    def send(self, payload: bytes) -> None:
        self.sock.sendall(b"$" + payload + b"#" + _checksum(payload))
        if self.ack:
            # wait for the acknowledgement (a retransmission request is ignored)
            while self.pos >= len(self.buf):
                if not self._fill():
                    return
            if self.buf[self.pos] in b"+-":
                self.pos += 1


class GdbStub:
    def __init__(self, dbg: X86Debugger, conn: Connection):
        self.d = dbg
        self.conn = conn
        self.last: StopEvent = StopEvent("step", dbg.pc)
        self.wp_ids: dict = {}           # (type, addr, len) -> watchpoint number
        self.bp_ids: dict = {}           # addr -> breakpoint number
        self.killed = False
        dbg.interrupt_check = conn.interrupted     # gdb's Ctrl-C while the program runs
        dbg.interrupt_fds = [conn.sock.fileno()]    # (and while it waits in the host)
        # a Ctrl-C that came while stopped (between packets: gdb's `stepi N` is N
        # vCont;s): as gdbserver, the next resume stops at once with SIGINT; it gets
        # no reply of its own (one in front of the next packet's reply put gdb out of
        # step)
        self.interrupt_pending = False
        self.g_tid = self.stop_tid = self._current_tid()    # Hg's thread; the stopped one
        self.c_tid = 0                                      # Hc's (0, -1: any)
        self.auxv = _read_auxv(dbg)
        self.linux = hasattr(dbg.target, "kernel") and not dbg.real
        self.nregs = NREGS + 1 if self.linux else NREGS
        self.orig_eax = -1          # (the stopped thread's: a syscall stop's number)
        # TID -> orig_eax of a thread whose registers gdb wrote (a waiting thread is
        # first taken out of its call, as Linux's is at a stop: PC after the int 0x80,
        # eax the restart code); at the next resume Linux's restart rule applies to
        # what was written (_restart_calls): gdb's `call` in a waiting thread writes
        # orig_eax -1, then puts the call's registers back, which restart it
        self.written_orig: dict = {}
        self.catching: Optional[set] = None    # QCatchSyscalls (None: off, empty: all)
        self.syscall_return: Optional[int] = None  # the call a syscall_entry stopped at
        self.mp = False             # gdb's multiprocess ids (pPID.TID): a Linux program's
        self.no_resumed = False     # gdb takes N: no thread left running
        self.exe_path = dbg.target.exe_path     # (the running program's: exec changes it)
        self.hostio = HostIO(dbg.target.proc, dbg.target.exe_path,
                             getattr(dbg.target, "exe_data", None), _escape) \
            if self.linux else None

    def close(self) -> None:
        if self.hostio is not None:
            self.hostio.close_all()

    def _fmt(self, tid: int) -> bytes:
        """A thread id as gdb is to see it (multiprocess: pPID.TID, the real pid gdb
        needs for the vDSO's /proc/PID/task/PID/maps)."""
        return b"p%x.%x" % (self.d.target.proc.pid, tid) if self.mp else b"%x" % tid

    # -- threads (a Linux program's tasks; thread ids are their TIDs) -----------------------
    def _tasks(self) -> dict:
        """TID -> task of every live thread (other targets: one thread, 1)."""
        fn = getattr(self.d.target, "threads", None)
        if fn is None:
            return {1: None} if self.d.exited is None else {}
        return {t.tid: t for t in fn()}

    def _current_tid(self) -> int:
        fn = getattr(self.d.target, "current_thread", None)
        return 1 if fn is None else fn().tid

    def _task(self, tid: int):
        """The live thread TID (DebugError when there is none)."""
        tasks = self._tasks()
        if tid not in tasks:
            raise DebugError(f"no thread {tid:x}")
        return tasks[tid]

    def _select(self, tid: int) -> None:
        """The Machine holds thread TID's registers (Hg's, before a register access)."""
        task = self._task(tid)
        if task is not None and tid != self._current_tid():
            # (also while replaying the history: the stopped thread is given back its
            # context before anything runs, _resume and bs/bc)
            self.d.target.select_thread(task)

    def _thread_name(self, task) -> str:
        name = (task.comm if task is not None else b"") or \
            os.path.basename(self.d.target.path).encode()
        return name.decode("utf-8", "replace")

    def _threads_xml(self) -> bytes:
        from xml.sax.saxutils import quoteattr
        items = "".join(f'<thread id="{self._fmt(tid).decode()}" core="0" '
                        f'name={quoteattr(self._thread_name(t))}/>'
                        for tid, t in self._tasks().items())
        return f'<?xml version="1.0"?>\n<threads>{items}</threads>'.encode()

    def _extra_info(self, tid: int) -> bytes:
        task = self._task(tid)
        if task is None:
            return b"Running".hex().encode()
        from vm.linux.process import BLOCKED
        text = f"Blocked in {task.blocked_on}" if task.state == BLOCKED and \
            task.blocked_on else "Runnable"
        if task.group is not None and task is task.group.leader:
            text += ", main thread"
        return text.encode().hex().encode()

    # -- registers -------------------------------------------------------------------------
    def _blocked_call(self) -> Optional[Tuple[int, int]]:
        """(call number, the value eax shows) when the thread whose registers the
        Machine holds waits in a system call: pyvm keeps it at its int 0x80 with eax the
        number, to run the call again; Linux shows it after the int 0x80, the number in
        orig_eax and eax the restart code (ptrace's view: what gdb shows natively)."""
        if not self.linux:
            return None
        task = self._tasks().get(self._current_tid())
        from vm.linux.process import BLOCKED
        if task is None or task.state != BLOCKED or not task.blocked_on:
            return None
        d = self.d
        try:
            if d.read(d.pc, 2) != b"\xcd\x80":
                return None
        except DebugError:
            return None
        nr = d.get_reg("eax")
        return nr, _restart_code(task.blocked_on, d)

    def _reg_bytes(self, n: int) -> bytes:
        d = self.d
        if n in (ORIG_EAX, EIP, EAX):
            blocked = self._blocked_call()
            if blocked is not None:
                v = {ORIG_EAX: blocked[0], EIP: d.pc + 2, EAX: blocked[1]}[n]
                return (v & 0xFFFFFFFF).to_bytes(4, "little")
        if n == ORIG_EAX:
            tid = self._current_tid()
            v = self.written_orig.get(tid, self.orig_eax if tid == self.stop_tid else -1)
            return (v & 0xFFFFFFFF).to_bytes(4, "little")
        if n >= XMM0:
            cpu = d.m.cpu
            if n < MXCSR:
                return (cpu.xmm[n - XMM0] & (1 << 128) - 1).to_bytes(16, "little")
            v = cpu.mxcsr if n == MXCSR else d.get_reg(BASES[n - MXCSR - 1])
            return (v & 0xFFFFFFFF).to_bytes(4, "little")
        if n < len(REGS):
            name = REGS[n]
            v = d.pc if name == "eip" else d.get_reg(name)
            return (v & 0xFFFFFFFF).to_bytes(4, "little")
        fpu = d.fpu()
        if n < len(REGS) + 8:
            if fpu is None:
                return bytes(10)
            from vm.x86 import float80
            p = (fpu.top + n - len(REGS)) & 7
            return float80.to_bytes(fpu.regs[p])
        k = n - len(REGS) - 8
        if fpu is None:
            return (0x37F if k == 0 else 0xFFFF if k == 2 else 0).to_bytes(4, "little")
        v = (fpu.control, fpu.status, fpu.tag, fpu.fcs, fpu.fip, fpu.fds, fpu.fdp,
             fpu.fop)[k]
        return (v & 0xFFFFFFFF).to_bytes(4, "little")

    def _set_reg(self, n: int, raw: bytes) -> None:
        d = self.d
        blocked = self._blocked_call()
        if blocked is not None:
            if raw == self._reg_bytes(n)[:len(raw)]:
                return      # (a value as shown written back: the thread goes on waiting)
            self._leave_call(*blocked)
        if n == ORIG_EAX:
            if self.linux:  # (gdb writes -1 before calling a function: no restart)
                v = int.from_bytes(raw[:4], "little")
                self.written_orig[self._current_tid()] = v - (v >> 31 << 32)
            return
        if n >= XMM0:
            v = int.from_bytes(raw, "little")
            if n > MXCSR:               # (the TLS bases: set_thread_area's, read only)
                if v != d.get_reg(BASES[n - MXCSR - 1]):
                    raise DebugError(f"{BASES[n - MXCSR - 1]} cannot be written")
                return
            d._check_present("registers")
            if n < MXCSR:
                d.m.cpu.xmm[n - XMM0] = v
            else:
                from vm.x86.sse import MXCSR_MASK
                if v & ~MXCSR_MASK:
                    raise DebugError("mxcsr: reserved bits set")   # (ldmxcsr's #GP)
                d.m.cpu.mxcsr = v
            return
        if n < len(REGS):
            name = REGS[n]
            v = int.from_bytes(raw[:4], "little")
            if name == "eip" and d.real:
                base = d.get_reg("cs") << 4
                if base <= v < base + 0x10000:
                    d.set_reg("ip", v - base)
                else:
                    d.set_reg("cs", v >> 4)
                    d.set_reg("ip", v & 0xF)
                return
            if name in ("cs", "ss", "ds", "es", "fs", "gs"):
                v &= 0xFFFF
            d.set_reg(name, v)
            return
        fpu = d.fpu()
        if fpu is None:
            return
        from vm.x86 import float80
        if n < len(REGS) + 8:
            fpu.regs[(fpu.top + n - len(REGS)) & 7] = float80.from_bytes(raw[:10])
            return
        k = n - len(REGS) - 8
        v = int.from_bytes(raw[:4], "little")
        if k == 0:
            fpu.control = v
        elif k == 1:
            fpu.status = v
        elif k == 3:
            fpu.fcs = v
        elif k == 4:
            fpu.fip = v
        elif k == 5:
            fpu.fds = v
        elif k == 6:
            fpu.fdp = v
        elif k == 7:
            fpu.fop = v

    def _leave_call(self, nr: int, code: int) -> None:
        """A register of the waiting thread the Machine holds is written: it leaves its
        call as a Linux thread has at a stop (PC after the int 0x80, eax the restart
        code, orig_eax the call); no wake completes the call any more."""
        from vm.linux import threads
        from vm.linux.process import RUNNING
        d, tid = self.d, self._current_tid()
        task = self._tasks()[tid]
        d.set_reg("eip", (d.pc + 2) & 0xFFFFFFFF)
        d.set_reg("eax", code & 0xFFFFFFFF)
        threads.drop_waiter(task)
        task.state, task.blocked_on = RUNNING, ""
        task.wait_deadline, task.wait_fds = None, ()
        self.written_orig[tid] = nr

    def _interrupt_calls(self) -> None:
        """Before a resume: a thread the stop found waiting in a call Linux ends with
        EINTR at a stop (epoll_wait, rt_sigtimedwait: signal(7)) leaves it, and the
        call returns -EINTR, as on the native run."""
        hist = self.d.hist
        if not self.linux or hist is not None and hist.replaying:
            return          # (a replayed stop: the history holds what came of it)
        from vm.linux.process import BLOCKED
        tasks, held = self._tasks(), self._current_tid()
        waiting = [tid for tid, t in tasks.items()
                   if t is not None and t.state == BLOCKED and t.blocked_on in _EINTR]
        for tid in waiting:
            self._select(tid)
            blocked = self._blocked_call()
            if blocked is not None:
                self._leave_call(*blocked)
        if waiting and held in tasks:
            self._select(held)

    def _restart_calls(self) -> None:
        """Before a resume: Linux's restart of an interrupted call (its syscall exit
        path) for each thread whose registers gdb wrote: orig_eax >= 0 and eax a
        restart code, the call runs again (PC back on the int 0x80, eax the number;
        -ERESTART_RESTARTBLOCK's restart_syscall is the call itself here)."""
        views, self.written_orig = self.written_orig, {}
        tasks, held = self._tasks(), self._current_tid()
        for tid, orig in views.items():
            if orig < 0 or tid not in tasks:
                continue
            self._select(tid)
            d = self.d
            eax = d.get_reg("eax")
            if eax - (eax >> 31 << 32) in _RESTART_CODES:
                d.set_reg("eax", orig)
                d.set_reg("eip", (d.pc - 2) & 0xFFFFFFFF)
        if held in tasks:
            self._select(held)

    def _reg_size(self, n: int) -> int:
        if XMM0 <= n < MXCSR:
            return 16
        return 10 if len(REGS) <= n < len(REGS) + 8 else 4

    # -- stop replies ----------------------------------------------------------------------
    def stop_reply(self, ev: StopEvent) -> bytes:
        self.last = ev
        r = ev.reason
        if r == "thread-exited":        # (QThreadEvents: gdbserver's w reply)
            return b"w%02x;%s" % ((ev.status or 0) & 0xFF, self._fmt(ev.number))
        if r == "exited":
            proc = b";process:%x" % self.d.target.proc.pid if self.mp else b""
            if ev.signal and ev.status == 128 + ev.signal:
                return b"X%02x" % ev.signal + proc
            return b"W%02x" % ((ev.status or 0) & 0xFF) + proc
        # (the thread that stopped: gdb takes it as the one Hg names from now on; a
        # live one: the Machine may still hold the context of a thread that ended)
        tid, tasks = self._current_tid(), self._tasks()
        if r == "thread-created" and ev.number in tasks:
            tid = ev.number             # (the new thread's stop, as gdbserver's event)
            self._select(tid)
        if tasks and tid not in tasks:
            tid = next(iter(tasks))
            self._select(tid)
        self.g_tid = self.stop_tid = tid
        th = b"thread:%s;" % self._fmt(tid)
        self.orig_eax = (ev.number or 0) if r == "syscall" else -1
        if r == "signal":
            return b"T%02x%s" % (ev.signal or 5, th)
        if r == "history":
            return b"T05replaylog:begin;" + th
        if r == "breakpoint":
            return b"T05swbreak:;" + th
        if r == "watchpoint" and ev.watch is not None:
            wp = ev.watch[0]
            kind = {"write": b"watch", "read": b"rwatch", "access": b"awatch"}[wp.kind]
            return b"T05%s:%x;%s" % (kind, wp.address, th)
        if r == "syscall" and self.catching is not None:
            return b"T05syscall_entry:%x;%s" % (ev.number or 0, th)
        if r == "thread-created":
            return b"T05create:;" + th
        if r == "exec":
            return b"T05exec:%s;%s" % (self._new_image().encode().hex().encode(), th)
        return b"T05" + th

    def _new_image(self) -> str:
        """After an exec: the new program's host path (as gdb natively reports it),
        its auxv, and host I/O serving the bytes it was loaded from for that path (the
        target's, read by the core at the exec)."""
        target = self.d.target
        self.exe_path = target.exe_path
        self.auxv = _read_auxv(self.d)
        if self.hostio is not None:
            self.hostio.proc = target.proc
            self.hostio.exe = self.exe_path
            self.hostio.exe_data = getattr(target, "exe_data", None)
        return self.exe_path

    # -- the packet loop -------------------------------------------------------------------
    def serve(self) -> int:
        while True:
            pkt = self.conn.read_packet()
            if pkt is None:
                return 0
            if pkt == b"\x03":
                self.interrupt_pending = True
                continue
            try:
                reply = self.handle(pkt)
            except DebugError:
                reply = b"E01"
            except (ValueError, IndexError):
                reply = b"E22"              # (a malformed packet: QEMU's EINVAL)
            except ConnectionError:
                raise
            except Exception as e:          # (one packet's failure: never a dead stub)
                print(f"pyvm: gdb stub: {pkt[:40]!r}: {type(e).__name__}: {e}",
                      file=sys.stderr, flush=True)
                reply = b"E01"
            if self.conn.gone:
                return 0                    # gdb went away while the program ran
            if reply is not None:
                self.conn.send(reply)
            if self.killed:
                return 0

    def _resume(self, step: bool, addr: bytes = b"", tid: int = 0,
                solo: bool = False, signal: bool = False) -> bytes:
        """c/s [ADDR]: resume (at ADDR when given), then the stop reply. ``tid``: the
        thread that steps (or is followed; 0: Hc's, else the one that stopped);
        ``solo``: the other threads stay stopped (vCont;s:TID alone); ``signal``: gdb
        passes a signal (C/S): a fault that stopped the program is delivered, else, as
        with ptrace, it is dropped (its instruction runs again: gdb's `call` returns to
        its dummy frame on the stack, a fault on a no-execute stack, and then gdb puts
        the registers back and continues)."""
        if not signal and getattr(self.d, "_fault", None) is not None:
            self.d._fault = None
            if hasattr(self.d.target, "fault_task"):
                self.d.target.fault_task = None
        self._interrupt_calls()
        if self.written_orig:
            self._restart_calls()
        if tid <= 0:
            tid = self.c_tid if self.c_tid > 0 and self.c_tid in self._tasks() \
                else self.stop_tid
        tasks = self._tasks()
        task = tasks.get(tid)
        if tasks and tid not in tasks:
            task = next(iter(tasks.values()))       # (the stopped thread has ended)
            tid = next(iter(tasks))
        target = self.d.target
        replaying = self.d.hist is not None and self.d.hist.replaying
        if task is not None and not replaying:
            self._select(tid)
        elif task is not None:
            self._select(self.stop_tid if self.stop_tid in tasks else tid)
        if addr:
            self._set_reg(REGS.index("eip"), (_num(addr) & 0xFFFFFFFF).to_bytes(4, "little"))
        if self.interrupt_pending:
            self.interrupt_pending = False
            return self.stop_reply(StopEvent("signal", self.d.pc, signal=SIGINT))
        if task is not None:
            target.focus, target.solo = task, solo
        try:
            if self.syscall_return is not None and self.catching is not None:
                return self._finish_syscall()
            self.syscall_return = None
            ev = self.d.stepi() if step else self.d.cont()
        finally:
            if task is not None:
                target.focus, target.solo = None, False
        if ev.reason == "syscall" and self.catching is not None:
            self.syscall_return = ev.number
        reply = self.stop_reply(ev)
        if solo and task is not None and ev.reason != "exited" and \
                tid not in self._tasks() and self.no_resumed:
            return b"N"     # (the thread that ran alone ended: none is resumed, as
        return reply        # gdbserver's; else a live thread's stop, never its own)

    def _catch_syscalls(self, body: bytes) -> bytes:
        """QCatchSyscalls:0 (off), :1 (every call) or :1;NR;NR... (those)."""
        parts = body.split(b";")
        if parts[0] == b"0" and len(parts) == 1:
            self.catching = self.d.catch_syscalls = None
            return b"OK"
        if parts[0] != b"1":
            return b"E22"
        nrs = {_num(x) for x in parts[1:]}
        self.catching = nrs
        self.d.catch_syscalls = set(nrs)
        return b"OK"

    def _finish_syscall(self) -> bytes:
        """After a syscall_entry stop, the resume runs the call: its return is the next
        stop (as gdbserver's PTRACE_SYSCALL), in the same thread."""
        nr, self.syscall_return = self.syscall_return, None
        target, tid = self.d.target, self.stop_tid
        task = self._tasks().get(tid)
        if task is not None and hasattr(target, "solo"):
            # that thread alone runs its call (the others' turns first ran their own
            # int 0x80s, and the skip of the stopped call went to the first)
            self._select(tid)
            target.focus, target.solo = task, True
        ev = self.d.stepi()
        if hasattr(target, "solo"):
            target.solo = False
        if ev.reason == "step" and tid not in self._tasks() and self.d.exited is None:
            # its exit: the thread is gone, no return stop (as natively): the others go on
            ev = self.d.cont()
            if ev.reason == "syscall" and self.catching is not None:
                self.syscall_return = ev.number
            return self.stop_reply(ev)
        reply = self.stop_reply(ev)
        if ev.reason != "step":
            return reply
        self.orig_eax = nr
        return b"T05syscall_return:%x;thread:%s;" % (nr, self._fmt(self.stop_tid))

    def _vcont(self, actions: bytes) -> bytes:
        """vCont;ACTION[:TID]...: the first action naming a thread that steps decides
        which thread runs; with no action for the rest (no default), they stay
        stopped."""
        tasks = self._tasks()
        plan = _vcont_actions(actions)
        for _act, tid in plan:
            if tid is not None and tid > 0 and tid not in tasks:
                raise DebugError(f"no thread {tid:x}")
        default = next((a for a, t in plan if t is None or t < 0), None)
        named = [(a, t) for a, t in plan if t is not None and t > 0]
        stepped = next((t for a, t in named if a in "sS"), None)
        signal = any(a in "CS" for a, _t in plan)
        if stepped is not None:
            return self._resume(True, tid=stepped, solo=default is None, signal=signal)
        if named:
            return self._resume(False, tid=named[0][1], solo=default is None,
                                signal=signal)
        return self._resume(default in ("s", "S"), signal=signal)

    def handle(self, pkt: bytes) -> Optional[bytes]:
        d = self.d
        c = pkt[:1]
        if pkt.startswith(b"qSupported"):
            self.mp = self.linux and b"multiprocess+" in pkt
            self.no_resumed = b"no-resumed+" in pkt
            # exec events (gdb's `catch exec`; it loads the new program's symbols and
            # auxv at the stop): they name a process, so multiprocess ids only
            d.stop_at_exec = self.mp and b"exec-events+" in pkt
            if hasattr(d.target, "report_threads"):
                d.target.report_threads = self.mp
            return (b"multiprocess+;" if self.mp else b"") + \
                (b"exec-events+;" if d.stop_at_exec else b"") + (
                    b"PacketSize=4000;qXfer:features:read+;qXfer:exec-file:read+;"
                    b"ReverseStep+;ReverseContinue+;swbreak+;hwbreak+;QStartNoAckMode+;"
                    b"vContSupported+;qXfer:threads:read+;qXfer:auxv:read+;"
                    b"QCatchSyscalls+" + (b";QThreadEvents+" if self.linux else b""))
        if pkt.startswith(b"QThreadEvents:"):
            on = pkt[len(b"QThreadEvents:"):]
            if on not in (b"0", b"1") or not hasattr(d.target, "report_exits"):
                return b"E22" if on not in (b"0", b"1") else b""
            d.target.report_exits = on == b"1"
            d.target.report_threads = d.target.report_threads or on == b"1"
            return b"OK"
        if pkt == b"QStartNoAckMode":
            self.conn.send(b"OK")
            self.conn.ack = False
            return None
        if pkt.startswith(b"qXfer:features:read:"):
            # real mode: i8086, so gdb keeps `set architecture i8086` after connecting
            arch = "i8086" if d.real else "i386"
            osabi = "GNU/Linux" if self.linux else ""
            return self._xfer(pkt, b"target.xml", target_xml(arch, osabi).encode())
        if pkt.startswith(b"qXfer:exec-file:read:"):
            return self._xfer(pkt, None, self.exe_path.encode())
        if pkt.startswith(b"qXfer:threads:read:"):
            return self._xfer(pkt, b"", self._threads_xml())
        if pkt.startswith(b"qXfer:auxv:read:"):
            if self.auxv is None:
                return b"E00"
            return self._xfer(pkt, b"", self.auxv)
        if pkt == b"qAttached" or pkt.startswith(b"qAttached:"):
            return b"0"
        if pkt == b"qC":
            tasks = self._tasks()
            return b"QC" + self._fmt(self.stop_tid if self.stop_tid in tasks or not tasks
                                     else next(iter(tasks)))
        if pkt == b"qfThreadInfo":
            tasks = self._tasks()
            return b"m" + b",".join(self._fmt(t) for t in tasks) if tasks else b"l"
        if pkt == b"qsThreadInfo":
            return b"l"
        if pkt.startswith(b"qThreadExtraInfo,"):
            return self._extra_info(_tid(pkt[17:]))
        if pkt.startswith(b"QCatchSyscalls:"):
            return self._catch_syscalls(pkt[15:])
        if pkt.startswith(b"qOffsets"):
            return b"Text=0;Data=0;Bss=0"
        if pkt == b"qSymbol::":
            return b"OK"
        if c == b"H":
            if pkt[1:2] not in (b"g", b"c", b"m"):
                return b"E22"
            tid = _tid(pkt[2:])
            if tid > 0 and tid not in self._tasks():
                return b"E01"           # (as gdbserver: no such thread)
            if pkt[1:2] == b"c":
                self.c_tid = tid
            else:
                self.g_tid = tid if tid > 0 else self.stop_tid
            return b"OK"
        if c == b"T":
            tid = _tid(pkt[1:])
            return b"OK" if tid > 0 and tid in self._tasks() else b"E01"
        if pkt == b"?":
            return self.stop_reply(self.last)
        if c in (b"g", b"G", b"p", b"P"):
            tasks = self._tasks()
            if self.g_tid in tasks:
                self._select(self.g_tid)
            elif tasks:
                return b"E01"           # (a thread that has ended)
        if pkt == b"g":
            return b"".join(self._reg_bytes(n) for n in range(self.nregs)).hex().encode()
        if c == b"G":
            raw = _hex_bytes(pkt[1:])
            pos = n = 0
            while pos < len(raw):
                size = self._reg_size(n) if n < self.nregs else 0
                if not size or pos + size > len(raw):
                    return b"E22"           # more than the registers, or a part of one
                n, pos = n + 1, pos + size
            # all or nothing: a value refused (mxcsr's reserved bits, a changed fs_base)
            # puts back the registers written before it
            old = [self._reg_bytes(k) for k in range(n)]
            pos = 0
            for k in range(n):
                size = self._reg_size(k)
                try:
                    self._set_reg(k, raw[pos:pos + size])
                except DebugError:
                    for j in range(k - 1, -1, -1):
                        self._set_reg(j, old[j])
                    raise
                pos += size
            return b"OK"
        if c == b"p":
            n = _num(pkt[1:])
            if n >= self.nregs:
                return b"E45"
            return self._reg_bytes(n).hex().encode()
        if c == b"P":
            n, v = pkt[1:].split(b"=")
            n = _num(n)
            if n >= self.nregs:
                return b"E45"
            raw = _hex_bytes(v)
            if len(raw) != self._reg_size(n):
                return b"E22"               # (`P8=` wrote 0 to eip)
            self._set_reg(n, raw)
            return b"OK"
        if c == b"m":
            addr, length = (_num(x) for x in pkt[1:].split(b","))
            try:
                return d.read(addr, min(length, 0x4000)).hex().encode()
            except DebugError:
                return b"E14"
        if c == b"M":
            where, data = pkt[1:].split(b":", 1)
            addr, length = (_num(x) for x in where.split(b","))
            raw = _hex_bytes(data)
            if len(raw) != length:
                return b"E22"
            if length:
                d.write(addr, raw)
            return b"OK"
        if c == b"X":
            where, data = pkt[1:].split(b":", 1)
            addr, length = (_num(x) for x in where.split(b","))
            raw = _unescape(data)
            if len(raw) != length:
                return b"E22"
            if length:
                d.write(addr, raw)
            return b"OK"
        if c in (b"Z", b"z"):
            return self._point(c == b"Z", pkt[1:])
        if pkt == b"vCont?":
            return b"vCont;c;C;s;S"
        if pkt.startswith(b"vCont;"):
            return self._vcont(pkt[6:])
        if c in (b"c", b"s"):
            return self._resume(c == b"s", pkt[1:])
        if c in (b"C", b"S"):
            sig, _, addr = pkt[1:].partition(b";")
            if len(sig) != 2:
                raise ValueError("bad signal")
            _num(sig)       # (a fault's is delivered; no other signal is sent)
            return self._resume(c == b"S", addr, signal=True)
        if pkt in (b"bs", b"bc"):
            if self.stop_tid in self._tasks():
                self._select(self.stop_tid)     # (the history's own thread order)
            ev = d.reverse_stepi() if pkt == b"bs" else d.reverse_continue()
            if ev.reason == "error":        # (no history, or a threaded program's: gdb
                text = re.sub(r"[^ -~]|[$#}*]", "?", ev.message or "no history")  # shows
                return b"E." + text.encode()                                   # why)
            return self.stop_reply(ev)
        if pkt == b"k" or pkt.startswith(b"vKill"):
            self.killed = True
            if pkt.startswith(b"vKill"):
                return b"OK"
            return None
        if c == b"D":
            self.conn.send(b"OK")
            self.killed = True
            d.delete(None)
            d.interrupt_check = None
            # (no event stops it now: catchpoints, exec and thread events)
            d.catch_syscalls, d.stop_at_exec = None, False
            d.catch_vectors = set()
            for flag in ("report_threads", "report_exits"):
                if hasattr(d.target, flag):
                    setattr(d.target, flag, False)
            if d.exited is None:
                if self.written_orig:
                    self._restart_calls()
                d.cont()          # detached: the program runs to its end
            return None
        if pkt.startswith(b"vFile:"):
            return self.hostio.handle(pkt[6:]) if self.hostio is not None else b""
        if pkt.startswith(b"vMustReplyEmpty"):
            return b""
        return b""

    def _xfer(self, pkt: bytes, annex: Optional[bytes], doc: bytes) -> bytes:
        """qXfer:OBJECT:read:ANNEX:OFFSET,LENGTH of doc (annex None: any)."""
        parts = pkt.split(b":")
        if len(parts) != 5 or (annex is not None and parts[3] != annex):
            return b"E00"
        off, length = (_num(x) for x in parts[4].split(b","))
        if off > len(doc):
            return b"E00"
        chunk = doc[off:off + length]
        return (b"l" if off + length >= len(doc) else b"m") + _escape(chunk)

    def _point(self, insert: bool, body: bytes) -> bytes:
        parts = body.split(b";")[0].split(b",")
        if len(parts) != 3:
            raise ValueError("Z/z takes type,addr,kind")
        kind, addr, length = _num(parts[0]), _num(parts[1]), _num(parts[2])
        d = self.d
        if kind in (0, 1):
            if insert:
                if addr not in self.bp_ids:
                    self.bp_ids[addr] = d.add_breakpoint(addr).number
            else:
                n = self.bp_ids.pop(addr, None)
                if n is not None:
                    d.remove_breakpoint(n)
            return b"OK"
        if kind in (2, 3, 4):
            if not length:
                return b"E22"               # (a watchpoint of no bytes)
            key = (kind, addr, length)
            if insert:
                if key in self.wp_ids:          # (inserted twice: one watchpoint, as gdb
                    return b"OK"                # removes it once)
                wk = {2: "write", 3: "read", 4: "access"}[kind]
                self.wp_ids[key] = d.add_watchpoint(addr, length, wk).number
            else:
                n = self.wp_ids.pop(key, None)
                if n is not None:
                    d.remove_watchpoint(n)
            return b"OK"
        return b""


def _restart_code(call: str, dbg) -> int:
    """What eax shows while ``call`` waits (see GdbStub._blocked_call)."""
    if call in _NOHAND:
        return _ERESTARTNOHAND
    if call in _EINTR:
        return -4
    if call in _TIMED:      # (clock_nanosleep's TIMER_ABSTIME: nothing to recompute)
        absolute = call != "nanosleep" and dbg.get_reg("ecx") & 1
        return _ERESTARTNOHAND if absolute else _ERESTART_RESTARTBLOCK
    if call in ("futex", "futex_time64"):         # a wait with a timeout (esi)
        timed = (dbg.get_reg("ecx") & 0x7F) in (0, 9) and dbg.get_reg("esi")
        return _ERESTART_RESTARTBLOCK if timed else _ERESTARTSYS
    if call in ("poll", "ppoll", "ppoll_time64"):
        t = dbg.get_reg("edx")
        if call == "poll":
            return _ERESTART_RESTARTBLOCK if t < 0x80000000 else _ERESTARTNOHAND
        return _ERESTARTNOHAND
    return _ERESTARTSYS


def _read_auxv(dbg) -> Optional[bytes]:
    """The auxiliary vector a Linux program started with (qXfer:auxv:read), read from
    its first stack: argc, argv[argc], NULL, envp..., NULL, then (type, value) pairs to
    AT_NULL. None for other targets (and a stack that does not hold one)."""
    proc = getattr(dbg.target, "proc", None)
    if proc is None or not getattr(proc, "argv", None):
        return None
    try:
        sp = dbg.get_reg("esp")
        words = lambda a, n: [int.from_bytes(dbg.read(a + 4 * i, 4), "little")  # noqa
                              for i in range(n)]
        argc = words(sp, 1)[0]
        if argc != len(proc.argv):
            return None
        p = sp + 4 * (argc + 2)
        for _ in range(0x10000):            # envp, to its NULL
            p += 4
            if words(p - 4, 1)[0] == 0:
                break
        start = p
        for _ in range(256):
            kind = words(p, 1)[0]
            p += 8
            if kind == 0:
                return dbg.read(start, p - start)
    except DebugError:
        pass
    return None


def _tid(field: bytes) -> int:
    """A thread id: hex TID, 0 (any), -1 (all); the multiprocess form pPID.TID is read
    for its TID. ValueError for anything else."""
    if field.startswith(b"p") and b"." in field:
        field = field.partition(b".")[2]
    if field == b"-1":
        return -1
    return _num(field)


def _vcont_actions(actions: bytes) -> list:
    """vCont;ACTION[:THREAD]...: [(action letter, TID or None)]. ValueError for an
    unknown action or a bad signal."""
    plan = []
    for item in actions.split(b";"):
        act, sep, tid = item.partition(b":")
        if act[:1] in (b"c", b"s") and len(act) == 1:
            pass
        elif act[:1] in (b"C", b"S") and len(act) == 3:
            _num(act[1:])
        else:
            raise ValueError(f"bad vCont action {item[:20]!r}")
        plan.append((act[:1].decode(), _tid(tid) if sep else None))
    return plan


def parse_address(address: str) -> Tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep:
        host, port = "", address
    try:
        p = int(port)
    except ValueError:
        raise ValueError(f"bad port {port!r}") from None
    if not 0 <= p <= 65535:
        raise ValueError(f"bad port {p}")
    return host or "127.0.0.1", p


def gdb_main(kind: str, path: str, data: bytes, opts, address: str,
             history: bool = True) -> int:
    """``pyvm --gdb [HOST:]PORT``: serve one gdb connection. Returns 0 (1 when the
    program cannot be set up or the address is bad)."""
    from vm.debug.core import make_debugger
    from vm.debug.targets import TargetError, load
    err = sys.stderr
    try:
        host, port = parse_address(address)
    except ValueError as e:
        print(f"pyvm: --gdb {address}: {e}", file=err)
        return 1
    if kind in ("b32", "v16"):
        print(f"pyvm: {path}: gdb has no {kind.upper()} architecture: use pyvm --debug",
              file=err)
        return 1
    try:
        target = load(kind, path, data, opts)
    except TargetError as e:
        print(f"pyvm: {path}: {e}", file=err)
        return 1
    if getattr(target, "kind", "") in ("b32", "v16"):       # a B32 or V16 source
        target.close()
        print(f"pyvm: {path}: gdb has no {target.kind.upper()} architecture: use "
              "pyvm --debug", file=err)
        return 1
    dbg = make_debugger(target, history=history)
    try:
        srv = socket.create_server((host, port))
    except OSError as e:
        print(f"pyvm: cannot listen on {host}:{port}: {e.strerror or e}", file=err)
        return 1
    with srv:
        print(f"pyvm: listening for gdb on {host}:{srv.getsockname()[1]}", file=err,
              flush=True)
        try:
            sock, _ = srv.accept()
        except KeyboardInterrupt:
            return 130
    with sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stub = GdbStub(dbg, Connection(sock))
        try:
            stub.serve()
        except (ConnectionError, OSError):
            pass
        finally:
            stub.close()
    dbg.close()
    return 0
