"""pyvm's caches trust only files this user's pyvm signed (asm/cachefile.py): a cache file
planted by another user or a guest is ignored, never unpickled."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import pytest

from asm import cachefile


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PYVM_CODE_CACHE", raising=False)
    return tmp_path


def folder(home) -> str:
    return str(home / "cache" / "pyvm")


def test_signed_blob_round_trip_and_tampering(home):
    cachefile.store("x.bin", b"payload")
    assert cachefile.load("x.bin") == b"payload"
    path = os.path.join(folder(home), "x.bin")
    data = bytearray(open(path, "rb").read())
    data[-1] ^= 1
    open(path, "wb").write(bytes(data))
    assert cachefile.load("x.bin") is None
    # the same body under another name: the tag covers the name too
    cachefile.store("y.bin", b"payload")
    os.replace(os.path.join(folder(home), "y.bin"), path)
    assert cachefile.load("x.bin") is None


def test_unsigned_symlinked_or_public_files_are_ignored(home):
    cachefile.store("x.bin", b"payload")
    d = folder(home)
    open(os.path.join(d, "raw.bin"), "wb").write(b"\0" * 40 + b"planted")
    assert cachefile.load("raw.bin") is None
    os.symlink(os.path.join(d, "x.bin"), os.path.join(d, "link.bin"))
    assert cachefile.load("link.bin") is None
    os.chmod(d, 0o777)          # anyone may write there: not a private directory
    assert cachefile.private_dir()[0] != d
    os.chmod(d, 0o700)
    if os.getuid() == 0:        # (CI runs as root: a file of another user's)
        os.chown(os.path.join(d, "x.bin"), 65534, 65534)
        assert cachefile.load("x.bin") is None


def test_caches_off(home, monkeypatch):
    monkeypatch.setenv("PYVM_CODE_CACHE", "0")
    cachefile.store("x.bin", b"payload")
    assert not os.path.exists(os.path.join(folder(home), "x.bin"))
    assert cachefile.load("x.bin") is None


class _Marker:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _pyasm(home, src) -> subprocess.CompletedProcess:
    env = dict(os.environ, XDG_CACHE_HOME=str(home / "cache"))
    env.pop("PYVM_CODE_CACHE", None)
    return subprocess.run([sys.executable, "-m", "asm.cli", str(src), "-o", str(src) + ".bin"],
                          env=env, capture_output=True, text=True, cwd=home)


def test_a_planted_lark_cache_is_not_unpickled(home):
    """Lark unpickles its table file before checking it: a file planted where pyasm keeps
    that table must be thrown away, not loaded."""
    src = home / "a.asm"
    src.write_text("bits 32\nmov eax, [ebx+4]\nadd eax, 1\n")
    assert _pyasm(home, src).returncode == 0
    d = folder(home)
    lark_files = [n for n in os.listdir(d) if n.startswith("nasm-lark") and
                  not n.endswith(".sig")]
    assert lark_files, os.listdir(d)
    path = os.path.join(d, lark_files[0])
    first = open(path, "rb").readline()         # the grammar's hash: Lark's only check
    marker = home / "pwned"
    with open(path, "wb") as f:
        f.write(first)
        pickle.dump(_Marker(str(marker)), f)
    for n in os.listdir(d):                     # no stored templates: Lark must load
        if n.startswith("nasm-templates"):
            os.unlink(os.path.join(d, n))
    r = _pyasm(home, src)
    assert r.returncode == 0, r.stderr
    assert not marker.exists()
    assert (home / "a.asm.bin").read_bytes() == bytes.fromhex("8b4304 83c001")
