"""linux33: Linux behaviours redteam33 found different, each against a native run of the
same program (the oracle): writev up to a faulting iovec, a read with nothing to copy
into a bad buffer, socketcall's recvmmsg/sendmmsg, and the loader's limits (program
headers up to 64 KiB, an interpreter's own PT_INTERP ignored). mend-linux33: a reopen of
a standard stream gets no more than its host descriptor and the sandbox grant (the
sandbox rule as oracle), faulting read/write buffers, names of the magic links, and
overlapping segments mapped once."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

from linux.kit import ROOT, build, run_native, run_pyvm

CODE = bytes([0xB8, 1, 0, 0, 0, 0xBB, 7, 0, 0, 0, 0xCD, 0x80])     # exit(7)
BASE = 0x08048000


def _ehdr(etype: int, entry: int, phnum: int) -> bytes:
    return struct.pack("<16sHHIIIIIHHHHHH", b"\x7fELF\x01\x01\x01" + bytes(9), etype, 3, 1,
                       entry, 52, 0, 0, 52, 32, phnum, 40, 0, 0)


def _many_loads(path: str, n: int) -> None:
    """An ET_EXEC with ``n`` PT_LOAD headers, each mapping the code at its own page."""
    dataoff = (52 + n * 32 + 0xFFF) & ~0xFFF
    ph = b"".join(struct.pack("<8I", 1, dataoff, BASE + i * 0x2000, BASE + i * 0x2000,
                              len(CODE), 0x1000, 5, 0x1000) for i in range(n))
    body = _ehdr(2, BASE, n) + ph
    _save(path, body + bytes(dataoff - len(body)) + CODE)


def _with_interp(path: str, interp: bytes, etype: int) -> None:
    """A file whose PT_INTERP is ``interp`` (NUL added unless it ends in b"!") and whose
    code exits 7."""
    if not interp.endswith(b"!"):
        interp += b"\0"
    ioff, coff = 52 + 2 * 32, 0x1000
    ph = struct.pack("<8I", 3, ioff, BASE + ioff, BASE + ioff, len(interp), len(interp), 4, 1)
    ph += struct.pack("<8I", 1, 0, BASE, BASE, coff + len(CODE), coff + len(CODE), 5, 0x1000)
    body = _ehdr(etype, BASE + coff, 2) + ph + interp
    _save(path, body + bytes(coff - len(body)) + CODE)


def _run_from_file(cmd: list, cwd, stdin_path) -> subprocess.CompletedProcess:
    """``cmd`` with its standard input the file ``stdin_path`` itself (not a pipe)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with open(stdin_path, "rb") as stdin:
        return subprocess.run(cmd, cwd=cwd, stdin=stdin, capture_output=True, env=env,
                              timeout=300)


def _save(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o755)


def test_writev_read_and_mmsg_as_native(tmp_path):
    exe = build("linux33_io")
    native = run_native(exe, cwd=tmp_path)
    assert native.status == 0, native
    assert b"writev bad second 3 read 3 'abc'" in native.stdout    # (the oracle's answer)
    got = run_pyvm(exe, cwd=tmp_path)
    assert got.status == 0, got
    assert got.stdout == native.stdout


def test_many_program_headers_as_native(tmp_path):
    for n in (129, 500, 2000):            # Linux takes up to 64 KiB of headers
        prog = str(tmp_path / f"l{n}")
        _many_loads(prog, n)
        assert run_native(prog).status == 7
        assert run_pyvm(prog).status == 7, n
    prog = str(tmp_path / "l2049")       # past 64 KiB: ENOEXEC natively, refused here
    _many_loads(prog, 2049)
    try:
        native = run_native(prog).status
    except OSError:
        native = None                     # (the kernel refused to exec it)
    assert native is None or native != 7
    got = run_pyvm(prog)
    assert got.status != 7 and b"too many program headers" in got.stderr


def test_interpreter_own_pt_interp_ignored(tmp_path):
    """Linux's load_elf_interp never reads its interpreter's PT_INTERP (even a bad one)."""
    for name, own in (("good", b"/nonexistent"), ("bad", b"/nonexistent!")):
        interp = str(tmp_path / f"interp_{name}")
        _with_interp(interp, own, 3)                          # ET_DYN: exits 7
        prog = str(tmp_path / f"prog_{name}")
        _with_interp(prog, interp.encode(), 2)
        assert run_native(prog).status == 7
        got = run_pyvm(prog)
        assert got.status == 7, got


def test_reopen_is_a_new_open_file_as_native(tmp_path):
    """/dev/stdin, /dev/fd/N, /proc/self/fd/N of a regular file: its own offset and
    mode, O_TRUNC applied, a deleted file reopened (native run: the oracle)."""
    exe = build("linux33_reopen")
    out = {}
    for who, cmd in (("native", [str(exe)]), ("pyvm", [sys.executable, "-m", "vm.linux",
                                                         str(exe)])):
        work = tmp_path / who
        work.mkdir()
        (work / "in.txt").write_bytes(b"abcdefgh")
        got = _run_from_file(cmd, work, work / "in.txt")
        assert got.returncode == 0, got
        out[who] = got.stdout.splitlines()
        assert (work / "in.txt").read_bytes() == b"abcdefgh!"      # the O_APPEND reopen
    native, pyvm = out["native"], out["pyvm"]
    assert native[0] == b"stdin 'abcd' reopened 'abcd' offset 4"
    # a write reopen of a deleted file through a read-only descriptor: no name left for
    # the sandbox to judge, refused (Linux grants it)
    assert native[5] == b"deleted rdwr via r 1" and pyvm[5] == b"deleted rdwr via r 0"
    assert pyvm[:5] + pyvm[6:] == native[:5] + native[6:]


def test_reopen_for_writing_is_judged_by_the_sandbox(tmp_path):
    """Stdin (or a descriptor) read-only on a file outside the writable trees: no write
    reopen of it, and a reopen within its grant still works."""
    exe = build("linux33_reopen")
    outside, work = tmp_path / "ro", tmp_path / "work"
    outside.mkdir()
    work.mkdir()
    (outside / "prot").write_bytes(b"secret")
    (outside / "in.txt").write_bytes(b"abcdefgh")
    got = _run_from_file([sys.executable, "-m", "vm.linux", str(exe), str(outside / "prot")],
                         work, outside / "in.txt")
    lines = got.stdout.splitlines()
    assert got.returncode == 0, got
    assert lines[1] == b"stdin write reopen 0 mode -1 wrote -1"
    assert (outside / "in.txt").read_bytes() == b"abcdefgh"
    assert lines[0] == b"stdin 'abcd' reopened 'abcd' offset 4"
    assert lines[-1] == b"protected write reopen 0"
    assert (outside / "prot").read_bytes() == b"secret"


# -- mend-linux33: a reopen gets no more than the host descriptor and the sandbox grant --

def _fdops(who: str, where, ops: list, root=None, **streams) -> dict:
    """The report ({op: value}) of linux33_fdops run (``who``: "native" or "pyvm") with
    ``ops`` in ``where`` with host files as its standard streams (``stdin``/``stdout``/
    ``stderr``: a callable opening one; the report goes to the other stream, a pipe).
    ``root``: pyvm runs with --root (the program copied into it)."""
    exe = str(build("linux33_fdops"))
    if who == "native":
        cmd = [exe]
    elif root is not None:
        inside = os.path.join(root, "fdops")
        with open(exe, "rb") as f:
            _save(inside, f.read())
        cmd = [sys.executable, "-m", "vm.linux", "--root", str(root), inside]
    else:
        cmd = [sys.executable, "-m", "vm.linux", exe]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    opened = {k: v() for k, v in streams.items()}
    try:
        got = subprocess.run(cmd + ops, cwd=where, env=env, timeout=300,
                             stdin=opened.get("stdin", subprocess.DEVNULL),
                             stdout=opened.get("stdout", subprocess.PIPE),
                             stderr=opened.get("stderr", subprocess.PIPE))
    finally:
        for f in opened.values():
            f.close()
    assert got.returncode == 0, got
    text = got.stderr if "stderr" not in streams else got.stdout
    return dict(line.rsplit(" -> ", 1) for line in text.decode().splitlines())


def _files(tmp_path) -> tuple:
    """(work, outside): the run's writable start directory, and a directory outside it
    holding `ro` ("secret") and `log` ("log"); ``work`` holds `mine` ("mine")."""
    work, outside = tmp_path / "work", tmp_path / "outside"
    work.mkdir()
    outside.mkdir()
    return work, outside


def _reset(work, outside) -> None:
    (outside / "ro").write_bytes(b"secret")
    (outside / "log").write_bytes(b"log")
    (work / "mine").write_bytes(b"mine")


def test_reopen_of_a_read_only_stdout_or_stderr_for_writing_refused(tmp_path):
    """Stdout (or stderr) a read-only host file outside the writable trees (`1<file`): a
    reopen for writing is judged by its name (EROFS), never granted from the stream's
    number; reading it is what the sandbox grants (native as root: all granted)."""
    work, outside = _files(tmp_path)
    for std, to in ((1, "to:2"), (2, "to:1")):
        name = ("/dev/stdout", "/dev/stderr")[std - 1]
        ops = [to, f"open:{name}:w", "write:3:PWN", f"open:/proc/self/fd/{std}:b",
               f"open:/dev/fd/{std}:wa", f"open:{name}:wt", f"open:{name}:r", "read:3"]
        stream = {("stdout", "stderr")[std - 1]: lambda: open(outside / "ro", "rb")}
        _reset(work, outside)
        native = _fdops("native", work, ops[:2], **stream)
        assert native[f"open:{name}:w"] == "3"          # (the oracle grants the inode)
        pyvm = _fdops("pyvm", work, ops, **stream)
        assert (outside / "ro").read_bytes() == b"secret"
        assert [pyvm[op] for op in ops[1:6]] == ["-30", "-9", "-30", "-30", "-30"], pyvm
        assert pyvm[f"open:{name}:r"] == "3" and pyvm["[secret] read:3"] == "6", pyvm


def test_reopen_of_an_append_only_stdout_keeps_appending(tmp_path):
    """Stdout appending to a file outside the writable trees (`1>>log`): a reopen with
    O_APPEND appends as natively; without O_APPEND, or with O_TRUNC, it would write
    beyond what the host descriptor allows: judged by the name (EROFS)."""
    work, outside = _files(tmp_path)
    ops = ["open:/dev/stdout:wa", "getfl:3", "write:3:ok"]
    out = []
    for who in ("native", "pyvm"):
        _reset(work, outside)
        out.append(_fdops(who, work, ops, stdout=lambda: open(outside / "log", "ab")))
        assert (outside / "log").read_bytes() == b"logok"
    assert out[0] == out[1] == {"open:/dev/stdout:wa": "3", "getfl:3": str(1 | os.O_APPEND),
                                "write:3:ok": "2"}
    _reset(work, outside)
    pyvm = _fdops("pyvm", work, ["open:/dev/stdout:w", "open:/proc/self/fd/1:wat",
                            "open:/dev/stdout:rt", "open:/dev/stdout:b"],
                     stdout=lambda: open(outside / "log", "ab"))
    assert set(pyvm.values()) == {"-30"}, pyvm
    assert (outside / "log").read_bytes() == b"log"
    # the reopened file stays the stream's: its O_APPEND cannot be dropped, nor the file
    # cut, nor reopened again without O_APPEND (natively: "B", cut and overwritten)
    ops = ["open:/dev/stdout:wa", "noappend:3", "write:3:A", "ftrunc:3:0",
           "open:/dev/fd/3:w", "open:/dev/fd/3:wa", "write:4:B", "reopen:/dev/stdout:3000"]
    pyvm = _fdops("pyvm", work, ops, stdout=lambda: open(outside / "log", "ab"))
    assert (outside / "log").read_bytes() == b"logAB"
    assert [pyvm[op] for op in ops] == ["3", "0", "1", "-22", "-30", "4", "1", "3000"]


def test_reopen_with_o_trunc_acts_on_the_new_descriptor(tmp_path):
    """In the writable tree a reopen beyond the stream's access is an open of its name,
    as natively: a read-only stdout reopened O_WRONLY|O_TRUNC (and an appending one
    O_RDONLY|O_TRUNC) truncates the file and writes at 0."""
    work, outside = _files(tmp_path)
    for stream, ops, after in (
            (lambda: open(work / "mine", "rb"),
             ["open:/dev/stdout:wt", "size:3", "write:3:NEW", "getfl:3"], b"NEW"),
            (lambda: open(work / "mine", "ab"),
             ["open:/dev/stdout:rt", "size:3", "open:/dev/stdout:w", "write:4:X"], b"X")):
        got = []
        for who in ("native", "pyvm"):
            _reset(work, outside)
            got.append(_fdops(who, work, ops, stdout=stream))
            assert (work / "mine").read_bytes() == after
        assert got[0] == got[1], got
        assert got[0]["size:3"] == "0"


def test_reopen_of_a_stream_outside_the_root_refused(tmp_path):
    """--root: stdin a write-only (appending) file outside the root: reading it through
    /dev/stdin or /proc/self/fd/0 is beyond its descriptor, and it has no name inside
    the root (EACCES; natively read). A stdin inside the root is reopened by its name."""
    work, outside = _files(tmp_path)
    root = tmp_path / "root"
    (root / "w").mkdir(parents=True)
    (root / "w" / "in.txt").write_bytes(b"inside")
    _reset(work, outside)
    ops = ["open:/dev/stdin:r", "read:3", "open:/proc/self/fd/0:b", "open:/dev/stdin:p",
           "open:/dev/fd/3:r", "read:4"]
    stdin = {"stdin": lambda: open(outside / "log", "ab")}
    native = _fdops("native", root / "w", ops[:2], **stdin)
    pyvm = _fdops("pyvm", root / "w", ops, root=root, **stdin)
    assert native["[log] read:3"] == "3"
    assert pyvm == {"open:/dev/stdin:r": "-13", "read:3": "-9",      # (an O_PATH name
                    "open:/proc/self/fd/0:b": "-13", "open:/dev/stdin:p": "3",  # of it
                    "open:/dev/fd/3:r": "-13", "read:4": "-9"}, pyvm  # grants no read)
    stdin = {"stdin": lambda: open(root / "w" / "in.txt", "ab")}
    native = _fdops("native", root / "w", ops[:2], **stdin)
    pyvm = _fdops("pyvm", root / "w", ops[:2], root=root, **stdin)
    assert native == pyvm == {"open:/dev/stdin:r": "3", "[inside] read:3": "6"}


def test_faulting_read_and_write_buffers_as_native(tmp_path):
    """A read or write whose buffer faults answers as Linux: EBADF on a descriptor
    without that mode (a write-only stdout too), EISDIR, 0 at an empty pipe's or
    socket's end, /dev/null's and /dev/zero's count unread, /dev/full's ENOSPC, and a
    regular file (or /dev/urandom) written up to the first unreadable byte, a PROT_NONE
    guard page as an unmapped one."""
    exe = build("linux33_faults")
    native = run_native(exe, cwd=tmp_path)
    assert native.status == 0, native
    assert native.stdout.count(b"A hole writev 4 file 4 'abxy'") == 2   # (the oracle's)
    got = run_pyvm(exe, cwd=tmp_path)
    assert got.status == 0, got
    assert got.stdout.decode().splitlines() == native.stdout.decode().splitlines()


def _overlapping_loads(path: str, n: int, memsz: int) -> None:
    """An ET_EXEC whose ``n`` PT_LOADs (RWX) all map the code at BASE with ``memsz``
    bytes of bss (the reviewer's 69 KB file: 2048 x 768 MiB)."""
    dataoff = (52 + n * 32 + 0xFFF) & ~0xFFF
    ph = struct.pack("<8I", 1, dataoff, BASE, BASE, len(CODE), memsz, 7, 0x1000) * n
    body = _ehdr(2, BASE, n) + ph
    _save(path, body + bytes(dataoff - len(body)) + CODE)


def test_overlapping_segments_map_each_page_once(tmp_path, monkeypatch):
    """2048 PT_LOADs over the same 768 MiB: the pages end as the sequential maps leave
    them (native: the program runs, exit 7), and mapping them costs their pages once,
    not once per segment (it was 2048 x 196,608 pages, each invalidated: 164 s); a
    range made readable is invalidated only where code was translated."""
    from vm.linux.addrspace import AddressSpace
    from vm.linux.loader import prepare
    from vm.x86.memory import Memory
    prog = str(tmp_path / "big")
    _overlapping_loads(prog, 2048, 768 << 20)
    assert run_native(prog).status == 7
    with open(prog, "rb") as f:
        image = prepare(f.read())
    layout = image.layout()
    mem = Memory(layout.size)
    asp = AddressSpace(mem, layout)
    invalidated, pages = [], [0]
    mem.code_written = lambda lo, hi: invalidated.append((lo, hi))
    real_set = AddressSpace._set

    def counting(self, start, end, *a, **k):
        pages[0] += (end - start) >> 12
        return real_set(self, start, end, *a, **k)

    monkeypatch.setattr(AddressSpace, "_set", counting)
    image.load(mem, asp)
    assert pages[0] == (768 << 20) >> 12
    assert asp.vmas == 1 and asp.is_mapped(BASE, BASE + (768 << 20), writable=True)
    assert all(hi - lo <= 0x1000 for lo, hi in invalidated), invalidated  # (mem.load's)
    assert mem.read(BASE, len(CODE)) == CODE
    invalidated.clear()
    mem.wf[(BASE >> 12) + 5] |= 1                       # (WF_CODE: a translation there)
    mem.set_unreadable(BASE, BASE + (8 << 20), True)
    mem.set_unreadable(BASE, BASE + (8 << 20), False)
    assert invalidated == [(BASE, BASE + (8 << 20))]
    mem.set_unreadable(BASE + (8 << 20), BASE + (16 << 20), True)
    mem.set_unreadable(BASE + (8 << 20), BASE + (16 << 20), False)
    assert invalidated == [(BASE, BASE + (8 << 20))]
    got = run_pyvm(prog)
    assert got.status == 7, got


def test_reopen_names_as_native(tmp_path):
    """/dev/stdin, /dev/fd/N, /proc/self/fd/N are magic links: O_NOFOLLOW is ELOOP
    (O_PATH|O_NOFOLLOW: the link itself), O_CREAT|O_EXCL EEXIST, fd 03 no such name,
    /dev//fd/3 the same name; an O_PATH reopen names the inode (no read through it),
    and an O_PATH descriptor reopens for reading."""
    work = tmp_path / "work"
    work.mkdir()
    ops = ["open:f:r", "open:/proc/self/fd/3:rf", "open:/dev/stdin:rf", "open:/dev/fd/3:rf",
           "open:/dev/stdin:rCx", "open:/proc/self/fd/3:wCx", "open:/proc/self/fd/03:r",
           "open:/proc/03/fd/3:r", "open:/dev//fd/3:r", "read:4", "open:/dev/stdin:pf",
           "getfl:5", "read:5", "open:/proc/self/fd/0:p", "getfl:6", "read:6",
           "open:/dev/fd/6:r", "read:7", "open:/proc/self/fd/3/:r"]
    got = []
    for who in ("native", "pyvm"):
        (work / "f").write_bytes(b"hello")
        got.append(_fdops(who, work, ops, stdin=lambda: open(work / "f", "rb")))
    assert got[0] == got[1], got
    assert got[0]["open:/dev/stdin:rf"] == "-40" and got[0]["[hello] read:7"] == "5"
