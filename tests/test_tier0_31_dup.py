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
and random programs of such instructions (seeded; sign-extended 8-bit immediates beside
their full-size forms, with 66/67/F0 prefixes), run in one go in the first tier, each
instruction's registers and flags pushed after it and compared with Unicorn's. They fail
with a sharing that looks up a sibling by less than it should (the mnemonic or the rest
of the shape left out); a builder reading more of its form than the mnemonic (none does
today but jcc's opcode and jmp's operand, alike in effect) is checked with one made up."""

from __future__ import annotations

import ast
import pathlib
import random
import shutil
import struct
import subprocess

import pytest
from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_tier0 import fresh  # noqa: F401  (a fixture: no code cache)

from asm.x86.decoder import decode
from asm.x86.table import Form
from vm.x86 import tier0
from vm.x86.emit import SEMANTICS

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


def _run(code: bytes, monkeypatch, oracle: bool = True) -> tuple:
    """(the machine after running code to its int3, checked against Unicorn with memory
    (``oracle``); the builder runs: (mnemonic, general or not))."""
    runs = []
    plain = tier0.Tier0._make

    def counting(self, insn, gen, literal, general=False, par=None):
        runs.append((insn.form.mnemonic, general))
        return plain(self, insn, gen, literal, general, par)

    monkeypatch.setattr(tier0.Tier0, "_make", counting)
    m = pyvm(code, CODE, STACK, MEMORY)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    assert m.run(10_000).reason == "fault"      # (each instruction runs once: first tier)
    assert len(m.tr.tier0.made) >= m.steps - 1
    if not oracle:
        return m, runs
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


def test_a_build_that_reads_more_of_its_form_gets_one_per_value(
        fresh, monkeypatch, tmp_path):  # noqa: F811
    """A builder whose code depends on what it reads of the form beyond the mnemonic
    (here the opcode: the 81 form adds twice) gets a build per value of it: the 81 form
    does not get the 83 form's template (the sharing checks what the build read)."""
    real = SEMANTICS["add"]

    def twice_for_81(b, i):
        real(b, i)
        if i.form.opcode == b"\x81":
            real(b, i)

    monkeypatch.setitem(SEMANTICS, "add", twice_for_81)
    src = "mov eax, 0x100\nmov ecx, 0x200\nmov edx, 0x300\n" \
          "add eax, 5\nadd ecx, strict dword 5\nadd edx, strict dword 7\nint3"
    m, runs = _run(nasm(src, tmp_path), monkeypatch, oracle=False)
    assert [m.reg(r) for r in ("eax", "ecx", "edx")] == [0x105, 0x20A, 0x30E]
    assert [n for n, general in runs if general].count("add") == 2


def test_form_seen_notes_isinstance_and_missing_attributes():
    insn = decode(bytes([0x83, 0xC0, 0x05]))        # add eax, 5
    seen: dict = {}
    form = tier0._FormSeen(insn.form, seen)
    assert isinstance(form, Form) and seen == {"index": insn.form.index}     # (pinned)
    seen.clear()
    assert getattr(form, "no_such", 7) == 7 and not hasattr(form, "nor_this")
    assert seen == {"no_such": tier0._NO, "nor_this": tier0._NO}
    seen.clear()
    assert form.mnemonic == "add" and seen == {"mnemonic": "add"}


def _form_tests(tree: ast.AST) -> list:
    """The identity tests, type() and id() of an ``x.form`` in tree: what _FormSeen
    cannot note; also of ``.modrm`` and ``.disp_size``, which a general build sees as
    _UNSEEN (an ``is None`` of it is a silent False, not a refused build)."""
    def is_form(e: ast.AST) -> bool:
        return isinstance(e, ast.Attribute) and e.attr in ("form", "modrm", "disp_size")

    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Compare) and any(isinstance(o, (ast.Is, ast.IsNot))
                                              for o in n.ops):
            if any(is_form(e) for e in (n.left, *n.comparators)):
                out.append(n.lineno)
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and \
                n.func.id in ("type", "id") and n.args and is_form(n.args[0]):
            out.append(n.lineno)
    return out


def test_no_builder_tests_a_form_by_identity_or_type():
    assert _form_tests(ast.parse("a = i.form is b\nc = type(insn.form)\nd = i.form.x\n"
                                 "e = op.disp_size is None\nf = i.modrm is not None")) == \
        [1, 2, 4, 5]
    root = pathlib.Path(tier0.__file__).parent
    found = {p.name: _form_tests(ast.parse(p.read_text())) for p in root.glob("*.py")}
    assert {k: v for k, v in found.items() if v} == {}


# random programs, run in one go (so that every instruction is a first-tier instance): ALU
# operations, imul and push in their forms (the sign-extended 8-bit immediates, negative,
# beside their full-size forms with the same value; 66, 67 and F0 prefixes), loads,
# stores, lea; each instruction's registers and flags pushed (pushad, pushfd) after it
ALU = ("add", "or", "adc", "sbb", "and", "sub", "xor", "cmp")
OPS = ALU + ("test", "mov")
NUM = {r: i for i, r in enumerate(("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"))}
DST = ("eax", "ecx", "edx", "ebx")      # (esp, ebp, esi and edi keep the addresses)
CF_OF = 0x801                           # the flags imul defines
RECORD = 36                             # pushad + pushfd


def _db(*b: int) -> str:
    return "db " + ", ".join(f"{x & 0xFF:#x}" for x in b)


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


def _sx8(rnd: random.Random, alu: int) -> tuple:
    """An instruction with a sign-extended 8-bit immediate (83 /alu, 6B, 6A; negative
    mostly) and its full-size twin (81 /alu, 69, 68) with the same value, in nasm's bytes
    (a prefix 66, 67 or F0 on some), and the flags defined after them."""
    v = rnd.choice((-1, -2, -0x80, -0x7F, -0x10, -5, 0x7F, 3))
    w4 = tuple((v & 0xFFFFFFFF).to_bytes(4, "little"))
    w2 = w4[:2]
    r, q = NUM[rnd.choice(DST)], NUM[rnd.choice(DST + ("esi", "edi"))]
    d = rnd.choice((0, 4, 8, 0x40))
    op = 0xC0 | alu << 3 | r            # (ModRM: op r, ...)
    kind = rnd.randrange(9)
    if kind == 0:           # op r32, simm8 / imm32
        return _db(0x83, op, v), _db(0x81, op, *w4), FLAGS
    if kind == 1:           # op r16, simm8 / imm16
        return _db(0x66, 0x83, op, v), _db(0x66, 0x81, op, *w2), FLAGS
    if kind == 2:           # op r32, simm8 with an unused 67 / op eax, imm32
        return _db(0x67, 0x83, op, v), _db(0x05 | alu << 3, *w4), FLAGS
    if kind == 3:           # op dword [ebp + d], simm8 / imm32 (lock: not cmp)
        lock = (0xF0,) if alu != 7 and rnd.randrange(2) else ()
        return (_db(*lock, 0x83, 0x45 | alu << 3, d, v),
                _db(*lock, 0x81, 0x45 | alu << 3, d, *w4), FLAGS)
    if kind == 4:           # op word [bp + d], simm8 / imm16 (16-bit addressing, 66 67)
        return (_db(0x66, 0x67, 0x83, 0x46 | alu << 3, d, v),
                _db(0x66, 0x67, 0x81, 0x46 | alu << 3, d, *w2), FLAGS)
    rr = 0xC0 | r << 3 | q              # (ModRM: imul r, q, ...)
    if kind == 5:           # imul r32, r/m32, simm8 / imm32
        return _db(0x6B, rr, v), _db(0x69, rr, *w4), CF_OF
    if kind == 6:           # imul r16, r/m16, simm8 / imm16; imul r32, [ebp + d], simm8
        if rnd.randrange(2):
            return _db(0x66, 0x6B, rr, v), _db(0x66, 0x69, rr, *w2), CF_OF
        return _db(0x6B, 0x45 | r << 3, d, v), _db(0x69, 0x45 | r << 3, d, *w4), CF_OF
    reg = rnd.choice(DST)
    if kind == 7:           # push simm8 / imm32 (also with an unused 67)
        pre = rnd.choice(((), (0x67,)))
        return (_db(*pre, 0x6A, v) + f"\npop {reg}", _db(*pre, 0x68, *w4) + f"\npop {reg}",
                FLAGS)
    return _db(0x66, 0x6A, v) + f"\npop {reg[1:]}", _db(0x66, 0x68, *w2) + f"\npop {reg[1:]}", \
        FLAGS


def _program(seed: int) -> tuple:
    """(the source, one flag mask per record: the flags defined after its instruction)."""
    rnd = random.Random(seed)
    regs = DST + ("esi", "edi")
    items = []
    for _ in range(60):
        op = rnd.choice(OPS)
        dst = rnd.choice(DST)
        kind = rnd.randrange(10)
        imm = rnd.choice((1, 4, 0x7f, 0x80, 0x1234, 0xFFFFFF00, 0x7FFFFFFF, 0xFFFFFFFB))
        if kind == 0:
            items.append((f"{op} {dst}, {rnd.choice(regs)}", FLAGS))
        elif kind == 1:
            items.append((f"{op} {dst}, {imm:#x}", FLAGS))
        elif kind == 2:
            items.append((f"{op} {dst}, strict dword {imm:#x}", FLAGS))
        elif kind == 3:
            items.append((f"{op} {dst}, {_operand(rnd)}", FLAGS))
        elif kind == 4:
            items.append((f"{op} dword {_operand(rnd)}, {imm:#x}", FLAGS))
        elif kind == 5:
            items.append((f"{op} {_operand(rnd)}, {dst}", FLAGS))
        elif kind == 6:
            a, b, k = rnd.choice(regs[:4]), rnd.choice(regs[:4]), rnd.choice((1, 2, 4, 8))
            items.append((f"lea {dst}, [{a} + {b} * {k} + {imm & 0xFF}]", FLAGS))
        else:               # the short form and its twin, one after the other or apart
            short, full, mask = _sx8(rnd, rnd.randrange(8))
            pair = [(short, mask), (full, mask)]
            rnd.shuffle(pair)
            items += pair
    rnd.shuffle(items)
    lines = [SETUP, "mov esi, 8", "mov edi, 4"]
    for text, mask in items:
        lines += [text, "pushad", "pushfd"]
        if mask != FLAGS:
            lines.append("cmp eax, ebx")      # (the undefined flags defined again)
    return "\n".join(lines + ["int3"]), [mask for _, mask in items], [t for t, _ in items]


def _records(data: bytes, masks: list) -> list:
    """The records pushed (pushfd, then pushad's edi .. eax), the first one's first, its
    flags masked."""
    out = []
    for i, mask in enumerate(masks):
        off = len(data) - RECORD * (i + 1)
        rec = struct.unpack_from("<9I", data, off)
        out.append((rec[0] & mask, *rec[1:]))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_random_programs_of_sibling_forms_match_unicorn_in_the_first_tier(
        fresh, monkeypatch, tmp_path, seed):  # noqa: F811
    src, masks, texts = _program(seed)
    code = nasm(src, tmp_path)
    calls, builds = [], []
    general, make = tier0.Tier0._general, tier0.Tier0._make

    def counting_general(self, sk, insn, gen, par=None):
        calls.append(insn.form.index)
        return general(self, sk, insn, gen, par)

    def counting_make(self, insn, gen, literal, general=False, par=None):
        if general:
            builds.append(insn.form.index)
        return make(self, insn, gen, literal, general, par)

    monkeypatch.setattr(tier0.Tier0, "_general", counting_general)
    monkeypatch.setattr(tier0.Tier0, "_make", counting_make)
    m = pyvm(code, CODE, STACK, MEMORY)
    stop = m.run(100_000)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    emu.emu_start(CODE, CODE + len(code) - 1)
    want = unicorn_state(emu, X, FLAGS)
    want["eip"] += 1
    assert stop.reason == "fault"
    low = STACK - RECORD * len(masks)
    got = _records(m.read(low, STACK - low), masks)
    ref = _records(bytes(emu.mem_read(low, STACK - low)), masks)
    for i, text in enumerate(texts):
        assert [hex(v) for v in got[i]] == [hex(v) for v in ref[i]], \
            f"after {text!r} (record {i}: eflags, edi .. eax)"
    assert want["esp"] == low
    assert pyvm_state(m, FLAGS) == want
    assert m.read(DATA - 0x100, 0x300) == bytes(emu.mem_read(DATA - 0x100, 0x300))
    # every instruction ran in the first tier (none in a real block: they run once) ...
    tr = m.tr
    assert all(getattr(f.meta, "tier0", False) for f in tr.cache.values())
    assert len(tr.tier0.made) >= m.steps - 1 >= 3 * len(masks)
    # ... and templates were shared: other forms got one without a build
    assert len(builds) < len(calls)
    shared = {}
    for t, *_ in tr.tier0.made.values():
        shared.setdefault(t.code, set()).add(t.sk[0][0])
    assert sum(len(f) > 1 for f in shared.values()) >= 8
