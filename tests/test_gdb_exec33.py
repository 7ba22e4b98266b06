"""The GDB stub and exec: gdb's `catch exec` stops in the new image (exec events), whose
auxiliary vector (`info auxv`) and symbols (a breakpoint by name, a backtrace) are the
new program's, as gdb shows them on the native run of the same gcc -m32 programs. The
stub refused the catchpoint ("Your system does not support this type of catchpoint"),
its auxv was read once at the start and its program file was the first one."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.test_debug_gdb import _need

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = ["catch exec", "continue", "info auxv", "break second_fn", "continue", "bt",
          "continue"]


@pytest.fixture(scope="module")
def programs(tmp_path_factory) -> tuple:
    _need("gcc")
    d = tmp_path_factory.mktemp("exec33")
    out = []
    for name in ("execer", "exec_second"):
        path = str(d / name)
        subprocess.run(["gcc", "-m32", "-static", "-g", "-O0", "-o", path,
                        os.path.join(ROOT, "tests", "debug", name + ".c")], check=True,
                       timeout=120)
        out.append(path)
    return tuple(out)


def _native(args: list, script: list) -> str:
    _need("gdb")
    cmd = ["gdb", "-batch", "-nx"]
    for c in script:
        cmd += ["-ex", "run" if c == "continue" and "run" not in cmd else c]
    r = subprocess.run(cmd + ["--args", *args], capture_output=True, text=True,
                       timeout=90, cwd=ROOT)
    return r.stdout + r.stderr


def _ours(args: list, script: list) -> str:
    _need("gdb")
    stub = subprocess.Popen([sys.executable, "-m", "vm.debug", "--input", "/dev/null",
                             "--gdb", "127.0.0.1:0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        m = re.search(r"127\.0\.0\.1:(\d+)", stub.stderr.readline().decode())
        assert m
        cmd = ["gdb", "-batch", "-nx", "-ex", f"target remote 127.0.0.1:{m.group(1)}"]
        for c in script:
            cmd += ["-ex", c]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
        stub.wait(timeout=30)
        return r.stdout + r.stderr + stub.stdout.read().decode()
    finally:
        if stub.poll() is None:
            stub.kill()
            stub.wait(timeout=10)
        stub.stdout.close()
        stub.stderr.close()


def _auxv(out: str, name: str) -> str:
    m = re.search(rf"^\d+ +{name} .*? (\S+)(?: (\".*\"))?$", out, re.M)
    assert m, (name, out)
    return m.group(2) or m.group(1)


def _stops(out: str) -> list:
    keep = re.compile(r"(Catchpoint 1 \(exec'd |Breakpoint 2, |#\d |\d+\t|"
                      r"\[Inferior 1 \(process \d+\) exited)")
    return [re.sub(r"process \d+", "process N", x) for x in out.splitlines()
            if keep.match(x)]


def test_catch_exec_then_the_new_images_auxv_and_symbols_as_natively(programs):
    execer, second = programs
    ours, theirs = _ours([execer, second], SCRIPT), _native([execer, second], SCRIPT)
    assert f"Catchpoint 1 (exec'd {second}), " in theirs
    assert _stops(ours) == _stops(theirs)
    assert "Breakpoint 2, second_fn (x=3) at " in ours
    for name in ("AT_ENTRY", "AT_PHDR", "AT_PHNUM", "AT_EXECFN", "AT_BASE"):
        assert _auxv(ours, name) == _auxv(theirs, name), name
    assert "second\n" in ours


def test_an_exec_without_a_catchpoint_goes_on_to_the_new_images_breakpoint(programs):
    """gdb resumes after the exec event by itself; `break second_fn` set pending
    before the exec resolves in the new image (gdb re-reads the symbols)."""
    execer, second = programs
    script = ["set breakpoint pending on", "break second_fn", "continue", "bt",
              "continue"]
    ours, theirs = _ours([execer, second], script), _native([execer, second], script)
    assert "Breakpoint 1, second_fn (x=3) at " in theirs
    pick = lambda out: [x for x in out.splitlines()  # noqa: E731
                        if re.match(r"(Breakpoint 1, |#\d |executing new program)", x)]
    norm = lambda xs: [re.sub(r"process \d+", "process N", x) for x in xs]  # noqa: E731
    assert norm(pick(ours)) == norm(pick(theirs))


def test_exec_of_a_dynamic_pie_loads_its_libraries_as_natively(programs, tmp_path):
    """The new image is a dynamic PIE: gdb finds its ld.so and libc through the new
    auxv (AT_BASE, AT_PHDR) and moves its symbols by its own load bias."""
    execer, _ = programs
    pie = str(tmp_path / "pie")
    r = subprocess.run(["gcc", "-m32", "-pie", "-fPIE", "-g", "-O0", "-o", pie,
                        os.path.join(ROOT, "tests", "debug", "pie.c")],
                       capture_output=True, timeout=120)
    if r.returncode:
        pytest.skip("gcc -m32 -pie cannot link here")
    script = ["catch exec", "continue", "break square", "continue", "bt",
              "info sharedlibrary", "continue"]
    ours, theirs = _ours([execer, pie], script), _native([execer, pie], script)
    libs = lambda out: re.findall(r"^0x[0-9a-f]+ +0x[0-9a-f]+ +Yes.*? (?:target:)?(\S+)$",  # noqa
                                  out, re.M)
    assert [os.path.basename(x) for x in libs(theirs)] == ["ld-linux.so.2", "libc.so.6"]
    assert [os.path.basename(x) for x in libs(ours)] == \
        [os.path.basename(x) for x in libs(theirs)]
    frames = lambda out: re.findall(r"^#\d  (?:0x[0-9a-f]+ in )?(.*)$", out, re.M)  # noqa
    assert frames(theirs)[:2] == ["square (x=7) at " + frames(theirs)[0].split(" at ")[1],
                                  frames(theirs)[1]]
    assert frames(ours)[:2] == frames(theirs)[:2]
    assert "49\n" in ours


def test_debug_cli_catch_exec_loads_the_new_programs_symbols(programs):
    """pyvm --debug: `catch exec` stops in the new image, whose symbols and line table
    replace the first program's (a breakpoint by name there, `info symbol`)."""
    execer, second = programs
    theirs = _native([execer, second], ["catch exec", "continue", "break *second_fn",
                                        "continue", "info symbol $pc", "bt"])
    r = subprocess.run([sys.executable, "-m", "vm.debug", "--input", "/dev/null", execer,
                        second], input="catch exec\ncontinue\nbreak second_fn\ncontinue\n"
                       "info symbol $pc\nbt\ncontinue\nquit\n", capture_output=True,
                       text=True, timeout=120, cwd=ROOT)
    ours = r.stdout
    new = re.compile(r"^process \d+ is executing new program: (\S+)$", re.M)
    assert new.search(theirs).group(1) == new.search(ours).group(1) == second
    assert f"Catchpoint (exec'd {second}), " in ours
    line = re.search(r"^Breakpoint 2, second_fn \(x=3\) at \S*exec_second\.c:(\d+)$",
                     theirs, re.M).group(1)
    assert re.search(rf"^Breakpoint 1, 0x[0-9a-f]+ in second_fn \(\) at "
                     rf"\S*exec_second\.c:{line}$", ours, re.M), ours
    assert "second_fn in section .text" in theirs and "second_fn in section .text" in ours
    caller = re.search(r"^#1  0x[0-9a-f]+ in main \(\) at \S*exec_second\.c:(\d+)$",
                       theirs, re.M).group(1)
    assert re.search(rf"^#1  0x[0-9a-f]+ in main\+\d+ \(\) at \S*exec_second\.c:{caller}$",
                     ours, re.M), ours
    assert "exited normally" in ours


def test_exec_of_the_program_it_runs_is_an_exec_event(programs):
    """execer runs itself, which runs exec_second: two exec events natively. An exec
    of the image the process already runs keeps pyvm's Machine (busybox running
    itself, /proc/self/exe), and the stub saw no exec there: gdb kept the old
    program's state and went on to the second exec as if it were the first."""
    execer, second = programs
    script = ["catch exec", "continue", "continue", "info symbol $pc", "continue"]
    args = [execer, execer, second]
    ours, theirs = _ours(args, script), _native(args, script)
    assert [x for x in _stops(theirs) if x.startswith("Catchpoint")] == [
        f"Catchpoint 1 (exec'd {execer}), " + _stops(theirs)[0].split(", ", 1)[1],
        f"Catchpoint 1 (exec'd {second}), " + _stops(theirs)[1].split(", ", 1)[1]]
    assert _stops(ours) == _stops(theirs), ours
    assert re.search(r"^_start in section \.text", theirs, re.M)
    assert re.search(r"^_start in section \.text", ours, re.M), ours
    assert "second\n" in ours


def test_debug_cli_exec_of_the_program_it_runs(programs):
    """pyvm --debug: the same two exec stops as gdb's on the native run."""
    execer, second = programs
    theirs = _native([execer, execer, second], ["catch exec", "continue", "continue",
                                                "continue"])
    r = subprocess.run([sys.executable, "-m", "vm.debug", "--input", "/dev/null", execer,
                        execer, second], input="catch exec\ncontinue\ncontinue\n"
                       "continue\nquit\n", capture_output=True, text=True, timeout=120,
                       cwd=ROOT)
    new = re.compile(r"^process \d+ is executing new program: (\S+)$", re.M)
    assert new.findall(theirs) == [execer, second]
    assert new.findall(r.stdout) == [execer, second], r.stdout
    assert "exited normally" in r.stdout and "second\n" in r.stdout
