"""Process system calls: fork, vfork, clone and clone3 (CLONE_THREAD: vm/linux/threads.py),
execve, wait4, process groups, sigreturn and the calls that wait for a signal."""

from __future__ import annotations

import errno
import os
import struct
from array import array

from vm.linux import abi, procfs, threads
from vm.linux import rusage as usage
from vm.linux import signals as S
from vm.linux.addrspace import PAGE
from vm.linux.files import GuestFileError
from vm.linux.interp import load_interpreter
from vm.linux.limits import nproc_refused
from vm.linux.loader import ExePath, LoadError
from vm.linux.process import ARG_MAX_STRLEN, RLIMIT_STACK, ZOMBIE
from vm.linux.syscalls import ContextSet, ExecDone, WouldBlock, _path, s32, syscall
from vm.sandbox import ProcRef
from vm.x86.hooks import set_tracer
from vm.x86.state import EAX, ESP

CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND = 0x100, 0x200, 0x400, 0x800
CLONE_VFORK, CLONE_THREAD, CLONE_SETTLS = 0x4000, 0x10000, 0x80000
CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID = 0x100000, 0x200000, 0x1000000
WNOHANG = 1
MAX_SCRIPT_DEPTH = 6
RUSAGE_SIZE = 72


# -- fork ------------------------------------------------------------------------------

def _fork(proc, flags: int, newsp: int = 0, ptid: int = 0, tls: int = 0, ctid: int = 0) -> int:
    kernel = proc.kernel
    if len(kernel.order) >= kernel.max_procs:
        return -errno.EAGAIN                # --max-procs live processes already
    if proc.rlimits and nproc_refused(proc):
        return -errno.EAGAIN                # the guest's RLIMIT_NPROC
    try:
        child = proc.fork(kernel.new_pid())
    except (MemoryError, OSError):
        return -errno.EAGAIN                # the host cannot hold another process
    cm = child.machine
    cm.cpu.r[EAX] = 0
    if newsp:
        cm.cpu.r[ESP] = newsp
    if flags & CLONE_SETTLS:
        entry, base, limit, fl = abi.USER_DESC.unpack(proc.mem.read(tls, 16))
        if entry == 0xFFFFFFFF:
            entry = 12
        child.set_tls(entry, base, limit, fl)
    pid_bytes = struct.pack("<I", child.pid)
    if flags & CLONE_PARENT_SETTID and ptid:
        proc.mem.write(ptid, pid_bytes)
        cm.mem.write(ptid, pid_bytes)
    if flags & CLONE_CHILD_SETTID and ctid:
        cm.mem.write(ctid, pid_bytes)
    if flags & CLONE_CHILD_CLEARTID:
        child.clear_child_tid = ctid
    child.exit_signal = flags & 0xFF
    kernel.add(child)
    if flags & CLONE_VFORK:
        proc.vfork_child = child        # the parent sleeps until the child execs or exits
        child.vfork_parent = proc
        proc.machine.request_stop()
    return child.pid


@syscall(2)
def sys_fork(proc, *_):
    return _fork(proc, S.SIGCHLD)


@syscall(190)
def sys_vfork(proc, *_):
    return _fork(proc, CLONE_VFORK | S.SIGCHLD)


@syscall(120)
def sys_clone(proc, flags, newsp, ptid, tls, ctid, *_):
    return _clone(proc, flags, newsp, ptid, tls, ctid)


def _clone(proc, flags: int, newsp: int, ptid: int, tls: int, ctid: int) -> int:
    if flags & CLONE_THREAD:
        return threads.clone_thread(proc, flags, newsp, ptid, tls, ctid)
    if flags & CLONE_SIGHAND or flags & CLONE_VM and not flags & CLONE_VFORK:
        return -errno.ENOSYS                # processes sharing memory: not modelled
    return _fork(proc, flags, newsp, ptid, tls, ctid)


CLONE_ARGS = struct.Struct("<8Q")           # clone3's struct clone_args, version 0


@syscall(435)
def sys_clone3(proc, uargs, size, *_):
    if size < CLONE_ARGS.size or size > 4096:
        return -errno.EINVAL
    flags, _pidfd, ctid, ptid, exit_signal, stack, stack_size, tls = \
        CLONE_ARGS.unpack(proc.mem.read(uargs, CLONE_ARGS.size))
    extra = proc.mem.read(uargs + CLONE_ARGS.size, size - CLONE_ARGS.size)
    if any(extra) or flags >> 32 or exit_signal > 64 or \
            flags & CLONE_THREAD and exit_signal:
        return -errno.EINVAL                # set_tid, cgroup, 64-bit flags: not modelled
    newsp = (stack + stack_size) & 0xFFFFFFFF if stack else 0
    return _clone(proc, flags & ~0xFF | exit_signal, newsp, ptid, tls, ctid)


# -- execve ----------------------------------------------------------------------------

def _open_exe(proc, path: str) -> ExePath:
    """The program file execve runs, opened and checked (every check on the file
    opened, which the image is then read from); /proc/self/exe is the running one's."""
    host = proc.sandbox.lookup(path, procfs=procfs.lookup_for(proc))
    if host == ("exe",):        # any spelling of /proc/self/exe (/proc/./self/exe...)
        exe = proc.exe_host_path
        if getattr(exe, "exe", None) is None:
            raise GuestFileError(errno.ENOENT)
        return exe
    if isinstance(host, ProcRef):
        raise GuestFileError(errno.EACCES)
    exe = ExePath.open(host, proc.sandbox, path)
    if not os.access(exe.exe.magic, os.X_OK):
        exe.exe.settle()                    # closed now, not at a collection
        raise GuestFileError(errno.EACCES)
    return exe


def _shebang(data: bytes) -> tuple:
    """(interpreter, optional argument) of a ``#!`` line."""
    line = data[2:data.find(b"\n") if b"\n" in data[:256] else 256].strip()
    if not line:
        raise GuestFileError(errno.ENOEXEC)
    parts = line.split(None, 1)
    return parts[0], (parts[1].strip() if len(parts) > 1 else None)


def execve(proc, path: bytes, argv: list, envp: list) -> int:
    """Replace the process image; returns a negative errno if the old image survives."""
    opened: list = []               # held while the call runs (the caller's own share
    try:                            # may end in it: before_exec), then given back
        return _execve(proc, path, argv, envp, opened)
    finally:            # the files a failed exec (or a script's chain) opened: closed now
        for exe in opened:
            exe.release()


def _execve(proc, path: bytes, argv: list, envp: list, opened: list) -> int:
    name = os.fsdecode(path)
    for _ in range(MAX_SCRIPT_DEPTH):
        try:
            exe = _open_exe(proc, name)
            exe.exe.hold()
            opened.append(exe.exe)
            head = os.pread(exe.exe.fd, 256, 0)
        except OSError as e:
            return -(e.errno or errno.EACCES)
        if head[:2] != b"#!":
            break
        interp, arg = _shebang(head)
        argv = [interp] + ([arg] if arg else []) + [os.fsencode(name)] + argv[1:]
        name = os.fsdecode(interp)
    else:
        return -errno.ELOOP
    try:
        image = proc.kernel.image_for(exe.exe.magic)
    except OSError as e:
        return -(e.errno or errno.EACCES)
    except LoadError as e:
        if e.errno != errno.ENOEXEC or head[:4] == b"\x7fELF":
            proc.kernel.message(f"{name}: cannot run: {e}")
        return -e.errno
    interp = None
    if image.interp is not None:            # a dynamic program: its ld.so, checked now
        try:                                # so that a failure leaves the caller intact
            interp = load_interpreter(proc.kernel, proc.sandbox, image.interp)
        except LoadError as e:
            if e.errno != errno.ENOENT:     # the kernel's ENOENT: the shell says why
                proc.kernel.message(f"{name}: cannot run: {e}")
            return -e.errno
    proc = threads.before_exec(proc)        # the other threads end here
    old = proc.machine
    try:
        proc.start_image(image, argv, envp, os.fsencode(name), interp)
    except MemoryError:
        return -errno.ENOMEM
    set_tracer(proc.machine, old.tracer)
    old.request_stop()
    proc.exe_host_path = exe
    proc.comm = os.fsencode(os.path.basename(name))[:15]
    proc.exe_guest_path = proc.sandbox.to_guest(exe) or name
    proc.fds.exec()
    for sig, act in list(proc.sigactions.items()):
        if act[0] not in (S.SIG_DFL, S.SIG_IGN):
            proc.sigactions[sig] = (S.SIG_DFL, 0, 0, 0)
    proc.kernel.release_vfork(proc)
    raise ExecDone


STK_LIM = 8 << 20               # _STK_LIM, the kernel's default stack limit
ARG_MAX = 32 * 4096             # what execve's strings may always take
KERNEL_PTR = 8                  # sizeof(void *) of the x86-64 kernel running i386 programs


def _arg_space(proc) -> int:
    """Bytes execve's strings and their pointers may take (fs/exec.c
    bprm_stack_limits): a quarter of RLIMIT_STACK, at most 6 MiB, at least ARG_MAX."""
    return max(min(STK_LIM // 4 * 3, proc.rlimit(RLIMIT_STACK)[0] // 4), ARG_MAX)


def _exec_strings(proc, name: bytes, argv: int, envp: int) -> tuple:
    """execve's argv and envp, read as the kernel copies them (envp, then argv): E2BIG
    as soon as the pointers, the file name and the strings pass :func:`_arg_space` or
    a string MAX_ARG_STRLEN. The bound is kept while reading, since every byte read is
    host memory: 65536 pointers to one 128 KiB string took 8 GiB, past any --memory."""
    space = _arg_space(proc)
    aptrs, argc = _arg_ptrs(proc, argv, space // KERNEL_PTR)
    eptrs, envc = _arg_ptrs(proc, envp, space // KERNEL_PTR - len(aptrs))
    space -= (max(argc, 1) + envc) * KERNEL_PTR + len(name) + 1
    if space < 0:
        raise GuestFileError(errno.E2BIG)
    out = []
    for ptrs in (eptrs, aptrs):
        strings = []
        for p in ptrs:
            try:
                s = proc.read_cstr(p, ARG_MAX_STRLEN)
            except GuestFileError:          # no NUL in MAX_ARG_STRLEN (ENAMETOOLONG)
                raise GuestFileError(errno.E2BIG) from None
            space -= len(s) + 1
            if space < 0:
                raise GuestFileError(errno.E2BIG)
            strings.append(s)
        out.append(strings)
    if not argc and space < 1:              # the kernel copies "" as argv[0] (1 byte)
        raise GuestFileError(errno.E2BIG)
    return out[1], out[0]


def _arg_ptrs(proc, addr: int, keep: int) -> tuple:
    """(the first ``keep`` pointers of the NULL-terminated array at ``addr``, how many it
    holds). Read to its end as the kernel's count() does, which faults (EFAULT) past
    mapped memory even when the array is already too long for E2BIG, but without
    keeping more than ``keep`` (each kept pointer is host memory). A page at a time:
    a guest may fill its whole memory with non-NULL words."""
    mem = proc.mem                          # EFAULT for an unmapped page
    watched = proc.machine.mem.access_watch is not None   # (debugger: no word past NULL)
    out: list = []
    count = 0
    while addr:                             # a NULL array is an empty one
        size = 4 if watched else max(4, (PAGE - addr % PAGE) & ~3)
        words = array("I", mem.read(addr, size))
        end = words.index(0) if 0 in words else len(words)
        if len(out) < keep:
            out.extend(words[:min(end, keep - len(out))])
        count += end
        if end < len(words):
            break
        addr += 4 * len(words)
    return out, count


@syscall(11)
def sys_execve(proc, path, argv, envp, *_):
    p = os.fsencode(_path(proc, path))
    return execve(proc, p, *_exec_strings(proc, p, argv, envp))


@syscall(358)
def sys_execveat(proc, dirfd, path, argv, envp, flags, *_):
    p = _path(proc, path)
    if not p.startswith("/") and s32(dirfd) != abi.AT_FDCWD:
        return -errno.ENOSYS
    name = os.fsencode(p)
    return execve(proc, name, *_exec_strings(proc, name, argv, envp))


# -- wait ------------------------------------------------------------------------------

def _wait(proc, pid: int, status_addr: int, options: int, rusage: int) -> int:
    pid = s32(pid)
    match = [c for c in proc.children
             if pid == -1 or pid > 0 and c.pid == pid or pid == 0 and c.pgid == proc.pgid
             or pid < -1 and c.pgid == -pid]
    if not match:
        return -errno.ECHILD
    for child in match:
        if child.state == ZOMBIE:
            if status_addr:
                proc.mem.write(status_addr, struct.pack("<i", child.wait_status))
            if rusage:
                proc.mem.write(rusage, usage.child_usage(child))
            usage.reaped(proc, child)
            proc.kernel.reap(child)
            return child.pid
    if options & WNOHANG:
        return 0
    raise WouldBlock


@syscall(114)
def sys_wait4(proc, pid, status, options, rusage, *_):
    return _wait(proc, pid, status, options, rusage)


@syscall(7)
def sys_waitpid(proc, pid, status, options, *_):
    return _wait(proc, pid, status, options, 0)


# -- process groups and sessions ---------------------------------------------------------

@syscall(57)
def sys_setpgid(proc, pid, pgid, *_):
    pid, pgid = s32(pid), s32(pgid)
    if pgid < 0:
        return -errno.EINVAL
    target = proc if pid in (0, proc.pid) else next(
        (c for c in proc.children if c.pid == pid), None)
    if target is None:
        return -errno.ESRCH
    target.pgid = pgid or target.pid
    return 0


@syscall(132)
def sys_getpgid(proc, pid, *_):
    pid = s32(pid)
    target = proc if pid in (0, proc.pid) else proc.kernel.procs.get(pid)
    return target.pgid if target is not None else -errno.ESRCH


@syscall(65)
def sys_getpgrp(proc, *_):
    return proc.pgid


@syscall(147)
def sys_getsid(proc, pid, *_):
    pid = s32(pid)
    target = proc if pid in (0, proc.pid) else proc.kernel.procs.get(pid)
    return target.sid if target is not None else -errno.ESRCH


@syscall(66)
def sys_setsid(proc, *_):
    if proc.pgid == proc.pid and proc is not proc.kernel.init:
        return -errno.EPERM
    proc.sid = proc.pgid = proc.pid
    return proc.pid


# -- signal returns and waits ----------------------------------------------------------

@syscall(119)
def sys_sigreturn(proc, *_):
    S.sigreturn(proc, rt=False)
    raise ContextSet


@syscall(173)
def sys_rt_sigreturn(proc, *_):
    S.sigreturn(proc, rt=True)
    raise ContextSet


@syscall(176)
def sys_rt_sigpending(proc, setp, size, *_):
    if size != 8:
        return -errno.EINVAL
    proc.mem.write(setp, struct.pack("<Q", proc.pending & proc.sigmask))
    return 0


@syscall(29)
def sys_pause(proc, *_):
    raise WouldBlock                  # until a signal interrupts it (EINTR)


@syscall(179)
def sys_rt_sigsuspend(proc, mask, size, *_):
    if proc.saved_sigmask is None:
        proc.saved_sigmask = proc.sigmask
        proc.sigmask = struct.unpack("<Q", proc.mem.read(mask, 8))[0] & ~S.UNBLOCKABLE
    raise WouldBlock


@syscall(72)
def sys_sigsuspend(proc, a, b, mask, *_):
    if proc.saved_sigmask is None:
        proc.saved_sigmask = proc.sigmask
        proc.sigmask = (proc.sigmask & ~0xFFFFFFFF | mask) & ~S.UNBLOCKABLE
    raise WouldBlock
