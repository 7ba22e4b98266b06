"""A dynamic program's interpreter (PT_INTERP, usually /lib/ld-linux.so.2), found in the
guest's file system: the host's ``/`` or the ``--root`` tree. It is resolved by the
sandbox as any ``open`` is (so pyvm's hidden files and the host's /proc are out of
reach), opened through Sandbox.open (by name in its verified directory, never following
a final symlink, checked to be the object that was judged); its parsed image is shared
by every process of the run that uses it."""

from __future__ import annotations

import errno
import os
import stat

from formats.inputs import MAX_INPUT
from vm.linux.loader import Image, LoadError, prepare_interpreter, program_key


def load_interpreter(kernel, sandbox, path: bytes) -> Image:
    """The interpreter named ``path`` (a guest path), at base 0 (Image.placed_at moves
    it). Raises LoadError with the errno execve returns (ENOENT when it is missing)."""
    guest = os.fsdecode(path)
    try:
        host = sandbox.resolve(guest)
        fd = sandbox.open(host, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK, path=guest)
    except OSError as e:
        err = e.errno or errno.ENOENT
        raise LoadError(f"interpreter {guest}: {os.strerror(err)}", err) from None
    try:
        try:
            st = os.fstat(fd)
        except OSError as e:
            err = e.errno or errno.ENOENT
            raise LoadError(f"interpreter {guest}: {os.strerror(err)}", err) from None
        if not stat.S_ISREG(st.st_mode):
            raise LoadError(f"interpreter {guest}: not a regular file", errno.EACCES)
        if st.st_size > MAX_INPUT:
            raise LoadError(f"interpreter {guest}: too large", errno.ENOMEM)
        key = ("interp", *program_key(st))
        image = kernel.cached_image(key)
        if image is None:
            chunks, left = [], st.st_size
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 24))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            try:
                image = prepare_interpreter(b"".join(chunks))
            except LoadError as e:
                raise LoadError(f"interpreter {guest}: {e}", e.errno) from None
            kernel.keep_image(key, image)
        return image
    finally:
        os.close(fd)


__all__ = ["load_interpreter"]
