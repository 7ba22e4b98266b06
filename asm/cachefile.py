"""pyvm's on-disk caches: where they live and how a file in them is trusted.

Every cache (pyasm's parse tables and templates, the instruction table, the emulator's
code cache, the vDSO image) lives in a *private* directory: ``$XDG_CACHE_HOME/pyvm``
(``~/.cache/pyvm``), else ``$TMPDIR/pyvm-<uid>``; private means a directory (not a
symlink) owned by this user and writable by nobody else. Each directory holds a random
key; every blob read back carries a keyed BLAKE2b-256 tag (a MAC) under that key, so a
file another user or a guest program put there (the sandbox hides these directories from
guests, see vm/sandbox.py) is ignored, never unpickled or executed. Any problem with a
cache (missing, damaged, foreign, unwritable) costs time, never a result or an error.

This module sits in ``asm`` because both sides use it and ``asm`` may not import ``vm``.
"""

from __future__ import annotations

import os
import sys
import zlib
from typing import Iterator, Optional, Tuple

from formats.envswitch import caches_on
from formats.outputs import write_atomic
from formats.private import make_private_dir, read_private

# hashlib's BLAKE2b and hmac's compare_digest without importing hashlib or hmac: under
# PyPy hashlib loads OpenSSL first (0.05-0.1 s of every pyasm run)
try:
    from _blake2 import blake2b as _blake2b
except ImportError:         # (an interpreter without the module: hashlib has it)
    from hashlib import blake2b as _blake2b
try:
    from _operator import _compare_digest as compare_digest
except ImportError:
    from hmac import compare_digest

KEY_FILE = "key"
TAG = 32                    # bytes of the BLAKE2b tag in front of every signed blob


def cache_dirs() -> list:
    """Where caches may live, in order of preference (the sandbox hides them all)."""
    return list(_cache_dirs())


def _cache_dirs() -> Iterator[str]:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    yield os.path.join(base, "pyvm")
    # (imported only when the first will not do: 10-25 ms of PyPy's start-up)
    import tempfile
    yield os.path.join(tempfile.gettempdir(), f"pyvm-{os.getuid()}")


def private_dir_key(folder: str) -> bytes:
    """The MAC key of a cache directory, after checking the directory is this user's
    alone; OSError when it is not (or cannot be made so)."""
    make_private_dir(folder)
    path = os.path.join(folder, KEY_FILE)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return read_key(path)
    secret = os.urandom(32)
    try:
        os.write(fd, secret)
    finally:
        os.close(fd)
    return secret


def read_key(path: str) -> bytes:
    secret = read_private(path, secret=True, limit=64)
    if len(secret) != 32:
        raise PermissionError(f"{path}: damaged")
    return secret


def private_dir() -> Optional[Tuple[str, bytes]]:
    """The first usable cache directory and its key, or None."""
    for folder in _cache_dirs():
        try:
            return folder, private_dir_key(folder)
        except OSError:
            continue
    return None


def _enabled_dir() -> Optional[Tuple[str, bytes]]:
    """private_dir(), unless caches are off (PYVM_CODE_CACHE=0: nothing on disk)."""
    if not caches_on():
        return None
    return private_dir()


def cache_name(stem: str, suffix: str = ".cache", source: str = "") -> str:
    """A cache file's name, one per interpreter (CPython and PyPy must not share one:
    each would find the other's stale and rewrite it on every run) and, with ``source``
    (the directory of the code that fills it), per copy of that code."""
    tag = sys.implementation.cache_tag or "python"
    if source:
        tag += f"-{zlib.crc32(os.path.abspath(source).encode()):08x}"
    return f"{stem}-{tag}{suffix}"


def _tag(key: bytes, name: str, body: bytes) -> bytes:
    return _blake2b(name.encode() + b"\0" + body, digest_size=TAG, key=key).digest()


def _read_own(path: str) -> bytes:
    """A regular file of this user's, not a symlink (OSError otherwise). Its mode is not
    checked: what it holds is trusted by its tag, and Lark writes its file with the
    user's umask (0664 under umask 002)."""
    return read_private(path, others_may_write=True)


def _write_atomic(folder: str, name: str, data: bytes) -> None:
    write_atomic(os.path.join(folder, name), data, mode=0o600, prefix=f".{name}-")


def load(name: str) -> Optional[bytes]:
    """The body of signed cache file ``name`` (see :func:`cache_name`), or None when it is
    missing or not one this user's pyvm wrote."""
    where = _enabled_dir()
    if where is None:
        return None
    folder, key = where
    try:
        data = _read_own(os.path.join(folder, name))
    except OSError:
        return None
    body = data[TAG:]
    if len(data) < TAG or not compare_digest(data[:TAG], _tag(key, name, body)):
        return None
    return body


def store(name: str, body: bytes) -> None:
    """Write signed cache file ``name`` (silently nothing when caches are off or no
    private directory can be had)."""
    where = _enabled_dir()
    if where is None:
        return
    folder, key = where
    try:
        _write_atomic(folder, name, _tag(key, name, body) + body)
    except OSError:
        pass


def signed_path(name: str) -> Optional[str]:
    """For a library that reads and writes its own cache file by path (Lark): the path in
    the private directory, after removing the file there unless its signature (kept
    beside it in ``name.sig``) holds; call :func:`sign` once the library has written
    it. None when caches are off or no private directory can be had."""
    where = _enabled_dir()
    if where is None:
        return None
    folder, key = where
    path = os.path.join(folder, name)
    try:
        body = _read_own(path)
        sig = _read_own(path + ".sig")
        if not compare_digest(sig, _tag(key, name, body)):
            raise PermissionError(path)
    except FileNotFoundError:
        pass
    except OSError:
        for p in (path, path + ".sig"):
            try:
                os.unlink(p)
            except OSError:
                pass
    return path


def sign(path: str) -> None:
    """Record the signature of a cache file a library wrote at ``signed_path(...)``."""
    where = private_dir()
    if where is None:
        return
    folder, key = where
    name = os.path.basename(path)
    try:
        body = _read_own(path)
        _write_atomic(folder, name + ".sig", _tag(key, name, body))
    except OSError:
        pass
