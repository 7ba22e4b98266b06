"""Mend of the session 29 red team's review (tests/security/redteam29_mend.c, the
native run as the reference):

- mremap growing a range across two mappings (a shared file page in front of an
  anonymous mapping) moved it where Linux refuses with EFAULT; and a moved MAP_SHARED
  file mapping was held twice (the old copy kept to be written back when unmapped) and
  mapped the file no more after the move, nor in its grown part: it is written back,
  then moves with its file, and a grown one maps the file on;
- getdents64 into a buffer running into an unmapped page failed with EFAULT where Linux
  gives the entries that fit (EFAULT only when not one does);
- a /proc directory was listed whole on every getdents64 to find where to resume:
  reading /proc/self/fd of N descriptors a little at a time made O(N^2) entries;
- seekdir to a telldir position of a host directory found nothing (lseek on it took 0
  only): d_off counts entries, and a seek reads the host's stream up to that entry."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import build, peak_rss, run_both  # noqa: E402

HERE = Path(__file__).parent


def test_mremap_grows_or_moves_one_mapping_only(tmp_path):
    native, guest = run_both(tmp_path, build("redteam29_mend", where=HERE), ["e"])
    assert native.stdout == b"e: failed 14\ne: moved 1\n", native
    assert guest.stdout == native.stdout, guest


def test_a_moved_shared_file_mapping_keeps_its_file_and_is_not_held_twice(tmp_path):
    exe = build("redteam29_mend", where=HERE)
    native, _ = run_both(tmp_path, exe, ["s:8"])
    assert native.stdout == b"s: ab ab c 1\n", native
    out, status, peak = peak_rss([sys.executable, "-m", "vm.cli", "--memory", "160M",
                                  str(exe), "s:128"], tmp_path / "pyvm")
    assert (out, status) == (b"s: ab ab c 1\n", 0)
    assert peak < 240 * 1024, f"pyvm peaked at {peak} KiB"


def test_getdents64_gives_the_entries_that_fit_before_a_fault(tmp_path):
    native, guest = run_both(tmp_path, build("redteam29_mend", where=HERE), ["g:pd"])
    assert native.stdout == b"g: 4 ok, then 48\ng: -1 14\n", native
    assert guest.stdout == native.stdout, guest


def test_a_proc_directory_read_in_pieces_makes_each_entry_once(monkeypatch):
    """/proc/self/fd of 1500 descriptors read one entry per call: the entries made (its
    inode numbers) grow with the listing, not with its square."""
    from vm import api
    from vm.linux import procfs
    made = [0]
    ino = procfs._ino

    def counting(parts):
        made[0] += 1
        return ino(parts)
    monkeypatch.setattr(procfs, "_ino", counting)
    result = api.run(build("redteam29_mend", where=HERE), args=["f:1500:32"])
    assert result.stdout == b"f: 1506 1506 0\n", result
    assert made[0] < 10 * 1506, made[0]


def test_seekdir_returns_to_a_telldir_position(tmp_path):
    """telldir/seekdir (d_off and lseek on the directory) on a host directory: seekdir
    gave nothing after it, lseek(dirfd, 0, SEEK_CUR) EINVAL."""
    native, guest = run_both(tmp_path, build("redteam29_mend", where=HERE), ["t"])
    assert native.stdout.startswith(b"t: 8 ") and native.stdout.endswith(b", at 0\n"), native
    assert guest.stdout == native.stdout, guest
