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
import os
import re
import stat
import sys
from contextlib import contextmanager
from typing import Iterator

from asm.language import B32, V16, source_language
from vm.options import RunOptions, no_screen

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


@contextmanager
def guest_view(path: str, opts: RunOptions) -> Iterator[None]:
    """Assemble a source to run as its guest would read: the files ``%include`` and
    ``incbin`` find are judged by the sandbox the program gets (never pyvm's own files,
    such as the code cache's key, nor the host's /proc; under ``--root`` only that tree
    and the source's own directory), and ``%!NAME`` reads the guest's environment
    (``--clear-env``, ``--env``), not pyvm's (asm/access.py)."""
    from asm.access import guest_view as view
    from vm.sandbox import Sandbox
    sandbox = Sandbox(root=opts.root, writable=tuple(opts.allow_write))
    here = os.path.realpath(os.path.dirname(path) or os.curdir)

    def judged(real: str, st: os.stat_result) -> bool:
        if sandbox.is_hidden(real, st):
            return False
        return sandbox.to_guest(real) is not None or real.startswith(here + os.sep)

    def allowed(name: str) -> bool:
        real = os.path.realpath(name)
        try:
            return judged(real, os.stat(real))
        except OSError:
            return False

    def opener(name: str) -> int:
        """The file open, judged by what was opened (its path now, its identity)."""
        fd = os.open(name, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or \
                    not judged(os.readlink(f"/proc/self/fd/{fd}"), st):
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)
        except BaseException:
            os.close(fd)
            raise
        return fd

    env = {} if opts.clear_env else dict(os.environ)
    for item in opts.env:
        key, _, value = item.partition("=")
        env[key] = value
    with view(allowed, env, opener):
        yield


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
    with guest_view(path, opts):            # (the source is the guest's: its view)
        built = assemble_source(path, text)
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
