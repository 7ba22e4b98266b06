"""Session 30, debugging as an interface: the GDB stub's interrupt (Ctrl-C while the
guest runs) and packet parsing against the real gdb and QEMU's stub, debug runs' output
budget, PYVM_DISPATCH_STATS after code is flushed, and page flags changed from an API
callback (Unicorn)."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from conftest import require_module, require_tool

from vm.x86 import Machine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def nasm(tmp_path, src: str, fmt: str = "bin") -> bytes:
    require_tool("nasm")
    s, out = tmp_path / "n.s", tmp_path / "n.out"
    s.write_text(src)
    subprocess.run(["nasm", "-f", fmt, "-o", str(out), str(s)], check=True, timeout=60)
    return out.read_bytes()


# -- page flags changed from a callback (Memory.set_unreadable, not Machine.map) -----------

LOOP = """bits 32
    mov ecx, 10
    mov edi, 0x3000
l:  int 0x33
    mov eax, [edi + 0x100]
    mov [edi], ecx
    add edi, 4
    dec ecx
    jnz l
    hlt
"""


def _protect_ours(code: bytes, what: str) -> tuple:
    m = Machine("flat32", 1 << 16)
    m.write(0, code)
    m.write_reg("eip", 0)
    calls = [0]

    def on_int(m, vector, software):
        calls[0] += 1
        if calls[0] == 3:
            if what == "ro":
                m.mem.set_readonly(0x3000, 0x4000)
            else:
                m.mem.set_unreadable(0x3000, 0x4000, True)
                m.mem.set_readonly(0x3000, 0x4000)
        return True
    m.hook_interrupt(on_int)
    stop = m.run()
    return stop.reason, m.reg("eip"), m.reg("ecx")


def _protect_unicorn(code: bytes, what: str) -> tuple:
    U = require_module("unicorn")
    from unicorn import x86_const as X
    u = U.Uc(U.UC_ARCH_X86, U.UC_MODE_32)
    u.mem_map(0, 1 << 16)
    u.mem_write(0, code)
    calls = [0]

    def on_int(u, vector, data):
        calls[0] += 1
        if calls[0] == 3:
            u.mem_protect(0x3000, 0x1000, U.UC_PROT_READ if what == "ro" else
                          U.UC_PROT_NONE)
    u.hook_add(U.UC_HOOK_INTR, on_int)
    try:
        u.emu_start(0, len(code) - 1)
        reason = "halt"
    except U.UcError:
        reason = "fault"
    return reason, u.reg_read(X.UC_X86_REG_EIP), u.reg_read(X.UC_X86_REG_ECX)


@pytest.mark.parametrize("what", ["ro", "none"])
def test_page_flags_changed_by_a_callback_stop_the_running_block(tmp_path, what):
    code = nasm(tmp_path, LOOP)
    theirs = _protect_unicorn(code, what)
    assert theirs[0] == "fault"
    assert _protect_ours(code, what) == theirs


# -- PYVM_DISPATCH_STATS under self-modifying code ------------------------------------------

SMC = """bits 32
    mov ecx, 3000
    xor ebx, ebx
l:  mov [patch + 1], ecx     ; rewrites the immediate below: a new translation each time
patch: mov eax, 0
    add ebx, eax
    dec ecx
    jnz l
    int 0x33
"""


def test_dispatch_stats_forget_flushed_blocks(tmp_path):
    import gc

    from vm.x86 import dispatchstats
    U = require_module("unicorn")
    from unicorn import x86_const as X
    code = nasm(tmp_path, SMC)
    u = U.Uc(U.UC_ARCH_X86, U.UC_MODE_32)
    u.mem_map(0, 1 << 16, U.UC_PROT_ALL)
    u.mem_write(0, code)
    u.emu_start(0, len(code) - 2)
    m = Machine("flat32", 1 << 16)
    stats = dispatchstats.install(m, at_exit=False)
    m.write(0, code)
    m.write_reg("eip", 0)
    m.hook_interrupt(lambda m, v, s: m.request_stop() or True)
    m.run()
    assert m.reg("ebx") == u.reg_read(X.UC_X86_REG_EBX)
    gc.collect()
    assert len(stats._labels) < 50      # (it kept one per retranslation: 3000+)


# -- the GDB stub: Ctrl-C while the program runs, packet parsing (QEMU's stub: oracle) ------

BOOT_LOOP = """bits 16
org 0x7c00
    xor ax, ax
    mov ecx, 0              ; (spin: 0x7c08, its jmp 0x7c0a)
spin: inc ecx
    jmp spin
    times 510-($-$$) db 0
    dw 0xaa55
"""

ELF_LOOP = """bits 32
global _start
_start:
    mov eax, 5
spin: inc ecx
    jmp spin
"""


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stub(kind: str, prog: str):
    """(process, port) of a stub listening on prog: QEMU's or ours."""
    import socket
    import sys
    import time
    port = _free_port()
    if kind == "qemu":
        require_tool("qemu-i386")
        args = ["qemu-i386", "-g", str(port), prog]
    elif kind == "qemu-system":
        require_tool("qemu-system-i386")
        args = ["qemu-system-i386", "-display", "none", "-S", "-gdb",
                f"tcp:127.0.0.1:{port}", "-drive", f"format=raw,file={prog}"]
    else:
        args = [sys.executable, "-m", "vm.debug", "--input", "/dev/null",
                *(["--bits", "16"] if prog.endswith(".bin") else []),
                "--gdb", f"127.0.0.1:{port}", prog]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE if kind == "pyvm" else subprocess.DEVNULL,
                            start_new_session=True)
    if kind == "pyvm":
        assert "listening for gdb" in proc.stderr.readline().decode()
        proc.stderr.close()
        return proc, port
    if kind == "qemu":
        return proc, port       # (it serves one connection: Raw tries until it listens)
    for _ in range(200):       # (QEMU serves a new connection after one closes)
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert proc.poll() is None, "qemu ended"
        time.sleep(0.05)
    return proc, port


def _interrupted_gdb(kind: str, prog: str, flag) -> str:
    """gdb -batch: run to the loop (a breakpoint), continue, then SIGINT to gdb (it
    sends Ctrl-C to the stub) once the loop has run a while, then the registers.
    ``flag``: a path gdb creates (`shell`) when it is at the loop."""
    import signal
    import time
    require_tool("gdb")
    stub, port = _stub(kind, prog)
    try:
        g = subprocess.Popen(["gdb", "-batch", "-nx", "-ex", "set architecture i8086",
                              "-ex", f"target remote 127.0.0.1:{port}",
                              "-ex", "break *0x7c08", "-ex", "continue", "-ex", "delete",
                              "-ex", f"shell touch {flag}", "-ex", "continue",
                              "-ex", "info registers eip", "-ex", "print $ecx > 1000",
                              "-ex", "kill"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
        try:
            for _ in range(1200):
                if os.path.exists(flag) or g.poll() is not None:
                    break
                time.sleep(0.1)
            time.sleep(2)               # the loop runs: ecx counts up
            g.send_signal(signal.SIGINT)
            return g.communicate(timeout=60)[0]
        finally:
            if g.poll() is None:
                g.kill()
                g.wait()
    finally:
        if stub.poll() is None:
            stub.kill()
        stub.wait(timeout=10)


def test_gdb_interrupts_a_running_boot_sector_as_qemu(tmp_path):
    boot = tmp_path / "loop.bin"
    boot.write_bytes(nasm(tmp_path, BOOT_LOOP))
    theirs = _interrupted_gdb("qemu-system", str(boot), tmp_path / "at-loop-qemu")
    ours = _interrupted_gdb("pyvm", str(boot), tmp_path / "at-loop-pyvm")
    for out in (theirs, ours):
        assert "Program received signal SIGINT, Interrupt." in out, out
        assert re.search(r"eip\s+0x7c0[8a]\s", out), out        # in the loop
        assert "$1 = 1" in out, out                             # it ran a while


class Raw:
    """A bare remote-protocol client (acknowledging mode)."""

    def __init__(self, port: int):
        import socket
        import time
        for _ in range(200):
            try:
                self.s = socket.create_connection(("127.0.0.1", port), timeout=20)
                break
            except ConnectionRefusedError:
                time.sleep(0.05)
        else:
            raise AssertionError(f"nothing listens on port {port}")
        self.buf = b""

    def send(self, payload: bytes) -> None:
        self.s.sendall(b"$%s#%02x" % (payload, sum(payload) & 0xFF))

    def reply(self) -> bytes:
        while True:
            m = re.search(rb"\$([^#]*)#..", self.buf)
            if m:
                self.buf = self.buf[m.end():]
                self.s.sendall(b"+")
                return m.group(1)
            chunk = self.s.recv(65536)
            assert chunk, "the stub closed the connection"
            self.buf += chunk

    def ask(self, payload: bytes) -> bytes:
        self.send(payload)
        return self.reply()

    def close(self) -> None:
        try:
            self.s.sendall(b"$k#6b")
        except OSError:
            pass
        self.s.close()


def _session(kind: str, prog: str, fn):
    stub, port = _stub(kind, prog)
    c = Raw(port)
    try:
        return fn(c)
    finally:
        c.close()
        try:
            stub.wait(timeout=5)
        except subprocess.TimeoutExpired:
            stub.kill()
            stub.wait(timeout=10)


def test_ctrl_c_after_noise_stops_the_running_program_as_qemu(tmp_path):
    import time
    boot = tmp_path / "loop.bin"
    boot.write_bytes(nasm(tmp_path, BOOT_LOOP))

    def interrupt(c: Raw) -> tuple:
        c.ask(b"qSupported")
        c.send(b"vCont;c")
        time.sleep(1)
        c.s.sendall(b"+noise\x03")
        stop = c.reply()
        return stop[:3], c.ask(b"g")[64:72]        # eip
    theirs = _session("qemu-system", str(boot), interrupt)
    ours = _session("pyvm", str(boot), interrupt)
    assert theirs[0] == ours[0] == b"T02"
    for eip in (ours[1], theirs[1]):
        assert eip in (b"087c0000", b"0a7c0000")       # in the loop


# packets, and whether QEMU's stub (qemu-i386 -g) refuses them too (E..); ours is
# stricter where QEMU takes what gdb never sends (a register value of the wrong size,
# an X packet's length not that of its data, a watchpoint of no bytes)
PACKETS = [
    (b"P8=", "E"),                          # (it wrote 0 to eip)
    (b"m8048000,-1", "E"), (b"m8048000,", "E"), (b"Z0,8048000", "E"),
    (b"M8048000,2:41", "E"), (b"M8048000,1:", "E"),
    (b"vCont;s:3", "E"), (b"vCont;s:zz", "E"),
    (b"qXfer:features:read:target.xml:100000,10", "E"),
    (b"qXfer:features:read:nosuch.xml:0,10", "E"),
    (b"qXfer:features:read:target.xml:0", "E"),
    (b"Tzz", "E"), (b"T3", "E"), (b"Hg3", "E"), (b"Hgzz", "E"),
    (b"Hc-1", "OK"), (b"Hg0", "OK"), (b"Z0,8048000,1", "OK"), (b"z0,8048000,1", "OK"),
]
STRICTER = [b"P8=0010400", b"P8=001040", b"P8= 0104000", b"X8048000,2:A",
            b"X8048000,1:}", b"Z2,8048000,0", b"vCont;x", b"vCont;", b"c 1"]


def test_malformed_packets_are_refused_as_qemu_refuses_them(tmp_path):
    prog = _elf_loop(tmp_path)

    def ask_all(packets):
        def run(c: Raw) -> list:
            c.ask(b"qXfer:features:read:target.xml:0,ffb")     # (QEMU: p/P need it)
            out = []
            for p in packets:
                r = c.ask(p)
                out.append("E" if re.fullmatch(rb"E[0-9a-fA-F]{2}", r) else r.decode())
            return out
        return run
    theirs = _session("qemu", prog, ask_all([p for p, _ in PACKETS]))
    ours = _session("pyvm", prog, ask_all([p for p, _ in PACKETS] + STRICTER))
    assert theirs == [want for _, want in PACKETS]
    assert ours == theirs + ["E"] * len(STRICTER)


def test_a_packet_with_a_bad_checksum_is_refused(tmp_path):
    import time
    prog = _elf_loop(tmp_path)

    def bad(c: Raw) -> tuple:
        c.s.sendall(b"$p8#00")
        time.sleep(0.5)
        return c.s.recv(100), c.ask(b"?")[:3]
    assert _session("qemu", prog, bad) == _session("pyvm", prog, bad) == \
        (b"-", b"T05")


# -- debug runs draw on --max-output as plain runs do ---------------------------------------

FILE_WRITER = r"""
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
    char buf[512];
    for (int i = 0; i < 512; i++) buf[i] = 'a' + i % 26;
    int fd = open("out.dat", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    for (int i = 0; i < 8; i++) write(fd, buf, 512);
    close(fd);
    printf("done\n");
    return 0;
}
"""


def test_linux_debug_run_stops_at_the_output_budget_as_ulimit_f(tmp_path):
    """Native: `ulimit -f 1` (1024 bytes) kills the program with SIGXFSZ at the write
    that does not fit, under gdb too; pyvm --max-output 1024 --gdb / --debug: the same
    (the debug run went on to print 'done' and exit 0)."""
    import sys
    require_tool("gcc")
    require_tool("gdb")
    src, prog = tmp_path / "fw.c", tmp_path / "fw"
    src.write_text(FILE_WRITER)
    subprocess.run(["gcc", "-m32", "-static", "-O1", "-o", str(prog), str(src)], check=True,
                   timeout=120)
    native = subprocess.run(["bash", "-c", f"ulimit -f 1; gdb -batch -nx -ex run "
                             f"-ex continue {prog}"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert "Program terminated with signal SIGXFSZ, File size limit exceeded." in \
        native.stdout
    assert (tmp_path / "out.dat").stat().st_size == 1024
    (tmp_path / "out.dat").unlink()
    stub = subprocess.Popen([sys.executable, "-m", "vm.cli", "--max-output", "1024",
                             "--gdb", "127.0.0.1:0", str(prog)], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": ROOT},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = stub.stderr.readline().decode()
        port = re.search(r"127\.0\.0\.1:(\d+)", line).group(1)
        r = subprocess.run(["gdb", "-batch", "-nx", "-ex", f"target remote :{port}",
                            "-ex", "continue", str(prog)], capture_output=True, text=True,
                           timeout=120)
        stub.wait(timeout=30)
        out = stub.stdout.read().decode()
        err = stub.stderr.read().decode()
    finally:
        if stub.poll() is None:
            stub.kill()
            stub.wait()
        stub.stdout.close()
        stub.stderr.close()
    assert "Program terminated with signal SIGXFSZ, File size limit exceeded." in r.stdout
    assert "done" not in out and "output limit of 1024 bytes reached" in err
    assert (tmp_path / "out.dat").stat().st_size == 1024
    cli = subprocess.run([sys.executable, "-m", "vm.cli", "--max-output", "1024", "--debug",
                          str(prog)], input="continue\n", cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": ROOT})
    assert "Program terminated with signal SIGXFSZ." in cli.stdout
    assert "done" not in cli.stdout


def test_v16_debug_run_output_draws_on_max_output_as_the_runner(tmp_path):
    """The V16 runner (v16-spec.md's OutputLimit, status 153) is the oracle: the same
    bytes out, the same dump, the stop before the `out` that does not fit."""
    import sys
    hello = os.path.join(ROOT, "samples", "v16", "hello.asm")
    plain = subprocess.run([sys.executable, "-m", "vm.cli", "--max-output", "5", hello],
                           capture_output=True, timeout=120, cwd=ROOT)
    assert plain.returncode == 153 and plain.stdout == b"Hello"
    dbg = subprocess.run([sys.executable, "-m", "vm.cli", "--max-output", "5", "--debug",
                          hello], input=b"continue\nreverse-stepi\ncontinue\n",
                         capture_output=True, timeout=120, cwd=ROOT)
    assert dbg.stdout.count(b"Hello") == 1 and b"Hello," not in dbg.stdout
    assert dbg.stdout.count(b"exited with code 0231") == 2
    assert dbg.stderr == plain.stderr * 2


def _elf_loop(tmp_path) -> str:
    prog, obj = tmp_path / "loop", tmp_path / "loop.o"
    obj.write_bytes(nasm(tmp_path, ELF_LOOP, "elf32"))
    require_tool("ld")
    subprocess.run(["ld", "-m", "elf_i386", "-Ttext=0x8049000", "-o", str(prog), str(obj)],
                   check=True, timeout=60)
    return str(prog)


def test_ctrl_c_in_the_command_line_debugger_stops_the_program_as_gdb(tmp_path):
    """pyvm --debug: Ctrl-C during `continue` stops the program where it is, with gdb's
    words (it raised KeyboardInterrupt inside the running block: 'Quit', and the
    machine was left half way through the block)."""
    import signal
    import sys
    import time
    prog = _elf_loop(tmp_path)
    p = subprocess.Popen([sys.executable, "-m", "vm.cli", "--debug", prog],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, cwd=ROOT, text=True)
    try:
        p.stdin.write("continue\n")
        p.stdin.flush()
        time.sleep(3)
        p.send_signal(signal.SIGINT)
        p.stdin.write("info registers ecx\nstepi\nstepi\ninfo registers eip\n")
        p.stdin.close()
        out = p.stdout.read()
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert "Program received signal SIGINT, Interrupt." in out
    assert "Quit" not in out
    ecx = int(re.search(r"ecx\s+0x([0-9a-f]+)", out).group(1), 16)
    assert ecx > 1000
    # two more instructions of the loop: back where it stopped
    stop = re.search(r"SIGINT, Interrupt\.\n0x([0-9a-f]+)", out).group(1)
    assert re.search(rf"eip\s+0x{int(stop, 16):x}\s", out)


# -- registers as QEMU's stub shows them: SSE, the TLS bases, IOPL ---------------------------

def _gdb_against(kind: str, prog: str, commands: list) -> str:
    require_tool("gdb")
    stub, port = _stub(kind, prog)
    args = ["gdb", "-batch", "-nx", "-ex", f"target remote 127.0.0.1:{port}"]
    for c in commands:
        args += ["-ex", c]
    try:
        r = subprocess.run(args + [prog], capture_output=True, text=True, timeout=120)
        return r.stdout
    finally:
        try:
            stub.wait(timeout=10)
        except subprocess.TimeoutExpired:
            stub.kill()
            stub.wait()


def test_sse_registers_and_tls_bases_as_qemu(tmp_path):
    require_tool("gcc")
    prog = str(tmp_path / "prog")
    subprocess.run(["gcc", "-m32", "-static", "-g", "-O0", "-o", prog,
                    os.path.join(ROOT, "tests", "debug", "prog.c")], check=True, timeout=120)
    cmds = ["break prog.c:12", "continue", "info registers eflags", "info registers mxcsr",
            "p $fs_base", "p $gs_base != 0", "info registers xmm7",
            "set var $xmm2.v4_int32[1] = 7", "p $xmm2.v4_int32[1]",
            "set var $mxcsr = 0x1f81", "p $mxcsr", "kill"]
    theirs = _gdb_against("qemu", prog, cmds)
    ours = _gdb_against("pyvm", prog, cmds)

    def part(out: str) -> str:
        return out[out.index("Breakpoint 1,"):out.index("Kill the program")]
    assert "Invalid register" not in ours
    assert "mxcsr          0x1f80              [ IM DM ZM OM UM PM ]" in ours
    assert "[ IOPL=0 IF ]" in ours
    assert part(ours) == part(theirs)


# -- a threaded glibc program: its threads share the followed Machine -----------------------

THREADS = r"""
#include <pthread.h>
#include <stdio.h>
volatile int stage;
volatile unsigned counter;
static void *worker(void *arg) {
    stage = 1;
    while (stage != 2) ;
    if (arg) for (;;) counter++;
    return arg;
}
int main(int argc, char **argv) {
    pthread_t t;
    pthread_create(&t, 0, worker, argc > 1 ? argv : 0);
    while (stage != 1) ;
    stage = 2;                                  /* the breakpoint */
    pthread_join(t, 0);
    printf("joined\n");
    return 0;
}
"""


def _threads_prog(tmp_path) -> str:
    require_tool("gcc")
    src, prog = tmp_path / "thr.c", tmp_path / "thr"
    src.write_text(THREADS)
    subprocess.run(["gcc", "-m32", "-static", "-g", "-O0", "-pthread", "-o", str(prog),
                    str(src)], check=True, timeout=120)
    return str(prog)


def test_next_in_a_threaded_program_moves_the_main_thread_as_qemu(tmp_path):
    """`next` after a breakpoint while another thread runs: the main thread goes to the
    next line (it did not move: the other thread's turn used up the step, and the
    breakpoint was hit again and again)."""
    prog = _threads_prog(tmp_path)
    cmds = ["break thr.c:16", "continue", "next", "continue"]
    theirs = _gdb_against("qemu", prog, cmds)
    ours = _gdb_against("pyvm", prog, cmds)
    for out in (theirs, ours):
        assert "16\t    stage = 2;" in out and "17\t    pthread_join(t, 0);" in out, out
        assert "exited normally]" in out, out
        assert len(re.findall(r"Breakpoint 1, main", out)) == 1, out


def test_ctrl_c_while_the_main_thread_waits_for_a_spinning_thread(tmp_path):
    """The followed thread blocks in pthread_join, the other spins: gdb's Ctrl-C still
    stops the program (QEMU's user-mode stub has no Ctrl-C: the boot-sector test above
    compares with qemu-system)."""
    import signal
    import sys
    import time
    prog = _threads_prog(tmp_path)
    stub = subprocess.Popen([sys.executable, "-m", "vm.debug", "--input", "/dev/null",
                             "--gdb", "127.0.0.1:0", prog, "spin"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port = re.search(r":(\d+)", stub.stderr.readline().decode()).group(1)
        g = subprocess.Popen(["gdb", "-batch", "-nx", "-ex", f"target remote :{port}",
                              "-ex", "continue", "-ex", "print counter > 1000", prog],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
        try:
            time.sleep(4)
            g.send_signal(signal.SIGINT)
            out = g.communicate(timeout=30)[0]
        finally:
            if g.poll() is None:
                g.kill()
                g.wait()
    finally:
        stub.kill()
        stub.wait(timeout=10)
        stub.stderr.close()
    assert "received signal SIGINT, Interrupt." in out     # (gdb: "Thread 1 ..." once it sees threads)
    assert "$1 = 1" in out
