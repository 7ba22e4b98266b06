"""End to end, as a user runs it: ``pyasm``, ``pyvm`` and ``pyvm-tools`` on B32 programs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from asm.b32.assembler import assemble
from vm.b32.runner import run_b32
from vm.options import RunOptions

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "b32"
HEADER = bytes.fromhex("42 33 32 00 10 00 10")
EXAMPLE_1 = bytes.fromhex("42 33 32 00 10 00 10 02 00 A0 01 2A 03 11 01 1E 03 11 07 14 A0"
                          "0C 03 10 04")


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"the {name} command is not installed (pip install -e '.[test]')")
    return path


def run(*args, cwd=None) -> subprocess.CompletedProcess:
    result = subprocess.run([tool(args[0]), *map(str, args[1:])], capture_output=True,
                            text=True, cwd=cwd, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def build(tmp_path: Path, sample: str) -> Path:
    out = tmp_path / sample.replace(".asm", ".b32")
    out.write_bytes(assemble((SAMPLES / sample).read_text(), sample))
    return out


# -- pyvm ---------------------------------------------------------------------------------

def test_pyvm_hello(tmp_path):
    result = run("pyvm", build(tmp_path, "hello.asm"))
    assert result.returncode == 0
    assert result.stdout == "Hello, World!\nGreetings from B32\n"     # not a terminal: plain
    assert result.stderr == ""


def test_pyvm_color_always_and_regs_and_html(tmp_path):
    program = tmp_path / "stars.b32"
    program.write_bytes(EXAMPLE_1)
    html = tmp_path / "screen.html"
    result = run("pyvm", "--color", "always", "--regs", "--screen-html", html, program)
    assert result.returncode == 0
    assert result.stdout == "\x1b[93;44m**********\x1b[0m\n"
    for reg in ("A=$1E", "X=$A014", "CF=$01", "IP=$1012"):
        assert reg in result.stderr
    assert '<span style="color:#ffff00;background-color:#0000ff">**********</span>' in \
        html.read_text()


@pytest.mark.parametrize("name, data, status, message", [
    ("magic.b32", b"B33\x00\x10\x00\x10\x04", 1, "bad magic 'B33'"),
    ("short.b32", b"B32\x00\x10", 1, "truncated header"),
    ("big.b32", b"B32\x00\xff\x00\xff" + bytes(257), 1, "runs past $FFFF"),
    ("illegal.b32", HEADER + bytes.fromhex("01 41 FF"), 132, "illegal opcode $FF at $1002"),
    ("loop.b32", HEADER + bytes.fromhex("0A 00 10"), 124, "step limit reached"),
], ids=["bad-magic", "truncated-header", "past-ffff", "illegal-opcode", "step-limit"])
def test_pyvm_errors(tmp_path, name, data, status, message):
    program = tmp_path / name
    program.write_bytes(data)
    result = run("pyvm", "--max-steps", "500", program)
    assert result.returncode == status
    assert result.stderr.startswith(f"pyvm: {program}: ")
    assert message in result.stderr


def test_pyvm_missing_file(tmp_path):
    result = run("pyvm", tmp_path / "nope.b32")
    assert result.returncode != 0 and "nope.b32" in result.stderr


# -- the runner in-process (fast checks of the options) -------------------------------------

def test_color_auto_is_plain_when_not_a_terminal(capsys):
    assert run_b32("x.b32", EXAMPLE_1, RunOptions(color="auto")) == 0
    assert capsys.readouterr().out == "**********\n"


def test_color_never(capsys):
    run_b32("x.b32", EXAMPLE_1, RunOptions(color="never"))
    assert "\x1b" not in capsys.readouterr().out


def test_screen_is_shown_after_a_fault(capsys):
    # LDX #$A000 / LDA #$41 / STA ,X / then the byte $FF
    data = HEADER + bytes.fromhex("02 00 A0 01 41 03 FF")
    assert run_b32("x.b32", data, RunOptions()) == 132
    out, err = capsys.readouterr()
    assert out == "A\n"
    assert "illegal opcode $FF at $1006" in err and "A=$41" in err


def test_step_limit_message_names_the_instruction(capsys):
    data = HEADER + bytes.fromhex("0A 00 10")
    assert run_b32("x.b32", data, RunOptions(max_steps=10)) == 124
    assert "stopped at $1000: JMP #$1000" in capsys.readouterr().err


def test_step_limit_is_off_by_default():
    # INCX / CMPX #$6000 / JNE: 73,728 steps, past the tutorial's budget of 64,000-65,000.
    data = HEADER + bytes.fromhex("11 07 00 60 0C 00 10 04")
    assert run_b32("x.b32", data, RunOptions()) == 0


def test_trace(capsys):
    run_b32("x.b32", EXAMPLE_1, RunOptions(trace=True))
    err = capsys.readouterr().err.splitlines()
    # the x86 trace's shape: address, bytes, text, then only what the instruction changed
    assert err[0].split() == ["1000", "02", "00", "A0", "LDX", "#$A000", "X=A000"]
    assert err[2].split() == ["1005", "03", "STA", ",X", "[A000]=2A"]
    assert err[7].split() == ["100B", "07", "14", "A0", "CMPX", "#$A014", "CF=06"]
    assert err[8].split() == ["100E", "0C", "03", "10", "JNE", "#$1003"]
    assert err[-1].split() == ["1011", "04", "END"]
    assert len(err) == 82                    # 1 + 10 * 8 + 1 instructions


def test_unwritable_html(tmp_path, capsys):
    status = run_b32("x.b32", EXAMPLE_1, RunOptions(screen_html=str(tmp_path / "no" / "x.html")))
    assert status == 1
    assert "cannot write" in capsys.readouterr().err


def test_bad_max_steps(capsys):
    assert run_b32("x.b32", EXAMPLE_1, RunOptions(max_steps=0)) == 1
    assert "--max-steps" in capsys.readouterr().err


# -- pyvm-tools roundtrip -------------------------------------------------------------------

def test_pyvm_tools_roundtrip_every_sample():
    samples = sorted(SAMPLES.glob("*.asm"))
    result = run("pyvm-tools", "roundtrip", *samples)
    assert result.returncode == 0, result.stdout
    assert f"{len(samples)} identical, 0 differ" in result.stdout


# -- pyasm ----------------------------------------------------------------------------------

def test_pyasm_format_b32(tmp_path):
    out = tmp_path / "stars.bin"
    result = run("pyasm", SAMPLES / "example1.asm", "-f", "b32", "-o", out)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == EXAMPLE_1


def test_pyasm_b32_chosen_by_output_name_then_pyvm(tmp_path):
    out = tmp_path / "hello.b32"
    result = run("pyasm", SAMPLES / "hello.asm", "-o", out)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:3] == b"B32"
    assert run("pyvm", out).stdout == "Hello, World!\nGreetings from B32\n"


def test_pyasm_origin(tmp_path):
    out = tmp_path / "ex2.b32"
    result = run("pyasm", SAMPLES / "example2.asm", "--origin", "0x2000", "-o", out)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == bytes.fromhex(
        "42 33 32 00 20 06 20 01 21 03 0A 0C 20 02 00 A0 0A 00 20 04")


def test_pyasm_errors(tmp_path):
    source = tmp_path / "bad.asm"
    source.write_text("Start:\n LDA 42\n FOO\n LDA #300\n JMP #Nowhere\n")
    out = tmp_path / "bad.b32"
    result = run("pyasm", source, "-o", out)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    for line, text in [(2, "missing '#'"), (3, "unknown instruction 'FOO'"),
                       (4, "out of range"), (5, "undefined label 'Nowhere'"),
                       (5, "missing END")]:
        assert any(entry.startswith(f"{source}:{line}: error: ") and text in entry
                   for entry in lines), (line, text, lines)
    assert not out.exists()
