"""Session 32 red team: a hostile guest against the host's resources, each probe compared
with the same program run natively (tests/security/redteam32.c).

- The memory limits a guest sets itself were recorded and reported but never applied:
  after ``setrlimit(RLIMIT_AS, 64 MiB)`` (or RLIMIT_DATA 16 MiB, as a shell's ``ulimit
  -v`` / ``ulimit -d`` puts in front of a program it does not trust) mmap, brk, mremap
  and mprotect still went up to ``--memory`` (2 GiB), in the process and in its forked
  children; Linux fails them with ENOMEM (may_expand_vm, check_data_rlimit).
  vm/linux/memrlimits.py applies them.
- RLIMIT_CPU likewise (``ulimit -t``): a guest that set itself one CPU second spun until
  ``--timeout``, or for ever; Linux sends SIGXCPU past the soft limit (each second
  after, the soft limit moving up) and SIGKILL at the hard one (vm/linux/cpulimit.py).
- RLIMIT_FSIZE likewise (``ulimit -f``): writes, pwrite, writev, copy_file_range,
  truncation went past it (up to ``--max-output``, or without bound); Linux cuts a
  write at the limit, fails one that starts there (or a truncation past it) with EFBIG
  and sends SIGXFSZ, whose default action ends the process (vm/linux/fsizelimit.py).
- ``pyvm prog.s`` assembled the guest's source on the host with the host's rights and
  view: ``incbin "~/.cache/pyvm/key"`` put pyvm's secret cache key (the MAC key of the
  code cache, which no guest may see) into the program, which printed it; ``incbin
  "/proc/self/status"`` the host Python's /proc; ``%!NAME`` read pyvm's environment
  under ``--clear-env``. The same under ``--debug``. A source is a guest program: its
  files are now judged by the guest's sandbox and ``%!NAME`` reads the guest's
  environment (asm/access.py, vm/run_source.py guest_view); an ELF guest asking for
  the same file gets ENOENT.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import _env, build, run_both  # noqa: E402

HERE = Path(__file__).parent


def _prog() -> Path:
    return build("redteam32", where=HERE)


def test_rlimit_as_caps_mappings_brk_and_children(tmp_path):
    native, guest = run_both(tmp_path, _prog(), ["a"])
    # 4 MiB soft: 1 MiB fits; 64 MiB: 128 MiB mmap ENOMEM; 8 MiB fine; 128 MiB sbrk
    # ENOMEM; malloc NULL; the child (inherited limit) ENOMEM
    assert native.stdout == b"a: 0 0 0 -12 0 -12 1 12\n", native
    assert guest.stdout == native.stdout, guest
    assert guest.returncode == native.returncode == 0, guest


def test_rlimit_data_caps_private_writable_memory(tmp_path):
    native, guest = run_both(tmp_path, _prog(), ["d"])
    # set; sbrk 64M ENOMEM, 1M fine; RW mmap ENOMEM; RO fine; mprotect to RW ENOMEM;
    # mremap growth ENOMEM; limit raised; RW mmap fine
    assert native.stdout == b"d: 0 -12 0 -12 0 -12 -12 0 0\n", native
    assert guest.stdout == native.stdout, guest
    assert guest.returncode == native.returncode == 0, guest


def test_rlimit_cpu_sends_sigxcpu(tmp_path):
    native, guest = run_both(tmp_path, _prog(), ["c"], timeout=120)
    # the handler's line at the soft limit, then the default action a second later
    assert (native.stdout, native.returncode) == (b"xcpu\n", -24), native
    assert (guest.stdout, guest.returncode) == (b"xcpu\n", 128 + 24), guest


def test_rlimit_fsize_cuts_writes_and_truncation(tmp_path):
    native, guest = run_both(tmp_path, _prog(), ["f"])
    # write 2000 -> 1000, then EFBIG; pwrite cut at the limit, EFBIG at it; writev cut;
    # ftruncate past it EFBIG, below fine; truncate 1001 EFBIG, 1000 fine;
    # copy_file_range cut; O_APPEND at the limit EFBIG; a pipe not limited; 5 SIGXFSZ,
    # the file 1000 bytes
    assert native.stdout == b"f: 1000 -27 400 -27 500 -27 0 -27 0 100 -27 2000 5 1000\n", native
    assert guest.stdout == native.stdout, guest


def test_rlimit_fsize_default_action_ends_the_process(tmp_path):
    native, guest = run_both(tmp_path, _prog(), ["F"])
    assert (native.stdout, native.returncode) == (b"F: 1000\n", -25), native
    assert (guest.stdout, guest.returncode) == (b"F: 1000\n", 128 + 25), guest
    assert (tmp_path / "pyvm" / "out").stat().st_size == 1000


def test_no_rlimit_set_costs_nothing():
    """A process that set no memory limit is never looked at (no page count per mmap)."""
    from vm.linux import memrlimits

    class Proc:
        rlimits = {7: (64, 64)}         # (RLIMIT_NOFILE only)
        aspace = None                   # (would fail if it were used)

    assert memrlimits.refuse_map(Proc(), 0x1000, 1 << 30, 3, 0x22) == 0
    assert memrlimits.refuse_brk(Proc(), 1 << 30) is False
    assert memrlimits.refuse_grow(Proc(), 0x1000, 1 << 30, 3) == 0
    assert memrlimits.refuse_protect(Proc(), 0x1000, 1 << 30, 3) == 0
    from vm.linux import cpulimit, fsizelimit
    assert not cpulimit.limited(Proc())
    assert fsizelimit.clip(Proc(), object(), b"data") == b"data"
    fsizelimit.check_length(Proc(), 1 << 40)


# a flat 32-bit program printing the bytes an `incbin` (or `%!NAME`) gave it
_PRINT = """bits 32
    mov eax, 4
    mov ebx, 1
    mov ecx, msg
    mov edx, msgend - msg
    int 0x80
    mov eax, 1
    xor ebx, ebx
    int 0x80
msg: db "["
%s
db "]", 10
msgend:
"""


def _pyvm(args, cwd, env=None):
    full = _env(env)
    return subprocess.run([sys.executable, "-m", "vm.cli", *args], cwd=cwd,
                          capture_output=True, env=full, timeout=120,
                          stdin=subprocess.DEVNULL)


def _cache_key(tmp_path: Path) -> tuple:
    """A cache directory of this user's with its key, as pyvm makes it."""
    from asm.cachefile import private_dir_key
    folder = tmp_path / "cache" / "pyvm"
    return {"XDG_CACHE_HOME": str(tmp_path / "cache")}, private_dir_key(str(folder)), folder


def test_source_cannot_incbin_pyvms_cache_key(tmp_path):
    env, key, folder = _cache_key(tmp_path)
    (tmp_path / "leak.s").write_text(_PRINT % f'incbin "{folder}/key"')
    r = _pyvm(["leak.s"], tmp_path, env)
    assert key not in r.stdout, r
    assert r.returncode == 1, r
    assert b"leak.s:11: error: `incbin': unable to get length of file" in r.stderr, r
    # as for a guest program opening it: ENOENT (the same sandbox judges both)
    g = _pyvm([str(_prog()), "o", f"{folder}/key"], tmp_path, env)
    assert g.stdout == b"o: -2\n", g


def test_source_cannot_include_pyvms_files_or_read_host_proc(tmp_path):
    env, key, folder = _cache_key(tmp_path)
    (tmp_path / "inc.s").write_text(f'bits 32\n%include "{folder}/key"\n')
    r = _pyvm(["inc.s"], tmp_path, env)
    assert r.returncode == 1 and b"unable to open include file" in r.stderr, r
    (tmp_path / "proc.s").write_text(_PRINT % 'incbin "/proc/self/status"')
    r = _pyvm(["proc.s"], tmp_path, env)
    assert b"Name:" not in r.stdout and r.returncode == 1, r
    r = _pyvm(["--debug", "proc.s"], tmp_path, env)
    assert b"Name:" not in r.stdout and b"unable to get length" in r.stdout + r.stderr, r
    # what the guest may read still comes in: a file beside the source
    (tmp_path / "beside.txt").write_bytes(b"ok")
    (tmp_path / "fine.s").write_text(_PRINT % 'incbin "beside.txt"')
    r = _pyvm(["fine.s"], tmp_path, env)
    assert (r.returncode, r.stdout) == (0, b"[ok]\n"), r


def test_source_environment_is_the_guests(tmp_path):
    (tmp_path / "env.s").write_text(_PRINT % "%defstr V %!PYVM_RT32_SECRET\ndb V")
    env = {"PYVM_RT32_SECRET": "host"}
    assert _pyvm(["env.s"], tmp_path, env).stdout == b"[host]\n"
    r = _pyvm(["--clear-env", "env.s"], tmp_path, env)
    assert r.stdout == b"[]\n", r
    r = _pyvm(["--clear-env", "--env", "PYVM_RT32_SECRET=given", "env.s"], tmp_path, env)
    assert r.stdout == b"[given]\n", r


def test_source_file_swapped_after_the_check_reaches_nothing(tmp_path, monkeypatch):
    """A name judged when found, then swapped for a symlink to pyvm's key before it is
    read (another run's guest in the same directory): the file opened is judged again."""
    import pytest

    from asm import access
    from vm.options import RunOptions
    from vm.run_source import guest_view
    env, key, folder = _cache_key(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", env["XDG_CACHE_HOME"])
    src, f = tmp_path / "x.s", tmp_path / "beside.txt"
    src.write_text("")
    f.write_bytes(b"ok")
    with guest_view(str(src), RunOptions()):
        assert access.allowed(str(f)) and access.read_input(str(f)) == b"ok"
        f.unlink()
        f.symlink_to(folder / "key")
        with pytest.raises(OSError):
            access.read_input(str(f))
    assert access.read_input(str(f)) == key         # (pyasm itself: the user's rights)
