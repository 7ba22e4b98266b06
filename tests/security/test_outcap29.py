"""Every byte pyvm writes for a guest counts against --max-output (session 29): the
guest's stdout and stderr did, but --port-log, --trace-file, --trace on stderr, the files
a Linux or DOS program writes in its start directory and a --disk-write image did not,
so a guest looping on OUT, on traced instructions or on write() filled the disk even
when the user had set the limit. Each test builds a real program (nasm, gcc -m32) and
checks the size left on disk, the status (153) and the one-line message; the Linux file
writes are checked against the native run under the same RLIMIT_FSIZE (the kernel stops
it with SIGXFSZ at the same byte). Each failed before the change.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
LIMIT = 20000


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} is missing")
        pytest.skip(f"{tool} is missing")


def _pyvm(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "vm.cli", *args], cwd=cwd, env=env,
                          capture_output=True, timeout=300)


def _nasm(tmp: Path, name: str, source: str) -> Path:
    _need("nasm")
    src = tmp / (name + ".asm")
    src.write_text(source)
    out = tmp / name
    subprocess.run(["nasm", "-f", "bin", str(src), "-o", str(out)], check=True)
    return out


def _limit_line(p: subprocess.CompletedProcess, name: str, limit: int = LIMIT) -> None:
    assert p.returncode == 153, p.stderr
    assert p.stderr.decode().splitlines()[-1] == \
        f"pyvm: {name}: output limit of {limit} bytes reached"


OUT_LOOP = """\
org 0x7c00
bits 16
top:    mov al, 0x42
        out 0x80, al
        jmp top
times 510-($-$$) db 0
dw 0xaa55
"""

SPIN_COM = """\
org 0x100
top:    inc ax
        jmp top
"""

DOS_FILL = """\
org 0x100
        mov ah, 0x3c            ; create FILL.DAT
        xor cx, cx
        mov dx, fname
        int 0x21
        jc fail
        mov bx, ax
again:  mov ah, 0x40            ; write 512 bytes, forever
        mov cx, 512
        mov dx, buf
        int 0x21
        jc fail
        jmp again
fail:   mov ax, 0x4c01
        int 0x21
fname   db "FILL.DAT", 0
buf     times 512 db 'x'
"""

GROW_DISK = """\
org 0x7c00
bits 16
        xor ax, ax
        mov es, ax
        mov bx, 0x7c00
        mov ax, 0x0308          ; write 8 sectors (this one, repeated) from CHS 0/0/2
        mov cx, 0x0002
        xor dh, dh
        mov dl, 0x80
        int 0x13
        mov al, 'W'
        jnc done
        mov al, 'E'
done:   mov ah, 0x0e
        int 0x10
        cli
        hlt
times 510-($-$$) db 0
dw 0xaa55
"""


def test_port_log_draws_on_max_output(tmp_path):
    """A boot sector looping on OUT 80h: the port log (a line per OUT) grew without end."""
    _nasm(tmp_path, "outloop.img", OUT_LOOP)
    p = _pyvm("--disk", "outloop.img", "--port-log", "p.log", "--max-output", str(LIMIT),
              "--timeout", "120", cwd=tmp_path)
    _limit_line(p, "outloop.img")
    log = (tmp_path / "p.log").read_bytes()
    assert len(log) == LIMIT
    assert log.startswith(b"           0 out 0080 b 42  POST 42h\n")


def test_trace_file_draws_on_max_output_dos(tmp_path):
    """A .COM spinning with no output: --trace-file grew by a line per instruction."""
    _nasm(tmp_path, "spin.com", SPIN_COM)
    p = _pyvm("--trace-file", "t.txt", "--max-output", str(LIMIT), "--timeout", "120",
              "spin.com", cwd=tmp_path)
    _limit_line(p, "spin.com")
    assert (tmp_path / "t.txt").stat().st_size == LIMIT


def test_trace_on_stderr_draws_on_max_output(tmp_path):
    """--trace on stderr (a file here): bounded too, in whole lines, the message last."""
    _nasm(tmp_path, "spin.com", SPIN_COM)
    with open(tmp_path / "err.txt", "wb") as err:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        p = subprocess.run([sys.executable, "-m", "vm.cli", "--trace", "--max-output",
                            str(LIMIT), "--timeout", "120", "spin.com"], cwd=tmp_path,
                           env=env, stdout=subprocess.PIPE, stderr=err, timeout=300)
    assert p.returncode == 153
    lines = (tmp_path / "err.txt").read_text().splitlines(keepends=True)
    assert lines[-1] == f"pyvm: spin.com: output limit of {LIMIT} bytes reached\n"
    assert sum(len(s) for s in lines[:-1]) <= LIMIT
    assert lines[0].startswith("1000:0100  40 ")


def test_trace_file_draws_on_max_output_linux(tmp_path):
    _need("gcc")
    (tmp_path / "spin.c").write_text("int main(void){ volatile unsigned i = 0; "
                                     "for (;;) i++; }\n")
    subprocess.run(["gcc", "-m32", "-static", "-O1", "spin.c", "-o", "spin"],
                   cwd=tmp_path, check=True)
    p = _pyvm("--trace-file", "lt.txt", "--max-output", str(LIMIT), "--timeout", "120",
              "./spin", cwd=tmp_path)
    _limit_line(p, "./spin")
    assert (tmp_path / "lt.txt").stat().st_size == LIMIT


@pytest.fixture(scope="module")
def filler(tmp_path_factory) -> Path:
    _need("gcc")
    out = tmp_path_factory.mktemp("outcap29") / "outcap29"
    subprocess.run(["gcc", "-m32", "-static", "-O1", "-o", str(out),
                    str(HERE / "outcap29.c")], check=True, timeout=120)
    return out


@pytest.mark.parametrize("mode", ["write", "pwrite", "ftruncate", "truncate", "copy"])
def test_linux_files_draw_on_max_output_as_rlimit_fsize(filler, tmp_path, mode):
    """The guest's own files: the native run under RLIMIT_FSIZE = the limit is killed by
    SIGXFSZ (153) with the file at the limit (or unchanged: a truncation past it); pyvm
    under --max-output ends the same. Before: 4 MiB written, a 1 GiB file, status 0."""
    limit = 100000
    (tmp_path / "src.in").write_bytes(bytes(1 << 20))

    def fsize() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    native = subprocess.run([str(filler), mode], cwd=tmp_path, preexec_fn=fsize,
                            capture_output=True, timeout=60)
    native_size = (tmp_path / "fill.out").stat().st_size
    (tmp_path / "fill.out").unlink()
    p = _pyvm("--max-output", str(limit), str(filler), mode, cwd=tmp_path)
    assert native.returncode == -25                 # SIGXFSZ
    assert p.returncode == 128 + 25
    _limit_line(p, str(filler), limit)
    assert p.stdout == native.stdout == b""
    assert (tmp_path / "fill.out").stat().st_size == native_size


def test_linux_files_unbounded_without_max_output(filler, tmp_path):
    """No limit asked for: the file is written whole, as natively."""
    p = _pyvm(str(filler), "write", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"write: 4194304\n"
    assert (tmp_path / "fill.out").stat().st_size == 4 << 20


def test_dos_file_writes_draw_on_max_output(tmp_path):
    """A .COM writing 512-byte blocks to FILL.DAT forever."""
    _nasm(tmp_path, "dosfill.com", DOS_FILL)
    p = _pyvm("--max-output", str(LIMIT), "--timeout", "120", "dosfill.com", cwd=tmp_path)
    _limit_line(p, "dosfill.com")
    assert (tmp_path / "FILL.DAT").stat().st_size == LIMIT


def test_disk_write_never_grows_the_image(tmp_path):
    """--disk-write: a write to sectors past the image's end (the geometry rounds it up
    to a whole cylinder) grew the file (512 -> 4608 bytes); the part within it is
    written."""
    img = _nasm(tmp_path, "grow.img", GROW_DISK)
    first = img.read_bytes()
    img.write_bytes(first + bytes(512))             # two sectors: LBA 1 is in the file
    p = _pyvm("--disk", "grow.img", "--disk-write", "--timeout", "120", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(b"W")
    assert img.read_bytes() == first + first        # LBA 1 written, nothing past it


def test_b32_and_v16_trace_files_draw_on_max_output(tmp_path):
    (tmp_path / "bloop.asm").write_text("Start:\n JMP #Start\n END Start\n")
    (tmp_path / "vloop.asm").write_text("top:    jmp top\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for name in ("bloop", "vloop"):
        ext = ".b32" if name == "bloop" else ".v16"
        subprocess.run([sys.executable, "-m", "asm.cli", name + ".asm", "-o", name + ext],
                       cwd=tmp_path, env=env, check=True)
        p = _pyvm("--trace-file", name + ".txt", "--max-output", "5000", "--timeout", "120",
                  name + ext, cwd=tmp_path)
        assert p.returncode == 153, p.stderr
        assert b"output limit of 5000 bytes reached" in p.stderr
        assert (tmp_path / (name + ".txt")).stat().st_size == 5000
