"""The one private-file reader (formats/private.py) behind the caches (asm/cachefile.py)
and the files beside pyvm's code (formats/beside.py): what each caller accepts, checked
on real files, owners and modes."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from asm import cachefile
from formats.beside import read_beside
from formats.private import read_private

ROOT = str(Path(__file__).resolve().parent.parent)


def test_symlinks_directories_and_shared_files_are_refused(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"data")
    os.chmod(f, 0o644)
    assert read_private(str(f)) == b"data"
    (tmp_path / "link").symlink_to(f)
    with pytest.raises(OSError):
        read_private(str(tmp_path / "link"))
    with pytest.raises(PermissionError):
        read_private(str(tmp_path))
    os.chmod(f, 0o664)                      # the group may write it
    with pytest.raises(PermissionError):
        read_private(str(f))
    assert read_private(str(f), others_may_write=True) == b"data"
    assert read_beside(str(f)) is None


def test_a_fifo_in_place_of_the_file_does_not_hang_the_reader(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    code = ("import sys; from formats.private import read_private\n"
            "try:\n    read_private(sys.argv[1])\nexcept PermissionError:\n    print('refused')")
    run = subprocess.run([sys.executable, "-c", code, str(fifo)], cwd=ROOT, timeout=30,
                         capture_output=True, text=True)
    assert run.stdout == "refused\n", run.stderr


def test_a_cache_file_under_a_group_writable_umask_is_still_loaded(tmp_path, monkeypatch):
    """Lark writes its table with the user's umask; the cache's trust is its tag."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PYVM_CODE_CACHE", raising=False)
    cachefile.store("x.bin", b"payload")
    os.chmod(tmp_path / "cache" / "pyvm" / "x.bin", 0o664)
    assert cachefile.load("x.bin") == b"payload"


def _as_nobody(path: str) -> str:
    """read_private(path) with and without root_ok, in a child running as uid 65534."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                # (the child: never returns into pytest)
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            seen = [repr(read_private(path, root_ok=True))]
            try:
                read_private(path)
            except PermissionError:
                seen.append("refused")
            os.write(w, " ".join(seen).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read().decode()
    os.waitpid(pid, 0)
    return out


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to read as another user")
def test_root_owned_files_are_trusted_beside_the_code_not_in_a_cache():
    """As another user: a root-owned file is as safe as pyvm's code (beside it) but is no
    cache file of this user's."""
    top = tempfile.mkdtemp()
    try:
        os.chmod(top, 0o755)
        f = os.path.join(top, "f")
        with open(f, "wb") as out:
            out.write(b"data")
        os.chmod(f, 0o644)
        assert _as_nobody(f) == "b'data' refused"
    finally:
        os.unlink(os.path.join(top, "f"))
        os.rmdir(top)
