"""The guest's view of the file system: one resolver that every personality (Linux, DOS)
asks before touching a host file.

The guest sees the host file system read-only, or the tree under ``--root`` as its ``/``
(chroot-like), and may create, write, rename and delete only under the writable trees
(the directory pyvm was started in and ``--allow-write`` paths). Guest paths are resolved
one component at a time, symlinks included, inside the guest root, so neither ``..`` nor
a symlink leads outside it. Every decision is about the object finally reached, not the
spelling of the path:

- a write outside the writable trees fails with EROFS, as on a read-only mount;
- pyvm's own files (its code cache and configuration) are *hidden*: reached by any
  spelling, symlink or bind mount (they are recognised by device and inode as well as
  by path), they do not exist for the guest;
- what the host Python runs (its installation, the directories on ``sys.path``, pyvm's
  own packages, the console scripts) is *protected*: readable, never written, even
  inside a writable tree, so nothing a guest writes is ever run by the next pyvm;
- a regular file with more than one hard link may be an outside file linked into the
  writable tree, so it is written only if this guest made the extra links itself from a
  file inside the tree (``link`` from outside is refused with EPERM, as on a kernel with
  ``protected_hardlinks`` for a file the caller may not write);
- the guest's ``/proc`` is synthesised by the personality (vm/linux/procfs.py): the walk
  hands anything under it to that view, and a caller that does not ask for it gets EACCES;
  the host's ``/proc`` is never reached.

A host path that the resolver returns is canonical (no symlink in it) at the time of the
check, but a concurrent actor (a forked guest, a second run sharing the writable tree) may
swap a directory on it for a symlink before the call. So nothing acts on that path:

- every open (read or write) goes through ``open``: the entry's name in ``parent``'s
  verified directory, never followed, then ``verify_fd``; stat, readlink and access ask
  ``parent``'s directory for the name;
- every call that changes the file system acts through ``parent``: the directory holding
  the entry, opened and verified like a read, and the entry's name, used with ``dir_fd=``
  and without following (``os.open(name, O_NOFOLLOW, dir_fd=)``, ``os.unlink(name,
  dir_fd=)``...); an existing object is changed through ``entry``, its own descriptor
  (chmod, chown, utimes, truncate act on the inode that was checked).

A writable top (the start directory, an ``--allow-write`` path) is to the guest what a
mount point is: its contents are writable, but the entry itself (or a directory holding
one) is never removed, renamed, replaced or created: EBUSY, what Linux's rmdir and rename
return for a mount point. Otherwise a guest could leave a symlink ``w -> /etc`` where the
top was, and the next ``cd w && pyvm`` would write /etc. Its inode may still be changed
(chmod, utimes), as a mount point's may.
"""

from __future__ import annotations

import errno
import os
import stat
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, Optional, Tuple, Union

from formats.hostflags import O_PATH  # (re-exported: PyPy's os lacks it)

MAX_SYMLINKS = 40


class SandboxError(OSError):
    """A path the guest may not use; ``errno`` is what the system call returns."""

    def __init__(self, err: int, path: str = ""):
        super().__init__(err, os.strerror(err), path)


class ProcRef(tuple):
    """A node of the guest's synthetic /proc: the components after ``/proc``."""


# A procfs view: parts after /proc -> None (no such entry), ("dir",), ("file",),
# ("link", guest target) or ("exe",) for the program's own executable.
ProcLookup = Callable[[tuple], Optional[tuple]]


def _split(path: str) -> list:
    return [p for p in path.split("/") if p]


def _under(host: str, top: str) -> bool:
    return host == top or host.startswith(top.rstrip("/") + "/")


class Sandbox:
    def __init__(self, root: Optional[str] = None, cwd: Optional[str] = None,
                 writable: Iterable[str] = (), hidden: Optional[Iterable[str]] = None,
                 protected: Optional[Iterable[str]] = None):
        self.root = os.path.realpath(root) if root else "/"
        host_cwd = os.path.realpath(cwd or os.getcwd())
        self.writable = [host_cwd] + [os.path.realpath(w) for w in writable]
        inside = self.to_guest(host_cwd)
        self.cwd = inside if inside is not None else "/"     # a guest path
        self.hidden: list = []
        self.hidden_ids: set = set()
        for h in (pyvm_private_paths() if hidden is None else hidden):
            self.hide(h)
        self.protected = sorted({os.path.realpath(p) for p in
                                 (host_python_paths(host_cwd) if protected is None
                                  else protected)})
        # the same by (st_dev, st_ino), for other spellings of them (a bind mount, a
        # directory renamed since): the protected directories, and every directory
        # that is or holds a hidden or protected one (may_write)
        self.protected_ids: set = set()
        self.guard_ids: set = set()
        # a protected directory that does not exist yet (the user site directory): the
        # identity of its nearest directory that does -> the rest of its path
        self.pending: dict = {}
        for p in self.protected:
            self._guard(p, self.protected_ids)
        for h in self.hidden:
            self._guard(h, None)
        # (st_dev, st_ino) of files this guest hard-linked from inside the writable trees:
        # shared by every process of the run (a forked child's sandbox keeps the same set)
        self.own_links: set = set()
        try:
            self._proc_dev = os.stat("/proc").st_dev
        except OSError:
            self._proc_dev = None

    def hide(self, host: str) -> None:
        """Make ``host`` (and everything under it) invisible to the guest."""
        real = os.path.realpath(host)
        if real not in self.hidden:
            self.hidden.append(real)
        try:
            st = os.stat(real)
            self.hidden_ids.add((st.st_dev, st.st_ino))
            self.hidden_inos = frozenset(ino for _dev, ino in self.hidden_ids)
        except OSError:
            pass
        if hasattr(self, "guard_ids"):          # (hidden after the start)
            self._guard(real, None)

    hidden_inos: frozenset = frozenset()        # st_ino of hidden_ids: listings' filter

    def _guard(self, path: str, tops: Optional[set]) -> None:
        """Record the identities of ``path`` (into ``tops`` too, or into ``pending`` when
        it does not exist yet) and of the directories holding it, up to the host's root
        (which holds everything: left out)."""
        full = path
        rest = None
        while path and path != "/":
            try:
                st = os.stat(path)
            except OSError:
                st = None
            if st is not None:
                ident = (st.st_dev, st.st_ino)
                if tops is not None and rest is None:
                    tops.add(ident)
                elif tops is not None:          # the top is still to be made
                    self.pending.setdefault(ident, []).append(rest)
                tops = None
                if ident in self.guard_ids:     # its own were recorded with it
                    return
                self.guard_ids.add(ident)
            elif tops is not None:
                rest = os.path.relpath(full, os.path.dirname(path)) if rest else \
                    os.path.basename(path)
            path = os.path.dirname(path)

    def copy(self) -> Sandbox:
        """The view of a forked child: its own cwd, the same policy."""
        new = Sandbox.__new__(Sandbox)
        new.__dict__.update(self.__dict__)
        new.writable = list(self.writable)
        new._tasks = 1
        if self._cwd_dir is not None:
            self._cwd_dir.users += 1
        return new

    # Tasks sharing this view (threads cloned with CLONE_FS): the held cwd is let go
    # when the last of them exits (Process.leave_fs), not when a collector comes.
    _tasks: int = 1

    def join(self) -> None:
        """One more task shares this view (clone with CLONE_FS)."""
        self._tasks += 1

    def leave(self) -> None:
        """A task sharing this view ended: the last one lets the held cwd go."""
        self._tasks -= 1
        if self._tasks <= 0:
            self._let_go()

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

    def is_hidden(self, host: str, st: Optional[os.stat_result] = None) -> bool:
        if st is not None and ((st.st_dev, st.st_ino) in self.hidden_ids
                               or st.st_dev == self._proc_dev and self._proc_dev is not None):
            return True
        return any(_under(host, h) for h in self.hidden)

    # -- resolution ------------------------------------------------------------------------
    def lookup(self, path: str, base: Optional[str] = None, follow: bool = True,
               procfs: Optional[ProcLookup] = None) -> Union[str, ProcRef]:
        """Host path of a guest path (relative to guest directory ``base`` or the cwd), or
        a ProcRef for a node of the guest's /proc.

        Symlinks are followed inside the guest root; with ``follow=False`` a final symlink
        is left as it is (lstat, readlink, unlink, rename). Hidden objects raise ENOENT.
        Under /proc, ``procfs`` answers; without it the guest gets EACCES.
        """
        if "\0" in path:
            raise SandboxError(errno.EINVAL, path)
        if path == "":
            raise SandboxError(errno.ENOENT, path)
        if path.startswith("/") or base:
            parts, todo = ([] if path.startswith("/") else _split(base)), _split(path)
        else:
            parts, todo = self._from_cwd(path)
        must_dir = path.endswith("/")      # (`file/` is ENOTDIR, also /proc/self/exe/)
        keep_final = not follow and not must_dir
        links = 0
        while todo:
            name = todo.pop(0)
            if name == ".":
                continue
            if name == "..":
                if parts:          # '..' at the guest root stays there
                    parts.pop()
                continue
            if parts[:1] == ["proc"] or not parts and name == "proc":
                if procfs is None:
                    raise SandboxError(errno.EACCES, path)
                node = procfs(tuple(parts[1:] + [name]) if parts else ())
                if node is None:
                    raise SandboxError(errno.ENOENT, path)
                if node[0] == "link" and (todo or not keep_final):
                    links += 1
                    if links > MAX_SYMLINKS:
                        raise SandboxError(errno.ELOOP, path)
                    if node[1].startswith("/"):
                        parts = []
                    todo = _split(node[1]) + todo
                    continue
                if node[0] == "exe" and not todo and not keep_final:
                    if must_dir:
                        raise SandboxError(errno.ENOTDIR, path)
                    return ProcRef(("exe",))
                if todo and node[0] != "dir":
                    raise SandboxError(errno.ENOTDIR, path)
                parts.append(name)
                continue
            host = self._host(parts + [name])
            try:
                st = os.lstat(host)
            except OSError:
                if todo:
                    raise SandboxError(errno.ENOENT, path) from None
                if self.is_hidden(host):
                    raise SandboxError(errno.ENOENT, path) from None
                parts.append(name)          # the final entry may be created
                break
            if self.is_hidden(host, st):
                raise SandboxError(errno.ENOENT, path)
            if not todo and keep_final:
                parts.append(name)
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
            if (todo or must_dir) and not stat.S_ISDIR(st.st_mode):
                raise SandboxError(errno.ENOTDIR, path)
            parts.append(name)
        if parts[:1] == ["proc"]:
            return ProcRef(parts[1:])
        return self._host(parts)

    def resolve(self, path: str, base: Optional[str] = None, follow: bool = True) -> str:
        """Host path of a guest path; the guest's /proc is not a host path (EACCES)."""
        host = self.lookup(path, base, follow)
        if isinstance(host, ProcRef):
            raise SandboxError(errno.EACCES, path)
        return host

    # -- the write policy ----------------------------------------------------------------
    def may_write(self, host: str) -> bool:
        """Whether the entry ``host`` may be created, changed or removed. Nothing that is,
        or leads to, a hidden directory: moving ``~/.cache`` away and putting a symlink
        in its place would hand the next pyvm a cache the guest wrote."""
        if any(_under(h, host) or _under(host, h) for h in self.hidden):
            return False
        if any(_under(host, p) or _under(p, host) for p in self.protected):
            return False
        return any(_under(host, w) for w in self.writable) and not self._guarded(host)

    def _guarded(self, host: str) -> bool:
        """The same policy by identity, for an object the path above does not name
        (reached through a bind mount, or moved since pyvm started): the entry is, or
        holds, a hidden or protected directory, or a directory on its way is protected
        (the walk has made every name on the way canonical; its parts are not
        followed). A hidden one on the way was refused by the walk already."""
        try:
            st = os.lstat(host)
        except OSError:
            pass
        else:
            if (st.st_dev, st.st_ino) in self.guard_ids:
                return True
        if not self.protected_ids and not self.pending:
            return False
        head = os.path.dirname(host)
        while head and head != "/":
            try:
                st = os.lstat(head)
            except OSError:
                return False
            ident = (st.st_dev, st.st_ino)
            if ident in self.protected_ids:
                return True
            if ident in self.pending:       # on the way to a protected one to be made
                rel = os.path.relpath(host, head)
                if any(_under(rel, r) or _under(r, rel) for r in self.pending[ident]):
                    return True
            head = os.path.dirname(head)
        return False

    def hides_entry(self, dir_fd: int, where: str, name: bytes, ino: int) -> bool:
        """Whether a listing of directory ``dir_fd`` (``where`` on the host) leaves out
        its entry ``name`` (d_ino ``ino``): a hidden object by its path, or by its
        identity whatever the directory's spelling (only an entry whose d_ino is a
        hidden one's is stat-ed)."""
        if self.is_hidden(os.path.join(where, os.fsdecode(name))):
            return True
        if ino not in self.hidden_inos:
            return False
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) in self.hidden_ids

    def check_write(self, host: str, entry: bool = True) -> None:
        """Raise EROFS unless ``host`` (the entry created, changed or removed) is writable;
        EBUSY when ``entry`` (the name itself is created, removed, renamed or replaced,
        not just its inode changed) and it is, or holds, a writable top."""
        if not self.may_write(host):
            raise SandboxError(errno.EROFS, self.to_guest(host) or host)
        if entry and any(_under(w, host) for w in self.writable):
            raise SandboxError(errno.EBUSY, self.to_guest(host) or host)

    def check_inode(self, st: os.stat_result, path: str = "") -> None:
        """Refuse (EPERM) writing a regular file that has hard links the guest did not
        make: one of them may be outside the writable trees."""
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and \
                (st.st_dev, st.st_ino) not in self.own_links:
            raise SandboxError(errno.EPERM, path)

    def check_link_source(self, host: str) -> Tuple[int, int]:
        """The (dev, ino) of a file the guest may hard-link: one inside the writable
        trees whose every link the guest can account for (EPERM otherwise)."""
        if not self.may_write(host):
            raise SandboxError(errno.EPERM, self.to_guest(host) or host)
        st = os.lstat(host)
        self.check_inode(st, self.to_guest(host) or host)
        if stat.S_ISDIR(st.st_mode):
            raise SandboxError(errno.EPERM, self.to_guest(host) or host)
        return st.st_dev, st.st_ino

    def verify_fd(self, fd: int, host: str, path: str = "") -> None:
        """After opening ``host``: the descriptor must be that object (not something a
        rename or a symlink put there since the check), not hidden, not a device."""
        try:
            where = os.readlink(f"/proc/self/fd/{fd}")
            st = os.fstat(fd)
        except OSError:
            if self._proc_dev is None:
                return                          # no /proc on the host: nothing to compare
            raise SandboxError(errno.EAGAIN, path) from None    # (a name past PATH_MAX)
        if where != host or self.is_hidden(where, st):
            raise SandboxError(errno.ENOENT if self.is_hidden(where, st) else errno.EAGAIN,
                               path)
        if _is_device(st.st_mode):          # (open: one moved there since its check)
            raise SandboxError(errno.EACCES, path)

    @contextmanager
    def parent(self, host: str) -> Iterator[Tuple[int, str]]:
        """(descriptor of the directory holding ``host``, the entry's name), for acting
        with ``dir_fd=`` and without following: the directory opened is the one checked
        (verify_fd: EAGAIN when a directory on the way was swapped for a symlink since),
        so the call cannot be redirected outside."""
        head, name = os.path.split(host)
        name = name or "."                      # (the host's "/")
        fd = os.open(head, O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            self.verify_fd(fd, head, self.to_guest(head) or head)
            yield fd, name
        finally:
            os.close(fd)

    def open(self, host: str, flags: int, mode: int = 0o666, path: str = "") -> int:
        """A host descriptor of ``host`` (``os.open`` flags and mode), opened by name in
        its verified directory (``parent``), never following a final symlink, and checked
        (``verify_fd``): a directory on the path swapped for a symlink since the lookup
        fails (ENOTDIR, EAGAIN) before anything outside is opened (a FIFO, a device).
        A host device node is never opened (EACCES), wherever it is found and whoever
        asks (Linux and DOS programs): its open alone may act on the hardware or the
        user's terminal."""
        with self.parent(host) as (d, name):
            try:
                st = os.stat(name, dir_fd=d, follow_symlinks=False)
            except FileNotFoundError:
                st = None
            if st is not None and _is_device(st.st_mode):
                raise SandboxError(errno.EACCES, path or host)
            fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=d)
        try:
            self.verify_fd(fd, host, path or self.to_guest(host) or host)
        except OSError:
            os.close(fd)
            raise
        return fd

    @contextmanager
    def entry(self, host: str, follow: bool = True) -> Iterator[Tuple[str, os.stat_result]]:
        """For changing the existing object ``host`` (chmod, chown, utimes, truncate):
        check_write (of the inode: a writable top's may change), then the entry opened in
        its verified directory without following and checked (check_inode); yields a path naming exactly that inode (its
        /proc/self/fd link, followed) and its status. A symlink there is refused (EAGAIN:
        swapped in since the lookup) unless ``follow`` is False: then the path is None
        and the caller acts on the link itself through ``parent``."""
        self.check_write(host, entry=False)
        with self.parent(host) as (d, name):
            fd = os.open(name, O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=d)
            try:
                st = os.fstat(fd)
                if stat.S_ISLNK(st.st_mode):
                    if follow:
                        raise SandboxError(errno.EAGAIN, self.to_guest(host) or host)
                    yield None, st
                    return
                self.check_inode(st, self.to_guest(host) or host)
                yield f"/proc/self/fd/{fd}", st
            finally:
                os.close(fd)

    def fd_base(self, fd: int) -> str:
        """The guest path of the directory open as host descriptor ``fd`` now (it may have
        been renamed since it was opened)."""
        try:
            where = os.readlink(f"/proc/self/fd/{fd}")
        except OSError as e:
            raise SandboxError(e.errno or errno.ENOENT) from None
        guest = self.to_guest(where) if where.startswith("/") else None
        if guest is None or _removed(fd):
            raise SandboxError(errno.ENOENT)
        return guest

    # The working directory: a guest path, and after a chdir the directory itself, held
    # open, as the kernel holds its inode. Kept as a name only, a cwd removed and made
    # again (or renamed, its name then given to another directory or a symlink) sent
    # the guest's relative names into whatever holds that name now (native: ENOENT, or
    # the directory where it went).
    _cwd: str = "/"
    _cwd_dir: Optional[HeldDir] = None

    @property
    def cwd(self) -> str:
        held = self._cwd_dir
        return self._cwd if held is None else self.fd_base(held.fd)   # (ENOENT: removed)

    @cwd.setter
    def cwd(self, guest: str) -> None:
        self._let_go()
        self._cwd = guest

    def _from_cwd(self, path: str) -> Tuple[list, list]:
        """The start and the names of a path relative to the cwd. A removed cwd has no
        name, but its `..` is still its former parent (native: stat("..") 0)."""
        todo = _split(path)
        try:
            return _split(self.cwd), todo
        except SandboxError:
            while todo and todo[0] == ".":
                todo.pop(0)
            held = self._cwd_dir
            if held is None or not todo or todo[0] != "..":
                raise
        try:
            up = os.open("..", O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=held.fd)
        except OSError as e:
            raise SandboxError(e.errno or errno.ENOENT) from None
        try:
            return _split(self.fd_base(up)), todo[1:]
        finally:
            os.close(up)

    def cwd_link(self) -> str:
        """What /proc/PID/cwd reads as: the cwd, or a removed one's last name with
        " (deleted)", as Linux shows it."""
        held = self._cwd_dir
        if held is None or not _removed(held.fd):
            return self.cwd
        try:
            where = os.readlink(f"/proc/self/fd/{held.fd}")
        except OSError:
            return self._cwd + " (deleted)"
        if where.endswith(" (deleted)"):
            where = where[:-len(" (deleted)")]
        guest = self.to_guest(where) if where.startswith("/") else None
        return (guest or self._cwd) + " (deleted)"

    def chdir(self, path: str) -> None:
        host = self.resolve(path)
        try:
            fd = os.open(host, O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise SandboxError(errno.ENOENT, path) from None
        except NotADirectoryError:
            raise SandboxError(errno.ENOTDIR, path) from None
        try:
            where = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            where = None
        if where != host:               # (a directory on the way swapped meanwhile)
            os.close(fd)
            raise SandboxError(errno.EAGAIN, path)
        self.hold_cwd(fd, self.to_guest(host) or "/")

    def hold_cwd(self, fd: int, guest: str) -> None:
        """Make the directory open as host descriptor ``fd`` (now owned) the cwd, named
        ``guest`` when it is no longer anywhere (fchdir of a removed directory)."""
        held = HeldDir(fd)
        self._let_go()
        self._cwd, self._cwd_dir = guest, held

    def _let_go(self) -> None:
        held, self._cwd_dir = self._cwd_dir, None
        if held is not None:
            held.release()


def _removed(fd: int) -> bool:
    """Whether the directory open as ``fd`` was removed: its link count is 0 (a name
    ending in " (deleted)" is a name like any other)."""
    try:
        return os.fstat(fd).st_nlink == 0
    except OSError:
        return True


class HeldDir:
    """A host directory descriptor, closed when its last user changes directory (a
    forked child's sandbox shares its parent's), or with the object: at once, not when
    a garbage collector comes (PyPy's), so that a guest's chdir loop holds one."""

    __slots__ = ("fd", "users", "_close", "__weakref__")

    def __init__(self, fd: int):
        import weakref
        self.fd, self.users = fd, 1
        self._close = weakref.finalize(self, os.close, fd)

    def release(self) -> None:
        self.users -= 1
        if self.users <= 0:
            self._close()


class HostFds:
    """The host descriptors pyvm may hold for its guests. A guest process may hold as
    many open files as its RLIMIT_NOFILE says, and a run has many processes, but pyvm
    is one host process: left unchecked, guests would use every host descriptor and
    pyvm's own opens (an execve's program file, the code cache, the tracer's file) would
    fail. So pyvm raises its soft RLIMIT_NOFILE to the hard limit once, and every host
    descriptor it holds for a guest (an open file; a MAP_SHARED mapping's, ENOMEM) must
    be numbered below ``cap``: the kernel hands out the lowest free number, so one at or
    above it means ``cap`` descriptors are open already, and the guest gets ENFILE (the
    system's file table is full) while pyvm keeps the ``reserve`` above for itself (its
    program files: one per program running, at most one per process)."""

    def __init__(self):
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.guest_limits = (soft, hard)      # what guests see as their RLIMIT_NOFILE
        if hard != resource.RLIM_INFINITY and soft != hard:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
                soft = hard
            except (ValueError, OSError):
                pass
        if soft == resource.RLIM_INFINITY:
            soft = 1 << 20
        self.reserve = min(256, max(32, soft // 4))
        self.cap = max(0, soft - self.reserve)

    def take(self, fd: int, err: int = errno.ENFILE) -> int:
        """``fd``, just opened for a guest, if it fits under the cap; else it is closed
        and the guest's call fails with ``err``."""
        if fd >= self.cap:
            os.close(fd)
            raise SandboxError(err)
        return fd


_host_fds: Optional[HostFds] = None


def host_fds() -> HostFds:
    """The run's HostFds (made, and pyvm's descriptor limit raised, on first use)."""
    global _host_fds
    if _host_fds is None:
        _host_fds = HostFds()
    return _host_fds


def link_nofollow(src: str, dst: str, src_dir: int, dst_dir: int) -> None:
    """linkat(2) without AT_SYMLINK_FOLLOW: a symlink at ``src`` is linked itself, never
    followed (which would link its target, maybe an outside file, into the tree).
    PyPy's os.link refuses follow_symlinks=False (EINVAL): the C call then."""
    try:
        os.link(src, dst, src_dir_fd=src_dir, dst_dir_fd=dst_dir, follow_symlinks=False)
        return
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.linkat(src_dir, os.fsencode(src), dst_dir, os.fsencode(dst), 0) != 0:
        err = ctypes.get_errno() or errno.EINVAL
        raise OSError(err, os.strerror(err), dst)


def _is_device(mode: int) -> bool:
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode)


def pyvm_private_paths() -> list:
    """Host paths no guest may see: pyvm's cache and configuration directories."""
    from vm.x86.codecache import cache_dirs
    home = os.path.expanduser("~")
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    return list(cache_dirs()) + [os.path.join(config, "pyvm")]


def host_python_paths(cwd: str) -> list:
    """What the host Python runs code from, which a guest must never write: the Python
    installation, pyvm's packages, the console scripts, the user's site directory (even
    before it exists: a .pth file there would run at every start) and every directory on
    sys.path, except the start directory itself (``python -m`` puts it there; run the
    ``pyvm`` script rather than ``python -m vm.cli`` where a guest writes)."""
    import site
    import sys
    import sysconfig
    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix]
    paths += [v for k, v in sysconfig.get_paths().items() if k != "data"]
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths += [os.path.join(top, pkg) for pkg in ("asm", "vm", "formats")]
    for fn in ("getsitepackages", "getusersitepackages"):
        try:
            found = getattr(site, fn)()
        except AttributeError:
            continue
        paths += [found] if isinstance(found, str) else list(found)
    paths.append(os.path.join(site.getuserbase(), "bin"))     # pip install --user scripts
    here = os.path.realpath(cwd)
    paths += [p for p in sys.path if p and os.path.isabs(p) and os.path.isdir(p)
              and os.path.realpath(p) != here]
    return [p for p in paths if p and p != "/"]
