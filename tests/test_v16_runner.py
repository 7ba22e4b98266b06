"""The screen-less V16 runner: stdout, the dump at every stop, exit statuses, the runner's
own limits, --trace, --regs, and one-line errors for bad files (never a traceback)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asm.v16 import assemble
from formats.v16 import build_v16
from vm.options import RunOptions
from vm.v16.runner import run_v16, run_v16_file, run_v16_source

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "v16"


def run(data: bytes, **opts) -> tuple[int, bytes, str]:
    out, err = io.BytesIO(), io.StringIO()
    status = run_v16("p.v16", data, RunOptions(**opts), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def prog(text: str) -> bytes:
    return assemble(text, "p.asm")


@pytest.mark.parametrize("sample,status,stdout", [
    ("hello.asm", 0, b"Hello, V16!\n"), ("multiply.asm", 0, b"42\n"),
    ("bubblesort.asm", 0, b"0123456789\n"), ("every_instruction.asm", 0, b"OK\n"),
])
def test_samples(sample, status, stdout):
    path = SAMPLES / sample
    got = run(assemble(path.read_text(), str(path)))
    assert got[:2] == (status, stdout)
    assert got[2].startswith("V16 SysHlt (0x01)\n") and len(got[2].splitlines()) == 3


def test_bubblesort_leaves_the_sorted_words_in_the_data_area():
    from vm.v16.cpu import V16CPU
    cpu = V16CPU()
    cpu.load(assemble((SAMPLES / "bubblesort.asm").read_text(), "b.asm"))
    cpu.run(100_000)
    assert cpu.mem_read(0x8000, 20) == b"".join(n.to_bytes(2, "little") for n in range(10))


def test_multiply_stores_the_product():
    from vm.v16.cpu import V16CPU
    cpu = V16CPU()
    cpu.load(assemble((SAMPLES / "multiply.asm").read_text(), "m.asm"))
    cpu.run(100_000)
    assert cpu.mem_read(0x8000, 2) == b"\x2a\x00"


def test_max_steps_stops_with_the_steplimit_dump():
    status, out, err = run(prog("l: inc ax\njmp l\n"), max_steps=5)
    assert status == 124 and out == b""
    assert err == ("V16 StepLimit\nAX=0003 BX=0000 CX=0000 DX=0000\n"
                   "SP=0000 IP=0002 FLAGS=0000 [----]\n")


def test_max_steps_enough_to_halt():
    assert run(prog("nop\nnop\nhlt\n"), max_steps=3)[0] == 0


def test_max_steps_must_be_positive():
    status, _, err = run(prog("hlt\n"), max_steps=0)
    assert status == 1 and err == "v16: error: p.v16: --max-steps must be at least 1, not 0\n"


@pytest.mark.parametrize("data", [b"", b"V16", b"V17\x00\x00\x00\x00\x00\x02",
                                  b"V16\x00\x00\x80\x00\x80\x02", b"\x7fELF" + bytes(60)])
def test_bad_file_is_one_line_and_status_1(data):
    status, out, err = run(data)
    assert status == 1 and out == b""
    assert err.startswith("v16: error: p.v16: ") and err.count("\n") == 1


def test_unreadable_file(tmp_path):
    err = io.StringIO()
    status = run_v16_file(str(tmp_path / "missing.v16"), RunOptions(), io.BytesIO(), err)
    assert status == 1 and err.getvalue().startswith(f"v16: error: {tmp_path}/missing.v16: ")


def test_run_file(tmp_path):
    path = tmp_path / "p.v16"
    path.write_bytes(prog("mov ax, 'x'\nout ax\nhlt\n"))
    out = io.BytesIO()
    assert run_v16_file(str(path), RunOptions(), out, io.StringIO()) == 0
    assert out.getvalue() == b"x"


def test_source_runner():
    out, err = io.BytesIO(), io.StringIO()
    assert run_v16_source("s.asm", "mov ax, 'k'\nout ax\nhlt\n", RunOptions(), out, err) == 0
    assert out.getvalue() == b"k"
    err = io.StringIO()
    assert run_v16_source("s.asm", "foo\nhlt ax\n", RunOptions(), io.BytesIO(), err) == 1
    assert err.getvalue().splitlines() == [
        "s.asm:1: error: unknown mnemonic 'foo'",
        "s.asm:2: error: no form 'hlt ax' in the instruction table; hlt is written: hlt"]


def test_text_stdout_gets_latin1():
    out, err = io.StringIO(), io.StringIO()
    data = prog("mov ax, 0xE9\nout ax\nhlt\n")
    assert run_v16("p.v16", data, RunOptions(), stdout=out, stderr=err) == 0
    assert out.getvalue() == "\u00e9"


def test_output_limit_stops_at_the_out_that_does_not_fit():
    status, out, err = run(prog("mov ax, 'a'\nl: out ax\njmp l\n"), max_output=3)
    assert status == 153 and out == b"aaa"
    lines = err.splitlines()
    assert lines[0] == "v16: p.v16: output limit of 3 bytes reached"
    assert lines[1] == "V16 OutputLimit" and lines[3].startswith("SP=0000 IP=0003 ")


def test_timeout():
    status, _, err = run(prog("l: jmp l\n"), timeout=0.2)
    assert status == 142
    assert err.splitlines()[:2] == ["v16: p.v16: timed out after 0.2 s", "V16 Timeout"]


def test_regs_and_stats():
    status, _, err = run(prog("mov dx, 0xBEEF\nhlt\n"), regs=True, stats=True)
    lines = err.splitlines()
    assert status == 0 and len(lines) == 5
    assert lines[3] == "AX=0000 BX=0000 CX=0000 DX=BEEF SP=0000 IP=0003 FLAGS=0000 [----] steps=1"
    assert lines[4].startswith("pyvm: 1 instructions in ")


def test_trace_lines():
    _, _, err = run(prog("mov ax, 0x41\npush ax\ncmp ax, 1\nout ax\nhlt\n"), trace=True)
    assert err.splitlines()[:5] == [
        "0000  08 41 00     mov ax, 0x0041           AX=0041",
        "0003  1A 00        push ax                  SP=FFFE [FFFE]=0041",
        "0005  27 00 01 00  cmp ax, 0x0001           FLAGS=0006 [-GH-]",
        "0009  03 00        out ax                   out=41",
        "000B  02           hlt                      SysHlt",
    ]
    assert err.splitlines()[5] == "V16 SysHlt (0x01)"


def test_trace_shows_the_fault():
    _, _, err = run(bytes.fromhex("56 31 36 00 00 00 00 00 00"), trace=True)
    assert err.splitlines()[0] == "0000  00           .byte 0x00               !! ErrInstr (0x08)"


def test_trace_file(tmp_path):
    path = tmp_path / "trace.txt"
    status, _, err = run(prog("nop\nhlt\n"), trace_file=str(path))
    assert status == 0 and err.startswith("V16 SysHlt")
    assert path.read_text().splitlines()[0].startswith("0000  01           nop")
    status, _, err = run(prog("hlt\n"), trace_file=str(tmp_path / "no" / "dir.txt"))
    assert status == 1 and err.startswith("v16: error: p.v16: cannot write the trace")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40))
def test_any_bytes_after_the_magic_never_raise(tail):
    status, _, err = run(b"V16\x00" + tail, max_steps=1000)
    assert status in (0, 1, 124, 132, 135, 139)
    assert "Traceback" not in err


@given(st.text(max_size=200))
@settings(max_examples=200, deadline=None)
def test_any_source_is_assembled_or_rejected_in_lines(text):
    err = io.StringIO()
    status = run_v16_source("f.asm", text, RunOptions(max_steps=100), io.BytesIO(), err)
    if status == 1 and not err.getvalue().startswith("v16:"):
        assert all(line.startswith("f.asm:") for line in err.getvalue().splitlines())


def test_no_traceback_from_a_process(tmp_path):
    bad = tmp_path / "bad.v16"
    bad.write_bytes(b"V16\x00\xff\xff")
    code = ("import sys; from vm.options import RunOptions; "
            "from vm.v16.runner import run_v16_file; "
            "sys.exit(run_v16_file(sys.argv[1], RunOptions()))")
    p = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True)
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr == f"v16: error: {bad}: truncated header: the file has 6 bytes, " \
                       "a V16 header needs 8\n"


def test_process_streams_and_statuses(tmp_path):
    path = tmp_path / "p.v16"
    path.write_bytes(build_v16(0, 0, bytes.fromhex("08 41 00 03 00 0E 00 00 00")))
    code = ("import sys; from vm.options import RunOptions; "
            "from vm.v16.runner import run_v16_file; "
            "sys.exit(run_v16_file(sys.argv[1], RunOptions()))")
    p = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True)
    assert (p.returncode, p.stdout) == (139, b"A")
    assert p.stderr.decode().splitlines()[0] == "V16 ErrSegv (0x04)"
