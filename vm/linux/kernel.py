"""The Linux personality's kernel: the process table, a cooperative scheduler, the
``int 0x80`` entry, signal delivery, process exit and wait.

Each process is its own Machine. The scheduler runs one at a time: a process keeps the
CPU until it blocks (an empty pipe, a full pipe, wait4 with no child ready), exits,
faults, or uses up its time slice when others are runnable. A blocking call rewinds EIP
to its ``int 0x80`` and is simply executed again when the process is next scheduled;
signals are acted on when a system call returns and when a process is scheduled in,
which is where the kernel would do it (return to user mode).
"""

from __future__ import annotations

import errno
import os
import select
import struct
import sys
import time
import weakref
from typing import Callable, Dict, List, Optional, Sequence

from formats.inputs import InputError, read_input
from vm.linux import (  # noqa: F401  (system calls)
    filelocks,
    fscalls,
    memcalls,
    procsys,
    sockets,
    taskctl,
    threads,
    timers,
)
from vm.linux import rusage as usage
from vm.linux import signals as S
from vm.linux import waiting as _waits  # noqa: F401  (system calls)
from vm.linux.addrspace import DEFAULT_LIMIT, MemoryBudget
from vm.linux.codeshare import mapped_code
from vm.linux.faultinfo import fault_frame, fault_siginfo
from vm.linux.files import FifoEnds
from vm.linux.loader import prepare, program_key
from vm.linux.process import BLOCKED, RUNNING, ZOMBIE, Process
from vm.linux.syscalls import (
    ContextSet,
    ExecDone,
    ProcessExit,
    WouldBlock,
    dispatch,
    name_of,
)
from vm.options import EXIT_STEP_LIMIT
from vm.x86.faults import CPUException, MemoryFault, Unsupported
from vm.x86.machine import Machine
from vm.x86.signals import fault_report
from vm.x86.state import EAX
from vm.x86.trace import register_dump

IDLE_MAX = 3600.0                   # seconds of one host wait while every process waits


class SyscallBug(Exception):
    """A system call handler failed: reported as an internal error, never as a fault."""


MAX_SPARE = 3                    # retired Machines kept for reuse (each holds its RAM)
KEPT_IMAGE_BYTES = 64 << 20      # parsed programs kept after their last process is gone
SLICE = 300_000                  # instructions per turn when several processes can run
SOLO_SLICE = 20_000_000          # one process: only the --max-steps check interrupts it
INT80_LENGTH = 2
EXIT_DEADLOCK = 125
SOCKETCALL = 102


FIRST_PID = 2                    # the first guest process, as a container's init starts it
DEFAULT_SEED = None              # random bytes from the host unless --seed N


class Kernel:
    """Guest ids are the kernel's own: the first process is FIRST_PID and every new
    process or thread takes the next free number, so two runs of a program see the same
    ids (and never a host pid: kill and /proc only reach guest processes). The guest's
    random bytes (AT_RANDOM, getrandom, /dev/urandom) are the host's (a guest making keys
    must get real ones), or with ``seed`` (--seed N) come from it and a count of
    requests, the same every run, so that a run can be repeated exactly."""

    def __init__(self, name: str, stderr=None, tracer=None, max_steps: Optional[int] = None,
                 max_procs: int = 64, memory_limit: Optional[int] = None,
                 seed: Optional[int] = DEFAULT_SEED):
        self.name = name                  # the program, for messages
        self.stderr = stderr if stderr is not None else sys.stderr
        self.tracer = tracer
        self.max_steps = max_steps
        # --timeout, --max-output (vm/linux/limits.py): an exit status ends the run
        self.stop_check: Optional[Callable[[], Optional[int]]] = None
        self.steps = 0                    # instructions retired by finished turns
        self.procs: Dict[int, Process] = {}
        self.order: List[Process] = []    # round-robin order of live processes
        self.init: Optional[Process] = None
        self.next_pid = FIRST_PID - 1
        self.seed = seed
        self.randoms = 0                  # random byte strings handed out so far
        self.progress = False
        self.current: Optional[Process] = None
        # (dev, ino, size, mtime) -> loader.Image while a process (or a spare Machine)
        # uses it, and the most recent ones up to KEPT_IMAGE_BYTES (kept_images)
        self.images: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self.kept_images: list = []
        self.spare: list = []             # (image, Machine) retired, ready for reuse
        self.max_procs = max_procs        # live processes; fork beyond is EAGAIN
        self.memory_limit = memory_limit  # mapped bytes per process; None: the default
        # all processes together: twice the per-process cap (fork cannot multiply it)
        self.memory_budget = MemoryBudget(2 * (memory_limit or DEFAULT_LIMIT))
        self.fifo_ends = FifoEnds()       # guest FIFO ends open in this run (files.py)
        self.output_budget = None         # --max-output when set: files written draw on it
        # files sent over unix sockets and not yet received: how many, and how many
        # times each (vm/linux/sockets.py collects the unreachable ones)
        self.unix_inflight = 0
        self.inflight_files: dict = {}

    def machine_for(self, size: int, image) -> tuple:
        """A Machine of ``size`` bytes for ``image``: a retired one when there is one
        (warm: it holds that image's text and translations), else a new one."""
        for i, (img, m) in enumerate(self.spare):
            if img is image and m.mem.size == size:
                del self.spare[i]
                return m, True
        for i, (img, m) in enumerate(self.spare):
            if m.mem.size == size:
                del self.spare[i]
                for lo, hi in img.readonly_pages():
                    m.mem.zero(lo, hi)
                m.flush_translations()
                return m, False
        return Machine("flat32", size), False

    def retire(self, m, aspace, image) -> None:
        """A Machine its process no longer uses: keep its translations of read-only
        pages for the run's other processes (codeshare.py) and the Machine itself
        (cleared) for the next fork or exec."""
        if image is None or aspace is None:
            return
        mapped_code(self).harvest(m, aspace)
        aspace.release()
        if len(self.spare) >= MAX_SPARE:
            return
        from vm.linux.process import clear_all_but_text
        clear_all_but_text(m, aspace, image)
        m.on_interrupt = None
        m.tracer = None
        self.spare.append((image, m))

    def image_for(self, host: str, data: Optional[bytes] = None):
        """The parsed program in a host file, shared by every process that runs it (and
        so are the instructions rewritten in it). Raises OSError or LoadError."""
        key = program_key(os.stat(host))
        image = self.cached_image(key)
        if image is None:
            if data is None:
                try:
                    data = read_input(host)     # a guest may exec a huge sparse file
                except InputError:
                    raise OSError(errno.ENOMEM, "program too large") from None
            image = prepare(data)
            self.keep_image(key, image)
        return image

    def cached_image(self, key: tuple):
        """The parsed program (or interpreter) of ``key``, if one is at hand."""
        image = self.images.get(key)
        if image is not None:
            self.keep_image(key, image)         # the most recently used
        return image

    def keep_image(self, key: tuple, image) -> None:
        """Share ``image`` as long as a process uses it, and keep it after that while
        the most recent images hold at most KEPT_IMAGE_BYTES (Image.size: what each
        really holds). Each held its whole file: kept for the whole run, a guest that exec'd ever new (or
        re-touched) big files held them all in host memory, past --memory."""
        self.images[key] = image
        kept = self.kept_images
        if image in kept:
            kept.remove(image)
        kept.append(image)
        total = sum(i.size for i in kept)
        while len(kept) > 1 and total > KEPT_IMAGE_BYTES:
            total -= kept.pop(0).size

    def current_machine(self):
        return self.current.machine if self.current is not None else None

    def random_bytes(self, n: int) -> bytes:
        """The next ``n`` random bytes (AT_RANDOM, getrandom, /dev/urandom): the host's,
        or with --seed the next of its stream, the same every run of the same seed."""
        if self.seed is None:
            return os.urandom(n)
        self.randoms += 1
        import hashlib  # (here: importing it loads OpenSSL, ~3 ms of every start)
        return hashlib.shake_256(b"pyvm random %d %d" % (self.seed, self.randoms)).digest(n)

    # -- processes ------------------------------------------------------------------------
    def new_pid(self) -> int:
        self.next_pid += 1
        while self.next_pid in self.procs:
            self.next_pid += 1
        return self.next_pid

    def add(self, proc: Process) -> None:
        self.procs[proc.pid] = proc
        self.order.append(proc)
        if self.init is None:
            self.init = proc

    def message(self, text: str) -> None:
        try:
            print(f"pyvm: {text}", file=self.stderr, flush=True)
        except (OSError, ValueError):
            pass

    def interrupt_hook(self, proc: Process) -> Callable:
        def hook(m, vector: int, software: bool) -> bool:
            if vector != 0x80 or not software:
                return False
            self.syscall(proc, m)
            return True
        return hook

    # -- system calls ---------------------------------------------------------------------
    def syscall(self, proc: Process, m) -> None:
        r = m.cpu.r
        nr = r[EAX]
        args = (r[3], r[1], r[2], r[6], r[7], r[5])       # ebx ecx edx esi edi ebp
        tracer = m.tracer
        try:
            result = dispatch(proc, nr, args)
        except WouldBlock as e:
            proc.wait_deadline, proc.wait_fds = e.deadline, e.fds
            m.cpu.eip = (m.cpu.eip - INT80_LENGTH) & 0xFFFFFFFF
            if proc.state != BLOCKED and tracer is not None:
                tracer.event(f"[{proc.pid}] {_call_text(nr, args, m)} blocks")
            proc.state = BLOCKED
            proc.blocked_on = name_of(nr)
            m.request_stop()
            return
        except ProcessExit as e:
            if tracer is not None:
                tracer.event(f"[{proc.pid}] {_call_text(nr, args, m)}")
            self.exit(proc, e.status, e.signal)
            m.request_stop()
            return
        except ExecDone:
            if tracer is not None:
                tracer.event(f"[{proc.pid}] {_call_text(nr, args, m)} = 0")
            m.request_stop()
            self.progress = True
            return
        except ContextSet:
            if tracer is not None:
                tracer.event(f"[{proc.pid}] {name_of(nr)}() restores eip=0x{m.cpu.eip:08x}")
            result = None
        except (IndexError, struct.error, OverflowError, TypeError, ValueError,
                AttributeError, KeyError) as e:
            # a bug in a handler: the CPU would take these for a guest memory fault
            raise SyscallBug(f"system call {name_of(nr)}: {type(e).__name__}: {e}") from e
        self.progress = True
        if proc.state != ZOMBIE:            # kill(getpid(), SIGKILL) ends it right here
            proc.state = RUNNING
        proc.wait_deadline, proc.wait_fds = None, ()
        if result is not None:
            r[EAX] = result & 0xFFFFFFFF
            if tracer is not None:
                err = f" ({errno.errorcode.get(-result, '?')})" if -4096 < result < 0 else ""
                tracer.event(f"[{proc.pid}] {_call_text(nr, args, m)} = {result}{err}")
        if proc.pending & ~proc.sigmask:
            self.act_on_signals(proc)
        if proc.machine is not m or proc.state == ZOMBIE:
            m.request_stop()

    # -- signals --------------------------------------------------------------------------
    def send_signal(self, target: Process, sig: int, sender: Optional[Process] = None,
                    info: Optional[bytes] = None) -> None:
        if target.state == ZOMBIE or not sig:
            return
        if sig == S.SIGKILL:
            self.exit(target, 128 + sig, sig)
            return
        if target.group is not None:            # a process-wide signal: one thread takes it
            target = threads.signal_target(target, sig)
        if target.ignores(sig):
            return
        target.pending |= S.bit(sig)
        target.pending_info[sig] = info or S.siginfo(
            sig, S.SI_USER, sender.pid if sender else 0, os.getuid())

    def kill(self, sender: Process, pid: int, sig: int) -> int:
        """kill(2) for any pid: one process, a process group (0, -pgid) or all (-1)."""
        if pid > 0:
            targets = [p for p in (self.procs.get(pid),) if p is not None]
        elif pid == 0:
            targets = [p for p in self.live() if p.pgid == sender.pgid]
        elif pid == -1:
            targets = [p for p in self.live() if p is not sender]
        else:
            targets = [p for p in self.live() if p.pgid == -pid]
        if not 0 <= sig <= S.NSIG:
            return -errno.EINVAL
        targets = [p for p in targets if p.state != ZOMBIE]
        if not targets:
            return -errno.ESRCH
        for p in targets:
            self.send_signal(p, sig, sender)
        return 0

    def act_on_signals(self, proc: Process, in_call: bool = False) -> None:
        """Deliver the pending unblocked signals: ignore, terminate, or push a handler
        frame. ``in_call``: the process is blocked in a system call (restart or EINTR)."""
        while proc.state != ZOMBIE:
            ready = proc.pending & ~proc.sigmask
            if not ready:
                return
            sig = (ready & -ready).bit_length()
            proc.pending &= ~S.bit(sig)
            info = proc.pending_info.pop(sig, None) or S.siginfo(sig)
            action = proc.action(sig)
            handler = action[0]
            if handler == S.SIG_IGN or handler == S.SIG_DFL and S.default_ignored(sig):
                continue
            if handler == S.SIG_DFL:
                self.exit(proc, 128 + sig, sig)
                return
            m = proc.machine
            if in_call and proc.partial is not None:    # a write with bytes written:
                m.cpu.r[EAX] = proc.partial[1]           # it returns their count
                m.cpu.eip = (m.cpu.eip + INT80_LENGTH) & 0xFFFFFFFF
                proc.partial = None
                proc.state = RUNNING
                in_call = False
            if in_call:
                if not action[1] & S.SA_RESTART or proc.blocked_on in _NO_RESTART:
                    proc.fds.drop_opening(id(proc))     # (a FIFO open: no reader left)
                    m.cpu.r[EAX] = -errno.EINTR & 0xFFFFFFFF
                    m.cpu.eip = (m.cpu.eip + INT80_LENGTH) & 0xFFFFFFFF
                proc.state = RUNNING
                in_call = False
            try:
                S.setup_frame(proc, sig, action, info)
            except MemoryFault:          # no room for the frame: the kernel kills it
                self.message(f"{self.name}: cannot deliver {S.name(sig)}: bad stack")
                self.exit(proc, 128 + S.SIGSEGV, S.SIGSEGV)
                return
            if m.tracer is not None:
                m.tracer.event(f"[{proc.pid}] signal {S.name(sig)} -> handler "
                               f"0x{handler:08x}")

    # -- exit and wait --------------------------------------------------------------------
    def exit(self, proc: Process, status: int, sig: int = 0) -> None:
        if proc.group is not None:              # every thread ends, the leader remains
            proc = threads.end_group(self, proc)
        if proc.state == ZOMBIE:
            return
        proc.state = ZOMBIE
        proc.exit_code = status if not sig else 128 + sig
        proc.wait_status = sig & 0x7F if sig else (status & 0xFF) << 8
        proc.fds.close_all()
        proc.leave_fs()                         # its held cwd, now (not at a GC)
        if proc.aspace is not None and proc.aspace.shared:
            proc.aspace.close_shared()          # MAP_SHARED files get the last stores
        if proc in self.order:
            self.order.remove(proc)
        for child in proc.children:
            child.ppid = 1
        proc.children = []
        parent = self.procs.get(proc.ppid)
        if parent is None or parent.state == ZOMBIE:
            self.reap(proc)             # an orphan: nobody will wait for it
            return
        self.release_vfork(proc)
        action = parent.action(S.SIGCHLD)
        if action[0] == S.SIG_IGN or action[1] & 2:          # SA_NOCLDWAIT: no zombie
            self.reap(proc)
        if proc.exit_signal:
            self.send_signal(parent, proc.exit_signal, proc,
                             S.siginfo(proc.exit_signal, 1 if not sig else 2, proc.pid,
                                       os.getuid()))

    def release_vfork(self, child: Process) -> None:
        """A vfork child exec'd or exited: its parent runs again."""
        parent = child.vfork_parent
        if parent is not None and parent.vfork_child is child:
            parent.vfork_child = None
        child.vfork_parent = None

    def reap(self, child: Process) -> None:
        parent = self.procs.get(child.ppid)
        if parent is not None and child in parent.children:
            parent.children.remove(child)
        if child is not self.init:
            self.procs.pop(child.pid, None)

    def live(self) -> List[Process]:
        return list(self.order)

    # -- the scheduler --------------------------------------------------------------------
    def run(self) -> int:
        """Run until the first process ends; returns its exit code. Threads waiting for
        a FIFO's writer for this run's guests end with it (vm/linux/fifowait.py)."""
        try:
            return self._schedule()
        finally:
            self.end_run()

    def end_run(self) -> None:
        """The run is over (its first process ended, or it was stopped: also a debugger
        session's end, vm/debug/targets.py): what its live processes hold outside
        pyvm goes now."""
        for proc in self.order:                 # (a FIFO end a stopped run waits with)
            proc.fds.drop_opening()
            if proc.aspace is not None and proc.aspace.shared:
                # a stopped run's processes are killed: their MAP_SHARED stores reach
                # the files now, as Linux's page cache keeps them, and the mappings
                # leave addrspace.spaces (a later run in this Python process that read
                # the file wrote them, with its own rights)
                proc.aspace.close_shared()
        for proc in (*self.order, self.init):   # (held descriptors of MAP_PRIVATE files)
            if proc is not None and proc.aspace is not None and proc.aspace.files:
                proc.aspace.drop_files()
        self.fifo_ends.writer_waits.cancel_all()

    def _schedule(self) -> int:
        init = self.init
        while init.state != ZOMBIE:
            procs = self.live()
            self.progress = False
            for proc in procs:
                if proc.state == ZOMBIE:
                    continue
                timed = any(p.alarm_at is not None for p in self.order)
                if timed:
                    timers.fire(self, time.monotonic())
                if self.stop_check is not None:
                    status = self.stop_check()
                    if status is not None:
                        return status
                budget = SLICE if len(self.order) > 1 or timed or \
                    self.stop_check is not None else SOLO_SLICE
                if self.max_steps is not None:
                    left = self.max_steps - self.steps
                    if left <= 0:
                        return self.step_limit(proc)
                    budget = min(budget, left)
                if proc.rlimits:                # the guest's RLIMIT_CPU (cpulimit.py)
                    from vm.linux import cpulimit
                    if cpulimit.limited(proc):
                        budget = min(budget, SLICE)     # (checked in time)
                self.turn(proc, budget)
                if proc.rlimits and proc.state != ZOMBIE:
                    from vm.linux import cpulimit
                    cpulimit.check(self, proc)
                if init.state == ZOMBIE:
                    break
            if not self.progress and init.state != ZOMBIE and \
                    all(p.state == BLOCKED or p.vfork_child is not None for p in self.order):
                if not self.idle():
                    waits = ", ".join(f"{p.pid} in {p.blocked_on}" for p in self.order)
                    self.message(f"{self.name}: deadlock: every process is waiting ({waits})")
                    return EXIT_DEADLOCK
        return init.exit_code

    def idle(self, wake: Sequence[int] = ()) -> bool:
        """Every process waits: sleep until a timed wait ends or a host descriptor one of
        them polls becomes ready. False when nothing can ever wake them (deadlock).
        ``wake``: more host descriptors that end the wait when readable (a debugger's
        connection: gdb's Ctrl-C)."""
        waiting = [p for p in self.order if p.state == BLOCKED]
        deadlines = [p.wait_deadline for p in waiting if p.wait_deadline is not None]
        deadlines += [p.alarm_at for p in self.order if p.alarm_at is not None]
        fds = sorted({fd for p in waiting for fd in p.wait_fds})
        if not deadlines and not fds:
            return False
        timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        if timeout is not None:         # a guest's sleep of 2^62 s overflows the host's
            timeout = min(timeout, IDLE_MAX)    # time_t: wake up and wait again
        try:
            if fds or wake:             # (~fd: wait until writable, files.writable_fd)
                select.select([fd for fd in fds if fd >= 0] + list(wake),
                              [~fd for fd in fds if fd < 0], [], timeout)
            elif timeout:
                time.sleep(timeout)
        except (OSError, ValueError):
            time.sleep(0.01)
        return True

    def turn(self, proc: Process, budget: int) -> None:
        if proc.vfork_child is not None:
            return
        if proc.group is not None and not threads.load(proc):   # its registers in
            return
        if proc.pending & ~proc.sigmask:
            self.act_on_signals(proc, in_call=proc.state == BLOCKED)
            if proc.state == ZOMBIE:
                self.progress = True
                if threads.leader(proc) is not self.init:
                    self.retire(proc.machine, proc.aspace, proc.image)
                    self._drop_memory(proc)
                return
        m = proc.machine
        aspace, image = proc.aspace, proc.image
        self.current = proc
        blocked = proc.state == BLOCKED
        start = m.steps
        self.turn_cpu = time.process_time()     # host CPU time when this turn began
        try:
            stop = m.run(budget)
        except Unsupported as e:
            self.progress = True
            self.message(f"{self.name}: {e} (at 0x{m.eip:08x}; not supported by this "
                         "emulator)")
            print(register_dump(m), file=self.stderr)
            self.exit(proc, 128 + S.SIGILL, S.SIGILL)
            return
        finally:
            self.steps += m.steps - start
            usage.charge(proc, time.process_time() - self.turn_cpu)   # getrusage, wait4
            self.turn_cpu = None
        if not blocked or m.steps - start > 1:
            self.progress = True
        if stop.reason == "fault" and isinstance(stop.fault, CPUException):
            self.fault(proc, m, stop.fault)
        elif stop.reason == "halt":
            self.fault(proc, m, CPUException(13, "hlt in user mode"))
        elif stop.reason == "exit" and proc.state != ZOMBIE:
            self.exit(proc, stop.status or 0)
        if proc.machine is not m:                      # execve into another Machine
            self.retire(m, aspace, image)
        elif proc.state == ZOMBIE and threads.leader(proc) is not self.init:
            self._drop_memory(proc)
            self.retire(m, aspace, image)

    @staticmethod
    def _drop_memory(proc: Process) -> None:
        """An exited process (a zombie until reaped) holds no Machine and no address
        space (its guest memory, a page table of 768 KiB): let go of now, not when the
        Process object goes (a guest can keep up to --max-procs zombies, and any cycle
        through a Process would leave them to the cyclic collector)."""
        lead = threads.leader(proc)
        proc.machine = lead.machine = None
        proc.aspace = lead.aspace = None

    def fault(self, proc: Process, m, exc: CPUException) -> None:
        """A CPU exception in user mode: the signal the kernel would send."""
        self.progress = True
        shared = isinstance(exc, MemoryFault) and proc.aspace is not None and \
            bool(proc.aspace.shared or proc.aspace.files)     # (files: MAP_PRIVATE)
        if shared and proc.aspace.regrown(exc.address):
            return              # (its file grew unseen: the access goes again)
        status, line = fault_report(m, exc)
        bus = shared and proc.aspace.past_eof(exc.address, exc.write)
        if bus:                 # a shared file page past the file's end (addrspace.py)
            status, line = 128 + S.SIGBUS, line.replace("(SIGSEGV)", "(SIGBUS)", 1)
        sig = status - 128
        action = proc.action(sig)
        blocked = proc.sigmask & S.bit(sig)
        if action[0] not in (S.SIG_DFL, S.SIG_IGN) and not blocked:
            code, addr = fault_siginfo(proc, m, exc, bus)   # (as Linux's traps.c)
            trapno, err = fault_frame(proc, m, exc)
            try:
                S.setup_frame(proc, sig, action, S.siginfo(sig, code, addr=addr),
                              trapno=trapno, err=err)
                if m.tracer is not None:
                    m.tracer.event(f"[{proc.pid}] {line} -> handler 0x{action[0]:08x}")
                return
            except MemoryFault:
                pass
        self.message(f"{self.name}: {line}")
        print(register_dump(m), file=self.stderr)
        proc.fatal_fault = exc
        self.exit(proc, status, sig)

    def step_limit(self, proc: Process) -> int:
        from asm.x86.decoder import DecodeError, decode
        from vm.x86.trace import disassemble
        m = proc.machine
        try:
            text = disassemble(decode(m.mem.data, m.eip, 32, m.eip), 32)
        except (DecodeError, IndexError):
            text = "?"
        self.message(f"{self.name}: stopped after {self.steps} instructions (--max-steps "
                     f"{self.max_steps}); next: 0x{m.eip:08x}: {text}")
        print(register_dump(m), file=self.stderr)
        return EXIT_STEP_LIMIT


# calls the kernel never restarts after a handler, SA_RESTART or not
_NO_RESTART = {"nanosleep", "clock_nanosleep", "pause", "rt_sigsuspend", "sigsuspend",
               "poll", "select",
               "_newselect", "pselect6",
               "ppoll", "ppoll_time64", "pselect6_time64", "epoll_wait", "epoll_pwait",
               "epoll_pwait2", "clock_nanosleep_time64", "rt_sigtimedwait",
               "rt_sigtimedwait_time64"}


def _arg(v: int) -> str:
    if v >= 0xFFFFF000:                   # small negative numbers (AT_FDCWD, -1)
        return str(v - (1 << 32))
    return str(v) if v < 0x10000 else f"0x{v:x}"


def _call_text(nr: int, args: tuple, m=None) -> str:
    from vm.linux.syscalls import argc_of
    if nr == SOCKETCALL and m is not None:      # socketcall(call, args): the call itself
        sub = sockets.CALLS.get(args[0])
        if sub is not None:
            try:
                values = struct.unpack(f"<{sub[1]}I", m.mem.read(args[1], 4 * sub[1]))
            except (MemoryFault, IndexError):
                values = None
            if values is not None:
                inner = ", ".join(_arg(a) for a in values)
                return f"socketcall({sub[0].__name__.removeprefix('sys_')}({inner}))"
    return f"{name_of(nr)}({', '.join(_arg(a) for a in args[:argc_of(nr)])})"
