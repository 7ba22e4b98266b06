"""First-tier templates are not built twice for the same code (vm/x86/tier0.py):

- another form of a mnemonic whose build read the same of its form (``add r/m32, imm32``,
  ``add r/m32, simm8``, ``add eax, imm32``: the builder reads the mnemonic) gets the
  template made for the first without a build (``Tier0._general``, ``_FormSeen``);
- a general shape leaves out whether the instruction has a ModRM byte and a
  displacement's size (a general template never sees them), and names the registers
  written with a scale (``Mem.scaled``) by their parameters, as its ``regs``.

Oracles: Unicorn, for the state of runs through those forms (every instruction a
first-tier instance); nasm, which assembles them (its choice of encodings is what makes
the forms differ: the short ``eax`` forms, ``strict dword`` immediates and displacements);
and random programs of such instructions (seeded) against Unicorn at every step-limit
stop."""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest
from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_tier0 import fresh  # noqa: F401  (a fixture: no code cache)

from vm.x86 import tier0

CODE, DATA, STACK, MEMORY = 0x1000, 0x8000, 0x80000, 0x100000
FLAGS = 0x8D5           # CF PF ZF SF OF: defined after each instruction below
REGS = ("eax", "ecx", "edx", "ebx", "esi", "edi")


def nasm(src: str, tmp_path) -> bytes:
    """src assembled by nasm (flat binary at CODE)."""
    if shutil.which("nasm") is None:
        pytest.fail("nasm is not installed (apt-get install -y nasm)")
    s, out = tmp_path / "t.asm", tmp_path / "t.bin"
    s.write_text(f"bits 32\norg {CODE:#x}\n{src}\n")
    subprocess.run(["nasm", "-O1", "-f", "bin", "-o", str(out), str(s)], check=True)
    return out.read_bytes()


def _run(code: bytes, monkeypatch) -> tuple:
    """(the machine after running code to its int3, checked against Unicorn with memory;
    the builder runs: (mnemonic, general or not))."""
    runs = []
    plain = tier0.Tier0._make

    def counting(self, insn, gen, literal, general=False, par=None):
        runs.append((insn.form.mnemonic, general))
        return plain(self, insn, gen, literal, general, par)

    monkeypatch.setattr(tier0.Tier0, "_make", counting)
    m = pyvm(code, CODE, STACK, MEMORY)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    assert m.run(10_000).reason == "fault"      # (each instruction runs once: first tier)
    emu.emu_start(CODE, CODE + len(code) - 1)
    want = unicorn_state(emu, X, FLAGS)
    want["eip"] += 1
    assert pyvm_state(m, FLAGS) == want
    assert m.read(DATA - 0x100, 0x300) == bytes(emu.mem_read(DATA - 0x100, 0x300))
    assert all(getattr(f.meta, "tier0", False) for f in m.tr.cache.values())
    return m, runs


SETUP = "\n".join(["mov ebp, 0x8000"] + [f"mov {r}, {0x1234567 * (i + 3) & 0xFFFFFFFF:#x}"
                                         for i, r in enumerate(REGS)])


def test_other_forms_of_a_mnemonic_share_one_build(
        fresh, monkeypatch, tmp_path):  # noqa: F811
    src = SETUP + """
        add ecx, 0x12345            ; 81 /0
        add edx, 4                  ; 83 /0
        add eax, 0x54321            ; 05 (no ModRM byte)
        add ebx, strict dword 7     ; 81 /0
        sub esi, 0x7c               ; 83 /5
        sub edi, 0xd8               ; 81 /5
        mov ecx, 0x47               ; b8+r (no ModRM byte)
        mov edx, strict dword 0x11  ; b8+r
        or dword [ebp + 0x40], 0x1000   ; 81 /1
        or dword [ebp + 0x40], 0x40     ; 83 /1
        cmp eax, 0x33               ; 83 /7
        cmp ebx, 0x75756e65         ; 81 /7
        int3
    """
    m, runs = _run(nasm(src, tmp_path), monkeypatch)
    built = [n for n, general in runs if general]
    # one build per mnemonic (before: one per form, and the short forms apart)
    assert {n: built.count(n) for n in ("add", "sub", "or", "cmp")} == \
        {"add": 1, "sub": 1, "or": 1, "cmp": 1}
    assert built.count("mov") == 1          # (the set-up's mov r32, imm32 too)
    made = m.tr.tier0.made
    tpls = {t.sk[0][0]: t for t, *_ in made.values()}
    assert len({tpls[f].code for f in tpls}) < len(tpls)     # other forms, one code


def test_scaled_registers_and_displacement_sizes_share_one_build(
        fresh, monkeypatch, tmp_path):  # noqa: F811
    src = SETUP + """
        mov dword [ebp + 0x10], 0x10
        mov dword [ebp + 0x20], 0x20
        lea eax, [ebx + ecx * 2]
        lea edx, [esi + edi * 2]
        lea esi, [eax + edx * 2]
        lea eax, [ecx + ecx * 8 + 3]
        lea edi, [ebx + ebx * 8 + 3]
        mov ecx, [dword ebp + 0x10]     ; a 32-bit displacement that fits in a byte
        mov ebx, [ebp + 0x400]
        mov edx, [ebp + 0x20]
        mov [dword ebp + 0x30], ecx
        mov [ebp + 0x30], ebx
        mov ebp, 0x7f00
        mov esi, 0x20
        mov edx, 0x40
        mov eax, [ebp + esi * 1 - 0x100]
        mov ebx, [ebp + edx * 1 - 0x100]
        int3
    """
    m, runs = _run(nasm(src, tmp_path), monkeypatch)
    built = [n for n, general in runs if general]
    # lea: [a + b * 2] and [a + a * 8 + d] (before: one per index register, four)
    assert built.count("lea") == 2
    # mov r32, imm32; mov r/m32, imm32 (memory); load; store; load with an index (before:
    # the disp32 forms and each index register apart)
    assert built.count("mov") == 5


# random programs: ALU operations in their forms, loads, stores, lea, over every register
OPS = ("add", "or", "adc", "sbb", "and", "sub", "xor", "cmp", "test", "mov")


def _operand(rnd: random.Random) -> str:
    """A memory operand at DATA (ebp) + a small offset, in one of its encodings."""
    off = rnd.choice((0, 4, 8, 0x40, 0x7c, 0xF0))
    kind = rnd.randrange(4)
    if kind == 0:
        return f"[ebp + {off}]"
    if kind == 1:
        return f"[dword ebp + {off}]"
    if kind == 2:
        return f"[ebp + {rnd.choice(('esi', 'edi'))} * 1 + {off}]"
    return f"[ebp + {off} + 0x100 - 0x100]"


def _program(seed: int) -> str:
    rnd = random.Random(seed)
    regs = REGS + ("esi", "edi")
    lines = [SETUP, "mov esi, 8", "mov edi, 4"]
    for _ in range(120):
        op = rnd.choice(OPS)
        dst = rnd.choice(("eax", "ecx", "edx", "ebx"))
        kind = rnd.randrange(7)
        imm = rnd.choice((1, 4, 0x7f, 0x80, 0x1234, 0xFFFFFF00, 0x7FFFFFFF))
        if kind == 0:
            lines.append(f"{op} {dst}, {rnd.choice(regs)}")
        elif kind == 1:
            lines.append(f"{op} {dst}, {imm:#x}")
        elif kind == 2:
            lines.append(f"{op} {dst}, strict dword {imm:#x}")
        elif kind == 3:
            lines.append(f"{op} {dst}, {_operand(rnd)}")
        elif kind == 4:
            lines.append(f"{op} dword {_operand(rnd)}, {imm:#x}")
        elif kind == 5:
            lines.append(f"{op} {_operand(rnd)}, {dst}")
        else:
            a, b, k = rnd.choice(regs[:4]), rnd.choice(regs[:4]), rnd.choice((1, 2, 4, 8))
            lines.append(f"lea {dst}, [{a} + {b} * {k} + {imm & 0xFF}]")
    return "\n".join(lines + ["int3"])


@pytest.mark.parametrize("seed", range(6))
def test_random_programs_of_sibling_forms_match_unicorn_at_every_stop(
        fresh, tmp_path, seed):  # noqa: F811
    code = nasm(_program(seed), tmp_path)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    m = pyvm(code, CODE, STACK, MEMORY)
    n = 0
    while True:
        stop = m.run(1 + n % 7)
        if stop.reason != "limit":
            break
        emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), 0xFFFFFFF0, count=m.steps - n)
        n = m.steps
        assert pyvm_state(m, FLAGS) == unicorn_state(emu, X, FLAGS), f"after {n} steps"
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), CODE + len(code) - 1)
    want = unicorn_state(emu, X, FLAGS)
    want["eip"] += 1
    assert stop.reason == "fault" and pyvm_state(m, FLAGS) == want
    assert m.read(DATA, 0x200) == bytes(emu.mem_read(DATA, 0x200))
