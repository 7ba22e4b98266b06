"""A guest process: one Machine (CPU and RAM) plus what the kernel keeps for it (address
space, descriptors, file-system view, signal state, ids). It is the ``proc`` object the
system call handlers of syscalls.py work on."""

from __future__ import annotations

import errno
import os
import struct
import weakref
from typing import Callable, List, Optional

from formats.elf.constants import ET_DYN
from vm.linux import abi
from vm.linux.addrspace import (
    DEFAULT_LIMIT,
    P_MAPPED,
    PAGE,
    STACK_GAP,
    STACK_MAX,
    STACK_SIZE,
    TASK_SIZE,
    AddressSpace,
    HeldFd,
    held_count,
    held_file,
    page_down,
    page_up,
)
from vm.linux.codeshare import mapped_code
from vm.linux.files import FdTable, GuestFileError, HostFile
from vm.linux.loader import ExePath, Image
from vm.linux.signals import (
    MIN_SIGSTKSZ,
    SIG_DFL,
    SIG_IGN,
    fpu_restore,
    fpu_snapshot,
    sse_restore,
    sse_snapshot,
)
from vm.linux.startup import (
    AT_BASE,
    AT_CLKTCK,
    AT_EGID,
    AT_ENTRY,
    AT_EUID,
    AT_FLAGS,
    AT_GID,
    AT_HWCAP,
    AT_HWCAP2,
    AT_MINSIGSTKSZ,
    AT_PAGESZ,
    AT_PHDR,
    AT_PHENT,
    AT_PHNUM,
    AT_SECURE,
    AT_SYSINFO,
    AT_SYSINFO_EHDR,
    AT_UID,
    build_stack,
)
from vm.linux.vdso import vdso as get_vdso
from vm.sandbox import Sandbox, host_fds
from vm.x86.faults import MemoryFault
from vm.x86.hooks import set_tracer
from vm.x86.machine import USER_DS, Machine
from vm.x86.state import ESP, FS, GS, SEL
from vm.x86.system import cpuid_values

RUNNING, BLOCKED, ZOMBIE = "running", "blocked", "zombie"
EXITED = "exited"       # a thread that called exit(2) while others run on (threads.py)
MREMAP_MAYMOVE = 1
COMPAT_TASK_SIZE = 0xFFFFE000             # the top of an i386 task on x86-64 (munmap)
RLIM_INFINITY = (1 << 64) - 1
RLIMIT_NOFILE = 7
RLIMIT_STACK = 3
RLIMIT_AS = 9
READ_IMPLIES_EXEC = 0x0400000             # personality(2): readable implies executable
NR_OPEN = 1 << 20                         # fs.nr_open: RLIMIT_NOFILE's ceiling
ARG_MAX_STRLEN = 128 * 1024


class GuestMemory:
    """Memory as system calls see it: reading an unmapped page is EFAULT there (the CPU
    itself cannot refuse reads), writing needs a writable page (Memory does that)."""
    __slots__ = ("_mem", "_asp")

    def __init__(self, mem, aspace: AddressSpace):
        self._mem, self._asp = mem, aspace

    def read(self, addr: int, n: int) -> bytes:
        if n and not self._asp.is_mapped(addr, addr + n):
            raise MemoryFault(addr, False, n)
        return self._mem.read(addr, n)

    def write(self, addr: int, data: bytes) -> None:
        self._mem.write(addr, data)

    def check_write(self, addr: int, n: int) -> None:
        """Raise MemoryFault unless [addr, addr + n) may be written."""
        if n and (addr + n > self._mem.size or
                  not self._asp.is_mapped(addr, addr + n, writable=True)):
            raise MemoryFault(addr, True, n)


def _fd_limit(proc: Process) -> Callable[[], int]:
    """``proc``'s descriptor limit (its RLIMIT_NOFILE), for its table to check. Through a
    weak reference: the table is the process's own, and a reference back was a cycle
    per process, each exited one (its address space) left to the cyclic collector,
    which pyvm runs seldom (vm/startup.py): a guest's fork loop grew host memory by
    ~770 KiB per child. A table that outlives it (shared by a clone) allows NR_OPEN."""
    ref = weakref.ref(proc)

    def limit() -> int:
        p = ref()
        return NR_OPEN if p is None else min(p.rlimit(RLIMIT_NOFILE)[0], NR_OPEN)
    limit.owner = ref                   # type: ignore[attr-defined]
    return limit


def _owned(fds: FdTable) -> bool:
    """Whether ``fds`` already checks a live process's limit: a thread sharing it
    (CLONE_FILES) leaves it to its group's leader, which outlives every thread (its
    ThreadGroup holds it), and shares their rlimits. Rebound to a thread, the table
    allowed NR_OPEN once that thread exited and was freed."""
    owner = getattr(fds.limit, "owner", None)
    return owner is not None and owner() is not None


FILE_CHUNK = 1 << 20                # bytes of a file mapped at a time
_ZEROS = bytes(FILE_CHUNK)


def load_file(mem, start: int, length: int, fd: int, offset: int) -> None:
    """Put a file's bytes from ``offset`` at [start, start + length), a chunk at a time and
    only as far as the file goes; a chunk of zeros (a sparse file's hole) is not written,
    as the pages are zero already (unmapped pages are). The file is read only once the
    mapping fits the --memory limit: reading the whole length first made any length up
    to 3 GiB host memory, whatever the limit."""
    for a in range(0, length, FILE_CHUNK):
        n = min(FILE_CHUNK, length - a)
        try:
            data = os.pread(fd, n, offset + a)
        except OSError:
            return                      # (Linux: SIGBUS on the pages; here they read 0)
        if not _ZEROS.startswith(data):     # (a memcmp: stops at the first byte of data)
            mem.load(start + a, data)
        if len(data) < n:
            return


PRIVATE_HELD = 16      # files held open for MAP_PRIVATE mappings' growth (FileRange)


def _hold(f: HostFile, writable: bool, spare: bool = False) -> Optional[HeldFd]:
    """The run's one host descriptor of ``f``'s file for its mappings (HeldFd), opened
    again through /proc/self/fd (its own offset and no O_APPEND: a write-back's pwrite
    on a dup of an O_APPEND descriptor appended), a dup where that fails; ENOMEM when
    the run's share of host descriptors is spent. ``spare``: one the mapping can do
    without (MAP_PRIVATE's, a read-only MAP_SHARED's): taken only while fewer than half
    the guests' share are open (else None), as they come out of the guests' open files
    (ulimit -n 64: 40 read-only shared mmaps left no descriptor for open())."""
    st = os.fstat(f.fd)
    key = (st.st_dev, st.st_ino)
    held = held_file(key, writable)
    if held is not None:
        return held
    fd = -1
    if f.regular:
        try:
            fd = os.open(f"/proc/self/fd/{f.fd}",
                         (os.O_RDWR if writable else os.O_RDONLY) | os.O_CLOEXEC)
            if os.fstat(fd).st_ino != st.st_ino:
                os.close(fd)
                fd = -1
        except OSError:
            fd = -1
    if fd < 0:
        fd = os.dup(f.fd)
    fds = host_fds()
    if spare and fd >= fds.cap // 2:    # (the kernel hands out the lowest free number)
        os.close(fd)
        return None
    return HeldFd(fds.take(fd, errno.ENOMEM), (*key, writable), writable)


def move_pages(mem, old: int, new: int, size: int) -> None:
    """Copy [old, old + size) to the free (zero) range at ``new`` a chunk at a time,
    skipping chunks of zeros; each chunk copied is cleared at once (its pages go back
    to the host). Copying all, then unmapping, held twice the mapping and made every
    page of an untouched one host memory: past --memory. (A shared file mapping there
    has moved first: AddressSpace.move_shared.)"""
    for a in range(0, size, 4 * FILE_CHUNK):
        n = min(4 * FILE_CHUNK, size - a)
        data = mem.data[old + a:old + a + n]
        if data.count(0) != n:
            mem.load(new + a, data)
            mem.zero(old + a, old + a + n)


class Process:
    memory_errors = (MemoryFault,)

    @property
    def exe_host_path(self) -> ExePath:
        """The program's host name, carrying its open file (ExePath.exe)."""
        return self._exe

    @exe_host_path.setter
    def exe_host_path(self, host: str) -> None:
        # a name from the loader is opened now; an ExePath (copied from a parent or the
        # thread group) shares its file, the name is not looked up again. Each task
        # holds the file it runs until it ends (drop_exe) or runs another.
        new = host if isinstance(host, ExePath) else ExePath.open(host)
        if new.exe is not None:
            new.exe.hold()
        old, self._exe = getattr(self, "_exe", None), new
        if old is not None and old.exe is not None:
            old.exe.release()

    def drop_exe(self) -> None:
        """This task ended: its program file is given back now (closed by the last task
        running it), not when a collector frees the Process (PyPy's)."""
        exe = self._exe
        if exe.exe is not None:
            self._exe = ExePath.bare(exe)
            exe.exe.release()

    def __init__(self, kernel, pid: int, ppid: int, fds: FdTable, sandbox: Sandbox):
        self.kernel = kernel
        self.pid, self.ppid, self.pgid, self.sid = pid, ppid, pid, pid
        self.fds = fds
        if not _owned(fds):
            fds.limit = _fd_limit(self)
        self.sandbox = sandbox
        self.machine: Optional[Machine] = None
        self.aspace: Optional[AddressSpace] = None
        self.image: Optional[Image] = None
        self.execs = 0                 # images started (exec of the same one included)
        self.exe_host_path = ""
        self.exe_guest_path = ""
        self.umask = 0o022
        self.rlimits: dict = {}
        self.persona = 0               # personality(2): PER_LINUX and its flags
        self.sigactions: dict = {}
        self.sigmask = 0
        self.pending = 0               # bit (sig - 1) per pending signal
        self.pending_info: dict = {}
        self.altstack = (0, 2, 0)      # ss_sp, ss_flags (SS_DISABLE), ss_size
        self.fpu_frames: dict = {}     # signal frame -> FPU state saved at delivery
        self.clear_child_tid = 0
        self.state = RUNNING
        self.wait_status = 0           # wait(2) status once a zombie
        self.exit_code = 0             # what pyvm reports: status, or 128 + signal
        self.children: List[Process] = []
        self.blocked_on = ""           # the system call a BLOCKED process retries
        self.saved_sigmask: Optional[int] = None    # the mask sigsuspend replaced
        self.deadline: Optional[float] = None       # end of the timed wait in progress
        self.wait_deadline: Optional[float] = None  # what a BLOCKED process waits for
        self.wait_fds: tuple = ()
        self.comm = b""
        self.alarm_at: Optional[float] = None       # ITIMER_REAL expiry (time.monotonic)
        self.alarm_interval = 0.0
        self.exit_signal = 17          # sent to the parent at exit (clone's low byte)
        self.vfork_child: Optional[Process] = None  # a vfork parent waits for it to exec
        self.vfork_parent: Optional[Process] = None
        # threads (vm/linux/threads.py): own id, the group sharing this Machine, robust
        # futex list (head, length), the futex wait in progress, registers while out
        self.tid = pid
        self.group = None
        self.robust_list = (0, 0)
        self.futex_waiter = None
        self.ctx: Optional[list] = None
        self.partial: Optional[tuple] = None        # a blocking write's bytes so far
        self.fatal_fault = None        # the CPU exception that killed it (vm/linux/flat.py)
        self.fs_left = False           # its share of the sandbox's held cwd given back

    def leave_fs(self) -> None:
        """This task ended (exit, or another thread's execve): give back its share of the
        sandbox view, whose held cwd descriptor is closed by its last task (once), and
        of its program file."""
        if not self.fs_left:
            self.fs_left = True
            self.sandbox.leave()
        self.drop_exe()

    # -- memory --------------------------------------------------------------------------
    @property
    def mem(self) -> GuestMemory:
        return GuestMemory(self.machine.mem, self.aspace)

    def read_cstr(self, addr: int, limit: int = 4096) -> bytes:
        data = self.machine.mem.data
        end_mapped = self.aspace.mapped_end(addr, addr + limit)
        end = data.find(b"\0", addr, end_mapped)
        if end < 0:
            if end_mapped < addr + limit:
                raise MemoryFault(end_mapped, False)
            raise GuestFileError(errno.ENAMETOOLONG)
        return bytes(data[addr:end])

    def read_ptrs(self, addr: int, limit: int = 65536) -> List[int]:
        """A NULL-terminated array of pointers (argv, envp)."""
        out = []
        while addr:
            p = struct.unpack("<I", self.machine.mem.read(addr, 4))[0]
            if not p:
                break
            out.append(p)
            if len(out) > limit:
                raise GuestFileError(errno.E2BIG)
            addr += 4
        return out

    def set_brk(self, addr: int) -> int:
        if self.rlimits:            # the guest's RLIMIT_DATA / RLIMIT_AS (memrlimits.py)
            from vm.linux.memrlimits import refuse_brk
            if refuse_brk(self, addr):
                return self.aspace.brk
        return self.aspace.set_brk(addr)

    def mmap(self, addr: int, length: int, prot: int, flags: int, fd: int,
             offset: int) -> int:
        asp = self.aspace
        size = self.machine.mem.size
        if not length or offset & (PAGE - 1):
            return -errno.EINVAL
        if length > size:
            return -errno.ENOMEM
        length = page_up(length)
        anonymous = bool(flags & abi.MAP_ANONYMOUS)
        f = None
        if not anonymous:
            f = self.fds.get(fd)
            if not isinstance(f, HostFile) or f.is_dir:
                return -errno.ENODEV if not isinstance(f, HostFile) else -errno.EACCES
            if not f.readable or flags & abi.MAP_SHARED and prot & abi.PROT_WRITE \
                    and not f.writable:
                return -errno.EACCES
            try:
                os.pread(f.fd, 0, offset)
            except OSError:
                return -errno.ENODEV            # a pipe or socket has no pages
        start = self._mmap_start(addr, length, flags)
        if start < 0:
            return start
        if self.rlimits:            # the guest's RLIMIT_AS / RLIMIT_DATA (memrlimits.py)
            from vm.linux.memrlimits import refuse_map
            err = refuse_map(self, start, length, prot, flags)
            if err:
                return err
        tag = asp.file_tag(start, start + length) if f is not None else 0
        if not asp.map_count_ok(start, start + length, prot, tag, new=True):
            return -errno.ENOMEM                # vm.max_map_count
        held = None
        shared = f is not None and flags & abi.MAP_SHARED and (f.writable or f.regular)
        if shared:
            # taken before the space changes: a failure (the run's share of host
            # descriptors spent: ENOMEM) must leave no mapping behind, as Linux's; a
            # read-only file's mapping does without one (a private copy, read_only)
            held = _hold(f, f.writable, spare=not f.writable)
        if flags & (abi.MAP_FIXED | abi.MAP_FIXED_NOREPLACE):
            asp.unmap(start, start + length)
        if f is not None:               # MAP_PRIVATE: a copy, so copy-on-write by nature
            load_file(self.machine.mem, start, length, f.fd, offset)
        asp.map(start, start + length, prot, tag)
        if flags & abi.MAP_GROWSDOWN:
            asp.add_growsdown(start, start + length)
        if held is not None:
            asp.add_shared(start, start + length, held, offset)     # the file's pages
        elif f is not None:
            self._track_private(f, start, start + length, offset,
                                read_only=bool(shared))
        if not (held is not None and held.writable) and f is not None and \
                prot & abi.PROT_EXEC:     # a library's text: translated already?
            mapped_code(self.kernel).install(self.machine, asp)
        return start

    def _track_private(self, f, start: int, end: int, offset: int,
                       read_only: bool = False) -> None:
        """Remember a MAP_PRIVATE file mapping for mremap to grow over the file: by its
        host path and identity, a descriptor held while there are some to spare
        (FileRange). ``read_only``: a MAP_SHARED mapping of a read-only file made a
        private copy (no descriptor to spare): mprotect(PROT_WRITE) is EACCES on it."""
        try:
            st = os.fstat(f.fd)
        except OSError:
            return
        src = getattr(f, "map_src", None)
        if src is None:
            src = f.map_src = (f.path, (st.st_dev, st.st_ino))
        held = held_file(src[1], False)
        if held is None and f.regular and held_count() < PRIVATE_HELD:
            try:
                held = _hold(f, False, spare=True)
            except OSError:
                held = None             # (no descriptor to spare: grows by its path)
        self.aspace.add_file(start, end, src, offset, held, read_only, st.st_size)

    def _mmap_start(self, addr: int, length: int, flags: int) -> int:
        """Where mmap puts ``length`` (page-rounded) bytes asked at ``addr``, or -errno;
        nothing is changed yet (MAP_FIXED's old mapping is still there)."""
        asp = self.aspace
        if flags & (abi.MAP_FIXED | abi.MAP_FIXED_NOREPLACE):
            if addr & (PAGE - 1):
                return -errno.EINVAL
            low = asp.layout.low_limit
            if addr < low or addr + length > self.machine.mem.size:
                return -errno.ENOMEM if addr >= low else -errno.EPERM
            if flags & abi.MAP_FIXED_NOREPLACE and not asp.is_free(addr, addr + length):
                return -errno.EEXIST
            if not asp.fits(addr, addr + length):
                return -errno.ENOMEM            # over the --memory limit
            return addr
        if not asp.can_add(page_up(length)):
            return -errno.ENOMEM                # over the --memory limit
        if addr and not addr & (PAGE - 1) and asp.is_free(addr, addr + length):
            return addr
        start = asp.find_free(length)
        return -errno.ENOMEM if start is None else start

    def msync(self, addr: int, length: int, flags: int) -> int:
        """Write back MAP_SHARED file pages in the range (MS_ASYNC, MS_SYNC alike)."""
        if addr & (PAGE - 1) or flags & ~7 or flags & 5 == 5:
            return -errno.EINVAL
        end = addr + page_up(length)
        if end > self.machine.mem.size or not self.aspace.is_mapped(addr, end):
            return -errno.ENOMEM
        self.aspace.sync_shared(addr, end)
        return 0

    def munmap(self, addr: int, length: int) -> int:
        # a range past the top of the 32-bit space is EINVAL (the x86-64 kernel's limit
        # for i386 tasks): page_up wrapped it, and [addr, 3 GiB) was unmapped
        if addr & (PAGE - 1) or not length or length > COMPAT_TASK_SIZE - addr:
            return -errno.EINVAL
        end = min(addr + page_up(length), self.machine.mem.size)
        if addr < end:
            if not self.aspace.map_count_ok(addr, end, None):
                return -errno.ENOMEM            # a split past vm.max_map_count
            self.aspace.unmap(addr, end)
        return 0

    def mprotect(self, addr: int, length: int, prot: int) -> int:
        """Linux's do_mprotect_pkey goes VMA by VMA: the pages before the first hole
        (ENOMEM) or the first MAP_SHARED mapping of a read-only file made writable
        (EACCES) are changed even though the call fails; an unmapped first page
        changes nothing."""
        if addr & (PAGE - 1):
            return -errno.EINVAL
        if not length:
            return 0
        asp = self.aspace
        end = addr + page_up(length)
        stop = asp.mapped_end(addr, min(end, self.machine.mem.size))
        err = 0 if stop == end else -errno.ENOMEM
        ro = asp.read_only_shared(addr, stop) if prot & abi.PROT_WRITE and \
            (asp.shared or asp.files) else None
        if ro is not None:              # a MAP_SHARED mapping of a read-only file
            stop, err = max(addr, ro), -errno.EACCES
        if stop == addr:
            return err
        if self.rlimits:            # the guest's RLIMIT_DATA (memrlimits.py)
            from vm.linux.memrlimits import refuse_protect
            refused = refuse_protect(self, addr, stop, prot)
            if refused:
                return refused
        if not asp.protect(addr, stop, prot):
            return -errno.ENOMEM        # (a split past vm.max_map_count)
        return err

    def mremap(self, old: int, old_size: int, new_size: int, flags: int) -> int:
        asp = self.aspace
        if old & (PAGE - 1) or not new_size or not old_size or flags & ~MREMAP_MAYMOVE:
            return -errno.EINVAL                # (old_size 0: only of a shared mapping)
        old_size, new_size = page_up(old_size), page_up(new_size)
        if not asp.is_mapped(old, old + old_size):
            return -errno.EFAULT
        if new_size <= old_size:
            if not asp.map_count_ok(old + new_size, old + old_size, None):
                return -errno.ENOMEM
            asp.unmap(old + new_size, old + old_size)
            return old
        if not asp.one_mapping(old, old + old_size):
            return -errno.EFAULT                # Linux grows or moves one VMA only
        prot = asp.prot[(old + old_size >> 12) - 1] & ~P_MAPPED
        tag = asp.tag_at(old)           # (a file mapping grows as one VMA)
        if not asp.can_add(new_size - old_size):
            return -errno.ENOMEM                # over the --memory limit
        if self.rlimits:            # the guest's RLIMIT_AS / RLIMIT_DATA (memrlimits.py)
            from vm.linux.memrlimits import refuse_grow
            if refuse_grow(self, old + old_size, old + new_size, prot):
                return -errno.ENOMEM
        if asp.is_free(old + old_size, old + new_size):
            if not asp.map_count_ok(old + old_size, old + new_size, prot, tag):
                return -errno.ENOMEM
            asp.map(old + old_size, old + new_size, prot, tag)
            self._grow_shared(old + old_size, new_size - old_size)
            return old
        if not flags & MREMAP_MAYMOVE:
            return -errno.ENOMEM
        new = asp.find_free(new_size)
        if new is not None and tag:
            tag = asp.file_tag(new, new + new_size)
        if new is None or not asp.map_count_ok(new, new + new_size, prot, tag):
            return -errno.ENOMEM
        asp.move_shared(old, old + old_size, new)     # (written back, then it moves)
        move_pages(self.machine.mem, old, new, old_size)
        asp.map(new, new + new_size, prot, tag)
        asp.unmap(old, old + old_size)
        self._grow_shared(new + old_size, new_size - old_size)
        return new

    def _grow_shared(self, at: int, more: int) -> None:
        """A shared file mapping ending at ``at`` grown by ``more`` bytes maps the file
        on (Linux grows the VMA): its next bytes are read there, written back later."""
        sf = next((sf for sf in self.aspace.shared_in(at - PAGE, at) if sf.end == at), None)
        if sf is not None:
            load_file(self.machine.mem, at, more, sf.fd, sf.offset + (at - sf.start))
            sf.grow(self.machine.mem, at + more)
            return
        fr = self.aspace.file_ending_at(at) if self.aspace.files else None
        if fr is not None:              # a private file mapping maps on too
            mem, off = self.machine.mem, fr.offset + (at - fr.start)
            fr.read_more(lambda fd: load_file(mem, at, more, fd, off))
            fr.end = at + more
            self.aspace.guard_private(fr)   # (its pages past the file's end: SIGBUS)

    # -- thread area, limits -------------------------------------------------------------
    def set_tls(self, entry: int, base: int, limit: int, flags: int) -> None:
        m = self.machine
        sel = entry << 3 | 3
        m.descriptors[sel] = base
        for n in (FS, GS):
            if m.cpu.r[SEL + n] == sel:
                m.cpu.set_segment(n, sel, base)

    def limit_stack(self) -> None:
        """The guest set RLIMIT_STACK: its main stack grows only that far from now."""
        if self.aspace is not None and self.machine is not None:
            self.aspace.limit_stack(self.rlimits[RLIMIT_STACK][0], self.machine.cpu.r[ESP])

    def rlimit(self, resource: int) -> tuple:
        if resource in self.rlimits:
            return self.rlimits[resource]
        if resource == RLIMIT_STACK:            # the stack we give
            return (8 << 20, RLIM_INFINITY)
        if resource == RLIMIT_AS:               # pyvm's cap (--memory), not the host's;
            cap = self.aspace.limit if self.aspace is not None else \
                self.kernel.memory_limit or DEFAULT_LIMIT
            return (cap, RLIM_INFINITY)         # (which stays whatever the guest sets)
        try:
            import resource as host
            cur, mx = host_fds().guest_limits if resource == RLIMIT_NOFILE else \
                host.getrlimit(resource)        # (pyvm's own soft limit is raised)
        except (ImportError, ValueError, OSError):
            return (RLIM_INFINITY, RLIM_INFINITY)
        fix = lambda v: RLIM_INFINITY if v < 0 else v  # noqa: E731
        return (fix(cur), fix(mx))

    # -- signals (the kernel decides what happens) ---------------------------------------
    def deliver_signal(self, sig: int) -> None:
        self.kernel.send_signal(self, sig, self)

    def kill_other(self, pid: int, sig: int) -> int:
        return self.kernel.kill(self, pid, sig)

    def action(self, sig: int) -> tuple:
        return self.sigactions.get(sig, (SIG_DFL, 0, 0, 0))

    def ignores(self, sig: int) -> bool:
        from vm.linux.signals import default_ignored
        handler = self.action(sig)[0]
        return handler == SIG_IGN or handler == SIG_DFL and default_ignored(sig)

    # -- images ---------------------------------------------------------------------------
    def start_image(self, image: Image, argv: List[bytes], envp: List[bytes],
                    execfn: bytes, interp: Optional[Image] = None) -> None:
        """Put a program in memory with its initial stack: the process continues at the
        entry point (the first start, or execve), or at its interpreter's (``interp``,
        vm/linux/interp.py), which the kernel puts at the top of the mmap area and names
        in AT_BASE. Exec of the image the process already runs (busybox running itself)
        keeps the Machine and its translated code."""
        limit = self.kernel.memory_limit
        vdso = get_vdso()
        extra = (interp.span if interp is not None else 0) + vdso.span
        stack = self._stack_reservation(image.span + extra, interp)
        layout = image.layout(stack)
        if interp is not None and interp.elf.type == ET_DYN:   # where the first
            interp = interp.placed_at(layout.mmap_hi - interp.span)    # top-down mmap goes
        # the next top-down mmap, as the kernel's
        vdso_base = _vdso_base(layout, image, interp, vdso.span)
        if limit is not None and image.hi - image.lo + stack + extra > limit:
            raise MemoryError("the program does not fit the --memory limit")
        top = layout.stack_top
        phdr = image.phdr
        raw_phdr = b""
        if phdr is None:            # program headers outside every segment: on the stack
            raw_phdr = image.phdr_bytes()
            top = (top - len(raw_phdr)) & ~15
            phdr = top
        hwcap = cpuid_values(1, True)[3]
        aux = [(AT_SYSINFO, vdso_base + vdso.vsyscall), (AT_SYSINFO_EHDR, vdso_base),
               (AT_MINSIGSTKSZ, MIN_SIGSTKSZ), (AT_HWCAP, hwcap), (AT_PAGESZ, PAGE),
               (AT_CLKTCK, 100), (AT_PHDR, phdr),
               (AT_PHENT, image.phent), (AT_PHNUM, image.phnum),
               (AT_BASE, interp.base if interp is not None else 0),   # (ET_EXEC: 0)
               (AT_FLAGS, 0), (AT_ENTRY, image.entry), (AT_UID, os.getuid()),
               (AT_EUID, os.geteuid()), (AT_GID, os.getgid()), (AT_EGID, os.getegid()),
               (AT_SECURE, 0), (AT_HWCAP2, 0)]
        esp, stack = build_stack(top, argv, envp, aux, execfn,
                                 random16=self.kernel.random_bytes(16))
        if esp < layout.stack_lo + 64 * 1024:
            raise GuestFileError(errno.E2BIG)
        m = self.machine
        if m is not None and self.image is image and m.mem.size == layout.size:
            clear_all_but_text(m, self.aspace, image)
            warm = True
        else:
            m, warm = self.kernel.machine_for(layout.size, image)
        if self.aspace is not None:
            if self.machine is not None:     # its code serves the next processes
                mapped_code(self.kernel).harvest(self.machine, self.aspace)
            self.aspace.release()            # exec: the old image's memory is gone
        asp = AddressSpace(m.mem, layout, limit, self.kernel.memory_budget)
        if image.gnu_stack is None:     # an old i386 program: everything readable executes
            self.persona |= READ_IMPLIES_EXEC
        asp.read_implies_exec = bool(self.persona & READ_IMPLIES_EXEC)
        image.load(m.mem, asp, reuse=warm)
        if interp is not None:
            interp.load(m.mem, asp)
        m.mem.load(vdso_base, vdso.data)
        asp.map(vdso_base, vdso_base + vdso.span, 5)         # r-x
        asp.vdso = (vdso_base, vdso)
        mapped_code(self.kernel).install(m, asp)    # what other processes translated
        # executable as PT_GNU_STACK says (none: yes), whatever the personality
        asp.map(layout.stack_lo, layout.stack_top, 7 if image.exec_stack else 3, exact=True)
        if RLIMIT_STACK in self.rlimits:    # (inherited: the stack is that big at most)
            asp.limit_stack(self.rlimits[RLIMIT_STACK][0], esp)
        if raw_phdr:
            m.mem.write(top, raw_phdr)
        m.mem.write(esp, stack)
        m.set_reg("esp", esp)
        m.set_reg("eip", interp.entry if interp is not None else image.entry)
        m.descriptors = {0x23: 0, USER_DS: 0}
        self.machine, self.aspace, self.image = m, asp, image
        self.execs += 1                 # (the debugger's exec events: the Machine may stay)
        self.argv, self.envp = list(argv), list(envp)      # /proc/<pid>/cmdline, environ
        self.fpu_frames = {}
        self.altstack = (0, 2, 0)
        m.on_interrupt = self.kernel.interrupt_hook(self)

    def _stack_reservation(self, others: int, interp: Optional[Image]) -> int:
        """How much stack an exec reserves: RLIMIT_STACK (inherited), as far as Linux's
        stack would grow (up to STACK_MAX; unlimited: that too), else STACK_SIZE. It
        is mapped whole (a --memory cap that cannot hold it, beside the ``others``
        bytes, keeps STACK_SIZE) and stays clear of an ET_EXEC interpreter."""
        cur = self.rlimits.get(RLIMIT_STACK, (STACK_SIZE,))[0]
        stack = max(STACK_SIZE, page_down(min(cur, STACK_MAX)))
        if interp is not None and interp.elf.type != ET_DYN:
            stack = max(STACK_SIZE, min(stack, page_down(TASK_SIZE - STACK_GAP - interp.hi)))
        limit = self.kernel.memory_limit
        if limit is not None and others + stack > limit:
            stack = STACK_SIZE
        return stack

    def start_flat(self, image) -> None:
        """Start a flat binary (vm/linux/flat.py FlatImage): its bytes at its org, the
        stack at the top of its RAM with nothing on it (ESP is the RAM's size), EIP at
        the org, every other register zero."""
        layout = image.layout()
        m, _warm = self.kernel.machine_for(layout.size, image)
        asp = AddressSpace(m.mem, layout, self.kernel.memory_limit, self.kernel.memory_budget)
        image.load(m.mem, asp)
        asp.map(0, layout.image_lo, 7)                      # FlatLayout: RAM, see there
        asp.map(layout.image_hi, layout.brk_limit, 7)
        asp.map(layout.stack_lo, layout.stack_top, 7)
        m.set_reg("esp", layout.stack_top & 0xFFFFFFFF)
        m.set_reg("eip", image.entry)
        m.descriptors = {0x23: 0, USER_DS: 0}
        self.machine, self.aspace, self.image = m, asp, image
        self.argv, self.envp = [], []
        self.fpu_frames = {}
        m.on_interrupt = self.kernel.interrupt_hook(self)

    def fork(self, pid: int) -> Process:
        """A copy of this process (memory, registers, descriptors, signal state) whose
        next instruction is the same; the caller sets the child's EAX."""
        pm = self.machine
        child = Process(self.kernel, pid, self.pid, self.fds.fork(), _copy_sandbox(self.sandbox))
        libs = mapped_code(self.kernel)     # the parent's translations, for the child
        libs.harvest(pm, self.aspace)
        m, _warm = self.kernel.machine_for(pm.mem.size, self.image)
        stack = self.aspace.layout
        esp = pm.cpu.r[ESP]
        skip = (stack.stack_lo, max(stack.stack_lo, min((esp - 65536) & ~(PAGE - 1),
                                                        stack.stack_top)))
        if not stack.stack_lo <= esp <= stack.stack_top:
            skip = (0, 0)                   # on another stack (a thread's): copy it all
        child.aspace = self.aspace.copy_into(m.mem, skip)
        if self.aspace.writable_within(self.image.readonly_pages()):
            m.flush_translations()          # text made writable: the copy may differ
        libs.install(m, child.aspace)
        m.cpu.r[:] = pm.cpu.r
        m.cpu.eip = pm.cpu.eip
        m.cpu.flags = pm.cpu.flags
        m.cpu.lz = pm.cpu.lz
        m.descriptors = dict(pm.descriptors)
        if pm._fpu is not None:
            fpu_restore(m, fpu_snapshot(pm))
        sse_restore(m, sse_snapshot(pm))
        child.machine, child.image = m, self.image
        child.exe_host_path, child.exe_guest_path = self.exe_host_path, self.exe_guest_path
        child.argv, child.envp = self.argv, self.envp
        child.pgid, child.sid = self.pgid, self.sid
        child.umask = self.umask
        child.rlimits = dict(self.rlimits)
        child.persona = self.persona
        child.sigactions = dict(self.sigactions)
        child.sigmask = self.sigmask
        child.altstack = self.altstack
        child.fpu_frames = dict(self.fpu_frames)
        child.comm = self.comm
        m.on_interrupt = self.kernel.interrupt_hook(child)
        set_tracer(m, pm.tracer)        # the child's hooks (if any) are its own
        self.children.append(child)
        return child


def _vdso_base(layout, image: Image, interp: Optional[Image], span: int) -> int:
    """Where the vdso goes: the highest ``span`` bytes below the mmap area's top that
    neither the interpreter nor the program covers (an ET_EXEC interpreter may lie
    anywhere: the kernel's top-down get_unmapped_area passes over it)."""
    taken = [(image.lo, image.hi)] + ([(interp.lo, interp.hi)] if interp is not None else [])
    top = layout.mmap_hi
    while top - span >= layout.low_limit:
        hit = [lo for lo, hi in taken if lo < top and top - span < hi]
        if not hit:
            return top - span
        top = min(hit)
    raise MemoryError("no room for the vdso")


def clear_all_but_text(m: Machine, aspace: AddressSpace, image: Image) -> None:
    """Zero every mapped page except the image's read-only ones (whose translations
    stay valid) and reset the registers: the Machine can take this image again."""
    keep = image.readonly_pages()
    for lo, hi in aspace.runs():
        for keep_lo, keep_hi in keep:
            if keep_lo < hi and lo < keep_hi:
                if lo < keep_lo:
                    m.mem.zero(lo, keep_lo)
                lo = max(lo, keep_hi)
        if lo < hi:
            m.mem.zero(lo, hi)
    _reset_cpu(m)


def _reset_cpu(m: Machine) -> None:
    """Registers as a new Machine has them (execve into a reused Machine)."""
    cpu = m.cpu
    cpu.r[:] = [0] * len(cpu.r)
    for name, sel in (("cs", 0x23), ("ds", USER_DS), ("es", USER_DS), ("ss", USER_DS),
                      ("fs", 0), ("gs", 0)):
        m.set_segment(name, sel, 0)
    cpu.set_eflags(0x202)
    cpu.xmm[:] = [0] * len(cpu.xmm)
    cpu.mxcsr = 0x1F80
    if m._fpu is not None:
        m._fpu.fninit()
        m._fpu.mxcsr = 0x1F80


def _copy_sandbox(sb: Sandbox) -> Sandbox:
    return sb.copy()


def find_task(kernel, tid: int, tgid: Optional[int] = None) -> Optional[Process]:
    for t in kernel.order:
        if t.tid == tid and (tgid is None or t.pid == tgid) and t.state != ZOMBIE:
            return t
    return None
