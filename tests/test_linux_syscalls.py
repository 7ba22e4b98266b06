"""The system calls beyond a plain static program's (vm/linux/waiting.py, sockets.py,
memcalls.py, taskctl.py, rusage.py, filelocks.py): C programs (tests/linux/*.c, gcc -m32
-static) exercising each one run natively and under pyvm with identical stdout, exit
status and files left behind; blocking waits keep deadlock detection; there is no host
network."""

from __future__ import annotations

import pytest
from linux.kit import build, run_native, run_pyvm

PROGRAMS = ["waits", "unix_sockets", "altstack", "misc_calls", "stream_writes"]


@pytest.mark.parametrize("opt", ["O0", "O2"])
@pytest.mark.parametrize("name", PROGRAMS)
def test_matches_native(name, opt, tmp_path):
    exe = build(name, opt)
    (tmp_path / "native").mkdir()
    (tmp_path / "pyvm").mkdir()
    native = run_native(exe, (), tmp_path / "native")
    emulated = run_pyvm(exe, (), tmp_path / "pyvm")
    assert native.status == 0, native
    assert emulated.stdout == native.stdout, emulated
    assert emulated.status == native.status, emulated
    assert b"Traceback" not in emulated.stderr, emulated
    assert sorted(p.name for p in (tmp_path / "pyvm").iterdir()) == \
        sorted(p.name for p in (tmp_path / "native").iterdir())


def _program(tmp_path, name: str, body: str):
    src = tmp_path / f"{name}.c"
    src.write_text("#define _GNU_SOURCE\n#include <errno.h>\n#include <stdio.h>\n"
                   "#include <string.h>\n#include <unistd.h>\n#include <sys/socket.h>\n"
                   "#include <sys/epoll.h>\n#include <sys/eventfd.h>\n"
                   "#include <stdint.h>\n" + body)
    return build(name, "O2", where=tmp_path)


@pytest.mark.parametrize("call,body", [
    ("epoll_wait", "int main(void) { int ep = epoll_create1(0); struct epoll_event e;\n"
                   "  return epoll_wait(ep, &e, 1, -1); }\n"),
    ("read", "int main(void) { int e = eventfd(0, 0); uint64_t v;\n"
             "  return read(e, &v, 8); }\n"),
    ("socketcall", "int main(void) { int s = socket(AF_UNIX, SOCK_STREAM, 0);\n"
                   "  struct sockaddr a = {AF_UNIX, \"x\"}; bind(s, &a, 4); listen(s, 1);\n"
                   "  return accept(s, 0, 0); }\n"),
])
def test_blocking_forever_is_a_deadlock(call, body, tmp_path):
    """A wait nothing can end (an empty epoll set, an eventfd nobody writes, an accept
    nobody connects to) is reported as a deadlock instead of hanging."""
    exe = _program(tmp_path, "wait_" + call, body)
    result = run_pyvm(exe, (), tmp_path)
    assert result.status == 125, result
    assert b"deadlock" in result.stderr and call.encode() in result.stderr, result


def test_no_host_network(tmp_path):
    """Only AF_UNIX between guest processes: an Internet socket cannot even be made, and
    a path bound by a host program is not a guest socket to connect to."""
    import socket
    host = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    host.bind(str(tmp_path / "host.sock"))
    host.listen(1)
    try:
        exe = _program(tmp_path, "net", """
#include <sys/un.h>
int main(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    printf("inet %d %s\\n", s, s < 0 ? strerror(errno) : "");
    s = socket(AF_INET6, SOCK_DGRAM, 0);
    printf("inet6 %d %s\\n", s, s < 0 ? strerror(errno) : "");
    int u = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {AF_UNIX, "host.sock"};
    int r = connect(u, (struct sockaddr *)&a, sizeof a);
    printf("host socket %d %s\\n", r, r < 0 ? strerror(errno) : "");
    return 0;
}
""")
        result = run_pyvm(exe, (), tmp_path)
    finally:
        host.close()
    assert result.stdout == (b"inet -1 Address family not supported by protocol\n"
                             b"inet6 -1 Address family not supported by protocol\n"
                             b"host socket -1 Connection refused\n"), result


def test_bind_stays_in_the_sandbox(tmp_path):
    """bind makes a socket node only where the guest may write."""
    exe = _program(tmp_path, "bindro", """
#include <sys/un.h>
int main(void) {
    int u = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {AF_UNIX, "/tmp-pyvm-no/x.sock"};
    int r = bind(u, (struct sockaddr *)&a, sizeof a);
    printf("outside %d %s\\n", r, r < 0 ? strerror(errno) : "");
    strcpy(a.sun_path, "/etc/pyvm-test.sock");
    r = bind(u, (struct sockaddr *)&a, sizeof a);
    printf("etc %d %s\\n", r, r < 0 ? strerror(errno) : "");
    strcpy(a.sun_path, "here.sock");
    r = bind(u, (struct sockaddr *)&a, sizeof a);
    printf("cwd %d %s\\n", r, r < 0 ? strerror(errno) : "");
    return 0;
}
""")
    result = run_pyvm(exe, (), tmp_path)
    assert result.stdout == (b"outside -1 No such file or directory\n"
                             b"etc -1 Read-only file system\n"
                             b"cwd 0 \n"), result
    assert (tmp_path / "here.sock").is_socket()


def test_trace_decodes_socketcall_as_strace_does(tmp_path):
    """socketcall(2)'s sub-calls show in --trace by name with their arguments: the same
    socket calls (socketcall's and the direct ones) in the same order with the same
    results as strace sees natively."""
    import re
    import subprocess

    from conftest import require_tool
    strace = require_tool("strace")
    exe = build("unix_sockets", "O2")
    calls = ("socket,bind,connect,listen,accept,accept4,getsockname,getpeername,socketpair,"
             "send,recv,sendto,recvfrom,shutdown,setsockopt,getsockopt,sendmsg,recvmsg")
    native = subprocess.run([strace, "-f", "-qq", "-e", f"trace=socketcall,{calls}", str(exe)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    errnos = {"EAGAIN": 11, "EPIPE": 32, "EINVAL": 22, "EFAULT": 14, "ENOTCONN": 107,
              "EOPNOTSUPP": 95, "EBADF": 9, "ENOTSOCK": 88, "EAFNOSUPPORT": 97,
              "ECONNREFUSED": 111, "EISCONN": 106, "EADDRINUSE": 98, "ENOENT": 2,
              "EMSGSIZE": 90, "ENOPROTOOPT": 92, "EPROTONOSUPPORT": 93}

    def result(text: str) -> int:
        m = re.match(r"-1 (\w+)", text)
        return -errnos.get(m.group(1), 999) if m else int(text.split()[0])

    theirs = [(m.group(1) or m.group(2), result(m.group(3))) for m in
              re.finditer(r"^(?:\[pid\s+\d+\] )?(?:<\.\.\. (\w+) resumed>|(\w+)\().*\)\s+= "
                          r"(-1 \w+|\d+)", native.stderr, re.M)]
    emulated = run_pyvm(exe, (), tmp_path, options=("--trace",))
    assert emulated.status == 0, emulated
    ours = [(m.group(1), int(m.group(2))) for m in
            re.finditer(rf"\] (?:socketcall\()?(socketcall|{calls.replace(',', '|')})\(.*\) = "
                        r"(-?\d+)", emulated.stderr.decode())]
    # the same calls with the same results; a child's calls interleave with its
    # parent's as the host scheduler had them, so the order is not compared
    assert len(theirs) > 80 and sorted(ours) == sorted(theirs), (ours, theirs)
