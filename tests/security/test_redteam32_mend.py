"""The review of the session 32 red team (ca867ca), each probe compared with an oracle:
the same C program run natively (tests/security/redteam32_mend.c), nasm, or the
runtime sandbox the guest program gets.

- A source run as a program was judged by the final file's path and identity only: a
  bind mount of ``~/.cache/pyvm`` elsewhere let ``incbin "bm/key"`` read pyvm's MAC
  key. Now each directory above the file is judged by (dev, ino), as the runtime's
  lookup does, and the file is opened without following a final symlink, never a
  device (vm/run_source._open_judged).
- DOS .COM and boot-sector sources were assembled with the Linux guest's view: now the
  DOS/BIOS guest's (the tree under --root or the current directory, the DOS
  environment); ``%ifenv`` read pyvm's environment; a deleted current directory gave a
  traceback instead of one line.
- RLIMIT_FSIZE: a truncation that shrinks or keeps a file past the limit is allowed
  (inode_newsize_ok looks at growth only); a failing sendfile leaves the source's
  position; an inherited standard output that is a regular file is limited too.
- RLIMIT_DATA / RLIMIT_AS: a soft RLIMIT_DATA of 0 means the hard one (may_expand_vm's
  valgrind workaround); MAP_FIXED is charged the pages it adds; brk counts the data
  segment; mprotect is refused by RLIMIT_DATA alone; an infinite limit is no limit (no
  scan of the address space per mmap).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import _env, build, run_both  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_redteam32 import _PRINT as _PRINT32  # noqa: E402

HERE = Path(__file__).parent
RLIM_INFINITY = (1 << 64) - 1


def _prog() -> Path:
    return build("redteam32_mend", where=HERE)


def _same(tmp_path, mode: str, expect: bytes) -> None:
    native, guest = run_both(tmp_path, _prog(), [mode])
    assert native.stdout == expect, native
    assert guest.stdout == native.stdout, guest


def test_fsize_truncation_that_does_not_grow_and_sendfile_position(tmp_path):
    # ftruncate to the same size, shrinking, truncate shrinking: fine past the limit;
    # growing past it: EFBIG, one SIGXFSZ; sendfile at the limit: EFBIG, the source's
    # position unchanged; sendfile cut at the limit: 50, position 50, and SIGXFSZ
    _same(tmp_path, "t", b"t: 0 0 0 -27 1 -27 0 2 50 50 3\n")


def test_data_soft_zero_means_the_hard_limit(tmp_path):
    # mmap, mremap under the hard limit; brk by the soft one (check_data_rlimit)
    _same(tmp_path, "0", b"0: 0 0 -12 -12\n")


def test_map_fixed_is_charged_the_pages_it_adds(tmp_path):
    # RW over 8 MiB of RO under a 4 MiB RLIMIT_DATA; over 4 MiB mapped with 16 pages
    # of RLIMIT_AS room; 17 new pages: ENOMEM; 16: fine
    _same(tmp_path, "x", b"x: 0 0 -12 0\n")


def test_brk_counts_the_data_segment(tmp_path):
    _same(tmp_path, "b", b"b: 1\n")


def test_mprotect_is_refused_by_rlimit_data_only(tmp_path):
    # soft DATA 0 (hard infinite) and AS passed: fine; DATA 1 page, AS passed: fine
    # (the AS test fails before and after alike); AS infinite: ENOMEM
    _same(tmp_path, "p", b"p: 0 0 -12\n")


def test_fsize_applies_to_an_inherited_stdout_file(tmp_path):
    out = []
    for name, argv in (("native", [str(_prog())]),
                       ("pyvm", [sys.executable, "-m", "vm.cli", str(_prog())])):
        path = tmp_path / name
        with open(path, "wb") as f:
            r = subprocess.run(argv + ["o"], stdout=f, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, env=_env(None), timeout=120)
        out.append((r.stderr, path.stat().st_size))
    assert out[0] == (b"o: 1000 -27\n", 1000), out
    assert out[1] == out[0], out


def test_an_infinite_limit_is_no_limit_and_a_far_one_scans_nothing():
    """RLIM_INFINITY set (as a shell's ``ulimit -d unlimited`` does) is no limit: the
    address space is not looked at; a finite limit far above what the process maps
    costs a comparison, not a scan of every page."""
    from vm.linux import memrlimits

    class Proc:
        rlimits = {2: (RLIM_INFINITY, RLIM_INFINITY), 9: (RLIM_INFINITY, RLIM_INFINITY)}
        aspace = None                   # (would fail if it were used)
        machine = None

    assert memrlimits.refuse_map(Proc(), 0x1000, 1 << 30, 3, 0x22) == 0
    assert memrlimits.refuse_brk(Proc(), 1 << 30) is False
    assert memrlimits.refuse_grow(Proc(), 0x1000, 1 << 30, 3) == 0
    assert memrlimits.refuse_protect(Proc(), 0x1000, 1 << 30, 3) == 0

    class Pages(bytearray):
        def translate(self, *a):        # (the data_vm scan)
            raise AssertionError("scanned")

    class Space:
        prot = Pages(1 << 10)
        mapped = 1 << 20
        brk = 0

    Proc.aspace = Space()
    Proc.rlimits = {2: (1 << 30, RLIM_INFINITY)}
    assert memrlimits.refuse_map(Proc(), 0x1000, 1 << 20, 3, 0x22) == 0
    assert memrlimits.refuse_protect(Proc(), 0x1000, 0x2000, 3) == 0


# -- a source run as a program: the view of the guest that runs it ---------------------------


_PRINT_COM = """org 0x100
    mov ah, 0x40
    mov bx, 1
    mov cx, msgend - msg
    mov dx, msg
    int 0x21
    mov ax, 0x4c00
    int 0x21
msg: db "["
%s
db "]", 10
msgend:
"""

_OPEN_COM = """org 0x100
    mov ax, 0x3d00
    mov dx, name
    int 0x21
    mov dl, "-"
    jc .out
    mov dl, "+"
.out:
    mov ah, 2
    int 0x21
    mov ax, 0x4c00
    int 0x21
name: db "%s", 0
"""

_BOOT = """org 0x7c00
    mov si, msg
.l: lodsb
    test al, al
    jz .h
    mov ah, 0x0e
    int 0x10
    jmp .l
.h: cli
    hlt
msg: db "["
%s
db "]", 0
times 510-($-$$) db 0
dw 0xaa55
"""


def _pyvm(args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "vm.cli", *args], cwd=cwd,
                          capture_output=True, env=_env(env), timeout=120,
                          stdin=subprocess.DEVNULL)


def test_source_cannot_incbin_pyvms_key_through_a_bind_mount(tmp_path):
    from asm.cachefile import private_dir_key
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    folder = tmp_path / "cache" / "pyvm"
    key = private_dir_key(str(folder))
    (folder / "sub").mkdir()
    (folder / "sub" / "deep").write_bytes(b"DEEPSECRET")
    bm = tmp_path / "bm"
    bm.mkdir()
    r = subprocess.run(["mount", "--bind", str(folder), str(bm)], capture_output=True,
                       text=True)
    if r.returncode:
        if "permission denied" in r.stderr.lower() or "not permitted" in r.stderr.lower() \
                or os.geteuid() != 0:
            pytest.skip(f"no bind mount here: {r.stderr.strip()}")
        pytest.fail(r.stderr)
    try:
        # the host (nasm) reads both through the mount: they are there
        nasm = subprocess.run(["nasm", "-f", "bin", "-o", str(tmp_path / "n.bin"), "-"],
                              input=(_PRINT32 % 'incbin "bm/sub/deep"').encode(),
                              cwd=tmp_path, capture_output=True)
        if nasm.returncode == 0:
            assert b"DEEPSECRET" in (tmp_path / "n.bin").read_bytes()
        for name, what in (("key", key), ("sub/deep", b"DEEPSECRET")):
            (tmp_path / "leak.s").write_text(_PRINT32 % f'incbin "bm/{name}"')
            r = _pyvm(["leak.s"], tmp_path, env)
            assert what not in r.stdout, r
            assert r.returncode == 1, r
            assert b"leak.s:11: error: `incbin': unable to get length of file" in r.stderr
            # the runtime sandbox: a guest program opening it gets ENOENT
            g = _pyvm([str(build("redteam32", where=HERE)), "o", f"bm/{name}"], tmp_path,
                      env)
            assert g.stdout == b"o: -2\n", g
    finally:
        subprocess.run(["umount", str(bm)], check=True)


def test_dos_and_boot_sources_get_the_dos_view(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "outside.txt").write_bytes(b"OUTSIDE")
    (work / "inside.txt").write_bytes(b"in")
    env = {"PYVM_RT32_SECRET": "hush"}
    # the runtime DOS guest: the file outside its root cannot be opened, inside it can
    for name, sign in (("\\\\..\\\\outside.txt", b"-"), ("inside.txt", b"+")):
        (work / "open.s").write_text(_OPEN_COM % name)
        r = _pyvm(["open.s"], work, env)
        assert r.stdout == sign, r
    (work / "leak.s").write_text(_PRINT_COM % f'incbin "{tmp_path}/outside.txt"')
    r = _pyvm(["leak.s"], work, env)
    assert b"OUTSIDE" not in r.stdout and r.returncode == 1, r
    assert b"unable to get length of file" in r.stderr, r
    (work / "boot.s").write_text(_BOOT % f'incbin "{tmp_path}/outside.txt"')
    r = _pyvm(["boot.s"], work, env)
    assert b"OUTSIDE" not in r.stdout and r.returncode == 1, r
    (work / "fine.s").write_text(_PRINT_COM % 'incbin "inside.txt"')
    r = _pyvm(["fine.s"], work, env)
    assert r.stdout == b"[in]\n", r
    # the DOS environment (vm/dos/kernel.py build_environment), not pyvm's
    (work / "env.s").write_text(_PRINT_COM % "%defstr V %!PYVM_RT32_SECRET\n"
                                "%defstr C %!COMSPEC\ndb V, C")
    r = _pyvm(["env.s"], work, env)
    assert r.stdout == b"[C:\\COMMAND.COM]\n", r
    # a Linux source in the same place still reads what its guest may
    (work / "l.s").write_text(_PRINT32 % f'incbin "{tmp_path}/outside.txt"')
    assert _pyvm(["l.s"], work, env).stdout == b"[OUTSIDE]\n"


def test_ifenv_reads_the_guests_environment(tmp_path):
    src = ("bits 32\n%ifenv PYVM_RT32_SECRET\n%warning host var visible\n%endif\n"
           "%ifenv GIVEN\n%warning given var visible\n%endif\nret\n")
    (tmp_path / "e.s").write_text(src)

    def warnings(err: bytes) -> list:
        return sorted(w for w in (b"host var visible", b"given var visible") if w in err)

    # nasm with the environment the guest gets: the oracle
    for extra, opts in (({"PYVM_RT32_SECRET": "1", "GIVEN": "1"}, []),
                        ({"GIVEN": "1"}, ["--clear-env", "--env", "GIVEN=1"])):
        n = subprocess.run(["nasm", "-f", "bin", "-o", str(tmp_path / "e.bin"), "e.s"],
                           cwd=tmp_path, capture_output=True,
                           env={"PATH": os.environ["PATH"], **extra})
        r = _pyvm([*opts, "e.s"], tmp_path, {"PYVM_RT32_SECRET": "1", "GIVEN": "1"})
        assert warnings(r.stderr) == warnings(n.stderr), (r, n)
        assert warnings(n.stderr), n


def test_deleted_current_directory_is_one_line(tmp_path):
    (tmp_path / "x.s").write_text("bits 32\nmov eax, 1\nxor ebx, ebx\nint 0x80\n")
    gone = tmp_path / "gone"
    gone.mkdir()
    lines = []
    for prog in (str(build("redteam32", where=HERE)), str(tmp_path / "x.s")):
        script = (f'cd "{gone}" && rmdir "{gone}" && exec "{sys.executable}" -m vm.cli '
                  f'"{prog}" o x')
        env = _env(None)
        env["PYTHONPATH"] = str(HERE.parent.parent)     # (no '' entry: the cwd is gone)
        r = subprocess.run(["sh", "-c", script], capture_output=True, env=env,
                           timeout=120)
        assert r.returncode == 1 and r.stdout == b"", r
        assert r.stderr.count(b"\n") == 1 and b"Traceback" not in r.stderr, r
        lines.append(r.stderr.split(b": ", 2)[2])
        gone.mkdir()
    # the same line as a binary run from there gets (vm/linux/runner.py)
    assert lines[0] == lines[1], lines
    assert lines[0].startswith(b"cannot set up the file-system view:"), lines
