"""The instruction table's cache beside the package (asm/x86/table.py, _local_path): a
cold run (an empty cache directory) reads it instead of parsing insns.tab, only from a
place as safe as pyvm's code, never one a guest may write; a damaged or stale one is
parsed again."""

from __future__ import annotations

import errno
import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool

from asm.x86 import table
from vm.sandbox import Sandbox, SandboxError

REPO = Path(__file__).resolve().parents[1]

SAMPLE = """bits 32
    mov eax, [ebx+ecx*4+0x12345678]
    push 0x12
    push ebp
    xchg eax, edx
    lock add dword [edi], 7
    movzx ecx, byte [esi-1]
    rep movsd
    imul eax, ecx, 1000
    shld edx, eax, cl
    mov al, [0x8049000]
    fld qword [ebp-8]
    fistp dword [esp]
    fnstsw ax
    addsd xmm0, [eax]
    movdqu xmm1, xmm2
    pshufd xmm3, xmm4, 0x1b
    cmpxchg8b [ecx]
    bswap esi
    jmp far [eax]
    int 0x80
"""


@pytest.fixture
def private(tmp_path, monkeypatch):
    """A private place for the local cache, an empty user cache directory, caches on."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("PYVM_CODE_CACHE", raising=False)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    folder = tmp_path / "pkgcache"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    path = str(folder / "insns-table.marshal")
    monkeypatch.setattr(table, "_local_path", lambda: path)
    return path


def _user_cache_files(tmp_path) -> list:
    d = tmp_path / "xdg" / "pyvm"
    return sorted(n for n in os.listdir(d) if n.startswith("insns-table")) \
        if d.exists() else []


def test_a_cold_run_reads_the_table_beside_the_package_and_encodes_as_nasm(private,
                                                                           tmp_path):
    nasm = require_tool("nasm")
    parsed = table.forms.__wrapped__()          # writes the local cache
    assert os.path.exists(private) and _user_cache_files(tmp_path) == []
    src = tmp_path / "sample.asm"
    src.write_text(SAMPLE)
    subprocess.run([nasm, "-f", "bin", "-o", str(tmp_path / "nasm.bin"), str(src)],
                   check=True)
    # a fresh process with an empty cache directory that may not parse the table
    script = (
        "import sys\n"
        "import asm.x86.table as t\n"
        "assert t.forms.cache_info().currsize == 0\n"
        "t._local_path = lambda: sys.argv[1]\n"
        "def refuse():\n"
        "    raise SystemExit('parsed insns.tab')\n"
        "t._read_table = refuse\n"
        "from asm.api import assemble\n"
        "data = assemble(open(sys.argv[2]).read(), fmt='bin').data\n"
        "assert t.forms.cache_info().currsize == 1\n"
        "sys.stdout.buffer.write(data)\n")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "xdg2"), PYVM_CODE_CACHE="1")
    r = subprocess.run([sys.executable, "-c", script, private, str(src)], cwd=REPO,
                       env=env, capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == (tmp_path / "nasm.bin").read_bytes()
    assert len(parsed) > 1000


def test_cached_forms_are_the_parsed_forms(private, monkeypatch):
    parsed = table._read_table()
    assert table.forms.__wrapped__() == parsed     # (parsed, the cache written)
    monkeypatch.setattr(table, "_read_table", lambda: pytest.fail("parsed again"))
    cached = table.forms.__wrapped__()
    assert [f.__dict__ for f in cached] == [f.__dict__ for f in parsed]
    assert all(type(f) is table.Form for f in cached)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "stale", "short rows", "empty"])
def test_a_damaged_or_stale_local_cache_is_parsed_again_and_rewritten(private, damage):
    good = table.forms.__wrapped__()
    blob = open(private, "rb").read()
    stamp, rows = marshal.loads(blob)
    bad = {"truncated": blob[:len(blob) // 2],
           "garbage": b"\xff" * 64,
           "stale": marshal.dumps((stamp[:1] + (("table.py", 1, 2),) + stamp[2:], rows)),
           "short rows": marshal.dumps((stamp, tuple(r[:-1] for r in rows))),
           "empty": b""}[damage]
    with open(private, "wb") as f:
        f.write(bad)
    assert table.forms.__wrapped__() == good
    assert open(private, "rb").read() == blob


def _package(tmp_path) -> Path:
    pkg = tmp_path / "pkg"
    (pkg / "__pycache__").mkdir(parents=True)
    for d in (pkg, pkg / "__pycache__"):
        os.chmod(d, 0o755)
    return pkg


def test_only_a_place_as_safe_as_the_code_is_used(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    pkg = _package(tmp_path)
    monkeypatch.setattr(table, "__file__", str(pkg / "table.py"))
    tag = sys.implementation.cache_tag
    assert table._local_path() == str(pkg / "__pycache__" / f"insns-table.{tag}.marshal")
    os.chmod(pkg, 0o775)                    # the package's group may write it
    assert table._local_path() is None
    os.chmod(pkg, 0o755)
    os.chmod(pkg / "__pycache__", 0o777)
    assert table._local_path() is None
    os.rmdir(pkg / "__pycache__")
    other = tmp_path / "elsewhere"
    other.mkdir(mode=0o755)
    (pkg / "__pycache__").symlink_to(other)     # a symlink: not the package's own
    assert table._local_path() is None
    os.unlink(pkg / "__pycache__")
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    assert table._local_path() is None and not (pkg / "__pycache__").exists()
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    where = table._local_path()
    assert where is not None and not (pkg / "__pycache__").exists()     # (a reader makes nothing)
    assert table._write_local(where, b"data")    # made as the import system makes it
    assert (pkg / "__pycache__").stat().st_mode & 0o777 == 0o755
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path / "pyc"))
    assert table._local_path() is None      # (bytecode kept elsewhere: so is the table)


def test_an_unsafe_cache_file_is_not_read(tmp_path):
    d = _package(tmp_path) / "__pycache__"
    f = d / "t.marshal"
    f.write_bytes(b"data")
    os.chmod(f, 0o644)
    assert table._read_local(str(f)) == b"data"
    os.chmod(f, 0o666)                      # anyone may write it
    assert table._read_local(str(f)) is None
    os.chmod(f, 0o644)
    (d / "link.marshal").symlink_to(f)
    assert table._read_local(str(d / "link.marshal")) is None
    if os.getuid() == 0:                    # (CI runs as root: a file of another user's)
        os.chown(f, 65534, 65534)
        assert table._read_local(str(f)) is None


def test_caches_off_or_no_bytecode_writes_nothing_beside_the_package(private, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("PYVM_CODE_CACHE", "0")
    table.forms.__wrapped__()
    assert not os.path.exists(private) and _user_cache_files(tmp_path) == []
    monkeypatch.delenv("PYVM_CODE_CACHE")
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    table.forms.__wrapped__()               # (the signed user cache instead)
    assert not os.path.exists(private) and len(_user_cache_files(tmp_path)) == 1


@pytest.mark.parametrize("start", [".", "asm/x86/__pycache__"])
def test_no_guest_may_write_the_cache_beside_the_package(start):
    """Even started in the repository (or in the cache's own directory, a writable tree),
    the sandbox keeps pyvm's packages read-only: no guest plants a table."""
    where = REPO / start
    where.mkdir(exist_ok=True)
    sb = Sandbox(cwd=str(where))
    target = REPO / "asm" / "x86" / "__pycache__" / \
        f"insns-table.{sys.implementation.cache_tag}.marshal"
    with pytest.raises(SandboxError) as e:
        sb.check_write(str(target))
    assert e.value.errno == errno.EROFS


def test_a_symlink_in_place_of_the_cache_file_is_not_written_through(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    d = _package(tmp_path) / "__pycache__"
    target = tmp_path / "elsewhere.bin"
    target.write_bytes(b"keep")
    (d / "t.marshal").symlink_to(target)
    assert not table._write_local(str(d / "t.marshal"), b"data")
    assert target.read_bytes() == b"keep" and (d / "t.marshal").is_symlink()


def test_caches_off_still_read_the_table_beside_the_package(private, tmp_path, monkeypatch):
    """PYVM_CODE_CACHE=0 keeps programs' code off the disk; the table's file beside the
    package (the public table, like a .pyc) is still read, not parsed again (a tenth of a
    second under PyPy), and a stale one is parsed, not trusted."""
    want = table.forms.__wrapped__()            # writes the local cache
    monkeypatch.setenv("PYVM_CODE_CACHE", "0")
    parsed = []
    real = table._read_table
    monkeypatch.setattr(table, "_read_table", lambda: parsed.append(1) or real())
    assert table.forms.__wrapped__() == want and parsed == []
    with open(private, "rb") as f:
        stamp, rows = marshal.loads(f.read())
    os.unlink(private)
    with open(private, "wb") as f:
        f.write(marshal.dumps((stamp[:1] + (("table.py", 0, 0),) + stamp[2:], rows)))
    assert table.forms.__wrapped__() == want and parsed == [1]
    assert _user_cache_files(tmp_path) == []
