"""Loop blocks' code (vm/x86/emit.py): a stack check whose base the loop never writes runs
once before the loop (Builder._hoist), and must not fail for a base past the memory; a
side exit stores the registers the loop carries only once an iteration has run (in the
first, r[] holds them still: Builder._wb_lines). Oracle: Unicorn, running the same
bytes, compared after runs of odd lengths, at a fault and at the end."""

from __future__ import annotations

import struct

from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm

from vm.x86 import traces

CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000
DEFINED = 0xC5      # CF PF ZF SF


def _same(m, emu, X) -> None:
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), 0xFFFFFFF0, count=m.steps - emu.steps)
    emu.steps = m.steps
    assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED), f"after {m.steps}"


# a loop over a frame (EBP, which it never writes), entered three times; the third time
# EBP is far past the memory: the loop's first access faults (after the INC before it)
FRAME = """
        mov ebp, 0x70000
        mov dword [ebp - 4], 3
        mov dword [ebp - 8], 5
        xor edi, edi
again:  mov ecx, 200
top:    inc esi
        mov eax, [ebp - 4]
        add eax, [ebp - 8]
        mov [ebp - 8], eax
        xor [ebp - 12], ecx
        dec ecx
        jnz top
        inc edi
        cmp edi, 2
        jb again
        mov ebp, 0xf0000800
        jmp again
"""


def _top(code: bytes) -> int:
    """The loop's start: the INC ESI (46) after MOV ECX, 200 (B9 C8 00 00 00)."""
    return CODE + code.index(bytes.fromhex("b9c800000046")) + 5


def test_a_check_through_a_frame_the_loop_keeps_runs_before_it_as_unicorn(monkeypatch):
    monkeypatch.setenv("PYVM_CODE_CACHE", "0")      # (sources are kept: compiled here)
    code = asm(FRAME, 32, CODE)
    top = _top(code)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None       # real blocks from the start
    emu.steps = 0
    for n in (30, 1, 7, 300, 13, 97, 250):
        assert m.run(n).reason == "limit"
        _same(m, emu, X)
    src = next(info[6] for info in m.tr.blocks.values()
               if info[0] == top and info[6] and "while True:" in info[6])
    head, _, body = src.partition("while True:")
    assert "SPAN(ebp0 - 12, " in head and "SPAN" not in body, src
    # the third entry: EBP past the memory, the first access faults precisely
    assert m.run(1_000_000).reason == "fault"
    fault_at = top + 1      # the MOV EAX, [EBP - 4] after the INC ESI
    assert m.eip == fault_at
    try:
        emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), 0xFFFFFFF0)
    except Exception:       # (unicorn.UcError: UC_ERR_READ_UNMAPPED)
        pass
    assert emu.reg_read(X.UC_X86_REG_EIP) == fault_at
    assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED)
    assert m.read(0x70000 - 12, 12) == bytes(emu.mem_read(0x70000 - 12, 12))


# an inner loop run 0 to 3 times per pass of the outer one (a memcpy's tail): its trace
# mostly leaves by a side exit in its first iteration
SHORT = """
        xor esi, esi
        xor ebx, ebx
outer:  mov ecx, esi
        and ecx, 3
        mov edx, 0x9000
inner:  test ecx, ecx
        jz leave
        add ebx, [edx]
        imul ebx, ebx, 0x9e3779b1
        add edx, 4
        mov [edx + 0x100], ebx
        dec ecx
        jmp inner
leave:  lea edi, [ebx + esi]
        inc esi
        cmp esi, 700
        jne outer
done:   int3
labels: dd done
"""


def test_side_exits_of_a_first_iteration_match_unicorn(monkeypatch):
    code = asm(SHORT, 32, CODE)
    (done,) = struct.unpack_from("<I", code, len(code) - 4)
    monkeypatch.setenv("PYVM_CODE_CACHE", "0")
    monkeypatch.setattr(traces, "SAMPLE", 23)         # samples from the start, often
    monkeypatch.setattr(traces, "BACKOFF", 1)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    emu.mem_write(0x9000, bytes(range(7, 23)))
    m = pyvm(code, CODE, STACK, MEMORY)
    m.write(0x9000, bytes(range(7, 23)))
    m.tr.tier0 = None
    emu.steps = 0
    assert m.run(3000).reason == "limit"
    loops = [info[6] for info in m.tr.blocks.values() if "while True:" in (info[6] or "")]
    assert any("if c: r[" in src for src in loops), \
        "no loop whose side exits store what it carries only after an iteration"
    for n in [1, 7, 40, 3, 97, 13, 250, 5, 64]:
        assert m.run(n).reason == "limit"
        _same(m, emu, X)
    assert m.run(1_000_000).reason == "fault" and m.eip == done + 1
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), done)
    assert dict(pyvm_state(m, DEFINED), eip=done) == unicorn_state(emu, X, DEFINED)
    assert m.read(0x9000, 0x200) == bytes(emu.mem_read(0x9000, 0x200))


# string instructions in loops: one whose direction the loop never changes (its step is
# read before the loop), one that flips it every pass (read in each)
STRINGS = """
        mov esi, 0x9000
        mov edi, 0xa000
        mov ecx, 64
        xor ebx, ebx
fwd:    lodsb
        add bl, al
        stosb
        dec ecx
        jnz fwd
        std
        mov ecx, 64
back:   lodsb
        xor bl, al
        stosb
        dec ecx
        jnz back
        cld
        mov ecx, 64
flip:   std
        lodsd
        cld
        add ebx, eax
        stosb
        dec ecx
        jnz flip
done:   int3
labels: dd done
"""


def test_a_loop_reads_the_direction_flag_once_unless_it_changes_it_as_unicorn(monkeypatch):
    monkeypatch.setenv("PYVM_CODE_CACHE", "0")
    code = asm(STRINGS, 32, CODE)
    (done,) = struct.unpack_from("<I", code, len(code) - 4)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    data = bytes((i * 37 + 11) & 0xFF for i in range(0x400))
    emu.mem_write(0x8e00, data)
    m = pyvm(code, CODE, STACK, MEMORY)
    m.write(0x8e00, data)
    m.tr.tier0 = None
    emu.steps = 0
    for n in [60, 7, 100, 3, 97, 13, 250]:
        assert m.run(n).reason == "limit"
        _same(m, emu, X)
    assert m.run(1_000_000).reason == "fault" and m.eip == done + 1
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), done)
    assert dict(pyvm_state(m, DEFINED), eip=done) == unicorn_state(emu, X, DEFINED)
    assert m.read(0x9f00, 0x200) == bytes(emu.mem_read(0x9f00, 0x200))
    loops = [info[6] for info in m.tr.blocks.values() if "while True:" in (info[6] or "")]
    steps = [src.partition("while True:") for src in loops if "cpu.flags & 0x400" in src]
    assert any("0x400" in head and "0x400" not in body for head, _, body in steps), loops
    assert any("cpu.flags &=" in body and "0x400 else" in body for _, _, body in steps), loops


# a function with a big frame (SUB ESP, 0x510): its arguments and saved registers near
# ESP's entry value, its locals 1.2 KiB below; both runs of accesses index memory
# through a check of their own (Builder._stack_ref), each falling back on its own (the
# frame's locals cross a page boundary for some of the ESPs below)
BIG_FRAME = """
        mov ecx, 40
again:  push ecx
        push 7
        call fn
        add esp, 8
        sub esp, 0x44
        dec ecx
        jnz again
done:   int3
fn:     push ebp
        push ebx
        push esi
        mov eax, [esp + 16]
        mov ebx, [esp + 20]
        sub esp, 0x510
        mov [esp + 0x10], eax
        mov [esp + 0x14], ebx
        mov [esp + 0x18], ecx
        mov esi, [esp + 0x10]
        add esi, [esp + 0x14]
        imul esi, [esp + 0x18]
        mov [esp + 0x1c], esi
        add esp, 0x510
        mov eax, esi
        pop esi
        pop ebx
        pop ebp
        ret
labels: dd done
"""


def test_a_big_frames_far_locals_get_a_check_of_their_own_as_unicorn(monkeypatch):
    monkeypatch.setenv("PYVM_CODE_CACHE", "0")
    code = asm(BIG_FRAME, 32, CODE)
    (done,) = struct.unpack_from("<I", code, len(code) - 4)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None
    emu.steps = 0
    for n in [50, 7, 100, 3, 97, 13, 250]:
        assert m.run(n).reason == "limit"
        _same(m, emu, X)
    assert m.run(1_000_000).reason == "fault" and m.eip == done + 1
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), done)
    assert dict(pyvm_state(m, DEFINED), eip=done) == unicorn_state(emu, X, DEFINED)
    assert m.read(STACK - 0x1000, 0x1000) == bytes(emu.mem_read(STACK - 0x1000, 0x1000))
    srcs = [info[6] for info in m.tr.blocks.values() if info[6]]
    assert any(src.count("SPAN(esp0") >= 2 for src in srcs), srcs


# a loop over a frame (EBP) that also stores into a page the embedder hooks (EBX): at
# ECX == 200 the hook changes the frame page (Machine.map from the callback, mid block)
HOOKED = """
        mov ebp, 0x30000
        mov ebx, 0x50000
        mov ecx, 400
top:    mov eax, [ebp - 4]
        mov [ebx], ecx
        add eax, ecx
        mov [ebp - 8], eax
        xor [ebp - 12], ecx
        dec ecx
        jnz top
done:   int3
labels: dd done
"""
FRAME_PAGE, HOOKED_PAGE = 0x2F000, 0x50000


def _unicorn_until_the_hook(code: bytes):
    """Unicorn run to the store of ECX == 200 into the hooked page, stopped there (it
    cannot change mappings from inside a hook): (emu, X)."""
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    from unicorn import UC_HOOK_MEM_WRITE
    hit: list = []

    def stop(u, access, addr, size, value, data):
        if value == 200 and not hit:
            hit.append(addr)
            u.emu_stop()
    emu.hook_add(UC_HOOK_MEM_WRITE, stop, begin=HOOKED_PAGE, end=HOOKED_PAGE + 0xFFF)
    emu.emu_start(CODE, 0xFFFFFFF0, count=100_000)
    assert hit
    return emu, X


def test_a_write_hook_that_unmaps_or_protects_the_frame_mid_loop_faults_as_unicorn(
        monkeypatch):
    monkeypatch.setenv("PYVM_CODE_CACHE", "0")
    code = asm(HOOKED, 32, CODE)
    for perms, uc_perm in (("", 0), ("r", 1)):         # (UC_PROT_NONE, UC_PROT_READ)
        emu, X = _unicorn_until_the_hook(code)
        emu.mem_protect(FRAME_PAGE, 0x1000, uc_perm)
        try:
            emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), 0xFFFFFFF0, count=100_000)
        except Exception:       # (unicorn.UcError: UC_ERR_READ_PROT / WRITE_PROT)
            pass
        m = pyvm(code, CODE, STACK, MEMORY)
        m.tr.tier0 = None

        def hook(mach, addr, data, perms=perms):
            if int.from_bytes(data, "little") == 200:
                mach.map(FRAME_PAGE, 0x1000, perms)
        m.hook_mem_write(hook, HOOKED_PAGE, HOOKED_PAGE + 0x1000)
        stop = m.run(100_000)
        # (Unicorn: the frame store after the hooked one, in the same pass, faults)
        assert stop.reason == "fault" and m.reg("ecx") == 200, (perms, stop, m.eip)
        assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED)
        m.map(FRAME_PAGE, 0x1000)
        assert m.read(FRAME_PAGE + 0xFF0, 16) == bytes(emu.mem_read(FRAME_PAGE + 0xFF0, 16))


def test_a_write_hook_added_mid_loop_sees_the_frames_writes_as_unicorn(monkeypatch):
    monkeypatch.setenv("PYVM_CODE_CACHE", "0")
    code = asm(HOOKED, 32, CODE)
    (done,) = struct.unpack_from("<I", code, len(code) - 4)
    emu, X = _unicorn_until_the_hook(code)
    from unicorn import UC_HOOK_MEM_WRITE
    seen_u: list = []
    emu.hook_add(UC_HOOK_MEM_WRITE, lambda u, a, addr, size, v, d: seen_u.append((addr, v)),
                 begin=FRAME_PAGE, end=FRAME_PAGE + 0xFFF)
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), done)
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None
    seen_p: list = []

    def hook(mach, addr, data):
        if int.from_bytes(data, "little") == 200 and not seen_p:
            seen_p.append(None)
            mach.hook_mem_write(
                lambda mm, a, dd: seen_p.append((a, int.from_bytes(dd, "little"))),
                FRAME_PAGE, FRAME_PAGE + 0x1000)
    m.hook_mem_write(hook, HOOKED_PAGE, HOOKED_PAGE + 0x1000)
    assert m.run(100_000).reason == "fault" and m.eip == done + 1
    assert len(seen_u) == 400 and seen_p[1:] == seen_u
    assert dict(pyvm_state(m, DEFINED), eip=done) == unicorn_state(emu, X, DEFINED)


# a frame 4 KiB above a base that wraps past 4 GiB (0xfffff000 + 0x1010 is 0x10): the far
# check must send the accesses to the slow path, which wraps them, not fault (a loop
# with a helper call, CPUID, so its check runs in the loop)
WRAP = """
        mov ebp, 0xfffff000
        mov ecx, 5
top:    mov eax, [ebp + 0x1010]
        add eax, ecx
        mov [ebp + 0x1014], eax
        mov [ebp + 0x1018], ecx
        push ecx
        xor eax, eax
        cpuid
        pop ecx
        dec ecx
        jnz top
done:   int3
labels: dd done
"""


def test_a_far_check_past_4_gib_wraps_as_unicorn(monkeypatch):
    monkeypatch.setenv("PYVM_CODE_CACHE", "0")
    code = asm(WRAP, 32, CODE)
    (done,) = struct.unpack_from("<I", code, len(code) - 4)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    emu.emu_start(CODE, done)
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None
    stop = m.run(100_000)
    assert stop.reason == "fault" and m.eip == done + 1, stop
    state = {k: v for k, v in pyvm_state(m, DEFINED).items() if k not in ("eax", "ebx", "edx")}
    uc_state = {k: v for k, v in unicorn_state(emu, X, DEFINED).items()
                if k not in ("eax", "ebx", "edx")}     # (CPUID's vendor differs)
    assert dict(state, eip=done) == uc_state
    assert m.read(0x10, 12) == bytes(emu.mem_read(0x10, 12))
