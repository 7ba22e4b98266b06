"""Mend of the session 31 red team's sockets (51a2ce1), each probe compared with the
same program run natively (tests/security/redteam31_mend.c):

- setsockopt's table of the SOL_SOCKET names Linux knows left out SO_LINGER (a struct
  linger), SO_REUSEPORT and SO_BINDTODEVICE (ENOPROTOOPT where Linux sets them), read
  every value back as 4 bytes (SO_LINGER, SO_TIMESTAMPING, SO_MAX_PACING_RATE answer 8)
  and answered names Linux only sets (SO_SNDBUFFORCE ...); the options now follow a
  native probe of every name 0..80: which are set, how (bools, doubled buffer sizes,
  jiffy timeouts), which are read, with which lengths and errors;
- recvmsg with an unwritable msg_name took a datagram, faulted, and neither installed
  nor released the descriptors it carried (a pipe's write end stayed open for the run);
  Linux stores the address last: EFAULT with the descriptors installed;
- on EFAULT Linux stores what it could: the vectors before the faulting one, a buffer up
  to its unmapped page, and a control buffer's descriptors up to its unmapped page
  (2 of 3 installed, MSG_CTRUNC); pyvm stored nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import build, run_both  # noqa: E402

HERE = Path(__file__).parent


def _prog() -> Path:
    return build("redteam31_mend", where=HERE)


def test_every_socket_option_name_answers_as_linux(tmp_path):
    native, guest = run_both(tmp_path, _prog(), ["p"])
    lines = native.stdout.decode().splitlines()
    assert len(lines) == 162, native
    assert "0 13: g16=0,8:0000000000000000 g4=0,4:00000000 s4=-22 " \
           "g16=0,8:0000000000000000 s8=0 g16=0,8:0100000001000000" in lines, native
    assert guest.stdout == native.stdout, guest


def test_socket_options_set_by_hand(tmp_path):
    native, guest = run_both(tmp_path, _prog(), ["o"])
    assert native.stdout.startswith(b"o: linger 0 0 0,7,8 short -22 reuseport 0 -95 "
                                    b"dev 0 -19 0 0=lo,3 "), native
    assert guest.stdout == native.stdout, guest


def test_an_unwritable_sender_address_installs_the_descriptors(tmp_path):
    native, guest = run_both(tmp_path, _prog(), ["n"])
    assert native.stdout == b"n: -14 1 0\n", native
    assert guest.stdout == native.stdout, guest


def test_a_faulting_receive_stores_what_fits(tmp_path):
    native, guest = run_both(tmp_path, _prog(), ["r"])
    assert native.stdout == (
        b"r 0: -14 hell---- -11 -14 --peekab 8 2 flags=8 clen=20 fds=2\n"
        b"r 1: -14 hell---- 5 -14 --peekab 8 2 flags=8 clen=20 fds=2\n"), native
    assert guest.stdout == native.stdout, guest


def test_option_names_keep_bounded_host_memory():
    from vm.linux import sockets
    from vm.linux.files import FdTable

    class Mem:
        def read(self, addr, n):
            return (b"\1\0\0\0" * 4)[:n]

    class Proc:
        pid, mem, fds, kernel = 2, Mem(), FdTable(), object()

    proc = Proc()
    s = sockets.Socket(proc.kernel, sockets.SOCK_STREAM, (2, 0, 0))
    fd = proc.fds.install(s)
    for name in range(0, 5000):
        for length in (4, 8, 16):
            sockets.sys_setsockopt(proc, fd, sockets.SOL_SOCKET, name, 0, length)
    assert len(s.options) < 50
    assert sockets.sys_setsockopt(proc, fd, sockets.SOL_SOCKET, 13, 0, 8) == 0


# -- the last read of the Linux diff (tests/security/redteam31_mend2.c) ---------------------

def _prog2() -> Path:
    return build("redteam31_mend2", where=HERE)


def test_bound_device_read_back_needs_ifnamsiz(tmp_path):
    """Once bound, getsockopt(SO_BINDTODEVICE) into less than IFNAMSIZ (16) bytes is
    EINVAL, however short the name (pyvm returned "lo" into 8 and 15 bytes)."""
    native, guest = run_both(tmp_path, _prog2(), ["b"])
    assert b"short -22 l=8 15 -22 l=15 16 0 l=3 lo" in native.stdout, native
    assert guest.stdout == native.stdout, guest


def test_o_path_descriptor_of_proc_self_exe_is_not_read(tmp_path):
    """open("/proc/self/exe", O_PATH) names the program: read is EBADF, F_GETFL shows
    O_PATH (pyvm read the ELF header through it)."""
    native, guest = run_both(tmp_path, _prog2(), ["x"])
    assert native.stdout.startswith(b"x: read -9 zero -9 fstat 0 reg 1"), native
    assert guest.stdout == native.stdout, guest
