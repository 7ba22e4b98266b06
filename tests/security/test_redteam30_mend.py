"""Review of c3b0405 (the held cwd and /proc/PID/maps), each against a native run of
tests/security/redteam30_mend.c:

- the held cwd's host descriptor was closed only by a weakref finalizer, when the
  collector came (PyPy's: busybox `(cd /tmp && true)` 400 times under `ulimit -n 256`
  ran out of descriptors at 247): a process's share is now given back when it exits
  (a thread's when it leaves, another thread's at an execve);
- a removed cwd's `..` is its former parent (stat, chdir), also after fchdir into a
  removed directory; /proc/self/cwd reads "/a (deleted)";
- removal is judged by the directory's link count, not by a name ending " (deleted)";
- /proc/PID/maps was made 64 KiB ahead: a read after the mappings changed still showed
  the old ones (native: about a page ahead, as seq_file).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import build, run_both  # noqa: E402

HERE = Path(__file__).parent

# pyvm with every Process object kept (as when PyPy's collector has not come yet): the
# number of host descriptors pyvm holds when the guest is done, on stderr
COUNTING = """
import gc, os, sys
gc.disable()
from vm.linux import kernel, process
kept, init = [], process.Process.__init__
def keep(self, *a, **k):
    init(self, *a, **k)
    kept.append(self)
process.Process.__init__ = keep
run = kernel.Kernel.run
def counted(self, *a, **k):
    r = run(self, *a, **k)
    sys.stderr.write("hostfds %d\\n" % len(os.listdir("/proc/self/fd")))
    return r
kernel.Kernel.run = counted
sys.argv = ["pyvm"] + sys.argv[1:]
from vm.cli import main
sys.exit(main())
"""


def _prog() -> Path:
    return build("redteam30_mend", where=HERE)


def _host_fds(tmp_path: Path, loops: int) -> tuple:
    native, guest = run_both(tmp_path / str(loops), _prog(), ["forkloop", str(loops)],
                             pyvm=("-c", COUNTING))
    assert guest.stdout == native.stdout == b"forkloop: /p\n"
    line = [x for x in guest.stderr.splitlines() if x.startswith(b"hostfds ")]
    assert line, guest
    return int(line[0].split()[1])


def test_forked_children_give_their_cwd_back(tmp_path):
    (tmp_path / "5").mkdir()
    (tmp_path / "61").mkdir()
    assert _host_fds(tmp_path, 5) == _host_fds(tmp_path, 61)


def test_a_removed_cwd_has_a_parent(tmp_path):
    for probe in ("rmdot", "fchdirrm"):
        (tmp_path / probe).mkdir()
        native, guest = run_both(tmp_path / probe, _prog(), [probe])
        assert guest.stdout == native.stdout, (probe, native, guest)
    assert native.stdout == b"fchdirrm: 0 chdir.. 0 getcwd /a\n"


def test_removed_cwd_link_and_a_name_ending_deleted(tmp_path):
    native, guest = run_both(tmp_path, _prog(), ["del"])
    assert native.stdout == b"del: chdir 0 getcwd /x (deleted) create 0 link /x (deleted)\n"
    assert guest.stdout == native.stdout, guest
    rm = tmp_path / "rm"
    rm.mkdir()
    native, guest = run_both(rm, _prog(), ["rmdot"])
    assert native.stdout.startswith(b"rmdot: link /b (deleted) ")
    assert guest.stdout == native.stdout, guest


def test_maps_is_made_a_page_ahead(tmp_path):
    native, guest = run_both(tmp_path, _prog(), ["maps"])
    assert native.stdout == b"maps: big 1 bytewise-equal 1 after munmap: under 8 KiB 1\n"
    assert guest.stdout == native.stdout, guest
