"""Hostile guests against the sandbox: C programs (gcc -m32 -static) that each try to
reach outside the writable tree, read pyvm's code cache or plant code in it, run under
pyvm from a temporary cwd. Nothing outside may change: the tests compare every outside
file's bytes and link count before and after, not only what the guest says."""

from __future__ import annotations

import hashlib
import marshal
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cache_rows import saved_cache  # noqa: E402
from linux.kit import build, busybox, run_pyvm  # noqa: E402

HERE = Path(__file__).parent


def _snapshot(top: Path) -> dict:
    """path -> (bytes hash, link count, mode) for everything under ``top``."""
    out = {}
    for p in sorted(top.rglob("*")):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and \
            not p.is_symlink() else os.readlink(p) if p.is_symlink() else "dir"
        out[str(p.relative_to(top))] = (digest, st.st_nlink, st.st_mode)
    return out


def _report(stdout: bytes) -> dict:
    return dict(line.split(": ", 1) for line in stdout.decode().splitlines() if ": " in line)


def _outside(top: Path) -> Path:
    out = top / "outside"
    out.mkdir(parents=True)
    for name in ("secret", "other", "victim"):
        (out / name).write_text(name + "\n")
    return out


ESCAPES = {
    "link outside": "EPERM", "linkat follow": "EPERM", "write via symlink": "EROFS",
    "write prelinked": "EPERM", "truncate prelinked": "EPERM", "chmod prelinked": "EPERM",
    "link prelinked": "EPERM", "rename in": "EROFS", "rename out": "EROFS",
    "exchange": "EROFS", "proc cwd ..": "EROFS", "proc root": "EROFS",
    "proc pid root": "EROFS", "creat dangling": "EROFS", "creat nofollow": "ELOOP",
    "openat renamed dir": "ok", "linkat empty path": "EPERM",
    "create via dir link": "EROFS", "mkdir outside": "EROFS", "unlink outside": "EROFS",
    "link own": "ok", "write own link": "ok",
}


def test_escapes_from_the_start_directory(tmp_path):
    out = _outside(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    os.link(out / "victim", work / "prelinked")       # a link that was there before
    before = _snapshot(out)
    result = run_pyvm(build("escapes", where=HERE), [str(out)], cwd=work)
    assert result.status == 0, result
    assert _report(result.stdout) == ESCAPES, result
    assert _snapshot(out) == before
    assert not (tmp_path / "escape").exists()
    # the renamed directory got the file, not the symlink put in its place
    assert (work / "d2" / "victim").read_text() == "in d2\n"
    assert (work / "own").read_text() == "PWNED\nPWNED\n"
    assert (work / "own").stat().st_nlink == 2


def test_escapes_under_root(tmp_path):
    root = tmp_path / "root"
    out = _outside(root)
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    work = root / "work"
    work.mkdir()
    os.link(out / "victim", work / "prelinked")
    before, passwd = _snapshot(out), _snapshot(root / "etc")
    result = run_pyvm(build("escapes", where=HERE), ["/outside"], cwd=work,
                      options=["--root", str(root)])
    assert result.status == 0, result
    assert _report(result.stdout) == ESCAPES, result
    assert _snapshot(out) == before and _snapshot(root / "etc") == passwd
    assert sorted(os.listdir(tmp_path)) == ["root"]


def test_proc_self_describes_the_guest(tmp_path):
    exe = build("procview", where=HERE)
    # the native run is the oracle, under the same environment as the guest's
    native = subprocess.run([str(exe)], cwd=tmp_path, capture_output=True, env={"A": "B"})
    emulated = run_pyvm(exe, cwd=tmp_path, options=["--clear-env", "--env", "A=B"],
                        env={"SECRET_OF_THE_HOST": "x"})
    n, e = _report(native.stdout), _report(emulated.stdout)
    assert e["environ"] == "A=B|"
    for key in ("environ", "cmdline", "exe", "cwd", "root", "pid cmdline",
                "maps names python", "maps has stack", "status pid matches", "exe is ELF",
                "fds"):
        assert e[key] == n[key], (key, e, n)
    assert e["write environ"] == "refused"


def _cache_env(home: Path) -> dict:
    # (saved in the run: these tests read the cache's files as soon as it has exited)
    return {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
            "PYVM_CODE_CACHE": "1", "PYVM_BACKGROUND_SAVE": "0"}


def test_guest_cannot_reach_the_code_cache(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = _cache_env(home)
    hello = build("procview", where=HERE)
    first = run_pyvm(hello, cwd=home, env=env)          # fills the cache
    cache = home / ".cache" / "pyvm"
    assert first.status == 0 and (cache / "key").exists(), first
    key = (cache / "key").read_bytes()
    result = run_pyvm(build("cachehunt", where=HERE), cwd=home, env=env)
    assert result.status == 0, result
    r = _report(result.stdout)
    assert r.pop("listed") == "no"
    assert r.pop("rename cache parent") == "EROFS"
    assert set(r.values()) == {"ENOENT"}, r
    assert (cache / "key").read_bytes() == key
    for f in cache.iterdir():
        assert b"PWNED" not in f.read_bytes(), f
    # only what pyvm itself writes there: no file of the guest's
    names = sorted(os.listdir(cache))
    assert "key" in names and any(n.startswith("x86-blocks-") for n in names), names
    assert all(n == "key" or re.fullmatch(r"(x86-blocks|insns-table)-[\w.-]+", n)
               for n in names), names
    assert not (home / "stolen_key").exists() and not (home / "moved").exists()


def test_planted_cache_entries_are_never_executed(tmp_path):
    """Whatever reaches the cache file (a guest in an older pyvm, another program), an
    entry that pyvm did not sign is ignored: every stored block is replaced by code that
    would create a marker file, and the next run must not create it."""
    home = tmp_path / "home"
    home.mkdir()
    env = _cache_env(home)
    exe = build("procview", where=HERE)
    first = run_pyvm(exe, cwd=home, env=env)
    db_path = home / ".cache" / "pyvm" / f"x86-blocks-{sys.implementation.cache_tag}.sqlite3"
    marker = tmp_path / "marker"
    evil = marshal.dumps(compile(f"open({str(marker)!r}, 'w').write('pwned')\n"
                                 "def _blk(*a, **k): pass\n", "<evil>", "exec"))
    with saved_cache(db_path.parent):       # (the first run's saving done)
        pass
    db = sqlite3.connect(db_path)
    rows = db.execute("SELECT key, code FROM blocks").fetchall()
    assert len(rows) > 100
    # keep each entry's tag (or drop it): neither verifies for the planted code
    db.executemany("UPDATE blocks SET code = ? WHERE key = ?",
                   [(code[:32] + evil if i % 2 else evil, k)
                    for i, (k, code) in enumerate(rows)])
    db.commit()
    db.close()
    second = run_pyvm(exe, cwd=home, env=env)
    assert not marker.exists()
    assert second.status == 0 and second.stdout == first.stdout, second


def test_dos_file_services_do_not_follow_symlinks_out(tmp_path):
    from asm.assembler import assemble
    out = _outside(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    (work / "LINK.TXT").symlink_to(out / "secret")
    (work / "DANGLING.TXT").symlink_to(out / "new")
    (work / "SUB").symlink_to(out)
    os.link(out / "victim", work / "HARD.TXT")
    before = _snapshot(out)
    # for each name: create (3Ch), else open for writing (3Dh al=1); write; print CF
    names = ["LINK.TXT", "DANGLING.TXT", "SUB\\OTHER", "HARD.TXT", "OWN.TXT",
             "..\\OUTSIDE\\SECRET"]
    src = ["org 0x100"]
    for i in range(len(names)):
        call = "mov ah, 0x3c\n xor cx, cx" if i % 2 == 0 else "mov ax, 0x3d01"
        src += [f"mov dx, n{i}", call, "int 0x21", "mov bx, ax", "mov dl, '0'",
                "adc dl, 0", "pushf", "mov ah, 2", "int 0x21", "popf", f"jc .s{i}",
                "mov ah, 0x40", "mov cx, 5", "mov dx, pwn", "int 0x21",
                "mov ah, 0x3e", "int 0x21", f".s{i}:"]
    src += ["mov ax, 0x4c00", "int 0x21", "pwn: db 'PWNED'"]
    src += [f"n{i}: db '{n}', 0" for i, n in enumerate(names)]
    com = tmp_path / "t.com"
    com.write_bytes(assemble("\n".join(src) + "\n", "t.asm").image())
    proc = subprocess.run([sys.executable, "-m", "vm.cli", str(com)], cwd=work,
                          capture_output=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(HERE.parent.parent)})
    assert proc.returncode == 0, proc
    assert proc.stdout == b"111101", proc        # only OWN.TXT was created
    assert _snapshot(out) == before
    assert (work / "OWN.TXT").read_bytes() == b"PWNED"


@pytest.mark.parametrize("spelling", ["/proc/self/environ", "/proc/self/../self/environ",
                                      "/proc/thread-self/environ"])
def test_proc_environ_spellings(tmp_path, spelling):
    """Every spelling of the guest's own environ file gives the guest's environment."""
    bb = busybox()
    result = run_pyvm(bb, ["cat", spelling], cwd=tmp_path,
                      options=["--clear-env", "--env", "A=B"])
    assert result.status == 0, result
    assert result.stdout == b"A=B\0"


def test_guest_in_home_cannot_plant_python_code(tmp_path):
    """pyvm started in $HOME: the user site directory (a .pth there runs at every Python
    start) stays unwritable even though $HOME is the guest's writable tree."""
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PYTHONUSERBASE": str(home / ".local")}
    site_dir = subprocess.run(
        [sys.executable, "-c", "import site; print(site.getusersitepackages())"],
                              capture_output=True, text=True, env={**os.environ, **env}
                              ).stdout.strip()
    rel = os.path.relpath(site_dir, home)
    bb = busybox()
    script = f"mkdir -p {rel}; echo 'import os' > {rel}/evil.pth; echo done; ls -a"
    result = run_pyvm(bb, ["sh", "-c", script], cwd=home, env=env)
    assert b"done" in result.stdout, result
    assert not Path(site_dir, "evil.pth").exists()
    assert not Path(site_dir).exists()
