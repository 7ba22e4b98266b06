"""Session 27 red team: a hostile guest against pyvm's in-memory kernel objects, each
probe compared with the same program run natively (tests/security/redteam27.c):

- a unix socket queue is bounded by what Linux charges each message (its skb truesize),
  not by its bytes: counting bytes let one socket hold 212992 one-byte messages, each
  with 253 descriptors (500 MB of host memory, past any --memory limit);
- descriptors in flight (sent, not yet received) are bounded by RLIMIT_NOFILE
  (ETOOMANYREFS): a guest closing the sending end of ever new socketpairs kept files and
  queues alive without limit; and a hard limit only comes down (setrlimit took any
  value: RLIMIT_NOFILE raised to 2^32 gave a million descriptors);
- select with a negative nfds is EINVAL (pyvm waited for nothing, forever), with an nfds
  past the descriptor table it is not an error, and poll takes up to RLIMIT_NOFILE
  entries (pyvm refused past 4096 and 1024); F_GETLK answers F_UNLCK (pyvm left the
  guest's F_WRLCK in place: a conflicting lock that does not exist);
- bind of a name the /proc/self/fd/N/ prefix pushes past sun_path binds it, as
  natively (was ENAMETOOLONG);
- a host device node inside the tree is not opened by a DOS program either;
- pipe and socket buffers draw on the run's memory budget (--memory);
- under PyPy a guest's link() works (it was always EINVAL)."""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import Result, build, run_native, run_pyvm  # noqa: E402

HERE = Path(__file__).parent


def both(tmp_path, args, native_prefix=()):
    """The native and the pyvm run of redteam27 with ``args``, each in a fresh directory."""
    exe = build("redteam27", where=HERE)
    (tmp_path / "n").mkdir()
    (tmp_path / "v").mkdir()
    if native_prefix:
        import subprocess
        os.chmod(tmp_path, 0o777)
        os.chmod(tmp_path / "n", 0o777)
        native = Result(subprocess.run([*native_prefix, str(exe), *args], cwd=tmp_path / "n",
                                       capture_output=True, timeout=300))
    else:
        native = run_native(exe, args, cwd=tmp_path / "n")
    return native, run_pyvm(exe, args, cwd=tmp_path / "v")


def test_socket_queues_take_what_linux_takes(tmp_path):
    # (type, size, descriptors): stream 1, datagram 2, seqpacket 5; one-byte messages
    # with and without SCM_RIGHTS (3 each: under any RLIMIT_NOFILE), and sizes in each of
    # the kernel's slab classes
    args = [f"q:{t}:{size}:{nfd}" for t, size, nfd in (
        (1, 1, 0), (1, 1, 1), (1, 1, 3), (2, 1, 0), (2, 1, 3), (5, 1, 3),
        (1, 64, 0), (1, 200, 0), (1, 1000, 0), (1, 2000, 0), (2, 4000, 0),
        (2, 8000, 0), (5, 30000, 0), (2, 65000, 0), (1, 65000, 0))]
    native, guest = both(tmp_path, args)
    assert native.status == 0 and b"q:1:1:3: 278 11" in native.stdout, native
    assert guest.stdout == native.stdout, guest


@pytest.mark.skipif(os.geteuid() == 0 and not shutil.which("setpriv"),
                    reason="the native oracle runs unprivileged (setpriv)")
def test_descriptors_in_flight_and_rlimits_as_unprivileged(tmp_path):
    """Linux exempts a privileged process (CAP_SYS_RESOURCE); pyvm never does, so the
    native oracle runs as an unprivileged user."""
    prefix = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups") \
        if os.geteuid() == 0 else ()
    native, guest = both(tmp_path, ["f:3", "r"], prefix)
    assert native.status == 0 and b"f rest: 0 109" in native.stdout, native
    assert b"r: 1 22 1 0 0 1 64 64" in native.stdout, native         # EPERM, EINVAL
    assert guest.stdout == native.stdout, guest


def test_select_poll_sizes_and_lock_queries(tmp_path):
    native, guest = both(tmp_path, ["s:-1", "s:2000", "s:0", "p:0", "p:1", "l"])
    assert native.stdout.startswith(b"s:-1: -1 22\ns:2000: 1 0\n"), native
    assert native.stdout.endswith(b"l: 0 2 0 2\n"), native          # F_UNLCK
    assert guest.stdout == native.stdout, guest


def test_pipe_and_socket_buffers_draw_on_the_run_memory(tmp_path):
    """README: all of a run's processes together map at most twice --memory. Bytes
    left in pipes and socket queues are host memory too: 300 pipes and socketpairs,
    each filled, held about 80 MiB natively and under pyvm --memory 16M (130 MB of host
    memory); now they stop at what the budget has left (writes wait, here EAGAIN)."""
    exe = build("redteam27", where=HERE)
    native = run_native(exe, ["m:300"], cwd=tmp_path)
    assert native.status == 0 and int(native.stdout.split()[1]) > 64, native
    guest = run_pyvm(exe, ["m:300"], cwd=tmp_path, options=["--memory", "16M"])
    assert guest.status == 0 and 0 < int(guest.stdout.split()[1]) < 32, guest


def test_bind_names_up_to_sun_path(tmp_path):
    native, guest = both(tmp_path, ["b:10", "b:80", "b:100", "b:107", "b:108"])
    assert native.stdout.count(b": 0 0 0 0\n") == 5, native
    assert guest.stdout == native.stdout, guest
    assert sorted(os.listdir(tmp_path / "v")) == sorted(os.listdir(tmp_path / "n"))


def test_links_and_long_binds_under_pypy(tmp_path):
    """PyPy's os.link refuses follow_symlinks=False (EINVAL): every link() of a guest
    failed under PyPy; links go through linkat(2) itself there."""
    from conftest import require_tool
    pypy = require_tool("pypy3")
    exe = build("redteam27", where=HERE)
    (tmp_path / "n").mkdir()
    (tmp_path / "v").mkdir()
    native = run_native(exe, ["k", "b:100"], cwd=tmp_path / "n")
    assert native.stdout == b"k: 0 0 2\nb:100: 0 0 0 0\n", native
    guest = run_pyvm(exe, ["k", "b:100"], cwd=tmp_path / "v", python=pypy, module="vm.linux")
    assert guest.stdout == native.stdout, guest


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nasm"),
                    reason="needs mknod (root) and nasm")
def test_no_personality_opens_a_host_device(tmp_path):
    """A device node inside the tree (a DOS program started in / or in a root file
    system copy) is a host device all the same: DOS opened and read it (here a copy of
    /dev/zero); now every open through the sandbox refuses one, as the Linux personality
    did by its own check (README: host devices cannot be opened)."""
    import subprocess
    os.mknod(tmp_path / "Z", 0o666 | stat.S_IFCHR, os.makedev(1, 5))
    subprocess.run(["nasm", "-f", "bin", "-o", str(tmp_path / "dev.com"),
                    str(HERE / "redteam27_dosdev.asm")], check=True)
    r = run_pyvm(tmp_path / "dev.com", cwd=tmp_path)
    assert r.stdout == b"error 5\r\n", r        # access denied
