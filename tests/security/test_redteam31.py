"""Session 31 red team: a hostile guest against the Linux personality's sockets, threads
and the PyPy-run sandbox, each probe compared with the same program run natively
(tests/security/redteam31.c):

- setsockopt recorded a value for ANY option name at SOL_SOCKET and gave it back to
  getsockopt: a guest looping over 2^32 names grew a dict per socket without bound (host
  memory outside --memory); Linux says ENOPROTOOPT for a name it does not know;
- recvmsg (and recvfrom) took a message off the queue before storing it: into a buffer
  the guest cannot write, the call failed with EFAULT having lost a stream's data and
  descriptors (Linux leaves them queued), and the descriptors that came with it were
  never released: a pipe's write end sent that way stayed open for the rest of the run
  (the reader never saw end of file; natively the datagram and its descriptors are
  dropped and the read gives 0);
- a datagram sent to the address of a socket of another type (a listening stream socket)
  was queued there, where nothing can read it (recv on a listener is EINVAL), with the
  descriptors it carried, until the listener closed; Linux refuses it (ECONNREFUSED for
  an abstract name, EPROTOTYPE for a path), and a stream socket's sendto with an
  address when connected is EISCONN, an unconnected seqpacket one's ENOTCONN;
- a process's program file (held open for /proc/self/exe) was closed only when a
  collector freed it: under PyPy a fork-and-exec loop over distinct programs, or a loop
  of execs of files that are no program (ENOEXEC), kept one host descriptor per file
  until the next collection, and under ulimit -n 64 the guest's opens failed (ENFILE)
  after about 22 programs. Each task now gives its share back when it ends or execs,
  and a file a failed exec opened is closed at once;
- a futex wait ended by a signal stayed queued until a wake of the same futex: a thread
  waiting on ever new addresses, each wait interrupted, grew the host's queues without
  bound (~100 bytes a wait, outside --memory). A task's wait leaves its queue when the
  task next waits or exits.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import build, run_both  # noqa: E402

HERE = Path(__file__).parent


def _prog() -> Path:
    return build("redteam31", where=HERE)


def _exit_program(tmp_path: Path) -> Path:
    """A 98-byte static program that exits 0, assembled by nasm."""
    import subprocess

    from conftest import require_tool
    out = tmp_path / "exit0"
    subprocess.run([require_tool("nasm"), "-f", "bin", "-o", str(out),
                    str(HERE / "redteam31_exit.asm")], check=True)
    out.chmod(0o755)
    return out


def test_unknown_socket_options_are_refused(tmp_path):
    native, guest = run_both(tmp_path, _prog(), ["o"])
    assert native.stdout == (b"o: 0/0 0/0 0/0 0/0 -92/0 -92/-92 -92/-92 -92/-92 "
                             b"-92/-92\n"), native
    assert guest.stdout == native.stdout, guest


def test_option_names_keep_no_host_memory(monkeypatch):
    from vm.linux import sockets
    from vm.linux.files import FdTable

    class Mem:
        def read(self, addr, n):
            return b"\1\0\0\0"[:n]

    class Proc:
        pid, mem, fds, kernel = 2, Mem(), FdTable(), object()

    proc = Proc()
    s = sockets.Socket(proc.kernel, sockets.SOCK_STREAM, (2, 0, 0))
    fd = proc.fds.install(s)
    for name in range(100, 5100):
        sockets.sys_setsockopt(proc, fd, sockets.SOL_SOCKET, name, 0, 4)
    assert len(s.options) == 0


def test_a_faulting_receive_loses_nothing_and_holds_nothing(tmp_path):
    native, guest = run_both(tmp_path, _prog(), ["q", "Q"])
    assert native.stdout == b"q: -14 -11  0 0\nQ: -14 2 hi 1 -11\n", native
    assert guest.stdout == native.stdout, guest


def test_sockets_reach_only_their_own_type(tmp_path):
    native, guest = run_both(tmp_path, _prog(), ["t"])
    assert native.stdout == b"t: 0 0 0 -111 -111 -107 -91 -91 -106 -95\n", native
    assert guest.stdout == native.stdout, guest


def _low_nofile() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def test_program_files_are_given_back_under_pypy(tmp_path):
    import subprocess

    from conftest import require_tool
    from linux.kit import _env
    pypy = require_tool("pypy3")
    exit0 = _exit_program(tmp_path)
    args = [str(_prog()), f"x:60:{exit0}", "e:150"]
    out = {}
    for name, cmd in (("native", args), ("pypy", [pypy, "-m", "vm.linux", *args])):
        work = tmp_path / name
        work.mkdir()
        out[name] = subprocess.run(cmd, cwd=work, stdin=subprocess.DEVNULL,
                                   capture_output=True, env=_env(None), timeout=600,
                                   preexec_fn=_low_nofile)
    assert out["native"].stdout == b"x: done 60\ne: done 150 8\n", out["native"]
    assert out["pypy"].stdout == out["native"].stdout, out["pypy"]


# pyvm with every Process and every program name it opened kept (as when PyPy's
# collector has not come yet): the number of host descriptors pyvm holds when the guest
# is done, on stderr
KEEPING = """
import gc, os, sys
gc.disable()
from vm.linux import kernel, loader, process
kept, init, opened = [], process.Process.__init__, loader.ExePath.open.__func__
def keep(self, *a, **k):
    init(self, *a, **k)
    kept.append(self)
process.Process.__init__ = keep
def keep_open(cls, *a, **k):
    path = opened(cls, *a, **k)
    kept.append(path)
    return path
loader.ExePath.open = classmethod(keep_open)
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


def _host_fds(tmp_path: Path, exit0: Path, loops: int) -> int:
    where = tmp_path / str(loops)
    where.mkdir()
    native, guest = run_both(where, _prog(), [f"x:{loops}:{exit0}", f"e:{loops}"],
                             pyvm=("-c", KEEPING))
    assert native.stdout == b"x: done %d\ne: done %d 8\n" % (loops, loops), native
    assert guest.stdout == native.stdout, guest
    line = [x for x in guest.stderr.splitlines() if x.startswith(b"hostfds ")]
    assert line, guest
    return int(line[0].split()[1])


def test_program_files_are_closed_by_their_last_task(tmp_path):
    exit0 = _exit_program(tmp_path)
    assert _host_fds(tmp_path, exit0, 3) == _host_fds(tmp_path, exit0, 30)


# pyvm telling, as the thread group ends, how many futex waits its queues still hold
WAITERS = """
import sys
from vm.linux import threads
end = threads.end_group
def counted(kernel, proc):
    g = proc.group
    sys.stderr.write("waiters %d\\n" % sum(len(q) for q in g.futex.values()))
    return end(kernel, proc)
threads.end_group = counted
sys.argv = ["pyvm"] + sys.argv[1:]
from vm.cli import main
sys.exit(main())
"""


def _waiters(tmp_path: Path, n: int) -> int:
    where = tmp_path / str(n)
    where.mkdir()
    native, guest = run_both(where, _prog(), [f"f:{n}"], pyvm=("-c", WAITERS))
    assert native.stdout == b"f: %d %d\n" % (n, n), native
    assert guest.stdout == native.stdout, guest
    line = [x for x in guest.stderr.splitlines() if x.startswith(b"waiters ")]
    assert line, guest
    return int(line[0].split()[1])


def test_futex_waits_ended_by_signals_are_not_kept(tmp_path):
    assert _waiters(tmp_path, 3) == _waiters(tmp_path, 60) <= 1
