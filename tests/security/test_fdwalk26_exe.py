"""/proc/self/exe is the file that was executed, not its name: a guest that unlinks its
own executable (in its writable cwd) and puts a symlink at that name to the host pyvm's
/proc/self/environ, to a file of pyvm's hidden cache or to a file outside --root must
still open, stat and execve its own program through /proc/self/exe (in itself and in a
forked child), as natively. pyvm used to open the recorded host path, following the new
link: the guest read the host's environment or pyvm's hidden files (found in session 26
by the cleanup helper, whose reproducers are the first two tests).

The oracle is the native run of the same program (tests/security/fdwalk26_exe.c): its
report lines under pyvm must equal the native ones, and no secret may reach the guest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import build, run_pyvm  # noqa: E402

HERE = Path(__file__).parent


def _native(exe: Path, cwd: Path, target: str) -> bytes:
    shutil.copy(exe, cwd / "prog")
    p = subprocess.run(["./prog", target], cwd=cwd, capture_output=True, timeout=60)
    assert p.returncode == 0, p
    (cwd / "prog").unlink()
    return p.stdout


def _both(tmp_path: Path, target: str, env: dict | None = None,
          root: Path | None = None) -> tuple:
    """(native report, pyvm's stdout + stderr) of the program swapping itself for a
    symlink to ``target``."""
    exe = build("fdwalk26_exe", where=HERE)
    native_dir = tmp_path / "native"
    native_dir.mkdir()
    native = _native(exe, native_dir, target)
    work = (root or tmp_path) / "work"
    work.mkdir()
    shutil.copy(exe, work / "prog")
    r = run_pyvm("./prog", [target], cwd=work, env=env,
                 options=["--root", str(root)] if root else [])
    assert r.status == 0, r
    return native, r.stdout, r.stderr


EXPECTED = (b"self open: ELF\nstat: reg size=same nlink=0\nchild open: ELF\n"
            b"execve: ran\nexecve: ran\n")


def test_proc_self_exe_does_not_reach_the_hosts_proc(tmp_path):
    secret = "fdwalk26-host-secret"
    native, out, err = _both(tmp_path, "/proc/self/environ", {"FDWALK26_SECRET": secret})
    assert out == native == EXPECTED
    assert secret.encode() not in out + err


def test_proc_self_exe_does_not_reach_hidden_files(tmp_path):
    hidden = tmp_path / "cache" / "pyvm"
    hidden.mkdir(parents=True, mode=0o700)
    (hidden / "secret").write_text("fdwalk26-cache-secret")
    native, out, err = _both(tmp_path, str(hidden / "secret"),
                             {"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert out == native == EXPECTED
    assert b"fdwalk26-cache-secret" not in out + err


def test_proc_self_exe_does_not_reach_outside_the_root(tmp_path):
    (tmp_path / "outside").write_text("fdwalk26-outside-secret")
    root = tmp_path / "root"
    root.mkdir()
    native, out, err = _both(tmp_path, str(tmp_path / "outside"), root=root)
    assert out == native == EXPECTED
    assert b"fdwalk26-outside-secret" not in out + err


def test_the_program_file_is_held_once(tmp_path):
    """One host descriptor per program file, shared by the processes running it and
    closed when none does (the descriptor budget)."""
    from vm.linux.loader import ExeFile, ExePath
    prog = tmp_path / "prog"
    prog.write_bytes(b"\x7fELF")
    a, b = ExePath.open(str(prog)), ExePath.open(str(prog))
    assert a.exe is b.exe
    fd = a.exe.fd
    os.fstat(fd)
    del a, b
    import gc
    gc.collect()
    st = os.stat(prog)
    assert (st.st_dev, st.st_ino) not in ExeFile._open
    try:
        os.fstat(fd)
        closed = False
    except OSError:
        closed = True
    assert closed
