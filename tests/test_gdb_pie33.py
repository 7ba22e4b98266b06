"""pyvm --debug and a PIE program (gcc -m32 -pie): its symbols and line table are moved
by the load bias, so a breakpoint by name stops there, the backtrace names main and
`info symbol` gives what gdb gives on the native run. (The symbols were the file's,
relative to 0: the breakpoint never hit and the program ran to its end.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.test_debug_gdb import _need
from tests.test_gdb_threads import native

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def pie(tmp_path_factory) -> str:
    _need("gcc")
    out = str(tmp_path_factory.mktemp("pie33") / "pie")
    r = subprocess.run(["gcc", "-m32", "-pie", "-fPIE", "-g", "-O0", "-o", out,
                        os.path.join(ROOT, "tests", "debug", "pie.c")],
                       capture_output=True, timeout=120)
    if r.returncode:
        pytest.skip("gcc -m32 -pie cannot link here")
    return out


def _debug(program: str, commands: list) -> str:
    r = subprocess.run([sys.executable, "-m", "vm.debug", "--input", "/dev/null", program],
                       input="\n".join(commands + ["quit"]) + "\n", capture_output=True,
                       text=True, timeout=120, cwd=ROOT)
    return r.stdout + r.stderr


def _symbols(out: str) -> list:
    """`info symbol` answers, without gdb's " of FILE" (it names the objfile when
    there are several: the program, ld.so, libc)."""
    return [re.sub(r" of \S+$", "", x) for x in out.splitlines()
            if re.match(r"\w+( \+ \d+)? in section |No symbol matches", x)]


def test_pie_breakpoint_backtrace_and_info_symbol_as_natively(pie):
    theirs = native(pie, ["break *square", "continue", "info symbol $pc", "bt",
                          "up", "info symbol $pc", "info symbol 0x10"])
    # (the return address: natively the caller's frame's pc; ours where `finish`
    # stops, the address the call pushed: each found by its own run)
    ours = _debug(pie, ["break square", "continue", "info symbol $pc", "bt",
                        "finish", "info symbol $pc", "info symbol 0x10", "continue"])
    assert re.search(r"^Breakpoint 1, square \(x=7\) at \S*pie\.c:5$", theirs, re.M)
    assert re.search(r"^Breakpoint 1, 0x[0-9a-f]+ in square \(\) at \S*pie\.c:5$", ours,
                     re.M), ours
    assert _symbols(ours) == _symbols(theirs), ours
    assert _symbols(theirs)[0] == "square in section .text"
    assert re.fullmatch(r"main \+ \d+ in section \.text", _symbols(theirs)[1])
    assert _symbols(theirs)[2] == "No symbol matches 0x10."
    # the return address: main + the same offset, the same source line
    off = re.search(r"main \+ (\d+) in section \.text", theirs).group(1)
    line = re.search(r"^#1  0x[0-9a-f]+ in main \(\) at \S*pie\.c:(\d+)$", theirs,
                     re.M).group(1)
    assert re.search(rf"^#1  0x[0-9a-f]+ in main\+{off} \(\) at \S*pie\.c:{line}$", ours,
                     re.M), ours
    assert "49\n" in ours and "exited normally" in ours
