"""More file-system calls: links, ownership, truncation, statfs, sendfile,
copy_file_range, and the ones a single-user sandbox answers trivially (msync, sync)."""

from __future__ import annotations

import errno
import os
import stat
import struct

from vm.diskquota import new_inode
from vm.linux import abi
from vm.linux import addrspace as mapped
from vm.linux.files import GuestFileError, HostFile, WouldBlock
from vm.linux.syscalls import (
    SYSCALLS,
    _fd_host,
    _path,
    _read,
    _resolve,
    _write,
    check_fd_write,
    file_mode,
    loff,
    s32,
    syscall,
)
from vm.sandbox import link_nofollow

# struct statfs64 (i386): type bsize blocks bfree bavail files ffree fsid namelen frsize
# flags spare[4]
STATFS64 = struct.Struct("<IIQQQQQQIII16x")


_host = _resolve
AT_SYMLINK_FOLLOW = 0x400


def _link(proc, olddirfd, old: str, newdirfd, new: str, flags: int) -> int:
    """A hard link gives a second name to the *inode*: its source must be a file inside
    the writable trees (EPERM otherwise, as protected_hardlinks gives for a file the
    caller may not write), or writing the new name would change an outside file."""
    if flags & ~(AT_SYMLINK_FOLLOW | abi.AT_EMPTY_PATH):
        return -errno.EINVAL
    if not old and flags & abi.AT_EMPTY_PATH:
        src = _fd_host(proc, proc.fds.get(s32(olddirfd)))
    else:
        src = _host(proc, olddirfd, old, follow=bool(flags & AT_SYMLINK_FOLLOW))
    dst = _host(proc, newdirfd, new, follow=False)
    if not os.path.lexists(src):
        return -errno.ENOENT
    if os.path.lexists(dst):
        return -errno.EEXIST
    proc.sandbox.check_write(dst)
    ident = proc.sandbox.check_link_source(src)
    with new_inode(proc.kernel.output_budget) as room, \
            proc.sandbox.parent(src) as (sd, sname), proc.sandbox.parent(dst) as (dd, dname):
        if not room:                    # --max-output bounds the disk: vm/diskquota.py
            return -errno.EDQUOT
        link_nofollow(sname, dname, sd, dd)
        st = os.stat(dname, dir_fd=dd, follow_symlinks=False)
        if (st.st_dev, st.st_ino) != ident:     # the source was swapped since the check
            os.unlink(dname, dir_fd=dd)
            return -errno.EAGAIN
    proc.sandbox.own_links.add(ident)
    return 0


@syscall(9)
def sys_link(proc, old, new, *_):
    return _link(proc, abi.AT_FDCWD, _path(proc, old), abi.AT_FDCWD, _path(proc, new), 0)


@syscall(303)
def sys_linkat(proc, olddirfd, old, newdirfd, new, flags, *_):
    return _link(proc, olddirfd, _path(proc, old), newdirfd, _path(proc, new), flags)


@syscall(304)
def sys_symlinkat(proc, target, newdirfd, path, *_):
    p = _path(proc, path)
    host = _host(proc, newdirfd, p, follow=False)
    proc.sandbox.check_write(host)
    with new_inode(proc.kernel.output_budget) as room, \
            proc.sandbox.parent(host) as (d, name):
        if not room:
            return -errno.EDQUOT
        os.symlink(_path(proc, target), name, dir_fd=d)
    return 0


def _id(v: int) -> int:
    """A uid or gid as chown takes it: any 32-bit value, 2^32-1 (-1) for "unchanged"
    (s32 made 0xfffffffe -2, which os.chown refuses: an internal error)."""
    return -1 if v == 0xFFFFFFFF else v


def _chown(proc, host: str, uid: int, gid: int, follow: bool) -> int:
    with proc.sandbox.entry(host, follow) as (inode, _st):
        if inode is not None:
            os.chown(inode, _id(uid), _id(gid))
        else:                                    # the symlink itself
            with proc.sandbox.parent(host) as (d, name):
                os.chown(name, _id(uid), _id(gid), dir_fd=d, follow_symlinks=False)
    return 0


@syscall(212)
def sys_chown32(proc, path, uid, gid, *_):
    return _chown(proc, _host(proc, abi.AT_FDCWD, _path(proc, path)), uid, gid, True)


@syscall(198)
def sys_lchown32(proc, path, uid, gid, *_):
    p = _path(proc, path)
    return _chown(proc, _host(proc, abi.AT_FDCWD, p, follow=False), uid, gid, False)


@syscall(207)
def sys_fchown32(proc, fd, uid, gid, *_):
    f = proc.fds.get(fd)
    if isinstance(f, HostFile):              # the open inode, whatever its name holds now
        check_fd_write(proc, f)
        os.fchown(f.fd, _id(uid), _id(gid))
    return 0


@syscall(298)
def sys_fchownat(proc, dirfd, path, uid, gid, flags, *_):
    follow = not flags & abi.AT_SYMLINK_NOFOLLOW
    return _chown(proc, _host(proc, dirfd, _path(proc, path), follow), uid, gid, follow)


def _truncate(proc, path: str, length: int) -> int:
    if length < 0:
        return -errno.EINVAL
    host = _host(proc, abi.AT_FDCWD, path)
    if not os.path.exists(host):
        return -errno.ENOENT
    with proc.sandbox.entry(host) as (inode, st):
        if proc.rlimits and stat.S_ISREG(st.st_mode):   # the guest's RLIMIT_FSIZE
            from vm.linux import fsizelimit
            fsizelimit.check_length(proc, length, st.st_size)
        budget = proc.kernel.output_budget      # (--max-output: its growth draws on it)
        grow = length - st.st_size
        if budget is not None and grow > 0 and budget.take(grow) < grow:
            return -errno.EFBIG
        if (mapped.spaces or mapped.privates) and inode and stat.S_ISREG(st.st_mode):
            held = int(inode.rsplit("/", 1)[1])             # (the O_PATH descriptor)
            mapped.truncating(held, length, lambda: os.truncate(inode, length))
        else:
            os.truncate(inode, length)
    return 0


@syscall(92)
def sys_truncate(proc, path, length, *_):
    return _truncate(proc, _path(proc, path), s32(length))


@syscall(193)
def sys_truncate64(proc, path, lo, hi, *_):
    return _truncate(proc, _path(proc, path), loff(lo, hi))


def _statfs(st: os.statvfs_result) -> bytes:
    return STATFS64.pack(0xEF53, st.f_bsize, st.f_blocks, st.f_bfree, st.f_bavail,
                         st.f_files, st.f_ffree, 0, st.f_namemax, st.f_frsize,
                         0x1 | 0x400)                # ST_RDONLY | ST_RELATIME (guest view)


@syscall(268)
def sys_statfs64(proc, path, size, buf, *_):
    if size != STATFS64.size:
        return -errno.EINVAL
    proc.mem.write(buf, _statfs(os.statvfs(_host(proc, abi.AT_FDCWD, _path(proc, path)))))
    return 0


@syscall(269)
def sys_fstatfs64(proc, fd, size, buf, *_):
    f = proc.fds.get(fd)
    if size != STATFS64.size:
        return -errno.EINVAL
    if not isinstance(f, HostFile):
        return -errno.ENOSYS
    proc.mem.write(buf, _statfs(os.fstatvfs(f.fd)))
    return 0


def _sendfile(proc, out_fd, in_fd, offset_addr, count, spec) -> int:
    src, dst = proc.fds.get(in_fd), proc.fds.get(out_fd)
    count = min(count, 1 << 20)
    if offset_addr:
        off = spec.unpack(proc.mem.read(offset_addr, spec.size))[0]
        data = src.pread(count, off)
    else:
        data = _read(src, count)
    if not data:
        return 0
    try:
        n = _write(proc, dst, data)
    except (WouldBlock, GuestFileError):
        # a full pipe: the call restarts and must read the same bytes again (write_all
        # keeps the count written so far), so the source's position goes back; and a
        # failed write (EFBIG) moved nothing, as Linux leaves the position
        if not offset_addr:
            _put_back(src, len(data))
        raise
    if n < len(data) and proc.rlimits:     # the guest's RLIMIT_FSIZE (fsizelimit.py)
        from vm.linux import fsizelimit
        fsizelimit.cut_short(proc, dst)
    if offset_addr:
        proc.mem.write(offset_addr, spec.pack(off + n))
    elif n < len(data):
        _put_back(src, len(data) - n)                # what was not written
    return n


def _put_back(src, n: int) -> None:
    try:
        src.seek(-n, 1)
    except OSError:             # (a pipe or socket: nothing to put back into)
        pass


@syscall(187)
def sys_sendfile(proc, out_fd, in_fd, offset, count, *_):
    return _sendfile(proc, out_fd, in_fd, offset, count, struct.Struct("<i"))


@syscall(239)
def sys_sendfile64(proc, out_fd, in_fd, offset, count, *_):
    return _sendfile(proc, out_fd, in_fd, offset, count, struct.Struct("<q"))


COPY_MAX = 1 << 20                  # bytes per copy_file_range call (short counts are legal)


def _regular_for_copy(f, writing: bool) -> None:
    import stat as st
    if not isinstance(f, HostFile):
        raise GuestFileError(errno.EINVAL)
    if f.is_dir:
        raise GuestFileError(errno.EISDIR)
    if not st.S_ISREG(f.fstat().st_mode):
        raise GuestFileError(errno.EINVAL)
    if writing and (not f.writable or f.status_flags & abi.O_APPEND) or \
            not writing and not f.readable:
        raise GuestFileError(errno.EBADF)


@syscall(377)
def sys_copy_file_range(proc, fd_in, off_in, fd_out, off_out, length, flags):
    """Copy between two regular files in the host, without a splice: pread/pwrite at
    the given offsets (or the files' own positions, which move)."""
    src, dst = proc.fds.get(s32(fd_in)), proc.fds.get(s32(fd_out))
    if flags:
        return -errno.EINVAL
    _regular_for_copy(src, False)
    _regular_for_copy(dst, True)
    q = struct.Struct("<q")
    pos_in = q.unpack(proc.mem.read(off_in, 8))[0] if off_in else os.lseek(src.fd, 0, 1)
    pos_out = q.unpack(proc.mem.read(off_out, 8))[0] if off_out else os.lseek(dst.fd, 0, 1)
    if pos_in < 0 or pos_out < 0:
        return -errno.EINVAL
    if off_in:
        proc.mem.check_write(off_in, 8)
    if off_out:
        proc.mem.check_write(off_out, 8)
    n = min(length, COPY_MAX)
    same = os.fstat(src.fd)
    other = os.fstat(dst.fd)
    if (same.st_dev, same.st_ino) == (other.st_dev, other.st_ino) and \
            pos_in < pos_out + n and pos_out < pos_in + n:
        return -errno.EINVAL                # overlapping ranges of one file
    data = src.pread(n, pos_in)             # (MAP_SHARED pages of it written back first)
    if proc.rlimits and data:               # the guest's RLIMIT_FSIZE (fsizelimit.py)
        from vm.linux import fsizelimit
        data = fsizelimit.clip(proc, dst, data, pos_out)
    done = dst.pwrite(data, pos_out) if data else 0      # (drawing on --max-output)
    if off_in:
        proc.mem.write(off_in, q.pack(pos_in + done))
    else:
        os.lseek(src.fd, pos_in + done, 0)
    if off_out:
        proc.mem.write(off_out, q.pack(pos_out + done))
    else:
        os.lseek(dst.fd, pos_out + done, 0)
    return done


@syscall(96)
def sys_getpriority(proc, which, who, *_):
    return 20                                        # nice 0, as the raw call reports it


@syscall(97)
def sys_setpriority(proc, which, who, prio, *_):
    return 0


def _mknod(proc, dirfd, path: str, mode: int) -> int:
    """mknod makes a regular file (type 0 or S_IFREG) where the guest may write, as
    open(O_CREAT|O_EXCL) does. Linux's order: the type (may_mknod: a directory is
    mkdir's, EPERM; an unknown type EINVAL), then the name (EEXIST when it exists,
    ENOENT for a new name with a trailing slash), then the privilege: a device needs
    privileges pyvm does not lend (EPERM); a socket node is refused by choice (Linux
    makes one unprivileged), and a FIFO is not made (EPERM): one planted where a later
    run writes its trace or output would hold that open forever."""
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFDIR:
        return -errno.EPERM
    if kind not in (0, stat.S_IFREG, stat.S_IFCHR, stat.S_IFBLK, stat.S_IFSOCK,
                    stat.S_IFIFO):
        return -errno.EINVAL
    host = _resolve(proc, dirfd, path.rstrip("/") or path, follow=False)
    if os.path.lexists(host):
        return -errno.EEXIST
    if path.endswith("/"):          # a trailing slash names a directory: not created
        return -errno.ENOENT
    proc.sandbox.check_write(host)  # (EROFS before the privilege, as mnt_want_write)
    if kind not in (0, stat.S_IFREG):
        return -errno.EPERM
    perm = file_mode(mode & ~proc.umask)          # never set-user/group-ID
    with new_inode(proc.kernel.output_budget) as room, \
            proc.sandbox.parent(host) as (d, name):
        if not room:
            return -errno.EDQUOT
        os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, perm,
                         dir_fd=d))
    return 0


@syscall(14)
def sys_mknod(proc, path, mode, dev, *_):
    return _mknod(proc, abi.AT_FDCWD, _path(proc, path), mode)


@syscall(297)
def sys_mknodat(proc, dirfd, path, mode, dev, *_):
    return _mknod(proc, dirfd, _path(proc, path), mode)


@syscall(61)
def sys_chroot(proc, *_):
    return -errno.EPERM


def _zero(proc, *_):
    return 0


for _nr, _name in ((144, "msync"), (36, "sync"), (344, "syncfs"),
                   (272, "fadvise64_64"), (250, "fadvise64"), (152, "mlockall"),
                   (153, "munlockall")):         # mlock, munlock: vm/linux/memcalls.py
    SYSCALLS[_nr] = (_name, _zero)


def sys_msync(proc, addr, length, flags, *_):
    return proc.msync(addr, length, flags)       # MAP_SHARED files: vm/linux/addrspace.py


SYSCALLS[144] = ("msync", sys_msync)
