"""One switch for pyvm's files on disk, one check of a private directory, a clean
environment for the benchmark's children, the x87 helpers found again by a warm run."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from formats.envswitch import caches_on
from formats.private import make_private_dir

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("value,on", [(None, True), ("", True), ("1", True), ("0", False),
                                      (" Off ", False), ("no", False)])
def test_caches_on(monkeypatch, value, on):
    if value is None:
        monkeypatch.delenv("PYVM_CODE_CACHE", raising=False)
    else:
        monkeypatch.setenv("PYVM_CODE_CACHE", value)
    assert caches_on() is on


def test_caches_off_writes_nothing(tmp_path):
    """A run with PYVM_CODE_CACHE=0 leaves its cache directory empty; with caches on the
    same run fills it (so the check can fail)."""
    prog = tmp_path / "p.s"
    prog.write_text("bits 32\nmov eax, 1\nmov ebx, 7\nint 0x80\n")
    for switch, expect_files in (("0", False), ("1", True)):
        home = tmp_path / f"cache{switch}"
        home.mkdir()
        env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(home),
                   PYVM_CODE_CACHE=switch, PYVM_BACKGROUND_SAVE="0")
        p = subprocess.run([sys.executable, "-m", "vm.cli", str(prog)], env=env,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 7, p.stderr
        assert bool(list(home.rglob("*"))) is expect_files, list(home.rglob("*"))


# -- one private-directory check -------------------------------------------------------

def test_private_dir_made(tmp_path):
    d = tmp_path / "a" / "b"
    make_private_dir(str(d))
    st = os.lstat(d)
    assert stat.S_ISDIR(st.st_mode) and st.st_mode & 0o777 == 0o700 & ~_umask()
    make_private_dir(str(d))            # (there already: accepted)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _not_private(tmp_path: Path) -> list:
    """Directories a cache must not use: group- or other-writable, a symlink to a private
    one, a file, and (as root) one of another user's."""
    out = []
    for mode in (0o770, 0o702):
        d = tmp_path / f"m{mode:o}"
        d.mkdir()
        os.chmod(d, mode)
        out.append(d)
    good = tmp_path / "good"
    good.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(good)
    out.append(link)
    f = tmp_path / "file"
    f.write_bytes(b"")
    out.append(f)
    if os.getuid() == 0:
        other = tmp_path / "other"
        other.mkdir(mode=0o700)
        os.chown(other, 65534, 65534)
        out.append(other)
    return out


def test_private_dir_refused(tmp_path):
    for d in _not_private(tmp_path):
        with pytest.raises(OSError):
            make_private_dir(str(d))


def test_cache_and_bench_use_the_check(tmp_path, monkeypatch):
    from asm.cachefile import private_dir_key
    from vm.bench import real
    for d in _not_private(tmp_path):
        with pytest.raises(OSError):
            private_dir_key(str(d))
    # the benchmark's build directory: $TMPDIR/pyvm-bench-<uid>
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    bench = tmp_path / f"pyvm-bench-{os.getuid()}"
    bench.mkdir(mode=0o700)
    assert real.build_dir() == bench
    os.chmod(bench, 0o777)
    with pytest.raises(real.Skip):
        real.build_dir()


# -- the benchmark's children ----------------------------------------------------------

def test_bench_child_environment(tmp_path, monkeypatch):
    """No empty PYTHONPATH entry (the current directory on sys.path), and bytecode (and
    the table's file) beside the package, as installed: no PYTHONPYCACHEPREFIX."""
    from vm.bench.real import _env
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.setenv("PYTHONPYCACHEPREFIX", str(tmp_path / "prefix"))
    probe = "import sys; print(sys.path); print(sys.pycache_prefix)"
    # -P: Python itself puts no script directory first, so what is left is PYTHONPATH's
    p = subprocess.run([sys.executable, "-P", "-c", probe], env=_env(), cwd=tmp_path,
                       capture_output=True, text=True, timeout=60, check=True)
    path, prefix = p.stdout.splitlines()
    assert str(tmp_path) not in path and "''" not in path, path
    assert path.startswith(f"[{str(ROOT)!r}"), path
    assert prefix == "None"


# -- x87 helpers, kept by name in the warm-block cache ---------------------------------

@pytest.mark.parametrize("name", ["x87", "x87_flat"])
def test_x87_helpers_found_by_name(name):
    """A block calling an x87 helper is kept by the warm cache only when the helper is
    found again as ``vm.x86.system.<name>`` (vm/x86/warmblocks.py)."""
    from vm.x86 import system, warmblocks
    fn = getattr(system, name)
    assert warmblocks._where(name, fn) == ("m", name, "vm.x86.system", name)
