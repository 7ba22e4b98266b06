"""The first tier's cold path (vm/x86/tier0.py): what a program's first run pays to make
its templates.

Oracles: Unicorn for the state after shifts and rotates by immediates run once each in
the first tier (their general template is refused, so they get literal templates);
Python itself for template canonicalisation (a body and its canonical function must
compute the same)."""

from __future__ import annotations

import weakref

import pytest
from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm

from vm.x86 import codecache, tier0

CODE, DATA, STACK, MEMORY = 0x1000, 0x8000, 0x80000, 0x100000
SHIFT_FLAGS = 0xC5      # CF PF ZF SF: defined after a shift or rotate by a nonzero count

SHIFTS = """
        mov ebp, 0x8000
        mov eax, 0x87654321
        mov ebx, 0x12345678
        mov ecx, 0xdeadbeef
        mov edx, 0x0badf00d
        mov dword [ebp + 8], 0x80000001
        shl eax, 3
        shr ebx, 5
        sar ecx, 7
        rol edx, 9
        ror eax, 13
        shl ebx, 1
        sar dword [ebp + 8], 2
        shr dword [ebp + 8], 1
        rol word [ebp + 8], 4
        shld eax, ebx, 11
        shrd ecx, edx, 17
        shl si, 2
        shr bl, 3
        int3
"""


@pytest.fixture
def fresh(monkeypatch):
    """No code cache, no template library: every template is made in this run."""
    monkeypatch.setattr(codecache, "_opened", True)
    monkeypatch.setattr(codecache, "_cache", None)
    monkeypatch.setattr(tier0, "_shared", {})
    monkeypatch.setattr(tier0, "_disk", {"loaded": False, "blobs": {}, "saved": False})
    monkeypatch.setattr(tier0, "_live", weakref.WeakSet())
    monkeypatch.setenv("PYVM_TIER0_LIBRARY", "0")


def test_shifts_by_immediates_match_unicorn_and_skip_the_futile_shape(fresh, monkeypatch):
    """A shift by an immediate looks at its count: the general template is refused at
    that look, so the shape with the length and ModRM byte (whose builder would take
    the same decisions up to that look) is not built: the literal template is next."""
    code = asm(SHIFTS, 32, CODE)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    m = pyvm(code, CODE, STACK, MEMORY)
    calls = []
    plain = tier0.Tier0._make

    def counting(self, insn, gen, literal, general=False, *args):
        t = plain(self, insn, gen, literal, general, *args)
        calls.append((insn.form.mnemonic, literal, general, t is not None))
        return t

    monkeypatch.setattr(tier0.Tier0, "_make", counting)
    stop = m.run(1000)
    emu.emu_start(CODE, CODE + len(code) - 1)       # up to the int3
    assert stop.reason == "fault"
    want = unicorn_state(emu, X, SHIFT_FLAGS)
    want["eip"] += 1
    assert pyvm_state(m, SHIFT_FLAGS) == want
    assert m.read(DATA, 16) == bytes(emu.mem_read(DATA, 16))
    shifts = [c for c in calls if c[0] in ("shl", "shr", "sar", "rol", "ror", "shld", "shrd")]
    assert any(lit and ok for _, lit, _, ok in shifts)       # (literal templates ran)
    assert not [c for c in shifts if not c[1] and not c[2]], shifts    # (no futile one)
    assert len(m.tr.tier0.seen) >= 15       # (each ran in the first tier)


def _run(src: str, env: dict):
    ns = dict(env)
    exec(src, ns)
    return ns["_blk"]


BODIES = [
    # (body, globals it reads): locals renamed, literals made parameters
    ("    a0 = r[2]\n    b1 = (a0 + 0x10) & 0xffffffff\n    r[5] = b1\n"
     "    ST[0] += 1\n    return (_k0 + _k1)", {}),
    ("    x, y = r[1], r[3]\n    x += 7\n    y ^= x << 2\n    r[0] = y\n"
     "    return x * 3 + y", {}),
    ("    c = r[4] & 255\n    lzo = c + 1\n    m2 = mem[c:c + 4]\n"
     "    return lzo + len(m2) + 0", {}),
    ("    v = 1.5\n    w = r[6]\n    return int(v * 2) + w + 1_000", {}),
    # a keyword argument named like a local: its name must not be renamed
    ("    key = r[2]\n    return f(key=key + 1)", {"f": lambda key: key * 2}),
    ("    key = r[2]\n    return f(1, key =key)", {"f": lambda a, key: a + key}),
    ("    o1 = cpu.lz\n    cpu.lz = (14, None, o1, 0x7f)\n    return (_k0 + 0)", {}),
]


class _Cpu:
    lz = (1, None, 2, 3)


@pytest.mark.parametrize("body,extra", BODIES)
def test_canonical_template_computes_what_its_body_computes(body, extra):
    head = ["_k0", "_k1"]
    env = {"r": list(range(100, 108)), "ST": [0], "mem": bytes(range(256)) * 2,
           "cpu": _Cpu(), **extra}
    plain = _run(f"def _blk({', '.join(head)}):\n{body}", {**env, "r": list(env["r"]),
                                                          "ST": [0], "cpu": _Cpu()})
    want_env = {"r": list(env["r"]), "ST": [0], "cpu": _Cpu()}
    want = plain.__globals__
    got = tier0._canonical(head, body)
    result = plain(0x1000, 5)
    if got is None:
        return                      # (refused: the shape uses its plain source)
    src, lits, ren, params = got
    assert params[:2] == head and len(params) == 2 + len(lits)
    ns = {**env, **want_env}
    fn = _run(src, ns)
    fn.__defaults__ = tuple(lits)
    assert fn(0x1000, 5) == result
    for name in ("r", "ST"):
        assert ns[name] == want[name], name
    assert ns["cpu"].lz == want["cpu"].lz
    # (the precise-fault records name the renamed locals: every assigned name is in ren
    # or kept as it is, and the new names are locals of the compiled function)
    code = fn.__code__
    assert set(ren.values()) <= set(code.co_varnames)
    # (the unwinding reads the loop counter and the lazy flags by these names)
    assert {"c", "lzo"} & set(plain.__code__.co_varnames) <= set(code.co_varnames)


def test_a_look_at_an_unseen_field_is_told_from_one_at_a_constant():
    """Tier0.instance skips the shape with the length and ModRM byte only when the
    general template failed at a constant: a failure at an unseen field (the length, the
    ModRM byte, a displacement's size) must raise the unseen field's own error, however
    the symbol meets it."""
    k, unseen = tier0.Sym("_k1", True), tier0._UNSEEN
    for look in (lambda: k + unseen, lambda: unseen + k, lambda: k << unseen,
                 lambda: k & unseen, lambda: k - unseen, lambda: 4 + unseen,
                 lambda: bool(unseen), lambda: f"{unseen:#x}"):
        with pytest.raises(tier0._UnseenUsed):
            look()
    for look in (lambda: k << k, lambda: k & 1.5, lambda: bool(k + 1), lambda: k == 1):
        with pytest.raises(tier0.ValueUsed) as e:
            look()
        assert type(e.value) is tier0.ValueUsed
