"""``pyvm --gdb [HOST:]PORT PROGRAM``: a GDB remote serial protocol stub on the core.

It listens on 127.0.0.1 unless another host is named, serves one connection, and stops
before the first instruction (as ``qemu-i386 -g``). Registers follow gdb's i386 target
description (core registers, segment registers, x87 st0-st7 and its control registers;
sent as target.xml). Real mode: ``eip`` as gdb sees it is the *linear* address
CS * 16 + IP (so breakpoints, ``x/i $pc`` and disassembly work on linear addresses);
writing it keeps CS when the address lies in the current code segment. Linux programs
with several processes: the stub shows the first process only; children run freely.
B32 and V16 programs are not served (gdb has neither architecture): ``pyvm --debug``
debugs them.
"""

from __future__ import annotations

import re
import socket
import sys
from typing import Optional, Tuple

from vm.debug.core import DebugError, StopEvent, X86Debugger

REGS = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags",
        "cs", "ss", "ds", "es", "fs", "gs")
FPU_CTRL = ("fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop")
NREGS = len(REGS) + 8 + len(FPU_CTRL)

_EFLAGS = "".join(f'<field name="{n}" start="{b}" end="{b}"/>' for n, b in (
    ("CF", 0), ("", 1), ("PF", 2), ("AF", 4), ("ZF", 6), ("SF", 7), ("TF", 8), ("IF", 9),
    ("DF", 10), ("OF", 11), ("NT", 14), ("RF", 16), ("VM", 17), ("AC", 18), ("VIF", 19),
    ("VIP", 20), ("ID", 21)))


def target_xml(arch: str = "i386") -> str:
    regs = []
    for i, n in enumerate(REGS):
        t = {"eip": "code_ptr", "esp": "data_ptr", "ebp": "data_ptr",
             "eflags": "i386_eflags"}.get(n, "int32")
        regs.append(f'<reg name="{n}" bitsize="32" type="{t}" regnum="{i}"/>')
    for i in range(8):
        regs.append(f'<reg name="st{i}" bitsize="80" type="i387_ext"/>')
    for n in FPU_CTRL:
        regs.append(f'<reg name="{n}" bitsize="32" type="int" group="float"/>')
    return ('<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd">'
            f'<target version="1.0"><architecture>{arch}</architecture>'
            '<feature name="org.gnu.gdb.i386.core">'
            f'<flags id="i386_eflags" size="4">{_EFLAGS}</flags>'
            + "".join(regs) + "</feature></target>")


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
    out = bytearray()
    it = iter(data)
    for b in it:
        if b == 0x7D:
            out.append(next(it, 0) ^ 0x20)
        else:
            out.append(b)
    return bytes(out)


class Connection:
    """Packets from gdb. ``buf[pos:]`` is what has come and is not read yet: parsed by
    index, the consumed prefix dropped once per receive (slicing it off per byte or
    per packet copied the whole buffer each time: 16 MiB of '+' took 39 s)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""
        self.pos = 0
        self.ack = True

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0
        return True

    def read_packet(self) -> Optional[bytes]:
        """The next packet's payload (None when gdb went away); b'\\x03' for Ctrl-C (a
        run of them, with acknowledgements among them, is one interrupt)."""
        while True:
            buf = self.buf
            skip = _ACKS.match(buf, self.pos).end()
            if buf.find(b"\x03", self.pos, skip) >= 0:
                self.pos = skip
                return b"\x03"
            self.pos = skip
            start = buf.find(b"$", skip)
            if start >= 0:
                end = buf.find(b"#", start)
                if end >= 0 and len(buf) >= end + 3:
                    self.pos = end + 3
                    if self.ack:
                        self.sock.sendall(b"+")
                    return buf[start + 1:end]
                self.pos = start                # (what came before a packet: noise)
                if end < 0 and len(buf) - start > MAX_PACKET:
                    self.buf, self.pos = b"", 0     # garbled: dropped, and asked again
                    if self.ack:
                        self.sock.sendall(b"-")
            elif skip < len(buf):
                self.buf, self.pos = b"", 0     # noise, no packet begun
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

    # -- registers -------------------------------------------------------------------------
    def _reg_bytes(self, n: int) -> bytes:
        d = self.d
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

    def _reg_size(self, n: int) -> int:
        return 10 if len(REGS) <= n < len(REGS) + 8 else 4

    # -- stop replies ----------------------------------------------------------------------
    def stop_reply(self, ev: StopEvent) -> bytes:
        self.last = ev
        r = ev.reason
        if r == "exited":
            if ev.signal and ev.status == 128 + ev.signal:
                return b"X%02x" % ev.signal
            return b"W%02x" % ((ev.status or 0) & 0xFF)
        if r == "signal":
            return b"T%02xthread:1;" % (ev.signal or 5)
        if r == "history":
            return b"T05replaylog:begin;thread:1;"
        if r == "breakpoint":
            return b"T05swbreak:;thread:1;"
        if r == "watchpoint" and ev.watch is not None:
            wp = ev.watch[0]
            kind = {"write": b"watch", "read": b"rwatch", "access": b"awatch"}[wp.kind]
            return b"T05%s:%x;thread:1;" % (kind, wp.address)
        return b"T05thread:1;"

    # -- the packet loop -------------------------------------------------------------------
    def serve(self) -> int:
        while True:
            pkt = self.conn.read_packet()
            if pkt is None:
                return 0
            if pkt == b"\x03":
                self.conn.send(b"T02thread:1;")
                continue
            try:
                reply = self.handle(pkt)
            except DebugError:
                reply = b"E01"
            except (ValueError, IndexError):
                reply = b"E02"
            if reply is not None:
                self.conn.send(reply)
            if self.killed:
                return 0

    def handle(self, pkt: bytes) -> Optional[bytes]:
        d = self.d
        c = pkt[:1]
        if pkt.startswith(b"qSupported"):
            return (b"PacketSize=4000;qXfer:features:read+;qXfer:exec-file:read+;"
                    b"ReverseStep+;ReverseContinue+;swbreak+;hwbreak+;QStartNoAckMode+")
        if pkt == b"QStartNoAckMode":
            self.conn.send(b"OK")
            self.conn.ack = False
            return None
        if pkt.startswith(b"qXfer:features:read:target.xml:"):
            # real mode: i8086, so gdb keeps `set architecture i8086` after connecting
            arch = "i8086" if d.real else "i386"
            return self._xfer(target_xml(arch).encode(), pkt.split(b":")[4])
        if pkt.startswith(b"qXfer:exec-file:read:"):
            return self._xfer(self.d.target.exe_path.encode(), pkt.split(b":")[4])
        if pkt == b"qAttached" or pkt.startswith(b"qAttached:"):
            return b"0"
        if pkt == b"qC":
            return b"QC1"
        if pkt == b"qfThreadInfo":
            return b"m1"
        if pkt == b"qsThreadInfo":
            return b"l"
        if pkt.startswith(b"qOffsets"):
            return b"Text=0;Data=0;Bss=0"
        if pkt == b"qSymbol::":
            return b"OK"
        if pkt.startswith(b"H") or pkt.startswith(b"T"):
            return b"OK"
        if pkt == b"?":
            return self.stop_reply(self.last)
        if pkt == b"g":
            return b"".join(self._reg_bytes(n) for n in range(NREGS)).hex().encode()
        if c == b"G":
            raw = bytes.fromhex(pkt[1:].decode())
            pos = 0
            for n in range(NREGS):
                size = self._reg_size(n)
                if pos + size > len(raw):
                    break
                self._set_reg(n, raw[pos:pos + size])
                pos += size
            return b"OK"
        if c == b"p":
            n = _num(pkt[1:])
            if n >= NREGS:
                return b"E45"
            return self._reg_bytes(n).hex().encode()
        if c == b"P":
            n, v = pkt[1:].split(b"=")
            n = _num(n)
            if n >= NREGS:
                return b"E45"
            self._set_reg(n, bytes.fromhex(v.decode()))
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
            d.write(addr, bytes.fromhex(data.decode())[:length])
            return b"OK"
        if c == b"X":
            where, data = pkt[1:].split(b":", 1)
            addr, length = (_num(x) for x in where.split(b","))
            if length:
                d.write(addr, _unescape(data)[:length])
            return b"OK"
        if c in (b"Z", b"z"):
            return self._point(c == b"Z", pkt[1:])
        if pkt == b"vCont?":
            return b"vCont;c;C;s;S"
        if pkt.startswith(b"vCont;"):
            action = pkt[6:].split(b";")[0][:1]
            return self.stop_reply(d.stepi() if action in (b"s", b"S") else d.cont())
        if c in (b"c", b"C"):
            return self.stop_reply(d.cont())
        if c in (b"s", b"S"):
            return self.stop_reply(d.stepi())
        if pkt == b"bs":
            return self.stop_reply(d.reverse_stepi())
        if pkt == b"bc":
            return self.stop_reply(d.reverse_continue())
        if pkt == b"k" or pkt.startswith(b"vKill"):
            self.killed = True
            if pkt.startswith(b"vKill"):
                return b"OK"
            return None
        if c == b"D":
            self.conn.send(b"OK")
            self.killed = True
            d.delete(None)
            if d.exited is None:
                d.cont()          # detached: the program runs to its end
            return None
        if pkt.startswith(b"vMustReplyEmpty"):
            return b""
        return b""

    def _xfer(self, doc: bytes, span: bytes) -> bytes:
        off, length = (_num(x) for x in span.split(b","))
        chunk = doc[off:off + length]
        return (b"l" if off + length >= len(doc) else b"m") + _escape(chunk)

    def _point(self, insert: bool, body: bytes) -> bytes:
        parts = body.split(b";")[0].split(b",")
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
            key = (kind, addr, length)
            if insert:
                if key in self.wp_ids:          # (inserted twice: one watchpoint, as gdb
                    return b"OK"                # removes it once)
                wk = {2: "write", 3: "read", 4: "access"}[kind]
                self.wp_ids[key] = d.add_watchpoint(addr, max(length, 1), wk).number
            else:
                n = self.wp_ids.pop(key, None)
                if n is not None:
                    d.remove_watchpoint(n)
            return b"OK"
        return b""


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
    dbg.close()
    return 0
