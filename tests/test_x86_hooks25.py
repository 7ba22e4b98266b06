"""Memory hooks see every guest access, as Unicorn's do: the same program runs on a
vm.x86.Machine and on Unicorn with read and write hooks over the data, and the
(kind, address, size, value) sequences must be equal (Unicorn reports a read's value as
0: the oracle's callback reads the bytes there, which the read then returns)."""

from __future__ import annotations

import pytest
from conftest import require_module

import asm
from vm.x86 import Machine

ORG = 0x1000
LO, HI = 0x2000, 0x100000          # the hooked range: all but the code
DATA = {0x3000: bytes(range(64)) * 8, 0x4000: bytes(range(100, 164)) * 8}
FLAT = {"esi": 0x3000, "edi": 0x4000, "ebx": 0x3000, "esp": 0x80000}
REAL = {"esi": 0x3000, "edi": 0x4000, "ebx": 0x3000, "esp": 0x8000}


def _code(src: str, mode: str):
    bits = 16 if mode == "real" else 32
    return asm.assemble(f"bits {bits}\n{src}\ndone: hlt\n", origin=ORG)


def _ours(src: str, mode: str, regs: dict, kinds: str, peek: bool = False) -> list:
    code = _code(src, mode)
    m = Machine(mode, 1 << 20)
    m.write(ORG, code.data)
    for a, d in DATA.items():
        m.write(a, d)
    for k, v in regs.items():
        m.write_reg(k, v)
    m.write_reg("eip", ORG)
    log: list = []

    def on_read(m, a, n, v):
        log.append(("r", a, n, v))
        if peek:            # the callback's own read is not a guest access
            m.read(LO, 4)
    if "r" in kinds:
        m.hook_mem_read(on_read, LO, HI)
    if "w" in kinds:
        m.hook_mem_write(lambda m, a, d: log.append(("w", a, len(d),
                                                     int.from_bytes(d, "little"))), LO, HI)
    assert m.run(until=code.symbols["done"]).reason == "until"
    return log


def _unicorn(src: str, mode: str, regs: dict, kinds: str, peek: bool = False) -> list:
    U = require_module("unicorn")
    from unicorn import x86_const as X
    code = _code(src, mode)
    u = U.Uc(U.UC_ARCH_X86, U.UC_MODE_16 if mode == "real" else U.UC_MODE_32)
    u.mem_map(0, 1 << 20)
    u.mem_write(ORG, code.data)
    for a, d in DATA.items():
        u.mem_write(a, d)
    for k, v in regs.items():
        u.reg_write(getattr(X, "UC_X86_REG_" + k.upper()), v)
    log: list = []

    def cb(uc, access, a, n, v, _):
        if not (a < HI and LO < a + n):
            return
        if access == U.UC_MEM_WRITE:
            log.append(("w", a, n, v & ((1 << 8 * n) - 1)))
        else:
            log.append(("r", a, n, int.from_bytes(uc.mem_read(a, n), "little")))
            if peek:
                uc.mem_read(LO, 4)
    mask = (U.UC_HOOK_MEM_READ if "r" in kinds else 0) | \
        (U.UC_HOOK_MEM_WRITE if "w" in kinds else 0)
    u.hook_add(mask, cb)
    u.emu_start(ORG, code.symbols["done"])
    return log


def _same(src: str, mode: str = "flat32", kinds: str = "rw", peek: bool = False) -> None:
    regs = REAL if mode == "real" else FLAT
    src = src.replace(";", "\n")
    ours = _ours(src, mode, regs, kinds, peek)
    theirs = _unicorn(src, mode, regs, kinds, peek)
    assert ours == theirs


STRINGS = {
    "rep movsb": "mov ecx, 5;rep movsb",
    "rep movsd": "mov ecx, 5;rep movsd",
    "rep movsw, backwards": "std;mov ecx, 4;rep movsw;cld",
    "rep movsd, overlapping": "mov edi, 0x3004;mov ecx, 4;rep movsd",
    "rep movsd, past a page": "mov ecx, 1100;rep movsd",
    "rep lodsd": "mov ecx, 3;rep lodsd",
    "lodsb": "lodsb;lodsb",
    "movsd": "movsd",
    "cmpsd": "cmpsd",
    "repe cmpsb": "mov ecx, 5;repe cmpsb",
    "repne scasb": "mov ecx, 5;mov al, 3;repne scasb",
    "rep stosd": "mov ecx, 5;rep stosd",
}


@pytest.mark.parametrize("name", STRINGS)
def test_string_instructions_report_each_element(name):
    _same(STRINGS[name])


@pytest.mark.parametrize("name", ["rep movsd", "rep movsd, past a page", "rep lodsd",
                                  "repe cmpsb"])
def test_string_reads_alone(name):
    """Only a read hook: the destination is not watched, so the bulk copy must step aside
    for the reads to be seen."""
    _same(STRINGS[name], kinds="r")


STACK = {
    "push, pop": "push dword [0x3004];pop dword [0x3008]",
    "call, ret": "call f;jmp e;f: ret;e:",
    "push imm, pop": "push 5;pop eax",
    "pop [esp-4]": "push 3;pop dword [esp-4]",
}


@pytest.mark.parametrize("name", STACK)
def test_stack_reads_after_writes_in_one_block(name):
    """A load of what the block just stored is still a read."""
    _same(STACK[name], kinds="r")


OPERANDS = {
    "movdqu": "movdqu xmm0, [0x3008];movdqu [0x3020], xmm0",
    "movaps": "movaps xmm0, [0x3010];movaps [0x3020], xmm0",
    "paddd": "paddd xmm0, [0x3010]",
    "movq mm": "movq mm0, [0x3008];movq [0x3010], mm0",
    "fld, fstp": "fld dword [0x3008];fstp qword [0x3010]",
    "fild, fistp": "fild word [0x3008];fistp dword [0x3010]",
    "fld tword": "fld tword [0x3008];fstp tword [0x3020]",
    "fadd m32": "fldz;fadd dword [0x3008]",
    "xadd": "mov eax, 1;xadd [0x3004], eax",
    "cmpxchg": "mov eax, [0x3004];mov ecx, 9;cmpxchg [0x3004], ecx",
}


@pytest.mark.parametrize("name", OPERANDS)
def test_operand_sizes_as_unicorn(name):
    """x87 operands are read through the FPU's helpers; 16- and 10-byte operands are
    reported as Unicorn reports them (8 + 8, 8 + 2)."""
    _same(OPERANDS[name])


REAL_MODE = {
    "rep movsw": "mov cx, 5;rep movsw",
    "repe cmpsb": "mov cx, 5;repe cmpsb",
    "rep lodsw": "mov cx, 3;rep lodsw",
    "push, pop": "push word [0x3004];pop word [0x3008]",
    "fld": "fld dword [0x3008];fstp qword [0x3010]",
}


@pytest.mark.parametrize("name", REAL_MODE)
def test_real_mode(name):
    _same(REAL_MODE[name], mode="real")


def test_callback_reads_are_not_reported():
    _same("mov ecx, 3;rep lodsd;mov eax, [0x3004]", kinds="r", peek=True)


def test_cmps_faults_on_the_destination_first():
    """Both operands unmapped: Unicorn reads ES:EDI first, as the CPU does (below)."""
    U = require_module("unicorn")
    from unicorn import x86_const as X
    code = _code("cmpsb", "flat32")
    m = Machine("flat32", 1 << 20)
    m.write(ORG, code.data)
    m.unmap(0x3000, 0x2000)
    m.write_reg("esi", 0x3000)
    m.write_reg("edi", 0x4000)
    m.write_reg("eip", ORG)
    stop = m.run(until=code.symbols["done"])
    assert stop.reason == "fault"
    u = U.Uc(U.UC_ARCH_X86, U.UC_MODE_32)
    u.mem_map(0, 0x3000)
    u.mem_write(ORG, code.data)
    u.reg_write(X.UC_X86_REG_ESI, 0x3000)
    u.reg_write(X.UC_X86_REG_EDI, 0x4000)
    seen = []
    u.hook_add(U.UC_HOOK_MEM_UNMAPPED, lambda uc, acc, a, n, v, _: seen.append(a) and False)
    with pytest.raises(U.UcError):
        u.emu_start(ORG, code.symbols["done"])
    assert seen[0] == 0x4000
    assert stop.fault.address == seen[0]


def test_hooks_off_again():
    """Removing the last read hook gives back Memory.read and Machine.read."""
    m = Machine("flat32", 1 << 20)
    h = m.hook_mem_read(lambda *a: None, LO, HI)
    m.hook_del(h)
    assert "read" not in vars(m.mem) and "read" not in vars(m)
    assert not m.tr.watching


def test_cmps_faults_match_native(tmp_path):
    """tests/linux/hooks25_cmps_order.c natively and under pyvm: the SIGSEGV address and
    ESI/EDI/ECX of (REPE) CMPSB faulting on either operand or both."""
    from linux.kit import build, run_native, run_pyvm
    exe = build("hooks25_cmps_order")
    native = run_native(exe, (), tmp_path)
    assert native.status == 0 and native.stdout.count(b"SIGSEGV") == 5, native
    assert b"both unmapped: SIGSEGV at +8192" in native.stdout, native
    emulated = run_pyvm(exe, (), tmp_path)
    assert (emulated.status, emulated.stdout) == (native.status, native.stdout), emulated


def test_api_reads_are_not_guest_reads():
    """Machine.read (like Unicorn's mem_read) is the user's, not a hooked access."""
    U = require_module("unicorn")
    u = U.Uc(U.UC_ARCH_X86, U.UC_MODE_32)
    u.mem_map(0, 1 << 20)
    theirs: list = []
    u.hook_add(U.UC_HOOK_MEM_READ, lambda *a: theirs.append(a[2]))
    u.mem_read(0x3000, 4)
    m = Machine("flat32", 1 << 20)
    ours: list = []
    m.hook_mem_read(lambda m, a, n, v: ours.append(a), LO, HI)
    m.read(0x3000, 4)
    assert ours == theirs == []


PROTECTED = '''
bits 16
    cli
    lgdt [gdtr]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp 8:pm
bits 32
pm: mov dx, 16
    mov ds, dx
    mov es, dx
    mov ss, dx
    mov esp, 0x8000
armed:
    mov eax, [0x3004]
    mov [0x3008], eax
    push dword [0x3004]
    pop ebx
    mov esi, 0x3000
    mov edi, 0x4000
    mov ecx, 3
    rep movsb
    movsd
done: hlt
align 8
gdt: dq 0, 0x00cf9a000000ffff, 0x00cf92000000ffff
gdtr: dw 23
    dd gdt
'''


@pytest.mark.parametrize("arm_late", [False, True], ids=["before PE", "in protected mode"])
def test_protected_mode_reads(arm_late):
    """Protected mode reads through the MMU (compiled and helpers' alike), whether the
    hooks came before the MMU or after."""
    U = require_module("unicorn")
    from unicorn import x86_const as X
    code = asm.assemble(PROTECTED, origin=ORG)
    u = U.Uc(U.UC_ARCH_X86, U.UC_MODE_16)
    u.mem_map(0, 1 << 20)
    u.mem_write(ORG, code.data)
    u.mem_write(0x3000, DATA[0x3000])
    u.reg_write(X.UC_X86_REG_ESP, 0x7000)
    theirs: list = []

    def cb(uc, access, a, n, v, _):
        if LO <= a < HI:
            w = access == U.UC_MEM_WRITE
            theirs.append(("w" if w else "r", a, n,
                           v if w else int.from_bytes(uc.mem_read(a, n), "little")))
    u.hook_add(U.UC_HOOK_MEM_READ | U.UC_HOOK_MEM_WRITE, cb)
    u.emu_start(ORG, code.symbols["done"])
    m = Machine("real", 1 << 20)
    m.write(ORG, code.data)
    m.write(0x3000, DATA[0x3000])
    m.write_reg("esp", 0x7000)
    m.write_reg("eip", ORG)
    ours: list = []
    if arm_late:
        assert m.run(until=code.symbols["armed"]).reason == "until"
    m.hook_mem_read(lambda m, a, n, v: ours.append(("r", a, n, v)), LO, HI)
    m.hook_mem_write(lambda m, a, d: ours.append(("w", a, len(d),
                                                  int.from_bytes(d, "little"))), LO, HI)
    assert m.run(until=code.symbols["done"]).reason == "until"
    assert ours == theirs


def test_a_read_hook_does_not_change_what_protected_mode_reads():
    """A hook only watches: in protected mode a page unmapped with Machine.unmap reads
    as it does without hooks (the MMU does not apply Memory's readability), and the read
    is reported."""
    code = asm.assemble(PROTECTED.replace("done:", "mov eax, [0x5000]\nmov ebx, 1\ndone:"),
                        origin=ORG)

    def run(hook: bool):
        m = Machine("real", 1 << 20)
        m.write(ORG, code.data)
        m.write(0x5000, b"\x11\x22\x33\x44")
        m.write_reg("esp", 0x7000)
        m.write_reg("eip", ORG)
        m.unmap(0x5000, 0x1000)
        seen: list = []
        if hook:
            m.hook_mem_read(lambda m, a, n, v: seen.append((a, n)), 0x5000, 0x6000)
        stop = m.run(until=code.symbols["done"])
        return stop.reason, m.reg("eax"), m.reg("ebx"), seen
    plain = run(False)
    assert plain[0] == "until" and plain[2] == 1
    assert run(True) == plain[:3] + ([(0x5000, 4)],)
