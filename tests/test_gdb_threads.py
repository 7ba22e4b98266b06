"""The GDB stub and a threaded Linux program: the same gdb script against pyvm's stub
and against the native run (gdb's own ptrace target) of a gcc -m32 pthread program
gives the same breakpoint hits (which thread), values, backtraces in other threads and
thread list; qXfer:auxv:read and QCatchSyscalls as gdbserver's."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

import pytest

from tests.test_debug_gdb import _need, gdb_session

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_threaded(tmp_path_factory, name: str, tag: str) -> str:
    """tests/debug/NAME.c built static with -g -O0 -pthread into a fresh directory."""
    _need("gcc")
    out = str(tmp_path_factory.mktemp(tag) / name)
    subprocess.run(["gcc", "-m32", "-static", "-g", "-O0", "-pthread", "-o", out,
                    os.path.join(ROOT, "tests", "debug", f"{name}.c")], check=True,
                   timeout=120, cwd=ROOT)
    return out


@pytest.fixture(scope="module")
def turns(tmp_path_factory) -> str:
    return build_threaded(tmp_path_factory, "turns", "gdbthreads")


def native(program: str, commands: list) -> str:
    """The same script on the native run (gdb starts it: `run` for `continue`)."""
    _need("gdb")
    args = ["gdb", "-batch", "-nx"]
    for i, c in enumerate(commands):
        args += ["-ex", "run" if i == commands.index("continue") else c]
    r = subprocess.run(args + [program], capture_output=True, text=True, timeout=90,
                       cwd=ROOT)
    return r.stdout + r.stderr


def _comparable(out: str) -> list:
    """What both runs must agree on: stops, values, frames, source lines, switches
    (thread ids and the PC inside a spin loop differ)."""
    keep = []
    for line in out.splitlines():
        line = re.sub(r"0x[0-9a-f]+ in ", "", line)
        line = re.sub(r"^\[Switching to thread (\d+) \(.*\)\]$", r"[thread \1]", line)
        if re.match(r"(Thread \d+ \S+ hit |\$\d+ = |#\d+ |\d+\t|\[thread \d+\]|counter=)",
                    line):
            keep.append(line)
    return keep


SCRIPT = ["break work", "continue", "p id", "info threads", "next", "next", "p v",
          "continue", "p id", "bt", "thread 2", "bt", "p arg", "thread 1", "frame",
          "delete", "continue"]


def test_threads_breakpoints_and_backtraces_match_the_native_run(turns):
    ours = gdb_session(turns, SCRIPT)
    theirs = native(turns, SCRIPT)
    assert 'Thread 2 "turns" hit Breakpoint 1, work (id=1)' in theirs
    assert _comparable(ours) == _comparable(theirs)
    assert 'Thread 3 "turns" hit Breakpoint 1, work (id=2)' in ours
    assert any(re.fullmatch(r"#0  worker \(arg=0x1\) at \S*turns\.c:21", line)
               for line in _comparable(ours))
    # info threads at the first stop: three threads, the second one current in work
    rows = re.findall(r"^(\*| ) +(\d) +Thread .*?\"turns\" +(.*)$", ours, re.M)
    assert [r[1] for r in rows[:3]] == ["1", "2", "3"]
    assert rows[1][0] == "*" and rows[1][2].startswith("work (id=1)")
    assert re.fullmatch(r".*main \(\) at \S*turns\.c:31", rows[0][2])
    assert "exited normally" in ours


class Raw:
    """A bare protocol client (no-ack mode)."""

    def __init__(self, port: int):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = b""
        self.ask(b"QStartNoAckMode")

    def ask(self, payload: bytes) -> bytes:
        cs = b"%02x" % (sum(payload) & 0xFF)
        self.s.sendall(b"$" + payload + b"#" + cs)
        while True:
            m = re.search(rb"\$([^#]*)#[0-9a-f]{2}", self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m.group(1)
            chunk = self.s.recv(65536)
            assert chunk, "the stub went away"
            self.buf += chunk


def test_thread_packets_and_unknown_threads_get_errors(turns):
    stub = subprocess.Popen([sys.executable, "-m", "vm.debug", "--input", "/dev/null",
                             "--gdb", "127.0.0.1:0", turns], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port = int(re.search(r":(\d+)", stub.stderr.readline().decode()).group(1))
        c = Raw(port)
        assert c.ask(b"qfThreadInfo") == b"m2" and c.ask(b"qsThreadInfo") == b"l"
        assert c.ask(b"qC") == b"QC2"
        addr = subprocess.run(["nm", turns], capture_output=True, text=True).stdout
        work = int(re.search(r"^([0-9a-f]+) T work$", addr, re.M).group(1), 16)
        assert c.ask(b"Z0,%x,1" % work) == b"OK"
        stop = c.ask(b"vCont;c")
        assert re.fullmatch(rb"T05swbreak:;thread:3;", stop), stop
        assert c.ask(b"qfThreadInfo") == b"m2,3,4"
        assert c.ask(b"bs").startswith(b"E.reverse execution is not supported once")
        assert c.ask(b"T4") == b"OK" and c.ask(b"T9") == b"E01"
        assert c.ask(b"Hg9") == b"E01" and c.ask(b"Hc9") == b"E01"
        assert c.ask(b"vCont;s:9").startswith(b"E")
        assert c.ask(b"qThreadExtraInfo,zz").startswith(b"E")
        # each thread's own registers: eip of thread 3 is work, of thread 2 not
        assert c.ask(b"Hg3") == b"OK"
        assert int.from_bytes(bytes.fromhex(c.ask(b"p8").decode()), "little") == work
        assert c.ask(b"Hg2") == b"OK"
        assert int.from_bytes(bytes.fromhex(c.ask(b"p8").decode()), "little") != work
        # a step of thread 3 alone (gdb's step over a breakpoint) stops in thread 3
        assert c.ask(b"z0,%x,1" % work) == b"OK"
        assert c.ask(b"vCont;s:3") == b"T05thread:3;"
        xml = c.ask(b"qXfer:threads:read::0,1000")
        assert xml.startswith(b"l") and xml.count(b"<thread ") == 3
        # vFile (as gdbserver's replies): the maps with the vDSO, errors as F-1,errno
        fd = c.ask(b"vFile:open:%s,0,0" % b"/proc/2/task/2/maps".hex().encode())
        assert re.fullmatch(rb"F[0-9a-f]+", fd), fd
        assert b"[vdso]" in c.ask(b"vFile:pread:%s,1000,0" % fd[1:])
        assert c.ask(b"vFile:close:%s" % fd[1:]) == b"F0"
        assert c.ask(b"vFile:pread:%s,10,0" % fd[1:]) == b"F-1,9"
        assert c.ask(b"vFile:open:%s,0,0" % b"/no/such/file".hex().encode()) == b"F-1,2"
        assert c.ask(b"vFile:open:%s,1,0" % turns.encode().hex().encode()) == b"F-1,d"
        assert c.ask(b"vFile:open:zz,0,0").startswith(b"E")
        assert c.ask(b"vFile:pread:1").startswith(b"E")
        c.s.sendall(b"$k#6b")
    finally:
        stub.kill()
        stub.wait(timeout=10)
        stub.stderr.close()


def _auxv_types(out: str) -> list:
    return re.findall(r"^\d+\s+(AT_\w+)", out, re.M)


def _frames(out: str) -> list:
    """Backtrace lines without their addresses (the vDSO's differs)."""
    return [re.sub(r"0x[0-9a-f]+ in ", "", line) for line in out.splitlines()
            if re.match(r"#\d+  ", line)]


def test_auxv_vdso_backtrace_and_catch_syscall_as_natively(turns):
    script = ["info auxv", "catch syscall write", "continue", "bt", "continue",
              "continue"]
    ours = gdb_session(turns, script)
    theirs = native(turns, ["catch syscall write", "continue", "info auxv", "bt",
                            "continue", "continue"])
    assert _auxv_types(ours) == _auxv_types(theirs)
    assert "AT_SYSINFO_EHDR" in _auxv_types(ours)
    # gdb found the vDSO (auxv, then /proc/PID/task/PID/maps through vFile): its
    # symbols, and the unwind out of __kernel_vsyscall
    assert _frames(ours) == _frames(theirs)
    assert _frames(ours)[0] == "#0  __kernel_vsyscall ()"
    assert _frames(ours)[2].startswith("#2  main () at")
    catches = re.findall(r"Catchpoint 1 \((call to|returned from) syscall (\w+)\)", ours)
    assert catches == re.findall(r"Catchpoint 1 \((call to|returned from) syscall (\w+)\)",
                                 theirs)
    assert catches == [("call to", "write"), ("returned from", "write"),
                       ("call to", "write")]


def test_dynamic_program_with_its_libraries(tmp_path):
    """A dynamically linked program: the debugger loads its interpreter (it did not:
    every dynamic program faulted at once), gdb reads ld.so and libc through vFile."""
    _need("gcc")
    src = tmp_path / "hi.c"
    src.write_text('#include <stdio.h>\nint main(void) {\n    puts("hi there");\n'
                   '    return 4;\n}\n')
    prog = str(tmp_path / "hi")
    subprocess.run(["gcc", "-m32", "-g", "-O0", "-o", prog, str(src)], check=True,
                   timeout=120)
    script = ["break main", "continue", "bt", "info sharedlibrary", "continue"]
    ours = gdb_session(prog, script)
    theirs = native(prog, script)
    assert "Breakpoint 1, main () at" in ours
    assert _frames(ours) == _frames(theirs)
    libs = lambda out: sorted(re.findall(r"Yes.*?(\S+\.so[.\d]*)$", out, re.M))  # noqa
    assert any("libc.so" in x for x in libs(ours))
    assert [os.path.basename(x) for x in libs(ours)] == \
        [os.path.basename(x) for x in libs(theirs)]
    assert "hi there" in ours and "exited with code 04" in ours


def test_a_fault_in_another_thread_stops_there_and_terminates_as_natively(tmp_path):
    _need("gcc")
    prog = str(tmp_path / "thread_segv")
    subprocess.run(["gcc", "-m32", "-static", "-g", "-O0", "-pthread", "-o", prog,
                    os.path.join(ROOT, "tests", "debug", "thread_segv.c")], check=True,
                   timeout=120)
    script = ["continue", "bt", "p id", "continue"]
    ours = gdb_session(prog, script)
    theirs = native(prog, script)
    stop = 'Thread 2 "thread_segv" received signal SIGSEGV, Segmentation fault.'
    assert stop in ours and stop in theirs
    assert _frames(ours) == _frames(theirs)
    assert "$1 = 7" in ours
    assert "Program terminated with signal SIGSEGV, Segmentation fault." in ours
