"""What makes the first tier's cold start cheaper (vm/x86/tier0.py): instruction bytes seen
at one start make the instance at another without decoding again (Tier0._again), and
templates whose sources differ only in their locals' names and integer literals share
one compiled function (_canonical).

Oracles: Unicorn for the state after the run and at faults; Python itself for what a
canonical function computes (the template's own source, compiled as it is)."""

from __future__ import annotations

import random
import types
import weakref

import pytest
from conftest import require_module
from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm

from vm.x86 import codecache, tier0
from vm.x86.compiler import Translator
from vm.x86.tier0 import _canonical, _renamed

CODE, DATA, STACK, MEMORY = 0x1000, 0x8000, 0x80000, 0x100000
DEFINED = 0x8D5     # CF PF AF ZF SF OF


@pytest.fixture
def fresh(monkeypatch):
    """No code cache, no templates from other tests: every template made here."""
    monkeypatch.setattr(codecache, "_opened", True)
    monkeypatch.setattr(codecache, "_cache", None)
    monkeypatch.setattr(tier0, "_shared", {})
    monkeypatch.setattr(tier0, "_codes", {})
    monkeypatch.setattr(tier0, "_disk", {"loaded": False, "blobs": {}, "saved": False})
    monkeypatch.setattr(tier0, "_live", weakref.WeakSet())


def _counting(monkeypatch, cls, name: str) -> list:
    """The first arguments (after self) of the calls of cls.name that returned something."""
    got: list = []
    plain = getattr(cls, name)

    def counting(self, *args):
        out = plain(self, *args)
        if out is not None:
            got.append(args[0])
        return out

    monkeypatch.setattr(cls, name, counting)
    return got


# the same instructions (the same bytes) at several starts, each run once or twice, with
# different registers' contents each time
REPEATED = """
        mov ecx, 2
        mov esi, 0x8000
again:  add eax, 0x1234
        mov [esi + 8], eax
        xor eax, ecx
        add eax, 0x1234
        mov [esi + 8], eax
        lea esi, [esi + 4]
        add eax, 0x1234
        mov [esi + 8], eax
        shl eax, 3
        dec ecx
        jnz again
        int3
"""


def test_the_same_bytes_at_other_starts_match_unicorn(fresh, monkeypatch):
    code = asm(REPEATED, 32, CODE)
    again = _counting(monkeypatch, tier0.Tier0, "_again")
    fetched = _counting(monkeypatch, Translator, "fetch")
    m = pyvm(code, CODE, STACK, MEMORY)
    stop = m.run(10_000)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    emu.emu_start(CODE, CODE + len(code) - 1)
    want = unicorn_state(emu, X, DEFINED)
    want["eip"] += 1            # (our run stops after the int3, a trap)
    assert stop.reason == "fault" and pyvm_state(m, DEFINED) == want
    assert m.read(DATA, 0x20) == bytes(emu.mem_read(DATA, 0x20))
    add = CODE + code.index(bytes.fromhex("0534120000"))
    twice = [CODE + i for i in range(len(code)) if code.startswith(bytes.fromhex("0534120000"), i)]
    assert len(twice) == 3 and twice[0] == add
    # the second and third "add eax, 0x1234" were not decoded: made from the first's
    assert set(twice[1:]) <= set(again) and not set(twice[1:]) & set(fetched)


@pytest.mark.parametrize("access", ["mov ebx, [esi + 0x10]", "add [esi + 0x10], ecx",
                                    "push dword [esi + 0x10]"])
def test_a_fault_at_a_start_made_from_other_bytes_is_precise(fresh, monkeypatch, access):
    """The instruction's bytes first ran at another start (without a fault): the fault
    at the second one reports the second one's address and the state before it."""
    src = f"""
        mov esi, 0x{DATA:x}
        mov ecx, 7
        {access}
        add ecx, 0x7ffffffe
        mov esi, 0x{MEMORY + 0x40:x}
        {access}
        int3
"""
    code = asm(src, 32, CODE)
    again = _counting(monkeypatch, tier0.Tier0, "_again")
    uc = require_module("unicorn")
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    with pytest.raises(uc.UcError):
        emu.emu_start(CODE, CODE + len(code))
    m = pyvm(code, CODE, STACK, MEMORY)
    stop = m.run(100)
    assert stop.reason == "fault"
    state, want = pyvm_state(m, DEFINED), unicorn_state(emu, X, DEFINED)
    if access.startswith("push"):   # Unicorn reports the push's esp write before its fault
        want["esp"] = state["esp"]
    assert state == want
    assert m.eip in again and m.eip in m.tr.tier0.seen


def test_templates_of_other_registers_share_one_function(fresh):
    """mov/add of other registers and displacements: one shape (the registers are
    parameters, tier0._parametric), one compiled code, each instance its registers."""
    src = """
        mov esi, 0x8000
        mov edi, 0x8010
        mov eax, [esi + 0x10]
        mov edx, [edi + 0x20]
        mov ebx, [esi + 0x30]
        add ecx, 0x11
        add ebp, 0x22
        add edx, 0x33
        int3
"""
    code = asm(src, 32, CODE)
    m = pyvm(code, CODE, STACK, MEMORY)
    for i, v in enumerate(range(0x8000, 0x8040, 4)):
        m.load(v, (0x01010101 * (i + 1)).to_bytes(4, "little"))
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    emu.mem_write(DATA, bytes(m.read(DATA, 0x40)))
    assert m.run(1000).reason == "fault"
    emu.emu_start(CODE, CODE + len(code) - 1)
    want = unicorn_state(emu, X, DEFINED)
    want["eip"] += 1
    assert pyvm_state(m, DEFINED) == want
    t0 = m.tr.tier0
    temps = {}
    for key, (t, *_rest) in t0.made.items():
        temps[key] = t
    loads = [CODE + code.index(asm(x, 32, 0)) for x in
             ("mov eax, [esi + 0x10]", "mov edx, [edi + 0x20]", "mov ebx, [esi + 0x30]")]
    adds = [CODE + code.index(asm(x, 32, 0)) for x in
            ("add ecx, 0x11", "add ebp, 0x22", "add edx, 0x33")]
    for group in (loads, adds):
        ts = [temps[k] for k in group]
        assert len({t.sk for t in ts}) == 1             # one shape ...
        assert len({id(t.code) for t in ts}) == 1       # ... one function
        assert len({t0.made[k][1][1:] for k in group}) == 3     # (its constants)


def _run(src: str, ns: dict, args: tuple):
    code = compile(src, "<t>", "exec")
    fcode = next(c for c in code.co_consts if isinstance(c, types.CodeType))
    return types.FunctionType(fcode, ns, "_blk")(*args)


BODY = """    eax0 = r[0]
    lzo, lzr, lza, lzb = cpu.lz
    esp0 = r[4]
    s1 = (esp0 - 4) & 0xffffffff
    t2 = (eax0 + _k1) & 0xffffffff
    if t2 > 0x7fffffff or s1 & 0xfff > 0xffc:
        r[4] = s1
    r[0] = t2 ^ lzr
    cpu.lz = (6, t2, eax0, _k1)
    ST[0] += 1
    return (_k0 + 5)
"""


def test_canonical_source_computes_what_the_source_does():
    src, lits, ren, params = _canonical(["_k0", "_k1"], BODY)
    assert params[:2] == ["_k0", "_k1"] and len(params) == 2 + len(lits)
    assert set(ren) == {"eax0", "esp0", "s1", "t2"}          # (lz* are read by name)
    assert "0xffffffff" not in src and "eax0" not in src and "lzr" in src
    rnd = random.Random(5)
    for _ in range(200):
        regs = [rnd.getrandbits(32) for _ in range(8)]
        lz = tuple(rnd.getrandbits(32) for _ in range(4))
        k = (rnd.getrandbits(32), rnd.getrandbits(32))
        outs = []
        for text, args in ((f"def _blk(_k0, _k1):\n{BODY}", k), (src, k + lits)):
            class Cpu:
                pass
            cpu = Cpu()
            cpu.lz = lz
            ns = {"r": list(regs), "cpu": cpu, "ST": [0]}
            ret = _run(text, ns, args)
            outs.append((ret, ns["r"], cpu.lz, ns["ST"]))
        assert outs[0] == outs[1]
    # the records' expressions follow the renaming
    assert _renamed("(eax0 + s1) & 0xff", ren) == f"({ren['eax0']} + {ren['s1']}) & 0xff"


@pytest.mark.parametrize("body", [
    "    x = f(a, b=1)\n",                    # a keyword argument
    "    x = f(a,\n          b)\n",           # a statement over two lines
    "    x = 'eax0'\n",                       # a string
    "    x = 1  # 2\n",                       # a comment
    "    x = {1: 2}\n",                       # braces
    "    x = (lambda y: y)(1)\n",             # a nested scope
    "    _v0 = 1\n",                          # a name like the new ones
    "    x = a . b\n",                        # an attribute across a space
])
def test_canonical_refuses_what_text_renaming_could_get_wrong(body):
    assert _canonical(["_k0"], body) is None


def test_floats_and_attributes_stay_as_they_are():
    src, lits, ren, _ = _canonical(["_k0"], "    x1 = y.z1 + 1.5 + 1e5 + 7\n    return x1.real\n")
    assert lits == (7,) and ren == {"x1": "_v0"}
    assert "y.z1" in src and "1.5" in src and "1e5" in src and "_v0.real" in src


def test_instructions_of_other_lengths_share_a_template(fresh):
    """A displacement of 8 or 32 bits: other lengths and ModRM bytes, one template (the
    length is a parameter); each returns its own next address."""
    src = """
        mov esi, 0x8000
        mov eax, [esi + 0x10]
        add eax, [esi + 0x1000]
        mov [esi + 0x14], eax
        mov [esi + 0x2000], eax
        mov eax, [esi + 0x1000]
        int3
"""
    code = asm(src, 32, CODE)
    m = pyvm(code, CODE, STACK, MEMORY)
    m.load(DATA + 0x10, (0x01020304).to_bytes(4, "little"))
    m.load(DATA + 0x1000, (0x10203040).to_bytes(4, "little"))
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    emu.mem_write(DATA, bytes(m.read(DATA, 0x2010)))
    assert m.run(1000).reason == "fault"
    emu.emu_start(CODE, CODE + len(code) - 1)
    want = unicorn_state(emu, X, DEFINED)
    want["eip"] += 1
    assert pyvm_state(m, DEFINED) == want
    assert m.read(DATA, 0x2010) == bytes(emu.mem_read(DATA, 0x2010))
    made = m.tr.tier0.made

    def at(text: str) -> int:
        return CODE + code.index(asm(text, 32, 0))

    for one, two in (("mov [esi + 0x14], eax", "mov [esi + 0x2000], eax"),
                     ("mov eax, [esi + 0x10]", "mov eax, [esi + 0x1000]")):
        (t1, c1, n1, *_), (t2, c2, n2, *_) = made[at(one)], made[at(two)]
        assert n1 != n2 and t1 is t2 and (c1[-1], c2[-1]) == (n1, n2)


def test_console_run_cold_then_warm_matches_native(tmp_path):
    """``python -m vm.linux`` as the cold-start benchmark runs it (an empty code cache,
    then warm): the collector off while its modules import, on for the run, the heap
    frozen at exit; a glibc program writing, renaming and reading files."""
    from linux.kit import build, run_native, run_pyvm
    exe = build("fileio")
    (tmp_path / "native").mkdir()
    native = run_native(exe, cwd=tmp_path / "native")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PYVM_CODE_CACHE": "1"}
    for run in ("cold", "warm"):
        (tmp_path / run).mkdir()
        got = run_pyvm(exe, cwd=tmp_path / run, env=env, module="vm.linux")
        assert (got.stdout, got.status) == (native.stdout, native.status), (run, got)
        assert sorted(p.name for p in (tmp_path / run).iterdir()) == \
            sorted(p.name for p in (tmp_path / "native").iterdir())
    assert list((tmp_path / "cache").rglob("x86-blocks-*.sqlite3"))


def test_quiet_gc_turns_the_collector_on():
    import atexit
    import gc

    from vm.startup import quiet_gc
    was = gc.get_threshold()
    gc.disable()
    try:
        quiet_gc()
        assert gc.isenabled()
        if hasattr(gc, "freeze"):
            assert gc.get_threshold()[0] == 1_000_000 and gc.get_freeze_count() > 0
    finally:
        gc.enable()
        if hasattr(gc, "freeze"):
            gc.unfreeze()
            gc.set_threshold(*was)
            atexit.unregister(gc.freeze)
