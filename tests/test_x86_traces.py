"""Traces (vm/x86/traces.py): superblocks along recorded hot paths, with guards on every
branch they follow. The dispatcher samples every ``traces.SAMPLE`` instructions; the
tests sample very often so that traces form within a few hundred instructions and every
edge below runs inside one: a ``ret`` to a modified return address, an indirect call
whose target changes, code written after a trace ran it, a fault in the middle of a
trace, step limits, single steps and breakpoints landing inside one.

Oracles: the native run of each nasm program (same stdout, same exit status), and
Unicorn for the register state after every step count."""

from __future__ import annotations

import struct
import subprocess

import pytest
from conftest import require_tool
from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_block_exits import CASES, EXIT_AND_WRITE
from test_x86_cpu_asm import asm

from vm.linux.runner import run_elf
from vm.options import RunOptions
from vm.x86 import traces
from vm.x86.compiler import Translator
from vm.x86.machine import Machine

# an unbiased branch and a call through a pointer in a loop (as a merge in qsort), and a
# switch through a jump table whose target changes every round
MERGE_AND_SWITCH = """bits 32
global _start
section .text
_start: xor esi, esi
        xor edi, edi
        mov ebx, 0x12345
top:    imul ebx, ebx, 1103515245
        add ebx, 12345
        mov eax, ebx
        shr eax, 16
        push eax
        push esi
        call [cmp_fn]
        add esp, 8
        test eax, eax
        jg .gt
        add edi, 3
        jmp .next
.gt:    sub edi, 1
.next:  mov eax, esi
        and eax, 3
        jmp [cases + eax * 4]
c0:     add edi, 100
        jmp join
c1:     xor edi, 0x55
        jmp join
c2:     rol edi, 3
        jmp join
c3:     lea edi, [edi + esi * 2]
join:   inc esi
        cmp esi, 300
        jne top
        mov [res], edi
        mov [res + 4], ebx
        jmp finish
cmp_impl:
        mov eax, [esp + 8]
        and eax, 1
        mov edx, [esp + 4]
        and edx, 1
        sub eax, edx
        ret
""" + EXIT_AND_WRITE + """
section .data
cmp_fn: dd cmp_impl
cases:  dd c0, c1, c2, c3
res:    dd 0, 0
res_end:
"""

# as test_x86_block_exits' fault_in_loop, with a call through a pointer in the loop (so
# the loop is several blocks) and reads that reach the unmapped page after the .bss in
# iteration 38, inside the loop's trace
FAULT_IN_TRACE = CASES["fault_in_loop"].replace(
    "        mov ebx, 0x1000\n", "        xor ebx, ebx\n").replace(
    "        mov esi, [limit]\n", "        mov esi, buf + 4096 - 37 * 4\n").replace(
    "        inc ebx\n        jmp top\n",
    "        call [bump_fn]\n        jmp top\nbump:   inc ebx\n        ret\n").replace(
    "limit:  dd 0\n", "bump_fn: dd bump\n") + """
section .bss
alignb 4096
buf:    resb 4096
"""
assert FAULT_IN_TRACE.count("bump") == 4 and "0x1000" not in FAULT_IN_TRACE

# each round stores a new immediate into g, then takes a branch and calls g through a
# pointer: the trace that holds g's old code must leave at that branch
CODE_WRITTEN_IN_TRACE = """bits 32
global _start
section .text progbits alloc exec write
_start: xor ebx, ebx
        xor esi, esi
top:    lea ecx, [ebx * 4 + 9]
        mov [g + 1], ecx
        cmp ebx, 1000           ; never taken: the trace follows it
        jae big
back:   call [g_ptr]
        add esi, eax
        rol esi, 1
        inc ebx
        cmp ebx, 60
        jne top
        mov [res], esi
        jmp finish
g:      mov eax, 1
        ret
big:    add esi, 7
        jmp back
""" + EXIT_AND_WRITE + """
section .data
g_ptr:  dd g
res:    dd 0
res_end:
"""

# the callee, called through a pointer, rewrites its return address in round 30: the
# trace's guard on the return leaves it; registers written later in the loop body (ebx,
# ecx, edi, carried from the round before) must reach the CPU
RET_MODIFIED_IN_TRACE = """bits 32
global _start
section .text
_start: xor ebx, ebx
        xor ecx, ecx
        xor edi, edi
top:    call [f_ptr]
after:  inc ebx
        add ecx, 3
        lea edi, [edi + ebx * 2]
        cmp ebx, 40
        jne top
        mov [res], ebx
        mov [res + 4], ecx
        mov [res + 8], edi
        jmp finish
alt:    add ecx, 1000
        jmp after
f:      xor eax, eax
        cmp ebx, 30
        sete al
        mov eax, [targets + eax * 4]
        mov [esp], eax
        ret
""" + EXIT_AND_WRITE + """
section .data
f_ptr:  dd f
targets: dd after, alt
res:    dd 0, 0, 0
res_end:
"""

# trace trees (vm/x86/tracebuilder.py): loops of two paths, so that one runs as an arm of
# the other's trace. A fault in one path after 150 of its rounds (the registers the
# SIGSEGV handler sees, carried around both paths, and the faulting eip must be the
# native ones)
FAULT_IN_ARM = FAULT_IN_TRACE.replace("37 * 4", "150 * 4").replace(
    "        mov eax, [edx]\n        add edi, eax\n",
    "        test cl, 4\n        jnz skip\n        mov eax, [edx]\n        add edi, eax\n"
    "skip:   rol edi, 1\n")
assert FAULT_IN_ARM.count("skip") == 2 and "150 * 4" in FAULT_IN_ARM

# rounds pick one of two paths by a pseudo-random bit (no pattern a single path could
# cover). The first path stores to scratch, but from round 200 on to g's immediate, and
# then calls g; the second calls it as it is: an arm writes code its own trace holds,
# and must leave it at its next jump
CODE_WRITTEN_IN_ARM = """bits 32
global _start
section .text progbits alloc exec write
_start: xor ebx, ebx
        xor esi, esi
        mov edi, 12345
top:    imul edi, edi, 1103515245
        add edi, 12345
        lea ecx, [ebx * 4 + 9]
        test edi, 0x10000
        jz even
        mov edx, ebx
        sub edx, 200
        sbb edx, edx            ; -1 before round 200 (scratch), else 0 (g)
        mov eax, scratch
        sub eax, g + 1
        and edx, eax
        add edx, g + 1
        mov [edx], ecx
        call [g_ptr]
        add esi, eax
        jmp next
even:   call [g_ptr]
        sub esi, eax
        rol esi, 3
next:   rol esi, 1
        inc ebx
        cmp ebx, 300
        jne top
        mov [res], esi
        jmp finish
g:      mov eax, 1
        ret
""" + EXIT_AND_WRITE + """
section .data
g_ptr:  dd g
scratch: dd 0
res:    dd 0
res_end:
"""

# as above, the first path calls f, which from round 300 on rewrites its return address
# (an arm's predicted return leaves the trace)
RET_MODIFIED_IN_ARM = """bits 32
global _start
section .text
_start: xor ebx, ebx
        xor ecx, ecx
        xor edi, edi
        mov esi, 12345
top:    imul esi, esi, 1103515245
        add esi, 12345
        test esi, 0x10000
        jz even
        call [f_ptr]
after:  add ecx, 3
        jmp next
even:   add ecx, 5
next:   inc ebx
        lea edi, [edi + ebx * 2]
        cmp ebx, 400
        jne top
        mov [res], ebx
        mov [res + 4], ecx
        mov [res + 8], edi
        jmp finish
alt:    add ecx, 1000
        jmp after
f:      xor eax, eax
        cmp ebx, 300
        setae al
        mov eax, [targets + eax * 4]
        mov [esp], eax
        ret
""" + EXIT_AND_WRITE + """
section .data
f_ptr:  dd f
targets: dd after, alt
res:    dd 0, 0, 0
res_end:
"""

TREES = dict(fault_in_arm=FAULT_IN_ARM, code_written_in_arm=CODE_WRITTEN_IN_ARM,
             ret_modified_in_arm=RET_MODIFIED_IN_ARM)
ALL = dict(CASES, merge_and_switch=MERGE_AND_SWITCH, fault_in_trace=FAULT_IN_TRACE,
           code_written_in_trace=CODE_WRITTEN_IN_TRACE,
           ret_modified_in_trace=RET_MODIFIED_IN_TRACE, **TREES)
# the programs whose hot loop is more than one block (a loop of one block runs as a
# Python loop already: no trace is made of it)
TRACED = {"indirect_call", "merge_and_switch", "fault_in_trace", "code_written_in_trace",
          "ret_modified_in_trace", *TREES}
# and those whose loop traces get more than one path (arms)
TREED = {"merge_and_switch", *TREES}


class Built(list):
    """The keys of the traces built, and the most paths one of them had."""
    paths = 0


@pytest.fixture
def sampling(monkeypatch):
    """Sample every 23 instructions from the start and count the traces built."""
    monkeypatch.setattr(traces, "SAMPLE", 23)
    monkeypatch.setattr(traces, "BACKOFF", 1)
    built = Built()
    plain = Translator.translate_trace

    def counting(self, key, path):
        built.append(key)
        built.paths = max(built.paths, len(path) if isinstance(path, tuple) else 1)
        return plain(self, key, path)

    monkeypatch.setattr(Translator, "translate_trace", counting)
    return built


@pytest.mark.parametrize("name", sorted(ALL))
def test_traced_programs_match_native(tmp_path, sampling, name):
    nasm, ld = require_tool("nasm"), require_tool("ld")
    src = tmp_path / "p.asm"
    src.write_text(ALL[name])
    subprocess.run([nasm, "-f", "elf32", str(src), "-o", str(tmp_path / "p.o")], check=True)
    exe = tmp_path / "p"
    omagic = ["-N"] if "write" in ALL[name] else []     # writable text
    subprocess.run([ld, "-m", "elf_i386", *omagic, str(tmp_path / "p.o"), "-o", str(exe)],
                   check=True, capture_output=True)
    native = subprocess.run([str(exe)], capture_output=True, timeout=10)
    assert native.returncode == 0 and native.stdout, native
    out = tmp_path / "out"
    with open(out, "wb") as f, open("/dev/null", "rb") as null:
        status = run_elf(str(exe), exe.read_bytes(),
                         RunOptions(std_fds=(null.fileno(), f.fileno(), f.fileno())))
    assert (status, out.read_bytes()) == (native.returncode, native.stdout)
    if name in TRACED:
        assert sampling, "no trace was built: the test would not exercise them"
    if name in TREED:
        assert sampling.paths >= 2, "no trace got a second path: no arm was exercised"


# -- step counts, single steps and breakpoints inside traces, against Unicorn --------------

CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000
LOOP = """
        mov ebx, 7
        xor esi, esi
        xor edi, edi
top:    mov eax, ebx            ; xorshift32
        shl eax, 13
        xor ebx, eax
        mov eax, ebx
        shr eax, 17
        xor ebx, eax
        mov eax, ebx
        shl eax, 5
        xor ebx, eax
        mov eax, ebx
        shr eax, 13
        call [fn]
        test al, 1
        jz even
        add edi, eax
        jmp next
even:   sub edi, eax
        mov [0x9000 + esi * 4], edi
next:   mov ecx, esi
        and ecx, 1
        call [fns + ecx * 4]
        inc esi
        cmp esi, 400
        jne top
done:   int3
f:      xor eax, 0x5a5a
        ret
g:      rol edx, 5
        add edx, eax
        ret
h:      lea edx, [edx + esi]
        ret
fn:     dd f
fns:    dd g, h
labels: dd even, done
"""


def _program() -> tuple:
    """The code and the addresses of its labels even and done."""
    code = asm(LOOP, 32, CODE)
    even, done = struct.unpack_from("<II", code, len(code) - 8)
    return code, even, done


def _unicorn(code: bytes):
    return unicorn(code, CODE, STACK, MEMORY)


def _ours(code: bytes) -> Machine:
    return pyvm(code, CODE, STACK, MEMORY)


DEFINED = 0xC5      # CF PF ZF SF: the shifts by more than one leave OF and AF undefined
NOWHERE = 0xFFFFFFF0        # Unicorn's `until` when only the count stops it


def _state_uc(emu, X) -> dict:
    return unicorn_state(emu, X, DEFINED)


def _state(m: Machine) -> dict:
    return pyvm_state(m, DEFINED)


def _uc_run(emu, X, count: int = 0, until: int = NOWHERE) -> None:
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), until, count=count)


def test_step_limits_and_single_steps_inside_traces(sampling):
    code, _, _ = _program()
    emu, X = _unicorn(code)
    m = _ours(code)
    # runs of odd lengths: most end inside a trace (its step count is exact)
    done = 0
    for n in [1, 5, 40, 3, 97, 13, 250, 7, 64, 31, 500, 11, 29, 120]:
        stop = m.run(n)
        assert stop.reason == "limit"
        _uc_run(emu, X, n)
        done += n
        assert m.steps == done
        assert _state(m) == _state_uc(emu, X), f"after {done} instructions"
    assert sampling, "no trace was built"
    assert sampling.paths >= 2, "no trace got a second path (arms: tracebuilder.py)"
    # then one instruction at a time through the traced loop
    for k in range(120):
        assert m.step() is None
        _uc_run(emu, X, 1)
        assert _state(m) == _state_uc(emu, X), f"single step {k}"
    assert m.read(0x9000, 1600) == bytes(emu.mem_read(0x9000, 1600))


def test_breakpoint_inside_a_trace(sampling):
    code, even, done = _program()
    emu, X = _unicorn(code)
    m = _ours(code)
    assert m.run(2000).reason == "limit"           # the loop's traces are built by now
    assert sampling and sampling.paths >= 2
    _uc_run(emu, X, 2000)
    for _ in range(3):      # the jz's target, in the middle of the loop's traces
        stop = m.run(until=even)
        assert stop.reason == "until" and m.eip == even
        _uc_run(emu, X, until=even)
        assert _state(m) == _state_uc(emu, X)
        assert m.step() is None             # off the breakpoint, as a debugger does
        _uc_run(emu, X, 1)
    stop = m.run(1_000_000)                 # to the end, the traces agreeing
    assert stop.reason == "fault" and stop.fault.vector == 3 and m.eip == done + 1
    _uc_run(emu, X, until=done)                 # (INT3 is a trap: eip is past it)
    assert dict(_state(m), eip=done) == _state_uc(emu, X)
    assert m.read(0x9000, 1600) == bytes(emu.mem_read(0x9000, 1600))
