"""Output files pyvm cannot write (a full disk: the kernel's /dev/full answers every write
with ENOSPC) are reported in one line naming the file, exit status 1, as pyvm reports
any output file it cannot open: never "internal error (a bug in pyvm)" nor a traceback.
An output option a machine cannot honour is refused, not silently ignored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FULL = "/dev/full"
ENOSPC_TEXT = os.strerror(28)       # "No space left on device"

pytestmark = pytest.mark.skipif(not os.path.exists(FULL), reason="no /dev/full")

# A Linux program with a long trace (written while it runs: the write fails inside the
# run loop) and a short one (buffered until the file is closed at the end).
LONG = "bits 32\nmov ecx, 20000\nl: dec ecx\njnz l\nmov eax, 1\nxor ebx, ebx\nint 0x80\n"
SHORT = "bits 32\nmov eax, 1\nmov ebx, 3\nint 0x80\n"
COM = "org 0x100\nmov cx, 5000\nl: loop l\nmov ax, 0x4c00\nint 0x21\n"
BOOT = "org 0x7c00\nmov cx, 5000\nl: loop l\nhlt\ntimes 510-($-$$) db 0\ndw 0xaa55\n"


def pyvm(*args, cwd: Path) -> subprocess.CompletedProcess:
    """This checkout's pyvm (not an installed copy)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYVM_CODE_CACHE="0")
    return subprocess.run([sys.executable, "-m", "vm.cli", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120)


def built(tmp_path: Path, name: str, source: str) -> Path:
    """``source`` assembled by NASM (flat binary), or kept as source for pyvm to run."""
    src = tmp_path / f"{name}.asm"
    src.write_text(source)
    if name.endswith(".s"):
        return src
    out = tmp_path / name
    subprocess.run(["nasm", "-f", "bin", str(src), "-o", str(out)], check=True)
    return out


def assert_one_line(p: subprocess.CompletedProcess, program: str, what: str) -> None:
    assert p.returncode == 1, (p.returncode, p.stderr)
    lines = p.stderr.splitlines()
    assert lines[-1] == f"pyvm: {program}: cannot write {what}: {ENOSPC_TEXT}", p.stderr
    assert "internal error" not in p.stderr and "Traceback" not in p.stderr, p.stderr


@pytest.mark.parametrize("source", [LONG, SHORT], ids=["during-run", "at-close"])
def test_linux_trace_file_full(tmp_path, source):
    prog = tmp_path / "p.s"
    prog.write_text(source)
    p = pyvm("--trace-file", FULL, "p.s", cwd=tmp_path)
    assert_one_line(p, "p.s", f"the trace to {FULL}")
    assert p.stderr.count("\n") == 1


def test_vm_linux_entry_trace_file_full(tmp_path):
    """``python -m vm.linux`` (the click-free entry, PyPy's): the same line, no path."""
    pytest.importorskip("shutil").which("nasm") or pytest.skip("nasm not installed")
    src = tmp_path / "p.asm"
    src.write_text(LONG)
    subprocess.run(["nasm", "-f", "elf32", str(src), "-o", str(tmp_path / "p.o")], check=True)
    subprocess.run(["ld", "-m", "elf_i386", "-o", str(tmp_path / "p"), str(tmp_path / "p.o")],
                   check=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYVM_CODE_CACHE="0")
    p = subprocess.run([sys.executable, "-m", "vm.linux", "--trace-file", FULL, "./p"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stderr
    assert p.stderr == f"pyvm: cannot write the trace to {FULL}: {ENOSPC_TEXT}\n"


@pytest.mark.parametrize("name,source,extra", [
    ("p.com", COM, ()), ("boot.bin", BOOT, ()), ("boot.img", BOOT, ("--disk",))],
    ids=["dos", "boot-sector", "disk"])
def test_pc_trace_file_full(tmp_path, name, source, extra):
    pytest.importorskip("shutil").which("nasm") or pytest.skip("nasm not installed")
    built(tmp_path, name, source)
    p = pyvm("--trace-file", FULL, *extra, name, cwd=tmp_path)
    assert_one_line(p, name, f"the trace to {FULL}")


# a boot sector sending 3,000 bytes to COM1 (each OUT is also a line of the port log)
SERIAL = ("org 0x7c00\nmov dx, 0x3f8\nmov cx, 3000\nl: mov al, 'A'\nout dx, al\nloop l\n"
          "cli\nhlt\ntimes 510-($-$$) db 0\ndw 0xaa55\n")


@pytest.mark.parametrize("option,what", [("--serial", "the serial output"),
                                         ("--port-log", "the port log")])
def test_pc_serial_and_port_log_full(tmp_path, option, what):
    built(tmp_path, "boot.img", SERIAL)
    p = pyvm("--disk", "boot.img", option, FULL, cwd=tmp_path)
    assert_one_line(p, "boot.img", f"{what} to {FULL}")


def test_pc_serial_and_port_log_written(tmp_path):
    """The checked files still receive everything: 3,000 'A's on COM1, one logged OUT
    per byte sent."""
    built(tmp_path, "boot.img", SERIAL)
    p = pyvm("--disk", "boot.img", "--serial", "s.out", "--port-log", "p.log", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "s.out").read_bytes() == b"A" * 3000
    log = (tmp_path / "p.log").read_text().splitlines()
    assert sum(" out 03f8 b 41" in line for line in log) == 3000, log[:5]


def test_trace_still_written(tmp_path):
    """The error path leaves an ordinary trace alone: every instruction, in order."""
    (tmp_path / "p.s").write_text(SHORT)
    p = pyvm("--trace-file", "t.txt", "p.s", cwd=tmp_path)
    assert p.returncode == 3, p.stderr
    lines = (tmp_path / "t.txt").read_text().splitlines()
    assert [ln.split()[0] for ln in lines if not ln.startswith(" ")] == \
        ["00000000", "00000005", "0000000a"]      # (flat, org 0: 5 + 5 + 2 bytes)


@pytest.mark.parametrize("name", ["boot.bin", "linux.s"])
def test_screen_html_without_a_screen_is_refused(tmp_path, name):
    """A boot sector (and a DOS or Linux program, also one given as source) has no
    screen pyvm keeps: the option used to be ignored without a word, and no page was
    written."""
    if name.endswith(".s"):
        (tmp_path / name).write_text(SHORT)
    else:
        built(tmp_path, name, BOOT)
    p = pyvm("--screen-html", "s.html", name, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert "--screen-html needs a B32 program or --bios/--disk" in p.stderr
    assert not (tmp_path / "s.html").exists()


def test_bench_json_full(tmp_path):
    from vm.bench import save_json
    with pytest.raises(RuntimeError, match=f"cannot write {FULL}: {ENOSPC_TEXT}"):
        save_json(FULL, {"a": 1})
    out = tmp_path / "r.json"
    save_json(str(out), {"a": [1, 2]})
    assert json.loads(out.read_text()) == {"a": [1, 2]}


def test_bench_main_reports_json_error(monkeypatch, capsys):
    """``python -m vm.bench --real --json FILE``: one line and status 1 (the table was
    printed already), not a traceback after a long run."""
    from vm.bench import __main__ as bench_main
    from vm.bench import real, save_json
    monkeypatch.setattr(real, "run_suite",
                        lambda names, quick, repeat, json_file: save_json(json_file, {}))
    assert bench_main.main(["--real", "--json", FULL]) == 1
    assert capsys.readouterr().err == \
        f"python -m vm.bench: error: cannot write {FULL}: {ENOSPC_TEXT}\n"


def test_tracer_failure_leaves_its_file_closed():
    """After the failure the file's owner may close it as usual (runner's ``finally``):
    what its buffer held is dropped rather than failing a second time."""
    from vm.x86.trace import Tracer, TraceWriteError
    f = open(FULL, "w", encoding="utf-8")
    tracer = Tracer(f)
    tracer.event("int 0x80")            # (buffered: the disk is full at the flush)
    with pytest.raises(TraceWriteError, match=f"the trace to {FULL}: {ENOSPC_TEXT}"):
        tracer.flush()
    f.close()
    assert f.closed
    tracer.event("more")                # (nothing more is written, nothing raised)
    tracer.flush()
