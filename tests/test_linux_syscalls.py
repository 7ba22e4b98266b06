"""The system calls beyond a plain static program's (vm/linux/waiting.py, sockets.py,
memcalls.py, taskctl.py, rusage.py, filelocks.py): C programs (tests/linux/*.c, gcc -m32
-static) exercising each one run natively and under pyvm with identical stdout, exit
status and files left behind; blocking waits keep deadlock detection; there is no host
network."""

from __future__ import annotations

import pytest
from linux.kit import build, run_native, run_pyvm

PROGRAMS = ["waits", "unix_sockets", "altstack", "misc_calls"]


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
