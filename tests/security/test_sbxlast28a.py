"""A thread sharing its process's descriptor table (CLONE_FILES) took the table's
RLIMIT_NOFILE check over; once it exited the process could open descriptors without
bound (NR_OPEN pipes and sockets: host memory). Oracle: the native CPU running the
same program (tests/security/sbxlast28a.c)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import ROOT, TIMEOUT, build  # noqa: E402

HERE = Path(__file__).parent


def test_fd_limit_survives_an_exited_thread():
    exe = build("sbxlast28a", flags=("-static", "-pthread"), where=HERE)
    native = subprocess.run([str(exe)], capture_output=True, timeout=TIMEOUT)
    guest = subprocess.run([sys.executable, "-m", "vm.linux", str(exe)], cwd=ROOT,
                           capture_output=True, timeout=TIMEOUT)
    # 32 descriptors, 3 taken by the std streams: 14 pipes, then EMFILE
    assert native.returncode == 0 and native.stdout == b"pipes 14 errno 24\n", native
    assert guest.returncode == 0 and guest.stdout == native.stdout, guest
