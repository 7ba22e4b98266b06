"""Mend of sandbox round 31 (memory mappings, 5a1fd3d). Oracle: the native run of
sbx31_mend.c (gcc -m32 -static). Each test failed before the mend.

- a forked child's copy of a MAP_SHARED page the parent had stored to is not a newer
  writer: the child's pread wrote it over the parent's msync'ed bytes ('hEllo world',
  native 'hELlo world'), and where both stored to one page both stores stay;
- MAP_PRIVATE file mappings hold no host descriptor (200 open/mmap/close under
  ulimit -n 64: ENFILE at 25), and mremap still grows one over its (closed) file;
- VMAs are counted as Linux does: shared pieces once (ENOMEM at 32761 of 40000 holes),
  one-page file mappings side by side each (70000 accepted; Linux stops near 65530);
- copy_file_range reads a file's stored MAP_SHARED pages ('hello world').

Last read of the Linux diff (tests/security/sbx31_mend2.c):

- mremap growing a MAP_PRIVATE file mapping reopened the file by its host path with a
  plain open: a guest that replaced the file with a symlink made pyvm open the symlink's
  host target outside --root (a FIFO: its writer released);
- a run stopped with processes alive (--max-steps) left its MAP_SHARED mappings in the
  module's registry: its stores reached the file only when a later run in the same
  Python process read it (with that run's rights); now they reach it at the run's end,
  as a killed process's stores do on Linux.
"""
from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import _env, build  # noqa: E402

HERE = Path(__file__).parent


def _few_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def _both(tmp_path: Path, *args: str, nofile: bool = False,
          name: str = "sbx31_mend") -> tuple:
    """The native run and pyvm's of ``name``.c (here), each in a directory of its own."""
    exe = build(name, opt="O1", where=HERE)
    (tmp_path / "n").mkdir()
    (tmp_path / "p").mkdir()
    pre = _few_fds if nofile else None
    native = subprocess.run([str(exe), *args], cwd=tmp_path / "n", capture_output=True,
                            timeout=120, stdin=subprocess.DEVNULL, preexec_fn=pre)
    ours = subprocess.run([sys.executable, "-m", "vm.cli", str(exe), *args],
                          cwd=tmp_path / "p", env=_env({"PYVM_CODE_CACHE": "0"}),
                          capture_output=True, timeout=300, stdin=subprocess.DEVNULL,
                          preexec_fn=pre)
    assert native.returncode == 0, native
    return native, ours


def test_forked_copy_of_a_shared_page_is_not_newer(tmp_path):
    """The parent stored p[1] before fork and p[2] after, then msync'ed; the child,
    which stored only to the second page, reads the file: both stores are there, in the
    child's mapping too, and the child's own store reaches the file."""
    native, ours = _both(tmp_path, "fork")
    assert b"child pread: hELlo world" in native.stdout, native
    assert ours.stdout == native.stdout, ours.stderr.decode()[-2000:]
    assert (tmp_path / "p" / "fk.dat").read_bytes() == (tmp_path / "n" / "fk.dat").read_bytes()


def test_parent_and_child_stores_to_one_shared_page_both_stay(tmp_path):
    """Parent and child store different bytes of one MAP_SHARED page; the parent
    msyncs, then the child: the child's write-back keeps the parent's byte (it writes
    only what it changed since the file it last saw)."""
    native, ours = _both(tmp_path, "both")
    assert native.stdout == (b"child pread: hEPCo world\nparent pread: hEPCo world\n"
                             b"parent mapping: hEPCo world\n"), native
    assert ours.stdout == native.stdout, ours.stderr.decode()[-2000:]


def test_private_file_mappings_hold_no_descriptor(tmp_path):
    """200 files opened, mapped MAP_PRIVATE and closed under ulimit -n 64; the first
    mapping then grows over its file (the second page reads 'b')."""
    native, ours = _both(tmp_path, "fds", nofile=True)
    assert native.stdout == b"200 mapped\ngrown: a b\n"
    assert ours.stdout == native.stdout, ours.stderr.decode()[-2000:]


def test_shared_pieces_count_once(tmp_path):
    """40000 munmap holes in one MAP_SHARED mapping: 40000 pieces, 40000 VMAs."""
    native, ours = _both(tmp_path, "vmas", "40000", "s")
    assert native.stdout == b"all 40000 ok\n"
    assert ours.stdout == native.stdout, ours.stderr.decode()[-2000:]


def test_file_mappings_side_by_side_are_vmas_each(tmp_path):
    """70000 one-page MAP_FIXED mappings of a file's page 0 side by side: Linux merges
    none, so mmap fails with ENOMEM near vm.max_map_count (the few other VMAs of a
    process differ by a handful between the two)."""
    native, ours = _both(tmp_path, "vmas", "70000", "f")
    want = re.fullmatch(rb"mmap failed at (\d+): Cannot allocate memory\n", native.stdout)
    got = re.fullmatch(rb"mmap failed at (\d+): Cannot allocate memory\n", ours.stdout)
    assert want, native
    assert got, (ours.stdout, ours.stderr.decode()[-2000:])
    assert abs(int(got[1]) - int(want[1])) <= 16


def test_copy_file_range_reads_stored_shared_pages(tmp_path):
    native, ours = _both(tmp_path, "cfr")
    assert native.stdout == b"copy_file_range 12: Jello world\n"
    assert ours.stdout == native.stdout, ours.stderr.decode()[-2000:]


def _mend2() -> Path:
    return build("sbx31_mend2", opt="O1", where=HERE)


def test_growing_a_private_mapping_opens_no_planted_symlink(tmp_path):
    """The mapped file is unlinked and replaced by a symlink to a FIFO outside the
    root, then the mapping grows. A writer waits in open() on that FIFO all along: a
    host open of the FIFO by pyvm (any reader) would let it through."""
    import threading
    exe = _mend2()
    fifo = tmp_path / "outside.fifo"
    os.mkfifo(fifo)
    (tmp_path / "n").mkdir()
    (tmp_path / "p").mkdir()
    native = subprocess.run([str(exe), "grow", str(fifo)], cwd=tmp_path / "n",
                            capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert native.stdout == b"symlink 0 mremap ok first x\n", native
    through = threading.Event()

    def writer() -> None:
        fd = os.open(fifo, os.O_WRONLY)         # (waits until some reader opens it)
        through.set()
        os.close(fd)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        ours = subprocess.run([sys.executable, "-m", "vm.cli", "--root", ".", str(exe),
                               "grow", str(fifo)],
                              cwd=tmp_path / "p", env=_env({"PYVM_CODE_CACHE": "0"}),
                              capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
        assert ours.stdout == native.stdout, ours.stderr.decode()[-2000:]
        assert not through.wait(0.5), "pyvm opened the FIFO outside the root"
    finally:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)     # (the writer's way out)
        thread.join(10)
        os.close(fd)


def _stored_and_killed(exe: Path, tmp_path: Path) -> bytes:
    """The file a native run leaves when it is killed after its MAP_SHARED store
    (tmp_path/n), with tmp_path/p made for pyvm's run."""
    (tmp_path / "n").mkdir()
    (tmp_path / "p").mkdir()
    native = subprocess.run([str(exe), "store", "kill"], cwd=tmp_path / "n",
                            capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert native.returncode == -9, native
    return (tmp_path / "n" / "g").read_bytes()


def test_a_stopped_runs_shared_stores_do_not_wait_for_the_next_run(tmp_path, monkeypatch,
                                                                  capfd):
    """A MAP_SHARED store, then the process is killed (native: SIGKILL; pyvm: stopped by
    max_steps): the file holds the store at once. A later run in the same Python process
    that only reads the file (after the host rewrote it) leaves it alone: before, the
    stopped run stayed registered and the reader's read() wrote its pages there."""
    from vm.linux import addrspace
    from vm.linux.runner import run_elf
    from vm.options import RunOptions
    exe = _mend2()
    want = _stored_and_killed(exe, tmp_path)
    assert want == b"AAAA" + b"." * 4092
    monkeypatch.chdir(tmp_path / "p")
    monkeypatch.setenv("PYVM_CODE_CACHE", "0")
    run_elf(str(exe), exe.read_bytes(), RunOptions(max_steps=400000, args=("store", "spin")))
    capfd.readouterr()
    assert (tmp_path / "p" / "g").read_bytes() == want
    assert not addrspace.spaces
    (tmp_path / "p" / "g").write_bytes(b"host" * 1024)
    assert run_elf(str(exe), exe.read_bytes(), RunOptions(args=("read",))) == 0
    assert capfd.readouterr().out == "read 8 hosthost\n"
    assert (tmp_path / "p" / "g").read_bytes() == b"host" * 1024


def test_a_debug_sessions_end_ends_its_run(tmp_path, monkeypatch, capfd):
    """The same store, in a debugger session that ends with the process alive (pyvm
    --debug's quit, a gdb detach): the file holds the store and the mapping leaves the
    registry a later run in this Python process consults (before, a debugger session
    did not go through Kernel.run's end and stayed registered)."""
    from vm.debug.targets import load
    from vm.linux import addrspace
    from vm.options import RunOptions
    exe = _mend2()
    want = _stored_and_killed(exe, tmp_path)
    monkeypatch.chdir(tmp_path / "p")
    monkeypatch.setenv("PYVM_CODE_CACHE", "0")
    target = load("elf", str(exe), exe.read_bytes(), RunOptions(args=("store", "spin")))
    target.run(400000)
    assert target.finished() is None            # (still spinning: the session ends it)
    target.close()
    capfd.readouterr()
    assert (tmp_path / "p" / "g").read_bytes() == want
    assert not addrspace.spaces
