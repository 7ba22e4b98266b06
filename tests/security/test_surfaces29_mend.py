"""The review of round 29's surfaces (commit 4e260ce): the reverse history's byte bound
counts everything an event holds, the GDB stub's acknowledgements are stripped in runs,
pseudo-file-system sources are refused, padded SLEB128 decodes as readelf's, pyld's
-o/-Map clashes follow GNU ld, and ``vm.run(max_output=...)`` is validated. Each test
checks against an oracle (gcc's program run natively, forward execution, readelf, GNU
ld, the command line) and failed before its fix."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} is missing")
        pytest.skip(f"{tool} is missing")


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


# -- H1: page-protection maps in the reverse history ---------------------------------------

MMAP_LOOP = r"""
#include <stdio.h>
#include <sys/mman.h>
int main(void) {
    long sum = 0;
    for (int i = 0; i < 1500; i++) {
        char *p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        p[0] = 1;
        sum += p[0];
        munmap(p, 4096);
    }
    printf("%ld\n", sum);
    return 0;
}
"""


def _protections(d) -> str:
    from vm.debug.snapshots import _RO_ONLY
    mem = d.m.mem
    return hashlib.sha256(bytes(mem.wf.translate(_RO_ONLY)) + bytes(mem.unreadable)
                          + bytes(mem.rf)).hexdigest()


def _state(d) -> tuple:
    sp = d.get_reg("esp")
    return (tuple(sorted(d.registers().items())), _protections(d),
            hashlib.sha256(d.read(sp - 4096, 4096 + 256)).hexdigest())


def _held(obj: object, seen: set) -> int:
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    n = sys.getsizeof(obj)
    if isinstance(obj, dict):
        n += sum(_held(k, seen) + _held(v, seen) for k, v in obj.items())
    elif isinstance(obj, (list, tuple)):
        n += sum(_held(x, seen) for x in obj)
    return n


def test_history_counts_and_shares_page_protection_maps(tmp_path):
    """Each mmap/munmap event kept a copy of both 1 MiB page maps the byte bound did not
    count (3003 events: hist.bytes 2.2 MB, maps held 4.7 GB), nor its CPU state (~2.6 KB
    counted as 200). Now an event keeps the span that changed, and the bound counts
    what events and snapshots hold; and reverse steps across those events give the states
    forward execution had (registers, stack, page protections)."""
    _need("gcc")
    (tmp_path / "mm.c").write_text(MMAP_LOOP)
    exe = tmp_path / "mm"
    subprocess.run(["gcc", "-m32", "-static", "-O1", "-o", str(exe), str(tmp_path / "mm.c")],
                   check=True, timeout=120)
    assert subprocess.run([str(exe)], capture_output=True).stdout == b"1500\n"
    from vm.debug.core import make_debugger
    from vm.debug.targets import load
    from vm.options import RunOptions
    d = make_debugger(load("elf", str(exe), exe.read_bytes(), RunOptions()))
    d.hist.interval = 2_000                  # several snapshots within the walk back
    d.add_breakpoint(d.resolve("main"), temporary=True)
    assert d.cont().reason == "breakpoint"
    d.stepi(500)                             # into the loop (~35 instructions an event)
    states = []
    for _ in range(1_000):
        states.append((d.steps, _state(d)))
        assert d.stepi().reason == "step"
    final = _state(d)
    hist = d.hist
    flagged = [e for e in hist.events if e.flags is not None]
    assert len(flagged) > 25            # (mmap and munmap, each)
    seen: set = set()
    held = 0
    for e in flagged:
        for part in e.flags:
            if isinstance(part, (bytes, bytearray)) and id(part) not in seen:
                seen.add(id(part))
                held += len(part)
    assert held < 1 << 20, held             # (before: 2 MiB an event, 100+ MB)
    assert hist.memory_bytes() >= held
    # what the events and snapshots hold, measured apart: the bound sees most of it
    seen: set = set()
    real = sum(_held(x, seen) for e in hist.events
               for x in (e.after, e.ops, e.output, e.flags)) + \
        sum(_held(x, seen) for s in hist.snaps for x in (s.cpu, s.undo, s.flags))
    assert real / 2 < hist.bytes <= real * 2, (hist.bytes, real)
    for steps, st in reversed(states[-300:]):
        d.reverse_stepi()
        assert d.steps == steps
        assert _state(d) == st
    d.reverse_stepi(600)
    assert (d.steps, _state(d)) == states[-900]
    d.stepi(900)
    assert _state(d) == final


# -- M2: the GDB stub's acknowledgements and interrupts, in runs ---------------------------

def _packet(payload: bytes) -> bytes:
    return b"$" + payload + b"#%02x" % (sum(payload) & 0xFF)


def _counted(sock):
    """A Connection whose ``buf`` assignments are summed in ``copied`` (bytes copied)."""
    from vm.debug.gdbstub import Connection

    class Counted(Connection):
        copied = 0

        @property
        def buf(self):
            return self._buf

        @buf.setter
        def buf(self, value):
            type(self).copied += len(value)
            self._buf = value
    return Counted(sock)


def _feed(data: bytes):
    import socket
    import threading
    ours, theirs = socket.socketpair()

    def send() -> None:
        try:
            theirs.sendall(data)
            theirs.shutdown(socket.SHUT_WR)
        except OSError:
            pass                    # (the test closed its end first)
    threading.Thread(target=send, daemon=True).start()
    return ours, theirs


def test_gdb_stub_strips_a_run_of_acknowledgements_at_once():
    """A flood of '+' was dropped one byte at a time, each copying the 64 KiB buffer's
    rest (16 MiB: 39 s). Now the buffer is parsed by index: the bytes copied stay
    within a few times what came, and the packet after the run is still read."""
    flood = b"+-" * (1 << 20)
    ours, theirs = _feed(flood + _packet(b"?"))
    try:
        conn = _counted(ours)
        conn.ack = False
        assert conn.read_packet() == b"?"
        assert conn.read_packet() is None
        assert type(conn).copied < 4 * len(flood), type(conn).copied
    finally:
        ours.close()
        theirs.close()


def test_gdb_stub_takes_a_run_of_interrupts_as_one():
    """gdb sends one 0x03 to interrupt; a run of them (a client's flood) made one stop
    reply each (each waiting on an acknowledgement). Now the run is one interrupt,
    then the packet that follows is read."""
    ours, theirs = _feed(b"\x03" * 5000 + b"+" + b"\x03" * 5000 + _packet(b"g"))
    try:
        conn = _counted(ours)
        conn.ack = False
        assert conn.read_packet() == b"\x03"
        assert conn.read_packet() == b"g"
    finally:
        ours.close()
        theirs.close()


# -- M3: source files named by a program's line table ---------------------------------------

def test_debugger_refuses_proc_and_sys_sources():
    """procfs and sysfs files are regular (size 0 or 4096) and passed the regular-file
    check: ``#line 1 "/proc/self/pagemap"`` read 256 MiB, twice. The text of such a
    "source" is not shown (as for a device); a source file is still read."""
    from vm.debug.sourcelines import SourceLines
    table = SourceLines([], str(ROOT))
    assert os.path.isfile("/proc/self/status")
    assert table.text("/proc/self/status", 1) is None
    assert table.text("/proc/self/pagemap", 1) is None
    if os.path.isfile("/sys/kernel/mm/transparent_hugepage/enabled"):
        assert table.text("/sys/kernel/mm/transparent_hugepage/enabled", 1) is None
    first = (ROOT / "tests" / "debug" / "prog.c").read_text().splitlines()[0]
    assert table.text("tests/debug/prog.c", 1) == first


def test_debugger_source_reads_are_bounded_and_once_per_name(tmp_path, monkeypatch):
    """A 16 MiB "source" is not read (its text: not shown); an absolute name that is
    not there is looked for once, not once more joined to the program's directory."""
    from vm.debug import sourcelines
    big = tmp_path / "big.c"
    with open(big, "wb") as f:
        f.truncate(16 << 20)
    table = sourcelines.SourceLines([], str(tmp_path))
    assert table.text(str(big), 1) is None
    tried = []
    real = sourcelines._read_source
    monkeypatch.setattr(sourcelines, "_read_source", lambda p: tried.append(p) or real(p))
    assert table.text(str(tmp_path / "gone.c"), 1) is None
    assert tried == [str(tmp_path / "gone.c")]


# -- L4: SLEB128 in a line table, as readelf reads it ---------------------------------------

LINE_TABLE = """section .text
global _start
_start: mov eax, 1
 xor ebx, ebx
 int 0x80
section .debug_line noalloc
 dd unit_end - unit
unit: dw 2
 dd header_end - header
header: db 1, 1, -5, 14, 13            ; min_inst, is_stmt, line_base, line_range, op base
 db 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1  ; standard opcode lengths
 db 0                                  ; no directories
 db "a.c", 0, 0, 0, 0, 0               ; one file
header_end:                            ; DW_LNS_advance_line (3) SLEB, DW_LNS_copy (1)
 db 3, 100, 1                          ; -28 (one byte, bit 6 set)
 db 3
 times 10 db 0xff                      ; -1 padded to 11 bytes
 db 0x7f, 1
 db 3
 times 11 db 0xfe                      ; 12 bytes: past 64 bits, no sign extension
 db 0x7f, 1
 db 3, 0x85                            ; +5 padded to 11 bytes
 times 9 db 0x80
 db 0x00, 1
 db 3, 0x80                            ; 11 bytes whose last has bit 6: 0 as readelf
 times 9 db 0x80
 db 0x40, 1
 db 3, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1   ; -3 in 10 bytes
 db 0, 1, 1
unit_end:
"""


def test_padded_sleb128_reads_as_readelf():
    """A padded SLEB128 of 11+ bytes decoded as -1180591620717411303414 for -1
    (readelf: -1): the sign was taken past the 64 bits kept. Each DW_LNS_advance_line
    now advances the line by what ``readelf --debug-dump=rawline`` says."""
    import re
    import tempfile
    for tool in ("nasm", "ld", "readelf"):
        _need(tool)
    from formats.elf import read_elf
    from formats.elf.dwarfline import line_rows
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "d.asm").write_text(LINE_TABLE)
        subprocess.run(["nasm", "-f", "elf32", "d.asm", "-o", "d.o"], cwd=tmp, check=True)
        subprocess.run(["ld", "-m", "elf_i386", "d.o", "-o", "d"], cwd=tmp, check=True)
        raw = subprocess.run(["readelf", "--debug-dump=rawline", "d"], cwd=tmp,
                             capture_output=True, text=True).stdout
        data = Path(tmp, "d").read_bytes()
    advances = [int(x) for x in re.findall(r"Advance Line by (-?\d+)", raw)]
    assert advances == [-28, -1, 9150747060186627966, 5, 0, -3]
    sec = read_elf(data).section(".debug_line")
    lines = [r.line for r in line_rows(bytes(sec.data))][:len(advances)]
    assert [b - a for a, b in zip([1] + lines, lines)] == advances


# -- L7: vm.run(max_output=...) checked as --max-output is -----------------------------------

@pytest.mark.parametrize("value, error", [(-1, ValueError), (1.5, TypeError)])
def test_api_max_output_is_checked_as_the_command_line(tmp_path, value, error):
    """``pyvm --max-output -1`` (or 1.5) is a usage error (status 2, "not a size");
    ``vm.run(max_output=-1)`` ran with a "limit of -1 bytes" (status 153) and 1.5 was an
    internal error (status 70). Now the API refuses them too; 0 still means none."""
    import vm
    _need("gcc")
    (tmp_path / "h.c").write_text('#include <stdio.h>\nint main(void){puts("hi");return 0;}\n')
    exe = tmp_path / "h"
    subprocess.run(["gcc", "-m32", "-static", "-o", str(exe), str(tmp_path / "h.c")],
                   check=True, timeout=120)
    cli = subprocess.run([sys.executable, "-m", "vm.cli", "--max-output", str(value), str(exe)],
                         capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=60)
    assert cli.returncode == 2 and "not a size" in cli.stderr, cli.stderr
    with pytest.raises(error, match="max_output: not a size"):
        vm.run(str(exe), max_output=value)
    assert vm.run(str(exe), max_output=0).status == 153
    assert vm.run(str(exe), max_output=3).stdout == b"hi\n"


# -- L6: pyld's output, map file and -l libraries against GNU ld ---------------------------

@pytest.fixture
def objects(tmp_path) -> Path:
    for tool in ("nasm", "ld", "ar"):
        _need(tool)
    (tmp_path / "a.asm").write_text("global _start\nextern f\n_start: call f\n"
                                    " mov eax, 1\n mov ebx, 7\n int 0x80\n")
    (tmp_path / "b.asm").write_text("global f\nf: ret\n")
    (tmp_path / "c.asm").write_text("global _start\n_start: mov eax, 1\n mov ebx, 5\n"
                                    " int 0x80\n")
    for name in ("a", "b", "c"):
        subprocess.run(["nasm", "-f", "elf32", f"{name}.asm", "-o", f"{name}.o"],
                       cwd=tmp_path, check=True)
    subprocess.run(["ar", "rcs", "libb.a", "b.o"], cwd=tmp_path, check=True)
    return tmp_path


def _pyld(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "asm.link.cli", *args], cwd=cwd,
                          capture_output=True, text=True, env=_env(), timeout=60)


def test_pyld_output_over_a_library_found_through_l_as_gnu_ld(objects):
    """``-o libb.a c.o -L. -lb``: GNU ld links (status 0) and writes the program over
    the archive it found through -l; pyld refused it as an input named as the output.
    It was never named: pyld links as ld does, and the program runs as ld's does."""
    archive = (objects / "libb.a").read_bytes()
    ld = subprocess.run(["ld", "-m", "elf_i386", "-o", "libb.a", "c.o", "-L.", "-lb"],
                        cwd=objects, capture_output=True, text=True)
    assert ld.returncode == 0, ld.stderr
    assert subprocess.run([str(objects / "libb.a")]).returncode == 5
    (objects / "libb.a").write_bytes(archive)
    ours = _pyld(objects, "-o", "libb.a", "c.o", "-L.", "-lb")
    assert ours.returncode == 0, ours.stderr
    assert subprocess.run([str(objects / "libb.a")]).returncode == 5


def test_pyld_refuses_a_map_file_that_is_the_output(objects):
    """``-o out -Map out``: GNU ld writes both into one file (status 0, the map written
    over the executable's bytes); pyld left the map there and lost the program. Now it
    is refused with a clear message, before anything is written."""
    ld = subprocess.run(["ld", "-m", "elf_i386", "-o", "out", "-Map", "out", "a.o", "b.o"],
                        cwd=objects, capture_output=True, text=True)
    damaged = (objects / "out").read_bytes()
    subprocess.run(["ld", "-m", "elf_i386", "-o", "good", "a.o", "b.o"], cwd=objects,
                   check=True)
    assert ld.returncode == 0 and damaged != (objects / "good").read_bytes()
    (objects / "out").unlink()
    ours = _pyld(objects, "-o", "out", "-Map", "./out", "a.o", "b.o")
    assert ours.returncode == 1
    assert ours.stderr == "pyld: error: map file './out' is the same as output file\n"
    assert not (objects / "out").exists()
    ours = _pyld(objects, "-o", "out", "-Map", "out.map", "a.o", "b.o")
    assert ours.returncode == 0 and subprocess.run([str(objects / "out")]).returncode == 7
    assert b"f" in (objects / "out.map").read_bytes()
