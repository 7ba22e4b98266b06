"""Session 26 review findings on the sandbox (commit 104eb96), each checked against the
host file system or the native run:

- a read opens what the sandbox checked: a directory on the path swapped for a symlink
  to an outside directory (race) must not make pyvm open the outside object (a FIFO
  there blocked pyvm in open(); a device open has side effects);
- a writable top (the start directory, an --allow-write path) is kept as a mount point
  is: never removed, renamed or replaced (a guest left ``w -> /etc`` where its start
  directory was, and the next ``cd w && pyvm`` wrote /etc);
- open(directory, O_RDONLY|O_TRUNC) fails with EISDIR, as natively."""

from __future__ import annotations

import errno
import os
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from linux.kit import build, run_native, run_pyvm  # noqa: E402
from test_fdwalk26_race import Guest  # noqa: E402

from vm.linux import fscalls, syscalls  # noqa: E402
from vm.linux.abi import AT_FDCWD  # noqa: E402
from vm.sandbox import Sandbox  # noqa: E402

HERE = Path(__file__).parent


def test_read_open_race_does_not_open_an_outside_fifo(tmp_path):
    work, outside = tmp_path / "work", tmp_path / "outside"
    (work / "d").mkdir(parents=True)
    outside.mkdir()
    (work / "d" / "p").write_text("inside")
    os.mkfifo(outside / "p")                 # any host FIFO the guest may not open
    sb = Sandbox(cwd=str(work), hidden=(), protected=())
    guest = Guest(sb)
    real = sb.lookup

    def lookup(*args, **kw):                 # swap d for a symlink right after the check
        answer = real(*args, **kw)
        if args[0].startswith("d/") and not (work / "d").is_symlink():
            os.rename(work / "d", work / "d.old")
            os.symlink(outside, work / "d")
        return answer
    sb.lookup = lookup
    result: list = []
    t = threading.Thread(target=lambda: result.append(
        guest.call(syscalls._open, AT_FDCWD, "d/p", 0, 0)), daemon=True)
    t.start()
    t.join(5)
    blocked = t.is_alive()                   # in open() of the outside FIFO
    if blocked:                              # (a writer lets that open return)
        os.close(os.open(outside / "p", os.O_WRONLY | os.O_NONBLOCK))
        t.join(5)
    assert not blocked
    assert result == [-errno.ENOTDIR]        # the verified directory open refuses a link


def test_writable_tops_are_not_removed_renamed_or_replaced(tmp_path):
    """The guest runs in ``work`` (a writable top) with ``--allow-write work/a/top``;
    the oracle is the host file system afterwards, and each call's result (EBUSY, as
    Linux's rmdir and rename of a mount point; EEXIST for mkdir of the existing top, as
    natively; the top's chmod is allowed)."""
    exe = build("sbxmend26", where=HERE)
    work = tmp_path / "work"
    top = work / "a" / "top"
    top.mkdir(parents=True)
    (work / "sub").mkdir()
    w = str(work)
    calls = [f"R:{w}", f"N:{w}:{w}.moved", f"U:{w}", f"S:/etc:{w}", f"M:{w}",
             f"N:sub:{w}", "R:a/top", "N:a/top:moved", "N:a:a2", "N:sub:a/top",
             "S:/etc:a/top", "U:a/top", f"C:{w}", "C:a/top"]
    r = run_pyvm(exe, calls, cwd=work, options=["--allow-write", str(top)])
    assert r.status == 0, r
    want = [f"{c}: -1 {errno.EEXIST if c[0] == 'M' else errno.EBUSY}" for c in calls[:-2]]
    assert r.stdout.decode().splitlines() == want + [f"{c}: 0 0" for c in calls[-2:]]
    assert work.is_dir() and not work.is_symlink()
    assert top.is_dir() and not top.is_symlink()
    assert sorted(p.name for p in work.iterdir()) == ["a", "sub"]


def test_open_directory_with_o_trunc_is_eisdir(tmp_path):
    exe = build("sbxmend26", where=HERE)
    out = {}
    for side, run in (("native", run_native), ("pyvm", run_pyvm)):
        (tmp_path / side / "d").mkdir(parents=True)
        r = run(exe, ["T:d", "T:.", "T:/"], cwd=tmp_path / side)
        assert r.status == 0, r
        out[side] = r.stdout
    assert out["pyvm"] == out["native"]
    assert out["native"].count(b"-1 %d\n" % errno.EISDIR) == 3


def test_fchown_acts_on_the_descriptor_not_its_name(tmp_path):
    """fchown changes the open inode even when another file takes its name between the
    check and the call (it used to chown whatever the name held then), as fchmod does."""
    if os.geteuid() != 0:
        pytest.skip("needs root to give a file another owner")
    work = tmp_path / "work"
    work.mkdir()
    (work / "f").write_text("opened")
    sb = Sandbox(cwd=str(work), hidden=(), protected=())
    guest = Guest(sb)
    fd = guest.call(syscalls._open, AT_FDCWD, "f", 2, 0)
    real = sb.resolve

    def resolve(*args, **kw):                # another file takes the name meanwhile
        answer = real(*args, **kw)
        if not (work / "f.old").exists():
            os.rename(work / "f", work / "f.old")
            (work / "f").write_text("other")
        return answer
    sb.resolve = resolve
    assert guest.call(fscalls.sys_fchown32, fd, 4242, 4343) == 0
    assert (os.stat(work / "f.old").st_uid, os.stat(work / "f").st_uid) == (4242, 0)
