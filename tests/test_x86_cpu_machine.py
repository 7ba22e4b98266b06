"""The x86 Machine API and engine behaviour: registers, memory, run/step, exact step
limits, precise faults, self-modifying code, hooks, real mode, the x87 glue, tracing."""

from __future__ import annotations

import io
import sys
import types

import pytest
from test_x86_cpu_asm import asm

from vm.x86.faults import BP, DE, GP, PF, UD, MemoryFault
from vm.x86.machine import Machine

BASE = 0x1000


def flat(source: str, steps=None, memory=1 << 20, setup=None) -> tuple:
    """Assemble at 0x1000, run in flat mode until INT3 (or a fault); (machine, stop)."""
    m = Machine("flat32", memory)
    m.load(BASE, asm(source, 32, BASE))
    m.set_reg("eip", BASE)
    m.set_reg("esp", memory)
    if setup:
        setup(m)
    return m, m.run(steps)


def ok(stop) -> None:
    assert stop.reason == "fault" and stop.fault.vector == BP, stop


def real(source: str, steps=None, setup=None) -> tuple:
    """Assemble at 0000:7C00, run in real mode until HLT; (machine, stop)."""
    m = Machine("real")
    m.load(0x7C00, asm(source, 16, 0x7C00))
    m.set_reg("eip", 0x7C00)
    m.set_reg("esp", 0x7000)
    if setup:
        setup(m)
    return m, m.run(steps)


# ---- registers and memory ---------------------------------------------------------------

def test_register_views():
    m = Machine("flat32")
    m.set_reg("eax", 0x12345678)
    assert (m.reg("ax"), m.reg("al"), m.reg("ah")) == (0x5678, 0x78, 0x56)
    m.set_reg("ah", 0xAB)
    m.set_reg("al", 0xCD)
    assert m.reg("eax") == 0x1234ABCD
    m.set_reg("ax", 0xFFFF)
    assert m.reg("eax") == 0x1234FFFF
    m.set_reg("eflags", 0x8D5 | 0x400)
    assert m.reg("eflags") & 0xFFF == 0x8D5 | 0x400 | 2
    assert m.regs()["cs"] == 0x23 and m.mode == "flat32"
    with pytest.raises(KeyError):
        m.reg("xyz")


def test_real_mode_segments_and_memory():
    m = Machine("real")
    m.set_reg("ds", 0x1234)
    assert m.reg("ds_base") == 0x12340
    m.write(0x12345, b"\x01\x02")
    assert m.read(0x12345, 2) == b"\x01\x02"
    with pytest.raises(MemoryFault):
        m.read(m.mem.size - 1, 2)


# ---- running ----------------------------------------------------------------------------

def test_loop_block_result_and_step_count():
    m, stop = flat("""
        mov ecx, 1000
        xor eax, eax
    top: add eax, ecx
        dec ecx
        jnz top
        int3""")
    ok(stop)
    assert m.reg("eax") == 500500
    assert m.steps == 2 + 3 * 1000 + 1   # INT3 is a trap: it retires


@pytest.mark.parametrize("n", [1, 7, 50, 301, 1000])
def test_step_limit_is_exact(n):
    src = """
        mov ecx, 100000
        mov ebx, 3
    top: add eax, ebx
        lea ebx, [ebx+eax*2]
        push eax
        pop edx
        dec ecx
        jnz top
        int3"""
    m1, stop = flat(src, steps=n)
    assert stop.reason == "limit" and m1.steps == n
    m2 = Machine("flat32", 1 << 20)
    m2.load(BASE, asm(src, 32, BASE))
    m2.set_reg("eip", BASE)
    m2.set_reg("esp", 1 << 20)
    for _ in range(n):
        assert m2.step() is None
    assert m1.regs() == m2.regs()


def test_lazy_flags_cross_blocks():
    m, stop = flat("""
        mov eax, 0xffffffff
        add eax, 1          ; CF=1 ZF=1, left lazy at the block end
        call f
        int3
    f:  setc bl
        setz bh
        adc ecx, 0
        ret""")
    ok(stop)
    assert m.reg("bx") == 0x0101 and m.reg("ecx") == 1


def test_precise_memory_fault_in_a_block():
    m, stop = flat("""
        mov eax, 1
        mov ebx, 2
        cmp eax, ebx
        mov [0xfffffff0], eax
        mov ecx, 3
        int3""")
    assert stop.reason == "fault" and isinstance(stop.fault, MemoryFault)
    assert stop.fault.address == 0xFFFFFFF0 and stop.fault.write
    assert (m.reg("eax"), m.reg("ebx"), m.reg("ecx")) == (1, 2, 0)
    assert m.eip == BASE + 12 and m.steps == 3
    assert m.reg("eflags") & 0x81 == 0x81      # the CMP's flags: CF, SF


def test_precise_fault_inside_a_loop():
    m, stop = flat("""
        mov esi, 0xff000
        xor edx, edx
    top: inc edx
        mov al, [esi]
        add esi, 0x100
        jmp top""", memory=1 << 20)
    assert stop.reason == "fault" and stop.fault.address == 0x100000
    assert m.reg("esi") == 0x100000 and m.reg("edx") == 17
    assert m.eip == BASE + 8                    # the load
    assert m.reg("eflags") & 0x8D5 == 0x4       # from INC edx (17): PF only


def test_divide_error_and_invalid_opcode_are_faults_at_the_instruction():
    m, stop = flat("mov eax, 5\nxor ecx, ecx\ndiv ecx")
    assert stop.fault.vector == DE and m.eip == BASE + 7 and m.reg("eax") == 5
    m, stop = flat("nop\nud2")
    assert stop.fault.vector == UD and m.eip == BASE + 1
    m = Machine("flat32", 1 << 16)
    m.load(0, b"\x90\x0f\xff")
    assert m.run().fault.vector == UD and m.eip == 1


def test_lock_needs_a_lockable_memory_destination():
    for src in ("lock add eax, ebx", "lock cmp [0x2000], eax", "lock mov [0x2000], eax"):
        _, stop = flat(src)
        assert stop.fault.vector == UD, src
    m, stop = flat("lock add dword [0x2000], 5\nint3")
    ok(stop)
    assert m.read(0x2000, 4) == b"\x05\x00\x00\x00"


def test_flat_mode_refuses_privileged_instructions():
    for src in ("cli", "hlt", "in al, 0x60", "out 0x80, al", "mov eax, cr0", "lgdt [0]"):
        _, stop = flat(src)
        assert stop.fault.vector == GP, src


def test_self_modifying_code_next_block_and_own_loop():
    # patch the immediate of an instruction in a later block
    m, stop = flat("""
        mov byte [patch+1], 42
        jmp next
    next:
    patch: mov eax, 7
        int3""")
    ok(stop)
    assert m.reg("eax") == 42
    # a loop that rewrites its own exit test: it must see the change on its next round
    m, stop = flat("""
        xor ecx, ecx
    top: inc ecx
        cmp ecx, 5
        jne skip
        mov byte [lim+2], 7
    skip:
    lim: cmp ecx, 100
        jne top
        int3""")
    ok(stop)
    assert m.reg("ecx") == 7


def test_loading_code_drops_stale_translations():
    m = Machine("flat32", 1 << 16)
    m.load(0, asm("mov eax, 1\nint3"))
    m.run()
    m.load(0, asm("mov eax, 2\nint3"))
    m.set_reg("eip", 0)
    m.run()
    assert m.reg("eax") == 2


def test_code_written_where_an_invalid_opcode_was_runs():
    # the guest hits #UD, then writes valid code over the bad bytes and jumps back
    m = Machine("flat32", 1 << 16)
    m.load(0x100, b"\x0f\xff")
    m.set_reg("eip", 0x100)
    stop = m.run()
    assert stop.reason == "fault" and stop.fault.vector == UD
    m.load(0x1000, asm("mov byte [0x100], 0x40\nmov byte [0x101], 0xcc\njmp 0x100", 32, 0x1000))
    m.set_reg("eip", 0x1000)
    ok(m.run())                 # inc eax; int3
    assert m.reg("eax") == 1


def test_fs_segment_base_for_tls():
    def setup(m):
        m.descriptors[0x33] = 0x8000
        m.write(0x8010, b"\x44\x33\x22\x11")
    m, stop = flat("mov ax, 0x33\nmov fs, ax\nmov eax, [fs:0x10]\nint3", setup=setup)
    ok(stop)
    assert m.reg("eax") == 0x11223344 and m.reg("fs_base") == 0x8000
    _, stop = flat("mov ax, 0x3b\nmov gs, ax")
    assert stop.fault.vector == GP


def test_string_instructions():
    m, stop = flat("""
        mov edi, 0x3000
        mov ecx, 8
        mov eax, 0x11223344
        rep stosd
        mov esi, 0x3000
        mov edi, 0x3002
        mov ecx, 10
        rep movsb           ; overlapping: repeats the first two bytes
        mov edi, 0x3000
        mov al, 0x22
        mov ecx, 32
        repne scasb
        int3""")
    ok(stop)
    assert m.read(0x3000, 12) == bytes.fromhex("4433" * 6)
    assert m.reg("ecx") == 32 - 15 and m.reg("edi") == 0x300F   # found at 0x300E
    m, stop = flat("""
        std
        mov esi, 0x3003
        mov edi, 0x4003
        mov ecx, 4
        rep movsb
        cld
        int3""", setup=lambda m: m.write(0x3000, b"abcd"))
    ok(stop)
    assert m.read(0x4000, 4) == b"abcd" and m.reg("esi") == 0x2FFF


def test_push_pop_esp_and_pusha():
    m, stop = flat("""
        mov esp, 0x8000
        push esp
        pop eax
        mov ebx, 2
        pusha
        popa
        pop esp
        int3""", setup=None)
    ok(stop)
    assert m.reg("eax") == 0x8000 and m.reg("ebx") == 2


def test_enter_leave():
    m, stop = flat("""
        mov esp, 0x8000
        mov ebp, 0x1234
        enter 16, 0
        mov eax, ebp
        mov ebx, esp
        leave
        int3""")
    ok(stop)
    assert (m.reg("eax"), m.reg("ebx")) == (0x7FFC, 0x7FEC)
    assert (m.reg("ebp"), m.reg("esp")) == (0x1234, 0x8000)


def test_cpuid_and_rdtsc():
    m, stop = flat("xor eax, eax\ncpuid\nmov esi, ebx\nmov edi, edx\nmov ebp, ecx\n"
                   "mov eax, 1\ncpuid\nrdtsc\nint3")
    ok(stop)
    vendor = b"".join(m.reg(r).to_bytes(4, "little") for r in ("esi", "edi", "ebp"))
    assert vendor == b"GenuineIntel"
    m2, _ = flat("mov eax, 1\ncpuid\nint3")
    assert m2.reg("eax") >> 8 & 0xF == 6
    features = m2.reg("edx")
    assert features & (1 << 4 | 1 << 8 | 1 << 15) == 1 << 4 | 1 << 8 | 1 << 15
    assert features & 1 << 23                           # MMX (vm/x86/mmx.py)
    assert features & (1 << 24 | 1 << 25 | 1 << 26) == 1 << 24 | 1 << 25 | 1 << 26  # FXSR SSE SSE2
    assert m2.reg("ecx") & 0x9 == 0x9                   # SSE3, MONITOR
    assert not m2.reg("ecx") & ~0x9                     # nothing later (SSSE3, SSE4...)
    assert m.reg("eax") > 0


def test_x87_glue_calls_the_fpu_with_address_and_context(monkeypatch):
    calls = []

    class X87:
        def execute(self, insn, ea, ctx):
            calls.append((insn.form.mnemonic, ea))
            if insn.form.mnemonic == "fnstsw":
                ctx.set_ax(0x4100)
            if insn.form.mnemonic == "fcomi":
                ctx.set_eflags_zpc(True, False, True)
            if insn.form.mnemonic == "fld":
                assert ctx.read(ea, 4) == b"\x00\x00\x80\x3f"

    fake = types.ModuleType("vm.x86.fpu")
    fake.X87 = X87
    monkeypatch.setitem(sys.modules, "vm.x86.fpu", fake)
    m, stop = flat("""
        mov ebx, 0x2000
        fld dword [ebx+4]
        fnstsw ax
        fcomi st0, st1
        setz cl
        setc ch
        seto dl
        fwait
        int3""", setup=lambda m: m.write(0x2004, b"\x00\x00\x80\x3f"))
    ok(stop)
    assert calls[0] == ("fld", 0x2004) and [c[0] for c in calls] == \
        ["fld", "fnstsw", "fcomi", "wait"]
    assert m.reg("ax") == 0x4100 and m.reg("cx") == 0x0101 and m.reg("dl") == 0


def test_x87_without_an_fpu_is_invalid_opcode(monkeypatch):
    monkeypatch.setitem(sys.modules, "vm.x86.fpu", None)
    _, stop = flat("fld1")
    assert stop.fault.vector == UD
    m, stop = flat("mov eax, 1\ncpuid\nint3")
    assert not m.reg("edx") & 1


# ---- real mode ----------------------------------------------------------------------------

def test_real_mode_ivt_divide_error_and_iret():
    # handler at 0000:0500 skips the 2-byte DIV and returns
    def setup(m):
        m.write(0, b"\x00\x05\x00\x00")
        m.load(0x500, asm("mov dx, 0xdead\nmov bp, sp\nadd word [bp], 2\niret", 16, 0x500))
    m, stop = real("""
        mov ax, 1
        xor bl, bl
        div bl
        mov cx, 1
        hlt""", setup=setup)
    assert stop.reason == "halt"
    assert (m.reg("dx"), m.reg("cx"), m.reg("sp")) == (0xDEAD, 1, 0x7000)


def test_real_mode_interrupt_hook_and_ports():
    seen = []

    def on_int(m, vector, software):
        seen.append((vector, software))
        m.set_reg("ax", 0x4242)
        return True

    def setup(m):
        m.on_interrupt = on_int
        m.on_port_out = lambda m, port, size, value: seen.append(("out", port, size, value))
    m, stop = real("""
        int 0x21
        mov bx, ax
        in al, 0x60
        mov dx, 0x3f8
        out dx, al
        hlt""", setup=setup)
    assert stop.reason == "halt" and m.reg("bx") == 0x4242 and m.reg("al") == 0xFF
    assert seen == [(0x21, True), ("out", 0x3F8, 1, 0xFF)]


def test_real_mode_far_call_stack_wrap_and_overrides():
    m, stop = real("""
        xor ax, ax
        mov ss, ax
        mov sp, 0            ; the first push wraps to 0xfffe
        push word 0x1234
        mov bx, sp
        mov ax, 0x2000
        mov es, ax
        mov word [es:0x10], 0xbeef
        call 0x0000:far_target
        hlt
    far_target:
        mov cx, [es:0x10]
        retf""")
    assert stop.reason == "halt"
    assert m.reg("bx") == 0xFFFE and m.read(0xFFFE, 2) == b"\x34\x12"
    assert m.reg("cx") == 0xBEEF and m.read(0x20010, 2) == b"\xef\xbe"


def test_real_mode_trap_flag_single_steps():
    def setup(m):
        m.write(4, b"\x00\x06\x00\x00")       # int 1 -> 0000:0600: count in di
        m.load(0x600, asm("inc di\niret", 16, 0x600))
    m, stop = real("""
        xor di, di
        pushf
        pop ax
        or ax, 0x100
        push ax
        popf                ; TF on: a trap after each following instruction
        nop
        nop
        pushf
        pop ax
        and ax, 0xfeff
        push ax
        popf
        hlt""", setup=setup)
    assert stop.reason == "halt"
    assert m.reg("di") == 7          # nop nop pushf pop and push popf


def test_real_mode_word_at_segment_end_faults():
    def setup(m):
        m.write(13 * 4, b"\x00\x06\x00\x00")
        m.load(0x600, asm("mov dx, 13\nhlt", 16, 0x600))
    m, stop = real("mov bx, 0xffff\nmov ax, [bx]\nhlt", setup=setup)
    assert stop.reason == "halt" and m.reg("dx") == 13


def test_memory_fault_address_from_a_fast_path():
    m, stop = flat("mov ebx, 0x7ffffff0\nmov eax, [ebx+0x20]")
    assert isinstance(stop.fault, MemoryFault) and stop.fault.vector == PF
    assert stop.fault.address == 0x80000010 and not stop.fault.write


def test_trace_lines_show_changes_and_events():
    from vm.x86.trace import Tracer
    out = io.StringIO()
    m = Machine("real")
    m.load(0x7C00, asm("mov ax, 0x1234\nint 0x10\nhlt", 16, 0x7C00))
    m.set_reg("eip", 0x7C00)
    m.write(0x40, b"\x00\x05\x00\x00")
    m.load(0x500, asm("iret", 16, 0x500))
    m.tracer = Tracer(out)
    assert m.run().reason == "halt"
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("0000:7c00  b8 34 12") and "mov ax, 0x1234" in lines[0]
    assert lines[0].endswith("ax=1234")
    assert "int 0x10" in lines[1] and "interrupt 0x10 -> 0000:0500" in lines[2]
    assert "iret" in lines[3] and "hlt" in lines[4]


def test_rep_movs_fault_keeps_the_progress_made():
    m, stop = flat("""
        mov esi, 0x2000
        mov edi, 0xffff0
        mov ecx, 0x40
        rep movsb""", memory=1 << 20)
    assert isinstance(stop.fault, MemoryFault) and stop.fault.address == 0x100000
    assert (m.reg("ecx"), m.reg("edi"), m.reg("esi")) == (0x30, 0x100000, 0x2010)
    assert m.eip == BASE + 15           # restarts at the REP MOVSB


def test_xchg_with_itself_is_a_nop_in_both_modes():
    m, stop = real("mov ax, 0x1234\nnop\nxchg ax, ax\nhlt")
    assert stop.reason == "halt" and m.reg("ax") == 0x1234


def test_halt_hook_can_resume_and_watched_memory_sees_writes():
    seen = []

    def setup(m):
        m.on_halt = lambda m: m.reg("cx") < 3
        m.mem.watch(0xB8000, 0xB9000, lambda addr, data: seen.append((addr, bytes(data))))
    m, stop = real("""
        mov ax, 0xb800
        mov es, ax
    again:
        inc cx
        hlt
        mov byte [es:0], 'A'
        jmp again""", setup=lambda m: (setup(m), m.set_reg("ecx", 0)))
    assert stop.reason == "halt" and m.reg("cx") == 3
    assert seen == [(0xB8000, b"A"), (0xB8000, b"A")]


def test_x87_through_the_real_fpu():
    pytest.importorskip("vm.x86.fpu")
    from vm.x86.faults import MF
    m, stop = flat("""
        fld1
        fld1
        faddp st1, st0      ; 2.0
        fld dword [val]     ; 3.5
        fmulp st1, st0
        fistp dword [out]   ; 7
        fld1
        fldz
        fcomi st0, st1      ; 0 < 1: CF
        setc bl
        fninit
        fldcw [cw]          ; unmask divide-by-zero
        fld1
        fldz
        fdivp st1, st0      ; pending #MF ...
        fwait               ; ... raised here
        int3
    val: dd 0x40600000
    out: dd 0
    cw: dw 0x037b""")
    assert stop.fault.vector == MF and m.read(m.eip, 1) == b"\x9b"
    assert m.reg("bl") == 1
    out = m.eip + 2 + 4                 # past fwait, int3 and val
    assert int.from_bytes(m.read(out, 4), "little") == 7
    m2, _ = flat("mov eax, 1\ncpuid\nint3")
    assert m2.reg("edx") & 1            # CPUID advertises the FPU now it exists
