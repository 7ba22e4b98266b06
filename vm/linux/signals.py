"""Signals as the i386 kernel delivers them: default actions, the signal frames a handler
runs on (``struct sigframe`` for plain handlers, ``struct rt_sigframe`` for SA_SIGINFO
ones, laid out as arch/x86 builds them) and sigreturn/rt_sigreturn, which restore the
interrupted registers, FPU state and signal mask from the frame."""

from __future__ import annotations

import struct
from typing import Optional

from vm.x86.faults import MemoryFault
from vm.x86.state import EAX, ECX, EDX, ESP, SEL

SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE = 1, 2, 3, 4, 5, 6, 7, 8
SIGKILL, SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM = 9, 10, 11, 12, 13, 14, 15
SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG = 17, 18, 19, 20, 21, 22, 23
SIGWINCH, SIGSYS = 28, 31
NSIG = 64

SIG_DFL, SIG_IGN = 0, 1
SA_SIGINFO, SA_ONSTACK, SA_RESTART = 4, 0x08000000, 0x10000000
SA_NODEFER, SA_RESETHAND, SA_RESTORER = 0x40000000, 0x80000000, 0x04000000
SS_ONSTACK, SS_DISABLE = 1, 2
SI_USER, SI_KERNEL, SI_TKILL = 0, 0x80, -6

UNBLOCKABLE = 1 << (SIGKILL - 1) | 1 << (SIGSTOP - 1)
# default action: terminate unless listed here (stopping is not modelled: ignored)
_IGNORED = {SIGCHLD, SIGCONT, SIGURG, SIGWINCH, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU}
_CORE = {SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, 24, 25, SIGSYS}

NAMES = {1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
         7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2",
         13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD",
         18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU",
         23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF",
         28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS"}

# struct sigcontext (i386): gs fs es ds (16-bit + pad), edi esi ebp esp ebx edx ecx eax,
# trapno err eip, cs, eflags esp_at_signal, ss, fpstate oldmask cr2
SIGCONTEXT = struct.Struct("<HxxHxxHxxHxx8I3IHxx2IHxx3I")
SIGINFO_SIZE = 128
FPSTATE_SIZE = 624              # struct _fpstate_32 (fxsave layout and reserved words)
UCONTEXT_HEAD = struct.Struct("<IIIiI")     # uc_flags uc_link ss_sp ss_flags ss_size
# frame offsets
SF_SC = 8                                           # struct sigframe: pretcode sig sc
SF_EXTRAMASK = SF_SC + SIGCONTEXT.size + FPSTATE_SIZE
SF_RETCODE = SF_EXTRAMASK + 4
SF_SIZE = SF_RETCODE + 8
RT_INFO = 16                                        # rt_sigframe: pretcode sig pinfo puc
RT_UC = RT_INFO + SIGINFO_SIZE
RT_SC = RT_UC + UCONTEXT_HEAD.size
RT_MASK = RT_SC + SIGCONTEXT.size
RT_RETCODE = RT_MASK + 8
RT_SIZE = RT_RETCODE + 8
# the stack a handler's frame may need at most (FPU state 64-aligned, frame 16-aligned):
# the kernel's AT_MINSIGSTKSZ
MIN_SIGSTKSZ = (RT_SIZE + FPSTATE_SIZE + 63 + 19 + 15) & ~15
# "popl %eax; movl $119, %eax; int $0x80" and "movl $173, %eax; int $0x80"
RETCODE = b"\x58\xb8\x77\x00\x00\x00\xcd\x80"
RT_RETCODE_BYTES = b"\xb8\xad\x00\x00\x00\xcd\x80\x00"
# EFLAGS bits sigreturn takes from the frame (the kernel's FIX_EFLAGS)
FIX_EFLAGS = 0x40000 | 0x800 | 0x400 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | 0x10000
_FPU_FIELDS = ("regs", "empty", "cw", "sw", "top", "fip", "fdp", "fop", "fcs", "fds", "mxcsr")


def bit(sig: int) -> int:
    return 1 << (sig - 1)


def default_ignored(sig: int) -> bool:
    return sig in _IGNORED


def dumps_core(sig: int) -> bool:
    return sig in _CORE


def name(sig: int) -> str:
    return NAMES.get(sig, f"SIG{sig}")


def siginfo(sig: int, code: int = SI_USER, pid: int = 0, uid: int = 0,
            addr: Optional[int] = None) -> bytes:
    """A 128-byte siginfo_t: kill()-style (pid, uid) or fault-style (addr)."""
    if addr is not None:
        head = struct.pack("<iiiI", sig, 0, code, addr & 0xFFFFFFFF)
    else:
        head = struct.pack("<iiiiI", sig, 0, code, pid, uid)
    return head.ljust(SIGINFO_SIZE, b"\0")


def fpu_snapshot(machine) -> Optional[tuple]:
    fpu = machine._fpu
    if fpu is None:
        return None
    return tuple(list(v) if isinstance(v, list) else v
                 for v in (getattr(fpu, f) for f in _FPU_FIELDS))


def fpu_restore(machine, snap: Optional[tuple]) -> None:
    if snap is None:
        return
    fpu = machine.fpu()
    if fpu is None:
        return
    for f, v in zip(_FPU_FIELDS, snap):
        setattr(fpu, f, list(v) if isinstance(v, list) else v)


def sse_snapshot(machine) -> tuple:
    """XMM0-7 and MXCSR: a handler may use SSE (glibc's string functions do), and the
    code it interrupted must find its registers as they were."""
    cpu = machine.cpu
    return tuple(cpu.xmm), cpu.mxcsr


def sse_restore(machine, snap: tuple) -> None:
    cpu = machine.cpu
    cpu.xmm[:] = snap[0]            # the same list: compiled blocks hold it
    cpu.mxcsr = snap[1]


def fpstate_image(machine) -> bytes:
    """struct _fpstate_32 as the kernel writes it for an FXSR CPU: the fsave-format header
    (control, status, full tag, pointers, ST0-7), status, magic 0, then the FXSAVE image
    with MXCSR at 136 and XMM0-7 at 272 (vm/x86/sse.py's state)."""
    from vm.x86 import float80 as f80
    cpu = machine.cpu
    fpu = machine._fpu
    fx = bytearray(fpu.state_bytes_fxsave() if fpu is not None else bytes(512))
    struct.pack_into("<II", fx, 24, cpu.mxcsr & 0xFFFF, 0xFFFF)
    fx[160:288] = b"".join(x.to_bytes(16, "little") for x in cpu.xmm)
    head = bytearray(112)
    if fpu is not None:
        struct.pack_into("<7I", head, 0, fpu.cw | 0xFFFF0000, fpu.status | 0xFFFF0000,
                         fpu.tag | 0xFFFF0000, fpu.fip, fpu.fcs | fpu.fop << 16, fpu.fdp,
                         fpu.fds | 0xFFFF0000)
        for i in range(8):
            head[28 + 10 * i:38 + 10 * i] = f80.to_bytes(fpu.regs[(fpu.top + i) & 7])
        struct.pack_into("<HH", head, 108, fpu.status, 0)
    return bytes(head + fx)


def _sigcontext(cpu, trapno: int, err: int, oldmask: int, fpstate: int) -> bytes:
    r = cpu.r
    return SIGCONTEXT.pack(
        r[SEL + 5], r[SEL + 4], r[SEL + 0], r[SEL + 3],
        r[7], r[6], r[5], r[ESP], r[3], r[EDX], r[ECX], r[EAX],
        trapno, err, cpu.eip, r[SEL + 1], cpu.get_eflags(), r[ESP], r[SEL + 2],
        fpstate, oldmask & 0xFFFFFFFF, 0)


def _vdso_return(proc, rt: bool) -> int:
    """Where a handler without SA_RESTORER returns: the vDSO's __kernel_(rt_)sigreturn
    while the vDSO is mapped, as the kernel does (0: not mapped; the frame's own retcode,
    kept as gdb's signature either way, serves)."""
    asp = proc.aspace
    where = getattr(asp, "vdso", None)
    if where is None:
        return 0
    base, image = where
    addr = base + (image.rt_sigreturn if rt else image.sigreturn)
    return addr if asp.is_mapped(addr, addr + 8) else 0


def setup_frame(proc, sig: int, action: tuple, info: bytes, trapno: int = 0,
                err: int = 0) -> None:
    """Push a signal frame for ``sig`` on the process's stack (or its alternate stack)
    and point EIP at the handler, as the kernel's setup_frame/setup_rt_frame do
    (``trapno``, ``err``: the exception's, in the sigcontext)."""
    handler, flags, restorer, mask = action
    m = proc.machine
    cpu = m.cpu
    r = cpu.r
    sp = r[ESP]
    alt_sp, alt_flags, alt_size = proc.altstack
    if flags & SA_ONSTACK and not alt_flags & SS_DISABLE and alt_size \
            and not alt_sp <= sp < alt_sp + alt_size:
        sp = alt_sp + alt_size
    rt = bool(flags & SA_SIGINFO)
    size = RT_SIZE if rt else SF_SIZE
    fp_addr = (sp - FPSTATE_SIZE) & ~63
    frame = ((fp_addr - size + 4) & ~15) - 4
    old_mask = proc.sigmask if proc.saved_sigmask is None else proc.saved_sigmask
    proc.saved_sigmask = None          # sigsuspend: the frame restores the mask it replaced
    mem = m.mem
    mem.write(fp_addr, bytes(FPSTATE_SIZE))
    if rt:
        sc = _sigcontext(cpu, trapno, err, old_mask, fp_addr)
        ret = restorer if flags & SA_RESTORER else _vdso_return(proc, True) or \
            frame + RT_RETCODE
        alt = proc.altstack
        image = (struct.pack("<IiII", ret, sig, frame + RT_INFO, frame + RT_UC) + info
                 + UCONTEXT_HEAD.pack(0, 0, alt[0], alt[1] | (SS_ONSTACK if alt[0] <= sp <
                                      alt[0] + alt[2] else 0), alt[2])
                 + sc + struct.pack("<Q", old_mask) + RT_RETCODE_BYTES)
    else:
        sc = _sigcontext(cpu, trapno, err, old_mask, fp_addr)
        ret = restorer if flags & SA_RESTORER else _vdso_return(proc, False) or \
            frame + SF_RETCODE
        image = (struct.pack("<Ii", ret, sig) + sc + bytes(FPSTATE_SIZE)
                 + struct.pack("<I", old_mask >> 32 & 0xFFFFFFFF) + RETCODE)
    mem.write(frame, image)
    mem.write(fp_addr, fpstate_image(m))
    _forget_frames_below(proc, sp)
    proc.fpu_frames[frame] = (fpu_snapshot(m), sse_snapshot(m))
    if m._fpu is not None:
        m._fpu.fninit()
    r[ESP] = frame
    r[EAX] = sig
    r[EDX] = frame + RT_INFO if rt else 0
    r[ECX] = frame + RT_UC if rt else 0
    cpu.set_eflags(cpu.get_eflags() & ~(0x100 | 0x400 | 0x40000))    # TF, DF, AC
    cpu.eip = handler
    for n in (0, 2, 3):                    # ES, SS, DS: the user data selector
        cpu.set_segment(n, 0x2B, 0)
    block = mask | (0 if flags & SA_NODEFER else bit(sig))
    proc.sigmask = (proc.sigmask | block) & ~UNBLOCKABLE
    if flags & SA_RESETHAND:
        proc.sigactions[sig] = (SIG_DFL, 0, 0, 0)


def sigreturn(proc, rt: bool) -> None:
    """Restore the context saved by setup_frame (ESP points just past the return address
    the handler popped, and for sigreturn also past ``sig``)."""
    m = proc.machine
    cpu = m.cpu
    r = cpu.r
    if rt:
        frame = (r[ESP] - 4) & 0xFFFFFFFF
        sc_addr = frame + RT_SC
        mask = struct.unpack("<Q", m.mem.read(frame + RT_MASK, 8))[0]
        uc = UCONTEXT_HEAD.unpack(m.mem.read(frame + RT_UC, UCONTEXT_HEAD.size))
        proc.altstack = (uc[2], uc[3] & SS_DISABLE, uc[4]) if uc[4] else proc.altstack
    else:
        frame = (r[ESP] - 8) & 0xFFFFFFFF
        sc_addr = frame + SF_SC
        hi = struct.unpack("<I", m.mem.read(frame + SF_EXTRAMASK, 4))[0]
        mask = None
    f = SIGCONTEXT.unpack(m.mem.read(sc_addr, SIGCONTEXT.size))
    gs, fs, es, ds = f[0:4]
    (r[7], r[6], r[5], r[ESP], r[3], r[EDX], r[ECX], r[EAX]) = f[4:12]
    cpu.eip = f[14]
    eflags = cpu.get_eflags() & ~FIX_EFLAGS | f[16] & FIX_EFLAGS
    cpu.set_eflags(eflags)
    if eflags & 0x100:          # TF: the next instruction runs, then a single-step trap
        m.request_single_step()
    if mask is None:
        mask = f[20] | hi << 32
    for n, sel in ((5, gs), (4, fs), (0, es), (3, ds)):
        base = m.descriptors.get(sel & 0xFFFF, 0) if sel & ~3 else 0
        cpu.set_segment(n, sel, base)
    proc.sigmask = mask & ~UNBLOCKABLE
    saved = proc.fpu_frames.pop(frame, None)
    if saved is not None:
        fpu_restore(m, saved[0])
        sse_restore(m, saved[1])
    if f[19]:                   # MXCSR and XMM0-7 as the handler left them in the frame
        try:
            fx = m.mem.read(f[19] + 112, 288)
            cpu.mxcsr = struct.unpack_from("<I", fx, 24)[0] & 0xFFFF
            cpu.xmm[:] = [int.from_bytes(fx[160 + 16 * k:176 + 16 * k], "little")
                          for k in range(8)]
        except MemoryFault:
            pass
    _forget_frames_below(proc, frame)


FPU_FRAMES_MAX = 4096       # FPU states kept for frames not returned from (~0.5 MB)


def _forget_frames_below(proc, sp: int) -> None:
    """Drop the FPU states kept for frames below ``sp`` on the stack ``sp`` is on (the
    alternate one or not), which a handler left by longjmp (their stack is being
    reused), and past FPU_FRAMES_MAX the oldest: a guest that longjmps out of handlers
    on ever other addresses (sigaltstack) grew the host's dict without bound. A frame on
    the other stack is live whatever its address (an alternate stack above the one a
    handler runs on). A frame whose state was dropped still returns, its x87 registers
    as they are (MXCSR and XMM come from the frame)."""
    frames = proc.fpu_frames
    alt_sp, alt_flags, alt_size = proc.altstack
    alt = (alt_sp, alt_sp + alt_size) if alt_size and not alt_flags & SS_DISABLE else (0, 0)
    on_alt = alt[0] <= sp <= alt[1]
    for k in [k for k in frames if k < sp and (alt[0] <= k < alt[1]) == on_alt]:
        del frames[k]
    while len(frames) >= FPU_FRAMES_MAX:
        del frames[next(iter(frames))]

