"""Calls refused with EMFILE must change nothing, as on Linux, which takes a call's
descriptor numbers (get_unused_fd_flags) before it creates, dequeues or truncates
anything. Each probe of tests/security/sbxmend28a.c runs natively and under pyvm in a
fresh directory; the outputs must match. Before the fix:

- recvmsg of SCM_RIGHTS descriptors with room for fewer than were passed failed with
  EMFILE after consuming the message (Linux: the data, the descriptors that fit and
  MSG_CTRUNC), and the dropped descriptors' open files were never released (a pipe's
  write end passed that way kept its reader from seeing end of file; a host file's
  descriptor leaked per call, so pyvm ran out of them);
- socketpair at EMFILE left its first end installed;
- accept4 at EMFILE dropped the queued connection (the client waited forever);
- open() at EMFILE had already truncated (O_TRUNC) or created (O_CREAT) the file, and a
  missing file gave ENOENT instead of EMFILE;
- fcntl F_DUPFD/F_DUPFD_CLOEXEC ignored RLIMIT_NOFILE (numbers past the limit)."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import build, run_both  # noqa: E402

HERE = Path(__file__).parent
HOST_DESCRIPTORS = 100     # RLIMIT_NOFILE of both runs: a leak per call runs out


def _limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (HOST_DESCRIPTORS, HOST_DESCRIPTORS))


def _both(tmp_path: Path, probe: str) -> tuple:
    """(native, pyvm) results of ``sbxmend28a probe``, each in a fresh directory."""
    return run_both(tmp_path, build("sbxmend28a", where=HERE), [probe],
                    pyvm=("-m", "vm.linux"), preexec=_limit_descriptors)


EXPECTED = {
    # the native output each probe must give (so a broken probe cannot pass vacuously)
    "recvmsg": b"sendmsg 2\nrecvmsg 2 errno 0 data 'hi' flags 0x8 fds 1 first 15\n"
               b"fd15 open 1 first==15 1\n"
               b"recvmsg -1 errno 11 data '' flags 0 fds 0 first -1\n",
    "drop": b"sendmsg 2\nrecvmsg 2 errno 0 data 'hi' flags 0x8 fds 0 first -1\n"
            b"read 0 errno 0\n",
    "leak": b"opens failed 0, truncated 300\n",
    "socketpair": b"socketpair -1 errno 24 fd15 open 0\n",
    "pipe": b"pipe -1 errno 24 fd15 open 0\n",          # (a guard: passed before)
    "accept": b"connect 0\naccept at the limit -1 errno 24\n"
              b"accept after a close 15 errno 0\nclient read 2 'ok'\n",
    "open": b"open O_TRUNC -1 errno 24 size 5\nopen O_CREAT -1 errno 24 exists 0\n"
            b"open missing -1 errno 24\n",
    "dupfd": b"F_DUPFD 15 errno 0\nF_DUPFD -1 errno 24\nF_DUPFD from 16: -1 errno 22\n"
             b"dup2 to 16: -1 errno 9\ndup3 to 16: -1 errno 9\ndup2 to 15: 15 errno 0\n",
}


@pytest.mark.parametrize("probe", sorted(EXPECTED))
def test_emfile_changes_nothing(tmp_path, probe):
    native, guest = _both(tmp_path, probe)
    assert native.returncode == 0 and native.stdout == EXPECTED[probe], native
    assert guest.stdout == native.stdout, guest.stderr.decode(errors="replace")
    assert guest.returncode == 0, guest.stderr
    assert b"Traceback" not in guest.stderr
