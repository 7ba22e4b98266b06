"""Red team, round 29: the surfaces beside the Linux system calls (the GDB stub, pyld on
the files it is given, the DOS and PC personalities). Each test states the sandbox
property or the oracle's behaviour it checks; each failed before its fix.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROG_C = ROOT / "tests" / "debug" / "prog.c"


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} is missing")
        pytest.skip(f"{tool} is missing")


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


# -- the GDB stub: what a client (anyone who reaches its port) can make it do -------------

@pytest.fixture(scope="module")
def cprog(tmp_path_factory) -> Path:
    _need("gcc")
    out = tmp_path_factory.mktemp("gdb29") / "prog"
    subprocess.run(["gcc", "-m32", "-static", "-g", "-O0", "-o", str(out), str(PROG_C)],
                   check=True, timeout=120)
    return out


def _packet(payload: bytes) -> bytes:
    return b"$" + payload + b"#%02x" % (sum(payload) & 0xFF)


class Stub:
    """``pyvm --gdb 127.0.0.1:0 PROG`` and a raw connection to it."""

    def __init__(self, program: Path):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vm.debug", "--input", "/dev/null", "--gdb",
             "127.0.0.1:0", str(program)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=_env())
        line = self.proc.stderr.readline().decode()
        m = re.search(r"listening for gdb on 127\.0\.0\.1:(\d+)", line)
        assert m, line
        self.sock = socket.create_connection(("127.0.0.1", int(m.group(1))))
        self.sock.settimeout(30)
        self.buf = b""

    def ask(self, payload: bytes) -> bytes:
        """Send one packet, return the reply's payload (acknowledged)."""
        self.sock.sendall(_packet(payload))
        return self.reply()

    def reply(self) -> bytes:
        while True:
            m = re.search(rb"\$([^#]*)#..", self.buf)
            if m:
                self.buf = self.buf[m.end():]
                self.sock.sendall(b"+")
                return m.group(1)
            chunk = self.sock.recv(65536)
            assert chunk, "the stub closed the connection"
            self.buf += chunk

    def peak_kib(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        raise AssertionError("no VmHWM")

    def close(self) -> str:
        try:
            self.sock.sendall(_packet(b"k"))
        except OSError:
            pass
        self.sock.close()
        try:
            _, err = self.proc.communicate(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.communicate()
        return err.decode()


@pytest.fixture
def stub(cprog):
    s = Stub(cprog)
    yield s
    err = s.close()
    assert "Traceback" not in err, err


def test_gdb_numbers_are_unsigned_hex(stub):
    """Protocol numbers are unsigned hex. ``int(x, 16)`` took a sign: ``m0,-5`` read
    memory from 0 "up to 5 bytes before the end", the whole 3 GiB address space (the stub
    hung, then held gigabytes); ``P-1=`` wrote gs. Now each is an error reply, and the
    stub still serves."""
    for bad in (b"m0,-5", b"m-1,4", b"m 8048000,4", b"m0x8048000,4", b"M8048000,-1:00",
                b"X8048000,-1:", b"P-1=00000000", b"p-1", b"Z0,-8048000,1",
                b"m8048000,1ffffffffffffffffff"):
        reply = stub.ask(bad)
        assert reply.startswith(b"E"), (bad, reply)
    assert stub.ask(b"p0a") != b""          # (cs: the registers are still there)
    assert stub.ask(b"?").startswith(b"T05")


@pytest.mark.parametrize("opened", [False, True])
def test_gdb_input_that_never_ends_a_packet_is_bounded(stub, opened):
    """32 MiB without a packet's end (noise, or one packet begun with '$' that never
    ends): the stub kept all of it and searched it again at every read (before: +66 MB of
    peak memory, ~10 s of CPU; gdb's packets are at most the 0x4000 bytes it was told).
    Now noise is dropped, a packet past 64 KiB is dropped with a '-' (retransmit), and
    the next packet is answered."""
    before = stub.peak_kib()
    if opened:
        stub.sock.sendall(b"$")
    chunk = b"A" * (1 << 20)
    for _ in range(32):
        stub.sock.sendall(chunk)
    assert stub.ask(b"?").startswith(b"T05")
    assert stub.peak_kib() - before < 16 << 10


def test_gdb_watchpoint_inserted_twice_is_removed_once(stub, cprog):
    """gdb may send the same Z packet again (after a reconnect, a retransmission); the
    stub made a second watchpoint under the same key, and the z packet removed only the
    last, so the program stopped at a watchpoint gdb had deleted. As gdbserver: one."""
    nm = subprocess.run(["nm", str(cprog)], capture_output=True, text=True, check=True)
    addr = next(line.split()[0] for line in nm.stdout.splitlines()
                if line.endswith(" counter"))
    z = f"2,{addr},4".encode()
    assert stub.ask(b"Z" + z) == b"OK"
    assert stub.ask(b"Z" + z) == b"OK"
    assert stub.ask(b"z" + z) == b"OK"
    assert stub.ask(b"c") == b"W03"        # prog.c exits with 3, no watchpoint left


# -- pyld: never loses or clobbers an input ----------------------------------------------

ASM_A = """section .text
global _start
extern ext
_start: call ext
 mov eax, 1
 int 0x80
"""
ASM_B = """section .text
global ext
ext: ret
"""


@pytest.fixture
def objects(tmp_path) -> Path:
    _need("nasm")
    for name, text in (("a", ASM_A), ("b", ASM_B)):
        (tmp_path / f"{name}.asm").write_text(text)
        subprocess.run(["nasm", "-f", "elf32", f"{name}.asm", "-o", f"{name}.o"],
                       cwd=tmp_path, check=True)
    (tmp_path / "link.o").symlink_to("a.o")
    return tmp_path


def _pyld(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "asm.link.cli", *args], cwd=cwd,
                          capture_output=True, text=True, env=_env(), timeout=60)


@pytest.mark.parametrize("args", [
    ("a.o", "b.o", "-o", "a.o"),            # a link that works: wrote over its input
    ("a.o", "-o", "a.o"),                   # one that fails: removed its input
    ("a.o", "missing.o", "-o", "a.o"),      # an input missing: removed the other
    ("a.o", "b.o", "-o", "link.o"),         # the same file through a symlink
    ("./a.o", "b.o", "-o", "a.o"),
])
def test_pyld_refuses_an_input_as_its_output_as_gnu_ld(objects, args):
    """GNU ld: "input file 'a.o' is the same as output file", status 1, the input kept.
    pyld linked over it, or (after an error) removed it as a stale output."""
    _need("ld")
    kept = {n: (objects / n).read_bytes() for n in ("a.o", "b.o")}
    ld = subprocess.run(["ld", "-m", "elf_i386", *args], cwd=objects, capture_output=True,
                        text=True)
    assert {n: (objects / n).read_bytes() for n in kept} == kept
    ours = _pyld(objects, *args)
    assert {n: (objects / n).read_bytes() for n in kept} == kept
    assert ours.returncode == ld.returncode == 1
    want = re.search(r"input file '[^']+' is the same as output file", ld.stderr)
    assert want and f"pyld: error: {want.group(0)}" in ours.stderr, (ld.stderr, ours.stderr)
    assert "Traceback" not in ours.stderr


def test_pyld_map_file_never_replaces_an_input(objects):
    """``-Map b.o``: pyld wrote its map over the input it had just read (GNU ld truncates
    it before reading it: the object is lost either way). Refused, the input kept."""
    kept = (objects / "b.o").read_bytes()
    r = _pyld(objects, "a.o", "b.o", "-o", "out", "-Map", "b.o")
    assert r.returncode == 1
    assert r.stderr == "pyld: error: input file 'b.o' is the same as map file\n"
    assert (objects / "b.o").read_bytes() == kept
    assert not (objects / "out").exists()


# -- the debugger: the source files a program's line table names -------------------------

def _c_program(tmp_path: Path, line_file: str) -> Path:
    """A gcc -g program whose line table names ``line_file`` as its source."""
    _need("gcc")
    src = tmp_path / "p.c"
    src.write_text(f'#line 1 "{line_file}"\nint main(void)\n{{\nreturn 3;\n}}\n')
    exe = tmp_path / "p"
    subprocess.run(["gcc", "-m32", "-static", "-g", "-O0", "-o", str(exe), str(src)],
                   check=True, timeout=120)
    return exe


def _debug(exe: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vm.cli", "--debug", str(exe)],
                          input="break main\ncontinue\ncontinue\n", capture_output=True,
                          text=True, cwd=cwd, env=_env(), timeout=60)


@pytest.mark.parametrize("kind", ["fifo", "dev"])
def test_debugger_reads_only_regular_source_files(tmp_path, kind):
    """The line table is the program's: ``#line 1 "src.fifo"`` (a FIFO in the start
    directory) hung ``pyvm --debug`` at the first stop (it opened the FIFO to show the
    line); ``/dev/zero`` read until MemoryError, a traceback; ``/dev/tty`` would read
    the user's terminal. As gdb with no source at hand: the stop is shown without its
    line, and the session goes on."""
    name = "src.fifo" if kind == "fifo" else "/dev/zero"
    exe = _c_program(tmp_path, name)
    if kind == "fifo":
        os.mkfifo(tmp_path / "src.fifo")
    if kind == "dev":
        import resource

        def small():        # (before the fix: a MemoryError soon, not the host's memory)
            resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
        r = subprocess.run([sys.executable, "-m", "vm.cli", "--debug", str(exe)],
                           input="break main\ncontinue\ncontinue\n", capture_output=True,
                           text=True, cwd=tmp_path, env=_env(), timeout=60,
                           preexec_fn=small)
    else:
        r = _debug(exe, tmp_path)
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    assert f"in main () at {name}:" in r.stdout and f"\tin {name}\n" in r.stdout
    assert "exited with code 03" in r.stdout


def test_debugger_still_shows_a_regular_source_line(tmp_path):
    exe = _c_program(tmp_path, "p.c")
    r = _debug(exe, tmp_path)
    assert "\tint main(void)\n" in r.stdout and "exited with code 03" in r.stdout


# -- pyvm --disk IMAGE --disk-write ---------------------------------------------------------

WRITER = r"""
 bits 16
 org 0x7c00
 xor ax, ax
 mov es, ax
 mov ax, 0x0301             ; write one sector (CHS 0/0/2: the image's second)
 mov cx, 0x0002
 mov dh, 0
 mov bx, 0x7c00             ; with this boot sector's bytes
 int 0x13
 mov al, 0x20               ; power off (pyvm's exit port)
 out 0xf4, al
 cli
 hlt
 times 510-($-$$) db 0
 dw 0xaa55
 times 512 db 'V'
"""


def _writer_image(tmp_path: Path) -> bytes:
    _need("nasm")
    (tmp_path / "w.asm").write_text(WRITER)
    subprocess.run(["nasm", "-f", "bin", "w.asm", "-o", "w.img"], cwd=tmp_path, check=True)
    return (tmp_path / "w.img").read_bytes()


def _disk(cwd: Path, name: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vm.cli", "--disk", name, "--disk-write",
                           "--timeout", "30"], capture_output=True, text=True, cwd=cwd,
                          env=_env(), timeout=60)


def test_disk_write_does_not_follow_a_planted_symlink(tmp_path):
    """A guest that ran in the start directory may have replaced ``disk.img`` with a
    symlink to any file (or disk) of the user; ``--disk-write`` wrote the boot sector's
    sectors through it, outside every grant. Refused now (status 1, one line), as the
    other files a run writes (--serial, --trace-file...) refuse such a link."""
    image = _writer_image(tmp_path)
    outside, work = tmp_path / "outside", tmp_path / "work"
    outside.mkdir()
    work.mkdir()
    (outside / "victim.img").write_bytes(image)
    (work / "disk.img").symlink_to(outside / "victim.img")
    r = _disk(work, "disk.img")
    assert (outside / "victim.img").read_bytes() == image
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("pyvm: disk.img: --disk-write: a symbolic link") and \
        r.stderr.count("\n") == 1, r.stderr


def test_disk_write_does_not_follow_a_planted_directory_link(tmp_path):
    """The same through a directory of the name: ``imgs`` replaced by a link to another
    directory of the user's (refused as for the other files a run writes)."""
    image = _writer_image(tmp_path)
    outside, work = tmp_path / "outside", tmp_path / "work"
    outside.mkdir()
    work.mkdir()
    (outside / "victim.img").write_bytes(image)
    (work / "imgs").symlink_to(outside)
    r = _disk(work, "imgs/victim.img")
    assert (outside / "victim.img").read_bytes() == image
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "Traceback" not in r.stderr


def test_disk_write_still_writes_the_image_named(tmp_path):
    image = _writer_image(tmp_path)
    r = _disk(tmp_path, "w.img")
    assert r.returncode == 0x41, r.stderr
    after = (tmp_path / "w.img").read_bytes()
    assert after[512:1024] == image[:512] and after[:512] == image[:512]


# -- the debugger's reverse-execution history: bounded in bytes ----------------------------

READER = r"""
section .bss
buf: resb 1 << 20
section .data
path: db "/dev/urandom", 0
section .text
global _start
_start:
 mov eax, 5                 ; open("/dev/urandom", O_RDONLY)
 mov ebx, path
 xor ecx, ecx
 int 0x80
 mov esi, eax
 xor ebp, ebp
again:
 mov eax, 3                 ; read(fd, buf, 1 MiB): the history logs every byte
 mov ebx, esi
 mov ecx, buf
 mov edx, 1 << 20
 int 0x80
 inc ebp
 cmp ebp, 600
 jb again
done:
 mov eax, 1
 xor ebx, ebx
 int 0x80
"""


def test_debugger_history_is_bounded_in_bytes(tmp_path):
    """Snapshots were bounded in number (400), not in bytes: a program reading 1 MiB a
    time logged every MiB (600 reads: 658 MB peak; a loop: gigabytes), one writing a
    new page every few instructions saved ~270 MB a snapshot (12 GB in 35 s). Now the
    oldest history goes past 256 MB (an interval that holds a quarter of it ends early),
    and what is kept still replays exactly: back three instructions ebp is 599, forward
    again 600, then the program exits."""
    _need("nasm")
    _need("ld")
    (tmp_path / "r.asm").write_text(READER)
    subprocess.run(["nasm", "-f", "elf32", "r.asm", "-o", "r.o"], cwd=tmp_path, check=True)
    subprocess.run(["ld", "-m", "elf_i386", "r.o", "-o", "r"], cwd=tmp_path, check=True)
    cmds = ["break done", "continue", "reverse-stepi", "reverse-stepi", "reverse-stepi",
            "info registers ebp", "reverse-continue", "continue", "info registers ebp",
            "continue"]
    probe = ("import resource, subprocess, sys\n"       # (the child's own peak)
             "p = subprocess.run(sys.argv[1:], input=sys.stdin.buffer.read(),"
             " capture_output=True, timeout=240)\n"
             "sys.stdout.buffer.write(p.stdout + p.stderr)\n"
             "print(p.returncode,"
             " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    r = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "vm.cli",
                        "--debug", "./r"], input="\n".join(cmds) + "\n",
                       capture_output=True, text=True, cwd=tmp_path, env=_env(),
                       timeout=300)
    text, _, last = r.stdout.rstrip("\n").rpartition("\n")
    status, peak_kib = map(int, last.split())
    assert "Traceback" not in text, text
    assert status == 0, text
    assert re.findall(r"ebp\s+0x\w+\s+(\d+)", text) == ["599", "600"], text
    assert "exited normally" in text
    assert "No more reverse-execution history" in text
    assert peak_kib < 450 << 10, peak_kib          # (600 MiB read; before: 658 MB)


@pytest.mark.parametrize("entry", ["v16", "debug"])
def test_entry_points_read_a_bounded_input(entry):
    """``vm.v16.runner.run_v16_file`` and ``python -m vm.debug PROGRAM`` read their file
    whole, unbounded: ``/dev/zero`` ran until MemoryError (a traceback). As every tool's
    input: refused past 256 MiB, one line, status 1."""
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
    if entry == "v16":
        code = ("import io, sys\n" + limit + "from vm.options import RunOptions\n"
                "from vm.v16.runner import run_v16_file\n"
                "sys.exit(run_v16_file('/dev/zero', RunOptions(), io.BytesIO()))\n")
        want = "v16: error: /dev/zero: "
    else:
        code = ("import sys\n" + limit + "from vm.debug.__main__ import main\n"
                "sys.exit(main(['/dev/zero']))\n")
        want = "pyvm: /dev/zero: "
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=ROOT, env=_env(), timeout=120)
    assert r.returncode == 1, r.stderr
    assert r.stderr == want + ("input too large: more than the 256 MiB an input may have "
                               "(not a regular file, or it grew)\n")


# -- the debugger: a program's DWARF line table, whoever made it ---------------------------

def _line_table_program(tmp_path: Path, body: str) -> Path:
    """An ELF whose .debug_line is one DWARF 2 unit (file a.c) with line program ``body``
    (nasm source lines)."""
    _need("nasm")
    _need("ld")
    src = f"""section .text
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
header_end:
{body}
unit_end:
"""
    (tmp_path / "d.asm").write_text(src)
    subprocess.run(["nasm", "-f", "elf32", "d.asm", "-o", "d.o"], cwd=tmp_path, check=True)
    subprocess.run(["ld", "-m", "elf_i386", "d.o", "-o", "d"], cwd=tmp_path, check=True)
    return tmp_path / "d"


@pytest.mark.parametrize("body", [
    # DW_LNS_advance_pc with a 3 MB ULEB128: each byte was shifted into a number of
    # millions of bits (quadratic: ~15 minutes before the debugger's first prompt)
    " db 2\n times 3000000 db 0xff\n db 0x7f, 1",
    # 3 MiB of special opcodes: a row each (3 million rows: ~1.2 GB, then spans)
    " times 3 << 20 db 0x20",
])
def test_debugger_line_table_is_bounded(tmp_path, body):
    exe = _line_table_program(tmp_path, body)
    probe = ("import resource, subprocess, sys\n"
             "p = subprocess.run(sys.argv[1:], input=b'continue\\n', capture_output=True,"
             " timeout=90)\n"
             "sys.stdout.buffer.write(p.stdout + p.stderr)\n"
             "print(p.returncode,"
             " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    r = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "vm.cli",
                        "--debug", str(exe)], capture_output=True, text=True, cwd=tmp_path,
                       env=_env(), timeout=120)
    text, _, last = r.stdout.rstrip("\n").rpartition("\n")
    status, peak_kib = map(int, last.split())
    assert "Traceback" not in text and status == 0, text
    assert "exited normally" in text
    assert peak_kib < 600 << 10, peak_kib


def test_line_table_rows_and_numbers_are_bounded():
    """In-process: the decoder keeps at most MAX_ITEMS rows and entries, and a LEB128
    number its low 64 bits (the rows decoded before the cut are kept)."""
    from formats.elf.dwarfline import MAX_ITEMS, line_rows
    head = bytes([1, 1, 0xFB, 14, 13, 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1, 0]) + \
        b"a.c\0\0\0\0\0"

    def unit(program: bytes) -> bytes:
        u = (2).to_bytes(2, "little") + len(head).to_bytes(4, "little") + head + program
        return len(u).to_bytes(4, "little") + u
    rows = line_rows(unit(b"\x20" * (MAX_ITEMS + 10)))
    assert len(rows) == MAX_ITEMS - 1               # (the file entry took one)
    rows = line_rows(unit(b"\x02" + b"\xff" * 20 + b"\x7f\x01"))
    assert [(x.address, x.file, x.line) for x in rows] == [(0xFFFFFFFF, "a.c", 1)]


# -- the Python API ---------------------------------------------------------------------

def test_api_run_can_bound_the_captured_output():
    """``vm.run`` holds the program's output in memory and had no way to bound it (a
    program writing in a loop filled the host's memory). ``max_output`` is
    ``--max-output``: status 153, at most that much captured."""
    import asm
    import vm
    loop = asm.assemble("bits 32\nagain: mov eax, 4\n mov ebx, 1\n mov ecx, 0x1000\n"
                        " mov edx, 0x1000\n int 0x80\n jmp again\n", origin=0x1000).data
    r = vm.run(loop, org=0x1000, max_output=1 << 20, timeout=60)
    assert r.status == 153
    assert len(r.stdout) <= 1 << 20 and len(r.stdout) >= 1 << 19
