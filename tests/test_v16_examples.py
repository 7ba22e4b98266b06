"""v16-spec.md section 8: every worked example, exact bytes, stdout, dump, memory and exit
status. Every expected value below is copied from the spec, not computed by our code."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from asm.v16 import assemble
from vm.options import RunOptions
from vm.v16.cpu import V16CPU
from vm.v16.runner import run_v16

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "v16"
HEADER = "56 31 36 00 00 00 00 00"

EXAMPLE_1 = """\
        mov ax, 0x05
        ste
        push ax
        mov bx, 0x5005
        pop bx
        hlt
"""

EXAMPLE_2 = """\
; print the digits 0..9 and a newline
        mov cx, 0
next:   mov ax, cx
        call putd
        inc cx
        cmp cx, 10
        jl next
        mov ax, '\\n'
        out ax
        hlt
putd:   add ax, '0'
        out ax
        ret
"""

EXAMPLE_3A = """\
start: mov ax, 0xBEEF
       mov [0x8000], ax   ; data area: allowed
       mov [start], ax    ; code area: ErrSegv
       hlt                ; not reached
"""

EXAMPLE_3B = """\
mov bx, 0xFFFF
mov ax, [bx]      ; needs byte 0x10000: ErrMem
hlt               ; not reached
"""

EXAMPLE_3C = """\
mov cx, 3
dec cx
"""

EXAMPLE_3D = "f: call f\n"

# (source, sample file, file bytes, stdout, dump, exit status)
CASES = {
    "1": (EXAMPLE_1, "example1.asm",
          HEADER + " 08 05 00 10 1A 00 09 05 50 1B 01 02", b"",
          "V16 SysHlt (0x01)\nAX=0005 BX=0005 CX=0000 DX=0000\n"
          "SP=0000 IP=000B FLAGS=0008 [E---]\n", 0),
    "2": (EXAMPLE_2, "example2.asm",
          HEADER + " 0A 00 00 0C 00 02 1C 18 00 24 02 27 02 0A 00 2C 03 00 08 0A 00 03 00 02"
                   " 21 00 30 00 03 00 1D", b"0123456789\n",
          "V16 SysHlt (0x01)\nAX=000A BX=0000 CX=000A DX=0000\n"
          "SP=0000 IP=0017 FLAGS=0008 [E---]\n", 0),
    "3a": (EXAMPLE_3A, "example3a_segv.asm",
           HEADER + " 08 EF BE 0E 00 80 00 0E 00 00 00 02", b"",
           "V16 ErrSegv (0x04)\nAX=BEEF BX=0000 CX=0000 DX=0000\n"
           "SP=0000 IP=0007 FLAGS=0000 [----]\n", 139),
    "3b": (EXAMPLE_3B, "example3b_mem.asm",
           HEADER + " 09 FF FF 0F 00 01 02", b"",
           "V16 ErrMem (0x02)\nAX=0000 BX=FFFF CX=0000 DX=0000\n"
           "SP=0000 IP=0003 FLAGS=0000 [----]\n", 135),
    "3c": (EXAMPLE_3C, "example3c_instr.asm",
           HEADER + " 0A 03 00 25 02", b"",
           "V16 ErrInstr (0x08)\nAX=0000 BX=0000 CX=0002 DX=0000\n"
           "SP=0000 IP=0005 FLAGS=0000 [----]\n", 132),
    "3d": (EXAMPLE_3D, "example3d_overflow.asm",
           HEADER + " 1C 00 00", b"",
           "V16 ErrSegv (0x04)\nAX=0000 BX=0000 CX=0000 DX=0000\n"
           "SP=C000 IP=0000 FLAGS=0000 [----]\n", 139),
}


def run(data: bytes) -> tuple[int, bytes, str]:
    out, err = io.BytesIO(), io.StringIO()
    status = run_v16("example.v16", data, RunOptions(), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("name", CASES)
def test_exact_bytes(name):
    source, _, expected, *_ = CASES[name]
    assert assemble(source, f"example{name}.asm") == bytes.fromhex(expected)


@pytest.mark.parametrize("name", CASES)
def test_sample_file_gives_the_same_bytes(name):
    _, sample, expected, *_ = CASES[name]
    path = SAMPLES / sample
    assert assemble(path.read_text(), str(path)) == bytes.fromhex(expected)


@pytest.mark.parametrize("name", CASES)
def test_stdout_dump_and_status(name):
    _, _, data, stdout, dump, status = CASES[name]
    assert run(bytes.fromhex(data)) == (status, stdout, dump)


def test_file_sizes():
    assert len(bytes.fromhex(CASES["1"][2])) == 20
    assert len(bytes.fromhex(CASES["2"][2])) == 39


def _final(data: str) -> V16CPU:
    cpu = V16CPU()
    cpu.load(bytes.fromhex(data))
    cpu.run(100_000)
    return cpu


def test_example_1_memory():
    assert _final(CASES["1"][2]).mem[0xFFFE:0x10000] == bytes.fromhex("05 00")


def test_example_2_memory_and_labels():
    from asm.v16 import assemble_program
    program = assemble_program(EXAMPLE_2, "example2.asm")
    assert program.labels == {"next": 0x0003, "putd": 0x0018}
    assert _final(CASES["2"][2]).mem[0xFFFE:0x10000] == bytes.fromhex("09 00")


def test_example_3a_memory():
    cpu = _final(CASES["3a"][2])
    assert cpu.mem[0x8000:0x8002] == bytes.fromhex("EF BE")
    assert cpu.mem[0:12] == bytes.fromhex(CASES["3a"][2])[8:]     # code untouched


def test_example_3d_fills_the_stack():
    cpu = _final(CASES["3d"][2])
    assert cpu.steps == 8192
    assert cpu.mem[0xC000:0x10000] == bytes.fromhex("03 00") * 8192


def test_underflow_pop_alone():
    # spec 3d: "pop ax alone stops with ErrSegv at IP 0000, SP 0000"
    data = assemble("pop ax\n", "u.asm")
    status, out, dump = run(data)
    assert status == 139 and out == b""
    assert dump.splitlines()[0] == "V16 ErrSegv (0x04)"
    assert dump.splitlines()[2] == "SP=0000 IP=0000 FLAGS=0000 [----]"
