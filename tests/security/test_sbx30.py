"""Sandbox round 30: last session's leftovers in the Linux personality (and DOS for the
sparse growth). Oracles: the native run of gcc -m32 programs (sbx30_*.c; under the same
RLIMIT_FSIZE for the size rule), the host file system after the run, nasm for the DOS
program. Each test failed before the change.

- read/write of 0 bytes on a descriptor of the wrong mode, clock_nanosleep on a CPU
  clock, mprotect(PROT_GROWSDOWN) of a MAP_GROWSDOWN mapping, seekdir in /proc;
- new names (mkdir, creat, symlink, link) are bounded under --max-output (EDQUOT);
- a write past the end counts its hole against --max-output, Linux and DOS alike;
- a writer's open of a FIFO ends when a reader comes, even one that left at once;
- pyvm's own files and what the host Python runs are judged by identity, not by the
  spelling of the path: a bind mount of the start directory inside itself reached
  neither before, and the guest renamed ~/.cache and wrote a .pth file through it.
"""
from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import _env, build  # noqa: E402

HERE = Path(__file__).parent


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} is missing")
        pytest.skip(f"{tool} is missing")


def _pyvm(*args: str, cwd: Path, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vm.cli", *args], cwd=cwd,
                          env=_env(env), capture_output=True, timeout=300,
                          stdin=subprocess.DEVNULL, **kw)


def test_small_answers_match_linux(tmp_path):
    """read(wronly fd, 0 bytes) and write(rdonly fd, 0) were 0 (Linux: EBADF); a 50 ms
    clock_nanosleep on the process's own CPU clock slept 50 ms of wall time (Linux:
    the clock stands still while the only thread sleeps, the alarm ends it, EINTR);
    mprotect(PROT_GROWSDOWN) of a MAP_GROWSDOWN mapping was EINVAL (Linux: 0, and the
    whole mapping from its start changes); seekdir back to a telldir of /proc/self
    gave another entry (only a seek to 0 was known)."""
    exe = build("sbx30_errnos", where=HERE)
    (tmp_path / "n").mkdir()
    (tmp_path / "p").mkdir()
    native = subprocess.run([str(exe)], cwd=tmp_path / "n", capture_output=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    ours = _pyvm(str(exe), cwd=tmp_path / "p", env={"PYVM_CODE_CACHE": "0"})
    assert native.returncode == 0, native
    assert b"cpu-rel-own 4 0\nalarmed 14\n" in native.stdout       # the case is real
    assert (ours.returncode, ours.stdout) == (0, native.stdout), ours.stderr[-2000:]


@pytest.mark.parametrize("kind", ["mkdir", "creat", "symlink", "link"])
def test_new_names_are_bounded_under_max_output(tmp_path, kind):
    """A loop of mkdir (creat, symlink, link) made every name it asked (1000 here,
    millions in a real loop: the host's inode table) whatever --max-output said. Now a
    run may hold one new name per 4 KiB of its limit, at least 64 (vm/diskquota.py):
    the 65th fails with EDQUOT, as under an inode quota, and the program goes on."""
    exe = build("sbx30_quota", where=HERE)
    p = _pyvm("--max-output", "100000", str(exe), "names", kind, "1000", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout == f"{kind} made 63 errno 122\n".encode()     # 64 with "src"
    assert len(os.listdir(tmp_path)) == 64


def test_names_removed_are_given_back(tmp_path):
    """The quota counts the names a run holds: making and removing one temporary file
    500 times never runs out."""
    exe = build("sbx30_quota", where=HERE)
    p = _pyvm("--max-output", "100000", str(exe), "churn", "500", cwd=tmp_path)
    assert (p.returncode, p.stdout) == (0, b"churn 500\n"), p.stderr


def _fsize_limit() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))


def test_a_hole_left_by_a_write_counts_linux(tmp_path):
    """A write 1 GiB past the end of a new file cost 1 byte of --max-output 1000 and
    left a 1 GiB (sparse) file, while a truncation to that size was refused: the size
    counts, as RLIMIT_FSIZE counts it. Natively under RLIMIT_FSIZE 1000 the write and the
    pwrite fail with EFBIG and the file stays empty; pyvm refuses the write, stops the
    run (153) and leaves the file empty."""
    exe = build("sbx30_quota", where=HERE)
    (tmp_path / "n").mkdir()
    (tmp_path / "p").mkdir()
    native = subprocess.run([str(exe), "sparse"], cwd=tmp_path / "n", capture_output=True,
                            timeout=60, preexec_fn=_fsize_limit, stdin=subprocess.DEVNULL)
    assert native.stdout == b"write -1 27\npwrite -1 27\nsize 0\n", native
    p = _pyvm("--max-output", "1000", str(exe), "sparse", cwd=tmp_path / "p")
    assert p.returncode == 153, p.stderr
    assert p.stderr.decode().splitlines()[-1].endswith("output limit of 1000 bytes reached")
    assert (tmp_path / "p" / "sparse.out").stat().st_size == 0


DOS_HOLE = """\
org 0x100
        mov ah, 0x3c            ; create HOLE.DAT
        xor cx, cx
        mov dx, fname
        int 0x21
        jc fail
        mov bx, ax
        mov ax, 0x4200          ; seek to 2 GiB - 1 from the start
        mov cx, 0x7fff
        mov dx, 0xffff
        int 0x21
        jc fail
        mov ah, 0x40            ; write one byte there
        mov cx, 1
        mov dx, buf
        int 0x21
        jc fail
        mov ax, 0x4c00
        int 0x21
fail:   mov ax, 0x4c01
        int 0x21
fname   db "HOLE.DAT", 0
buf     db 'x'
"""


def test_a_hole_left_by_a_write_counts_dos(tmp_path):
    """The same rule for DOS: a seek to 2 GiB - 1 and a 1-byte write made a 2 GiB sparse
    file under --max-output 1000."""
    _need("nasm")
    (tmp_path / "hole.asm").write_text(DOS_HOLE)
    subprocess.run(["nasm", "-f", "bin", str(tmp_path / "hole.asm"), "-o",
                    str(tmp_path / "hole.com")], check=True)
    p = _pyvm("--max-output", "1000", "hole.com", cwd=tmp_path)
    assert p.returncode == 153, p.stderr
    assert (tmp_path / "HOLE.DAT").stat().st_size == 0


DOS_NAMES = """\
org 0x100
again:  mov ah, 0x3c            ; create AA.DAT, AB.DAT ... ZZ.DAT until one fails
        xor cx, cx
        mov dx, fname
        int 0x21
        jc done
        mov bx, ax
        mov ah, 0x3e            ; close it
        int 0x21
        inc byte [fname + 1]
        cmp byte [fname + 1], 'Z' + 1
        jne again
        mov byte [fname + 1], 'A'
        inc byte [fname]
        cmp byte [fname], 'Z' + 1
        jne again
        mov ax, 0x4c00          ; all 676 made
        int 0x21
done:   mov ah, 0x4c            ; the DOS error code as the status
        int 0x21
fname   db "AA.DAT", 0
"""


def test_new_names_are_bounded_dos(tmp_path):
    """A DOS program's creates count the same way (676 files before); the one past the
    quota fails with error 5 (access denied, DOS's answer for a full directory)."""
    _need("nasm")
    (tmp_path / "names.asm").write_text(DOS_NAMES)
    subprocess.run(["nasm", "-f", "bin", str(tmp_path / "names.asm"), "-o",
                    str(tmp_path / "names.com")], check=True)
    p = _pyvm("--max-output", "1000", "names.com", cwd=tmp_path)
    assert p.returncode == 5, p.stderr
    assert len(list(tmp_path.glob("*.DAT"))) == 64


def _fifo_run(argv: list, fifo: Path, cwd: Path, env: dict | None) -> bytes:
    """Run the FIFO writer; once it says it opens, a reader opens the FIFO non-blocking
    and closes it at once, every 0.3 s until the writer ends (20 times at most)."""
    os.mkfifo(fifo)
    p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert p.stdout.readline() == b"opening\n"
        for _ in range(20):
            time.sleep(0.3)
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
            if p.poll() is not None:
                break
        out, _ = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return out


def test_a_fifo_writer_open_sees_a_reader_that_came_and_went(tmp_path):
    """The writer's open retried every 20 ms, so a reader there for less than that was
    missed and the open waited forever; now a host thread's blocking open waits for
    the reader (vm/linux/fifowait.py ReaderWait), and its descriptor is the guest's."""
    exe = build("sbx30_fifo", where=HERE)
    (tmp_path / "n").mkdir()
    (tmp_path / "p").mkdir()
    native = _fifo_run([str(exe), "f"], tmp_path / "n" / "f", tmp_path / "n", None)
    assert native == b"opened 1\n"
    ours = _fifo_run([sys.executable, "-m", "vm.cli", str(exe), "f"], tmp_path / "p" / "f",
                     tmp_path / "p", _env(None))
    assert ours == native


def test_other_spellings_of_private_and_protected_directories(tmp_path):
    """The start directory holds a bind mount of itself (``mnt``: made in a private
    mount namespace). Through it the guest saw ~/.cache/pyvm in a listing, renamed
    ~/.cache (the next run's code cache would then be where the guest's symlink
    points), created a .pth file in a directory on the host Python's sys.path, made
    the user site directory (not there yet) and renamed the user base: the checks were
    by path. Each answer now is the one the
    canonical spelling gets."""
    _need("unshare")
    if os.geteuid() != 0:
        pytest.skip("needs root for a bind mount in a private mount namespace")
    exe = build("sbx30_alias", where=HERE)
    home = tmp_path / "home"
    for d in (".cache/pyvm", ".local/lib/site", "mnt"):
        (home / d).mkdir(parents=True)
    env = _env({"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")})
    env["PYTHONPATH"] += os.pathsep + str(home / ".local/lib/site")
    site = subprocess.run([sys.executable, "-c", "import site; "
                           "print(site.getusersitepackages())"], env=env, check=True,
                          capture_output=True, text=True).stdout.strip()
    rel = Path(site).relative_to(home / ".local")           # lib/pythonX.Y/site-packages
    env["SBX30_SITE_DIR"] = str(Path(*rel.parts[:2]))       # lib/pythonX.Y: not made yet
    script = 'mount --bind "$1" "$1/mnt" && exec "$2" -m vm.cli "$3" . mnt'
    p = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(home),
                        sys.executable, str(exe)], cwd=home, env=env, capture_output=True,
                       timeout=300, stdin=subprocess.DEVNULL)
    if p.returncode and b"mount" in p.stderr and not p.stdout:
        pytest.skip(f"no bind mount here: {p.stderr[-200:]!r}")
    lines = p.stdout.decode().splitlines()
    canonical = [ln[2:] for ln in lines if ln.startswith(". ")]
    alias = [ln[4:] for ln in lines if ln.startswith("mnt ")]
    assert canonical == ["list-shows-pyvm 0", "rename-cache -1 30", "create-pth -1 30",
                         "mkdir-site -1 30", "rename-local -1 30"], p
    assert alias == canonical, p
    assert (home / ".cache" / "pyvm").is_dir() and not (home / ".cache").is_symlink()
    assert not (home / ".local/lib/site/evil.pth").exists()
