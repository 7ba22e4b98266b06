"""Scripted sessions of the command-line debugger on V16 programs (commands on a pipe to
``python -m vm.cli --debug``), checked against what ``pyvm`` itself does with them."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE2 = "samples/v16/example2.asm"          # the spec's digit printer
EXAMPLE2_DUMP = ("V16 SysHlt (0x01)\nAX=000A BX=0000 CX=000A DX=0000\n"
                 "SP=0000 IP=0017 FLAGS=0008 [E---]\n")
REGS = ("AX", "BX", "CX", "DX", "SP", "IP", "FLAGS")


def session(program: str, commands: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vm.cli", "--debug", *extra, program],
                          input=commands, capture_output=True, text=True, timeout=60,
                          cwd=ROOT)


def pyvm(program: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vm.cli", program], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


def register_blocks(out: str) -> list[dict[str, str]]:
    """Every ``info registers`` listing of a session, in order (one ends where a
    register comes again)."""
    blocks, current = [], {}
    for line in out.splitlines():
        m = re.match(r"(AX|BX|CX|DX|SP|IP|FLAGS)\s+(0x[0-9a-f]+)\s+(\S+)$", line)
        if m is None:
            continue
        if m.group(1) in current:
            blocks.append(current)
            current = {}
        current[m.group(1)] = m.group(2) + " " + m.group(3)
    if current:
        blocks.append(current)
    return blocks


def test_untouched_run_prints_what_pyvm_prints():
    ref = pyvm(EXAMPLE2)
    assert ref.returncode == 0 and ref.stdout == "0123456789\n"
    assert ref.stderr == EXAMPLE2_DUMP
    r = session(EXAMPLE2, "c\n")
    assert r.returncode == 0, r.stderr
    assert "Continuing.\n0123456789\n[Inferior 1 (process" in r.stdout
    assert "exited normally]" in r.stdout
    assert r.stderr == ref.stderr            # the three-line dump, on stderr as pyvm's
    assert "Traceback" not in r.stdout + r.stderr


def test_break_at_label_info_registers_and_exact_reverse_stepi():
    r = session(EXAMPLE2, "b putd\nc\ninfo registers\nsi\ninfo registers\nrsi\n"
                "info registers\ni r ax flags\n")
    out = r.stdout
    assert "Breakpoint 1 at 0x18 <putd>" in out
    assert "Breakpoint 1, 0x00000018 in putd ()\n=> 0x00000018 <putd>:\tadd ax, 0x0030" in out
    blocks = register_blocks(out)
    assert len(blocks) == 4
    at_putd, after, back, some = blocks
    assert tuple(at_putd) == REGS
    assert at_putd["AX"] == "0x0 0" and at_putd["SP"] == "0xfffe 65534"
    assert at_putd["IP"] == "0x18 24"
    assert after["AX"] == "0x30 48" and after["IP"] == "0x1c 28"
    assert back == at_putd                   # reverse-stepi restored every register
    assert some == {"AX": "0x0 0", "FLAGS": "0x0 [----]"}
    assert "0x0000001c in putd+4 ()\n=> 0x0000001c <putd+4>:\tout ax" in out


def test_stepping_over_and_out_of_the_call():
    r = session(EXAMPLE2, "finish\nsi 3\nbt\nfinish\ni r ip sp\nsi 4\nni\ni r ip cx\nc\n")
    out = r.stdout
    assert 'error: "finish" not meaningful in the outermost frame' in out
    assert "#0  0x00000018 in putd ()\n#1  0x00000009 in next+6 ()" in out
    # finish ran putd to its ret ("0" came out) and stopped after the call
    assert "0Run till exit: now 0x00000009 in next+6 ()" in out
    # ni over "call putd" printed "1" and stopped after the call
    assert "1" + "0x00000009 in next+6 ()\n=> 0x00000009 <next+6>:\tinc cx" in out
    regs = register_blocks(out)
    assert regs[0] == {"IP": "0x9 9", "SP": "0x0 0"}
    assert regs[1] == {"IP": "0x9 9", "CX": "0x1 1"}
    assert "Continuing.\n23456789\n[Inferior 1" in out and "exited normally" in out
    assert r.stderr == EXAMPLE2_DUMP


def test_watchpoint_on_the_stack_slot_of_the_return_address():
    r = session(EXAMPLE2, "watch 0xfffe\nc\ni r sp ip\nrsi\nx/2xb 0xfffe\nc\ndelete\nc\n")
    out = r.stdout
    assert "Hardware watchpoint 1: *0xfffe (2 bytes)" in out
    # the first call stores its return address (9); later calls store the same value
    assert "Hardware watchpoint 1: *0xfffe\n\nOld value = 0\nNew value = 9\n" \
           "0x00000018 in putd ()" in out
    assert "0x0000fffe:\t0x00\t0x00" in out      # before the call: not written yet
    assert out.count("Old value") == 2         # the same store again after going back
    assert "0123456789\n" in out and "exited normally" in out


def test_register_edit_changes_the_output_and_the_dump():
    r = session(EXAMPLE2, "b putd\nc\nset $ax = 7\ndelete\nc\n")
    assert "7123456789\n[Inferior 1" in r.stdout
    assert r.stderr == EXAMPLE2_DUMP
    # CX is the loop counter: skip to 8 at the first digit
    r = session(EXAMPLE2, "b putd\nc\nset $cx = 8\nset var $ax = $cx\ndelete\nc\n")
    assert "89\n[Inferior 1" in r.stdout
    assert r.stderr == EXAMPLE2_DUMP


def test_output_is_not_repeated_after_going_back():
    r = session(EXAMPLE2, "b putd\nc\nc\nc\nrc\nrc\ndelete\nc\n")
    out = r.stdout
    assert out.count("Breakpoint 1, 0x00000018 in putd ()") == 5
    assert "Continuing.\n0\nBreakpoint" in out and "Continuing.\n1\nBreakpoint" in out
    # "0" and "1" came out before the reverse-continues: running over them again is quiet
    assert out.endswith("Continuing.\n23456789\n[Inferior 1 (process "
                        f"{out.rsplit('(process ', 1)[1]}")
    assert r.stderr == EXAMPLE2_DUMP


def test_v16_file_disassemble_memory_and_exit_statuses(tmp_path):
    from asm.v16.assembler import assemble
    with open(os.path.join(ROOT, EXAMPLE2), encoding="utf-8") as f:
        data = assemble(f.read(), EXAMPLE2)
    prog = tmp_path / "digits.v16"
    prog.write_bytes(data)
    r = session(str(prog), "disassemble 0 4\nx/8xb 0\nb *0x18\nc\np $ax + 1\ndelete\n"
                "c\nc\nsi\n")
    out = r.stdout
    assert "Dump of assembler code:\n=> 0x00000000:\t0a 00 00" in out
    assert "mov cx, 0x0000" in out and "call 0x0018" in out
    assert "0x00000000:\t0x0a\t0x00\t0x00\t0x0c\t0x00\t0x02\t0x1c\t0x18" in out
    assert "Breakpoint 1, 0x00000018" in out and "$1 = 1 (0x1)" in out
    assert "error: the program is not being run." in out
    assert r.stderr == EXAMPLE2_DUMP


@pytest.mark.parametrize("name", ["example3a_segv", "example3b_mem", "example3c_instr",
                                  "example3d_overflow"])
def test_error_stops_dump_and_status_as_pyvm(name):
    program = f"samples/v16/{name}.asm"
    ref = pyvm(program)
    assert ref.returncode in (132, 135, 139)
    # back over the last instruction that ran, then forward into the stop again
    r = session(program, "c\nrsi\nsi 2\n")
    assert r.stderr == ref.stderr + ref.stderr
    assert r.stdout.count(f"exited with code 0{ref.returncode:o}]") == 2


def test_an_edit_after_a_stop_lets_the_program_go_on():
    r = session("samples/v16/example3c_instr.asm", "c\nset $ip = 0\nset $cx = 0\nc\n")
    assert r.stdout.count("exited with code 0204]") == 2
    assert "Traceback" not in r.stdout + r.stderr


def test_bad_commands_and_the_gdb_stub():
    r = session(EXAMPLE2, "rwatch 0x8000\nset $eax = 1\nscreen\nfinish\nx/2xb 0xffff\n"
                "x/4xb 0xfffe\nbreak nosuch\nc\n")
    errors = [line for line in r.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 7, r.stdout
    assert "Traceback" not in r.stdout + r.stderr
    assert "exited normally" in r.stdout
    g = subprocess.run([sys.executable, "-m", "vm.cli", "--gdb", "0", EXAMPLE2],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert g.returncode == 1 and "gdb has no V16 architecture" in g.stderr
