"""``pyvm prog.s`` (or ``.asm``): assemble a NASM source in memory with pyasm's driver
and run the image; a B32 or V16 source (asm/language.py decides) is assembled for its
machine and run there.

What runs it: ``org 0x100`` with 16-bit code is a DOS .COM program; other 16-bit code
(``bits 16``, NASM's default) runs on the BIOS at its org (``org 0x7c00``: a boot
sector); 32-bit code is a flat binary with the Linux ``int 0x80`` calls, at its org.
Assembler diagnostics print as ``file:line: error: message`` and the status is 1.
"""

from __future__ import annotations

import dataclasses
import errno
import io
import os
import re
import stat
import sys
from contextlib import contextmanager
from typing import Iterator

from asm.language import B32, V16, source_language
from vm.options import EXIT_BAD_FILE, RunOptions, no_screen

EXIT_ASM_ERROR = 1
COM_ORG = 0x100

_BITS = re.compile(r"^[ \t]*(?:\[[ \t]*)?(?:bits[ \t]+(16|32)|use(16|32))\b", re.I | re.M)


def source_bits(result, text: str) -> int:
    """The code size the source starts in: the assembler's answer when it keeps one,
    else the first BITS/USE directive, else NASM's default for flat output (16)."""
    bits = getattr(result, "bits", None)
    if bits in (16, 32):
        return bits
    m = _BITS.search(text)
    return int(m.group(1) or m.group(2)) if m else 16


def assemble_source(path: str, text: str, err=None):
    """(image, org, bits) of a source, or None after printing its errors."""
    from asm.assembler import assemble
    from asm.errors import AsmError, AsmErrors
    err = err or sys.stderr

    def report(errors) -> None:
        for e in errors:
            print(str(e), file=err)
            for note in getattr(e, "notes", None) or ():
                print(note, file=err)

    try:
        # %include and incbin also look beside the source, wherever pyvm runs from
        result = assemble(text, path, fmt="bin",
                          include_paths=[os.path.dirname(path) or os.curdir])
        image = result.image()
    except AsmErrors as e:
        for w in getattr(e, "warnings", None) or ():
            print(w, file=err)
        report(e.errors)
        return None
    except AsmError as e:
        report([e])
        return None
    except RecursionError:
        print(f"{path}: error: source too deeply nested", file=err)
        return None
    except Exception as e:      # a bug in the assembler: still one clean line
        print(f"{path}: error: internal error: {type(e).__name__}: {e}", file=err)
        return None
    for w in result.warnings:
        print(w, file=err)
    org = result.org if result.org is not None else result.layout.origin
    return image, org or 0, source_bits(result, text)


def _open_judged(sandbox, real: str) -> int:
    """``real`` opened for reading as the runtime opens a guest's file (Sandbox.open):
    by name in its verified directory, never following a final symlink, never a device
    or FIFO (its open alone may act); and refused (ENOENT) when that directory or any
    above it is hidden by identity, whatever its name (a bind mount of
    ``~/.cache/pyvm`` elsewhere is that directory, as the runtime's lookup sees)."""
    from formats.hostflags import O_PATH
    from vm.sandbox import SandboxError

    def refuse() -> SandboxError:
        return SandboxError(errno.ENOENT, real)

    with sandbox.parent(real) as (d, name):
        cur = os.open(".", O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=d)
        try:                    # (up through "..": the directories actually above it)
            st = os.fstat(cur)
            while True:
                if (st.st_dev, st.st_ino) in sandbox.hidden_ids:
                    raise refuse()
                up = os.open("..", O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=cur)
                os.close(cur)
                cur, above = up, os.fstat(up)
                if (above.st_dev, above.st_ino) == (st.st_dev, st.st_ino):
                    break
                st = above
        finally:
            os.close(cur)
        if not stat.S_ISREG(os.stat(name, dir_fd=d, follow_symlinks=False).st_mode):
            raise refuse()
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NOCTTY | os.O_NONBLOCK |
                     os.O_CLOEXEC, dir_fd=d)
    try:
        sandbox.verify_fd(fd, real)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise refuse()
    except BaseException:
        os.close(fd)
        raise
    return fd


def dos_environment(path: str) -> dict:
    """The variables a DOS program (or a boot sector) is given (vm/dos/kernel.py)."""
    from vm.dos.kernel import build_environment
    block = build_environment(path).split(b"\0\0")[0].decode("latin-1")
    return dict(item.partition("=")[::2] for item in block.split("\0") if item)


def make_view(path: str, opts: RunOptions, dos: bool = False) -> tuple:
    """(allowed, environ, opener) for asm.access.guest_view: the files and environment
    of the guest that runs the source. Linux: the sandbox the program gets and its
    environment (``--clear-env``, ``--env``); DOS and BIOS (``dos``): the tree under
    ``--root`` or the current directory, and the DOS environment. The source's own
    directory is readable in both. OSError when the view cannot be set up (the
    current directory deleted)."""
    from vm.sandbox import Sandbox
    if dos:
        top = opts.root or os.getcwd()
        sandbox = Sandbox(root=top, cwd=top)
        env = dos_environment(path)
    else:
        sandbox = Sandbox(root=opts.root, writable=tuple(opts.allow_write))
        env = {} if opts.clear_env else dict(os.environ)
        for item in opts.env:
            key, _, value = item.partition("=")
            env[key] = value
    here = os.path.realpath(os.path.dirname(path) or os.curdir)

    def opener(name: str) -> int:
        real = os.path.realpath(name)
        if sandbox.to_guest(real) is None and not real.startswith(here + os.sep):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)
        return _open_judged(sandbox, real)

    def allowed(name: str) -> bool:
        try:
            os.close(opener(name))
        except OSError:
            return False
        return True

    return allowed, env, opener


@contextmanager
def guest_view(path: str, opts: RunOptions, dos: bool = False) -> Iterator[None]:
    """Assemble a source to run as its guest would read (make_view): the files
    ``%include`` and ``incbin`` find are judged by the sandbox the program gets (never
    pyvm's own files, such as the code cache's key, by any name, nor the host's /proc),
    and ``%!NAME`` and ``%ifenv`` read the guest's environment, not pyvm's
    (asm/access.py)."""
    from asm.access import guest_view as view
    with view(*make_view(path, opts, dos)):
        yield


def _assemble_in(path: str, text: str, view: tuple, assemble) -> tuple:
    """(``assemble``'s result, what it printed, whether the source asked for a file or
    the environment) under ``view``."""
    from asm import access
    out = io.StringIO()
    with access.guest_view(*view):
        built = assemble(path, text, out)
    return built, out.getvalue(), access.consulted()


def assemble_guest(path: str, text: str, opts: RunOptions, assemble=None, err=None):
    """``assemble(path, text, err)`` (assemble_source: (image, org, bits, ...) or None
    after printing errors to ``err``) under the view of the guest that will run it:
    which one (Linux for 32-bit code; DOS or BIOS for 16-bit) is known only once
    assembled, so a source that asked for files or the environment and does not build
    a Linux program is assembled again with the DOS/BIOS view, and only that outcome
    is shown. OSError when a view cannot be set up."""
    assemble, err = assemble or assemble_source, err or sys.stderr
    built, out, asked = _assemble_in(path, text, make_view(path, opts), assemble)
    if built is not None and built[2] == 32 or not asked:
        err.write(out)
        return built
    built, out, _ = _assemble_in(path, text, make_view(path, opts, dos=True), assemble)
    if built is not None and built[2] == 32:
        print(f"{path}: error: what the source builds depends on files or environment "
              "its DOS or BIOS guest may not read", file=err)
        return None
    err.write(out)
    return built


def run_b32_source(path: str, text: str, opts: RunOptions) -> int:
    from asm.b32.assembler import assemble
    from asm.errors import AsmError, AsmErrors
    from vm.b32.runner import run_b32
    try:
        image = assemble(text, path)
    except AsmErrors as e:
        for err in e.errors:
            print(str(err), file=sys.stderr)
        return EXIT_ASM_ERROR
    except AsmError as e:
        print(str(e), file=sys.stderr)
        return EXIT_ASM_ERROR
    return run_b32(path, image, opts)


def run_source(path: str, data: bytes, opts: RunOptions) -> int:
    """Assemble and run a source file's bytes; returns the exit status."""
    text = data.decode("utf-8", "surrogateescape")
    language = source_language(text)
    if language == B32:
        return run_b32_source(path, text, opts)
    if opts.screen_html:
        print(no_screen(path), file=sys.stderr)
        return 2
    if language == V16:
        from vm.v16.runner import run_v16_source
        return run_v16_source(path, text, opts)
    try:
        built = assemble_guest(path, text, opts)    # (the source is the guest's: its view)
    except OSError as e:
        print(f"pyvm: {path}: cannot set up the file-system view: {e}", file=sys.stderr)
        return EXIT_BAD_FILE
    if built is None:
        return EXIT_ASM_ERROR
    image, org, bits = built
    if not image:
        print(f"pyvm: {path}: the source assembles to nothing: nothing to run",
              file=sys.stderr)
        return EXIT_ASM_ERROR
    if bits == 32:
        from vm.linux.flat import run_flat
        return run_flat(path, image, dataclasses.replace(opts, org=org, bits=32,
                                                         hint_bits=False))
    if org == COM_ORG:
        from vm.dos.runner import run_com
        return run_com(path, image, opts)
    from vm.pc.runner import LOWEST_ORG, run_boot
    if org < LOWEST_ORG:
        print(f"pyvm: {path}: 16-bit code at org 0x{org:x} has nowhere to run: use "
              "`org 0x100` for a DOS .COM program or `org 0x7c00` for a BIOS boot "
              "sector (or `bits 32` for a flat Linux program)", file=sys.stderr)
        return EXIT_ASM_ERROR
    return run_boot(path, image, dataclasses.replace(opts, org=org, bits=16))
