"""The guest's view of the file system.

The guest sees the host file system read-only, or the tree under ``--root`` as its ``/``
(chroot-like), and may create, write, rename and delete only under the directory pyvm was
started in and under ``--allow-write`` paths (host paths). Guest paths are resolved one
component at a time, symlinks included, inside the guest root, so neither ``..`` nor a
symlink leads outside it; a write outside the writable trees fails with EROFS, as on a
read-only mount.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Optional

MAX_SYMLINKS = 40


class SandboxError(OSError):
    """A path the guest may not use; ``errno`` is what the system call returns."""

    def __init__(self, err: int, path: str = ""):
        super().__init__(err, os.strerror(err), path)


def _split(path: str) -> list:
    return [p for p in path.split("/") if p]


class Sandbox:
    def __init__(self, root: Optional[str] = None, cwd: Optional[str] = None,
                 writable: tuple = ()):
        self.root = os.path.realpath(root) if root else "/"
        host_cwd = os.path.realpath(cwd or os.getcwd())
        self.writable = [host_cwd] + [os.path.realpath(w) for w in writable]
        inside = self.to_guest(host_cwd)
        self.cwd = inside if inside is not None else "/"     # a guest path

    def to_guest(self, host: str) -> Optional[str]:
        """The guest's name for a host path, or None when it is outside the root."""
        if self.root == "/":
            return host
        if host == self.root:
            return "/"
        if host.startswith(self.root + "/"):
            return host[len(self.root):]
        return None

    def _host(self, parts: list) -> str:
        return os.path.join(self.root, *parts) if parts else self.root

    def resolve(self, path: str, base: Optional[str] = None, follow: bool = True) -> str:
        """Host path of a guest path, relative to guest directory ``base`` or the cwd.

        Symlinks are followed inside the guest root; with ``follow=False`` a final symlink
        is left as it is (lstat, readlink, unlink, rename).
        """
        if "\0" in path:
            raise SandboxError(errno.EINVAL, path)
        if path == "":
            raise SandboxError(errno.ENOENT, path)
        parts = [] if path.startswith("/") else _split(base or self.cwd)
        todo = _split(path)
        keep_final = not follow and not path.endswith("/")
        links = 0
        while todo:
            name = todo.pop(0)
            if name == ".":
                continue
            if name == "..":
                if parts:          # '..' at the guest root stays there
                    parts.pop()
                continue
            host = self._host(parts + [name])
            if not todo and keep_final:
                parts.append(name)
                break
            try:
                st = os.lstat(host)
            except OSError:
                if todo:
                    raise SandboxError(errno.ENOENT, path) from None
                parts.append(name)          # the final entry may be created
                break
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > MAX_SYMLINKS:
                    raise SandboxError(errno.ELOOP, path)
                target = os.readlink(host)
                if target.startswith("/"):
                    parts = []
                todo = _split(target) + todo
                continue
            if todo and not stat.S_ISDIR(st.st_mode):
                raise SandboxError(errno.ENOTDIR, path)
            parts.append(name)
        return self._host(parts)

    def may_write(self, host: str) -> bool:
        return any(host == w or host.startswith(w.rstrip("/") + "/") for w in self.writable)

    def check_write(self, host: str) -> None:
        """Raise EROFS unless ``host`` (the entry created, changed or removed) is writable."""
        if not self.may_write(host):
            raise SandboxError(errno.EROFS, self.to_guest(host) or host)

    def chdir(self, path: str) -> None:
        host = self.resolve(path)
        if not os.path.exists(host):
            raise SandboxError(errno.ENOENT, path)
        if not os.path.isdir(host):
            raise SandboxError(errno.ENOTDIR, path)
        self.cwd = self.to_guest(host) or "/"
