"""Session 30 red team: a hostile guest against the Linux personality, each probe
compared with the same program run natively (tests/security/redteam30.c):

- nested epolls cost exponential host work: an epoll's readiness was asked again on
  every path to it, and the loop check of epoll_ctl followed every path too. W epolls
  on each of 5 levels, each watching every epoll below, made one epoll_wait cost W^4
  host steps (20 a level: 0.32 s a call, 10.7 s to build; natively nothing), and with
  a thousand descriptors a single call ran for hours (only --timeout ended it). Each
  epoll is now visited once per call, and the nesting limit is Linux's: at most five
  epolls in a chain counting those above and below (pyvm counted only below: chains
  of 8 were made, natively ELOOP after 5);
- the working directory was kept as a name: removed and made again, or renamed and its
  name given to a symlink, the guest's relative names went into whatever held the name
  then (files made in a new directory where Linux says ENOENT, or in the symlink's
  target instead of the directory the process is in); fchdir to a removed directory
  failed. The cwd is now the directory itself, held open, as the kernel holds it;
- /proc/PID/maps was made whole at the open and kept by the descriptor: an address
  space cut into a mapping a page (every other page read-only) made it megabytes, and
  each open held a copy outside --memory (128 MiB cut so, 200 opens: 313 MB, 40 s;
  512 MiB: 1.1 GB). It is made as it is read now, from where the last read stopped
  (50 MB, 4.8 s); its content is unchanged. /proc/PID/environ and cmdline were joined
  anew for each open too: a 5 MiB environment (RLIMIT_STACK raised, as any guest
  may) opened 300 times held 1.6 GB; they are joined once per exec and shared (66 MB);
- a chain of #! scripts: Linux runs five scripts deep, pyvm stopped at three (ELOOP);
- sizes negative as an int: readlink with bufsiz 0 or -1 and getgroups with -1 were
  taken as sizes (0 and a list written where the guest pointed), Linux says EINVAL.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import build, peak_rss, run_both  # noqa: E402

HERE = Path(__file__).parent


def test_nested_epolls_as_linux(tmp_path):
    native, guest = run_both(tmp_path, build("redteam30", where=HERE), ["c", "d"])
    assert native.stdout == (b"c: 0 0 0 0 -40 0 0 self -22 loop -40\n"
                             b"d: 5 -40\n"), native
    assert guest.stdout == native.stdout, guest


def test_an_epoll_lattice_costs_host_work_once(monkeypatch):
    """12 epolls on each of 5 levels, each watching all 12 below (the bottom ones an
    empty eventfd): one wait asked 1 + 12 + ... + 12^4 = 22621 interest lists, now
    each epoll's once."""
    from vm.linux.waiting import Epoll, EventFd, _Watch

    width, levels = 12, 5
    bottom = EventFd(0, False)
    bottom.refs = 1
    grid = [[Epoll() for _ in range(width)] for _ in range(levels)]
    for row, below in zip(grid, grid[1:] + [[bottom]]):
        for ep in row:
            ep.refs = 1
            for k, f in enumerate(below):
                ep.watches[(100 + k, id(f))] = _Watch(100 + k, f, 1, 0)
    asked = 0
    live = Epoll.live

    def counting(self):
        nonlocal asked
        asked += 1
        return live(self)

    monkeypatch.setattr(Epoll, "live", counting)
    assert grid[0][0].collect(4, True) == []
    assert asked <= width * levels, asked


def test_the_cwd_is_the_directory_not_its_name(tmp_path):
    native, guest = run_both(tmp_path, build("redteam30", where=HERE), ["r", "m", "f"])
    assert native.stdout == b"r: -2 -2 -2\nm: 0 0 -2 /mb\nf: 0 -2 -2\n", native
    assert guest.stdout == native.stdout, guest


def test_script_chains_as_linux(tmp_path):
    exe = build("redteam30", where=HERE)
    for n, out in ((5, b"s: ran 7\n"), (6, b"s: -40\n")):
        where = tmp_path / str(n)
        where.mkdir()
        native, guest = run_both(where, exe, [f"s:{n}"])
        assert native.stdout == out, native
        assert guest.stdout == native.stdout, guest


def test_open_proc_maps_keep_no_copy(tmp_path):
    exe = build("redteam30", where=HERE)
    native, _ = run_both(tmp_path, exe, ["p:128:200"])
    assert native.stdout == b"p: 0 200 0\n", native
    out, status, peak = peak_rss([sys.executable, "-m", "vm.cli", str(exe), "p:128:200"],
                                 tmp_path / "pyvm")
    assert (out, status) == (native.stdout, 0)
    assert peak < 150 * 1024, f"pyvm peaked at {peak} KiB"


def test_negative_sizes_as_linux(tmp_path):
    native, guest = run_both(tmp_path, build("redteam30", where=HERE), ["e"])
    assert native.stdout == b"e: -22 -22 -22\n", native
    assert guest.stdout == native.stdout, guest


def test_open_proc_environ_share_one_copy(tmp_path):
    exe = build("redteam30", where=HERE)
    native, _ = run_both(tmp_path, exe, ["v:300"])
    assert native.stdout == b"v: 300 R\n", native
    out, status, peak = peak_rss([sys.executable, "-m", "vm.cli", str(exe), "v:300"],
                                 tmp_path / "pyvm")
    assert (out, status) == (native.stdout, 0)
    assert peak < 250 * 1024, f"pyvm peaked at {peak} KiB"
