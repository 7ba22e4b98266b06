"""First-tier templates take an instruction's registers as parameters (vm/x86/tier0.py,
``_parametric``): ``add eax, ecx`` and ``add esi, edi`` are one shape, one builder run,
one template reading and writing ``r[_r0]``, ``r[_r1]``; an instruction whose template
touches one of its registers itself (``mul eax``, ``push esp``) keeps a shape of its own.

Oracle: Unicorn, for the state after every step-limit stop of a run through many
register forms (aliasing ones among them), and at a fault in the first run of a
templated instruction with register parameters. A template's fault records name no
register (its one instruction's starting state is all in ``r[]``); one that named a
parameter would name the template's registers, not the instance's, and is refused.
A shape with register parameters the builder refused at a look (at a constant, at the
length) makes no build of the shape with its registers as they are that fails there too."""

from __future__ import annotations

import pytest
from conftest import require_module
from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm
from test_x86_tier0 import fresh  # noqa: F401  (a fixture: no code cache)

from vm.x86 import emit, tier0

CODE, DATA, STACK, MEMORY = 0x1000, 0x8000, 0x80000, 0x100000
FLAGS = 0x801       # CF OF: defined after every instruction below (mul, imul, bswap...)
REGS = ("eax", "ecx", "edx", "ebx", "esi", "edi", "ebp")

# register forms, three times round (first runs, then kept instances), ending at int3
FORMS = """
        mov ebp, 0x8000
        mov eax, 0x12345678
        mov ecx, 0x9abcdef0
        mov edx, 0x0fedcba9
        mov ebx, 0x87654321
        mov esi, 0x11111111
        mov edi, 0x7ffffff0
        mov dword [ebp - 4], 3
again:  add eax, ecx
        add edx, ebx
        add esi, edi
        sub ecx, [ebp + 4]
        mov [ebp + 8], esi
        mov [ebp + 12], edx
        lea ebx, [esi + edi * 2 + 0x10]
        lea ecx, [ecx * 5]
        sub esp, 16
        mov [esp + 4], eax
        mov ebx, [esp + 4]
        push esp
        push ecx
        pop edx
        pop esi
        add esp, 16
        mul ecx
        mul eax
        mul ebx
        xchg ecx, edx
        xchg esi, edi
        movzx ecx, ah
        movzx edx, bl
        mov ah, al
        mov dh, cl
        mov bl, bh
        xor ecx, ecx
        or ecx, 0x1234
        cmpxchg edx, ecx
        cmpxchg eax, ecx
        xadd esi, edi
        bswap ebx
        imul edi, esi, 7
        cmp esi, edi
        cmovb esi, edi
        setc cl
        neg edi
        adc eax, [ebp + 8]
        dec dword [ebp - 4]
        jnz again
        int3
"""


def _starts(src: str) -> dict:
    """Each line's address (the lines before the loop's closing jump), by its text."""
    lines = [x.strip() for x in src.strip().splitlines()]
    end = next(i for i, x in enumerate(lines) if x.startswith("jnz"))
    return {x.partition(":  ")[2] or x: CODE + len(asm("\n".join(lines[:i]), 32, CODE))
            for i, x in enumerate(lines[:end])}


def test_register_forms_match_unicorn_at_every_step_limit(fresh):  # noqa: F811
    code = asm(FORMS, 32, CODE)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    m = pyvm(code, CODE, STACK, MEMORY)
    n = 0
    while True:     # (a run within MAX_BLOCK (48) of its limit single-steps)
        stop = m.run(60 + n % 11)
        if stop.reason != "limit":
            break
        emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), 0xFFFFFFF0, count=m.steps - n)
        n = m.steps
        assert pyvm_state(m, FLAGS) == unicorn_state(emu, X, FLAGS), f"after {n} steps"
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), CODE + len(code) - 1)
    want = unicorn_state(emu, X, FLAGS)
    want["eip"] += 1
    assert stop.reason == "fault" and pyvm_state(m, FLAGS) == want
    assert m.read(DATA - 16, 0x40) == bytes(emu.mem_read(DATA - 16, 0x40))
    assert m.read(STACK - 32, 32) == bytes(emu.mem_read(STACK - 32, 32))
    whole = pyvm(code, CODE, STACK, MEMORY)      # (every start in the first tier)
    assert whole.run(10_000).reason == "fault" and pyvm_state(whole, FLAGS) == want
    made, at = whole.tr.tier0.made, _starts(FORMS)

    def template(text: str):
        return made[at[text]][0]

    # one template for other registers, its registers parameters ...
    adds = {template(x) for x in ("add eax, ecx", "add edx, ebx", "add esi, edi")}
    assert len(adds) == 1 and adds.pop().nregs == 2
    assert template("mul ecx") is template("mul ebx") and template("mul ecx").nregs == 1
    assert template("mov [esp + 4], eax") is template("mov [ebp + 8], esi")
    # ... but an instruction whose template touches its register itself: its own
    assert template("mul eax").nregs == 0 and template("push esp").nregs == 0
    assert template("push ecx").nregs == 1
    assert template("cmpxchg edx, ecx") is not template("cmpxchg eax, ecx")
    assert template("lea ecx, [ecx * 5]").nregs == 1      # ([ecx + ecx * 4]: one parameter)


def _run_counting(src: str, monkeypatch) -> tuple:
    """(the machine after running src to its int3, checked against Unicorn; the kinds
    of the builder runs by mnemonic: "par" with register parameters, "gen" general,
    "len" with the length and ModRM byte, "lit" with the constants as they are)."""
    runs = []
    plain = tier0.Tier0._make

    def counting(self, insn, gen, literal, general=False, par=None):
        runs.append((insn.form.mnemonic,
                     "par" if par else "gen" if general else "lit" if literal else "len"))
        return plain(self, insn, gen, literal, general, par)

    monkeypatch.setattr(tier0.Tier0, "_make", counting)
    monkeypatch.setattr(tier0, "_looks", {})
    code = asm(src, 32, CODE)
    m = pyvm(code, CODE, STACK, MEMORY)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    assert m.run(1000).reason == "fault"
    emu.emu_start(CODE, CODE + len(code) - 1)
    want = unicorn_state(emu, X, 0x8D5)
    want["eip"] += 1
    assert pyvm_state(m, 0x8D5) == want
    return m, runs


def test_one_builder_run_for_an_operation_over_every_register_pair(
        fresh, monkeypatch):  # noqa: F811
    lines = ["mov ebp, 0x8000"] + \
        [f"mov {r}, {0x1111 * (i + 1):#x}" for i, r in enumerate(REGS[:-1])]
    pairs = [(a, b) for a in REGS for b in REGS if a != b]
    lines += [f"add {a}, {b}" for a, b in pairs] + ["int3"]
    m, runs = _run_counting("\n".join(lines), monkeypatch)
    at = CODE + len(asm("\n".join(lines[:len(REGS)]), 32, CODE))    # the first add
    assert len({t for t, *_ in m.tr.tier0.made.values()}) == 3      # mov, add, int3
    assert m.tr.tier0.made[at][0].nregs == 2
    assert [n for n, _ in runs].count("add") == 1       # (42 shapes, one each, before)


@pytest.mark.parametrize("access", ["load", "store", "rmw", "xchg", "divide"])
def test_fault_in_an_instance_with_register_parameters_is_precise(fresh, access):  # noqa: F811
    """The faulting instruction is the first run of its start, from a template with
    register parameters: registers, flags and eip are those before it, as Unicorn
    reports them (r[] as the instance found it: its fault records name no register)."""
    insn = {"load": "mov edx, [ecx + esi * 4]", "store": "mov [edi + ebx * 2 + 8], edx",
            "rmw": "add [ebp + esi], ecx", "xchg": "xchg [edi + 0x10], ebx",
            "divide": "div ebx"}[access]
    src = f"""
        mov ecx, {MEMORY:#x}
        mov esi, 0x10
        mov edi, {MEMORY + 0x100:#x}
        mov ebx, {0 if access == "divide" else 0x20}
        mov ebp, {MEMORY + 0x200:#x}
        mov edx, 0x3333
        mov eax, 0x4444
        add eax, 0x7ffffffe
        {insn}
        int3
"""
    code = asm(src, 32, CODE)
    uc = require_module("unicorn")
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    with pytest.raises(uc.UcError):
        emu.emu_start(CODE, CODE + len(code))
    m = pyvm(code, CODE, STACK, MEMORY)
    stop = m.run(100)
    assert stop.reason == "fault" and m.steps == 8
    assert pyvm_state(m, 0x8D5) == unicorn_state(emu, X, 0x8D5)
    assert m.eip in m.tr.tier0.seen and m.eip not in m.tr.cache     # a first run
    assert m.tr.tier0.made[m.eip][0].nregs >= 1
    assert stop.fault.insn.address == m.eip
    assert all(not regs for _, _, regs, _ in m.tr.tier0.made[m.eip][0].insns)


def test_a_record_naming_a_register_parameter_refuses_the_template(
        fresh, monkeypatch):  # noqa: F811
    """Should a builder ever record a parameter's slot (none does: Builder._mark at the
    one instruction's start finds no register in a local), the template is refused and
    the instruction gets the shape with its registers as they are."""
    plain = tier0._SymBuilder._mark

    def naming_a_parameter(self):
        plain(self)
        if len(self.ver) > tier0.NSLOTS:
            self.meta.insns[-1].regs = ((emit.PARAM_SLOTS[0], "gpa0"),)

    monkeypatch.setattr(tier0._SymBuilder, "_mark", naming_a_parameter)
    m, _ = _run_counting("mov eax, 5\nmov ecx, 7\nadd eax, ecx\nadd esi, edi\nint3",
                         monkeypatch)
    at = CODE + len(asm("mov eax, 5\nmov ecx, 7", 32, CODE))
    t = m.tr.tier0.made[at][0]
    assert t.nregs == 0 and t is not m.tr.tier0.made[at + 2][0]


def test_a_shape_refused_at_a_constant_builds_no_general_template_for_other_registers(
        fresh, monkeypatch):  # noqa: F811
    """A builder that looks at a constant (as shl's did before its count became a
    parameter: a shift by a symbol): the shape with register parameters is refused
    there, and so would the general one with the registers as they are: each
    instruction gets its template with the constants as they are and nothing else
    (before: a general build bound to fail per register)."""
    shl = emit.SEMANTICS["shl"]

    def looking_at_the_count(b, insn):
        if insn.operands[1].value == 3:     # (ValueUsed where the count is a parameter)
            pass
        return shl(b, insn)

    monkeypatch.setitem(emit.SEMANTICS, "shl", looking_at_the_count)
    _, runs = _run_counting("mov eax, 1\nmov ecx, 2\nshl eax, 3\nshl ecx, 5\nshl edx, 7\n"
                            "int3", monkeypatch)
    assert [k for n, k in runs if n == "shl"] == ["par", "lit", "lit", "lit"]


def test_a_shape_refused_at_its_length_builds_no_general_template(
        fresh, monkeypatch):  # noqa: F811
    """A builder that looks at the instruction's length (unseen in a general template)
    refuses the shape with register parameters there, and would the general one with
    the registers as they are: the instructions get the shape with their length and
    ModRM byte at once (before: a general build bound to fail first, per register)."""
    add = emit.SEMANTICS["add"]

    def looking_at_the_length(b, insn):
        insn.length + 0         # (_UnseenUsed where the length is a parameter)
        return add(b, insn)

    monkeypatch.setitem(emit.SEMANTICS, "add", looking_at_the_length)
    _, runs = _run_counting("mov eax, 5\nmov ecx, 7\nadd eax, ecx\nadd esi, edi\n"
                            "add ebx, eax\nint3", monkeypatch)
    assert [k for n, k in runs if n == "add"] == ["par", "len", "len", "len"]
