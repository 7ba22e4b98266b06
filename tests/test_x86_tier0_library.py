"""The first tier's template library beside the package (vm/x86/tier0lib.py): a run
with an empty code cache takes its templates from there instead of building them.

Oracle: Unicorn for the state after runs whose templates came from the library (and
after a fault inside one); the library file's own bytes for what it may not hold (a
guest constant); file modes for where it may not be read from."""

from __future__ import annotations

import marshal
import os
import weakref

import pytest
from conftest import require_module
from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm

from vm.x86 import codecache, tier0, tier0lib

CODE, DATA, STACK, MEMORY = 0x1000, 0x8000, 0x80000, 0x100000
DEFINED = 0x8D5     # CF PF AF ZF SF OF

# distinctive constants (no template may hold one), a shift count (a shape the general
# builder refuses: its template is per constant, never in the library), a fault at the end
PROGRAM = """
        mov ebp, 0x8000
        mov ecx, 3
again:  mov eax, 0x5eed1234
        add eax, 0x0badf00d
        mov [ebp + 0x44], eax
        mov ebx, [ebp + 0x44]
        lea edi, [ebx + ecx * 4 + 0x7777]
        shl eax, 7
        sub ebx, 0x31337
        push 0x4242
        pop esi
        dec ecx
        jnz again
        mov eax, [0x00fff000 + 0x1000]
"""


@pytest.fixture
def process(tmp_path, monkeypatch):
    """A private code cache and library file; returns a function that ends this
    'process' (its templates kept) and starts the next one with an empty code cache."""
    lib = str(tmp_path / "tier0-templates.marshal")
    monkeypatch.setattr(tier0lib, "path", lambda: lib)
    monkeypatch.setattr(tier0lib.sys, "dont_write_bytecode", False)
    monkeypatch.setenv("PYVM_TIER0_LIBRARY", "1")
    monkeypatch.delenv("PYVM_CODE_CACHE", raising=False)
    count = [0]

    def fresh_cache() -> None:
        count[0] += 1
        monkeypatch.setattr(codecache, "_cache", codecache.CodeCache(
            str(tmp_path / f"blocks{count[0]}.sqlite3"), os.urandom(32)))
        monkeypatch.setattr(tier0, "_shared", {})
        monkeypatch.setattr(tier0, "_codes", {})
        monkeypatch.setattr(tier0, "_disk", {"loaded": False, "blobs": {}, "saved": False})
        monkeypatch.setattr(tier0, "_live", weakref.WeakSet())

    def next_process() -> None:
        for t in list(tier0._live):
            t.save()
        tier0._live.clear()
        fresh_cache()

    monkeypatch.setattr(codecache, "_opened", True)
    fresh_cache()
    next_process.lib = lib
    return next_process


def _counting(monkeypatch) -> list:
    made: list = []
    plain = tier0.Tier0._make

    def counting(self, insn, gen, literal, *general):
        t = plain(self, insn, gen, literal, *general)
        made.append((insn.form.mnemonic, literal, bool(general), t))
        return t

    monkeypatch.setattr(tier0.Tier0, "_make", counting)
    return made


def _run_and_check(code: bytes):
    m = pyvm(code, CODE, STACK, MEMORY)
    stop = m.run(100_000)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    uc = require_module("unicorn")
    with pytest.raises(uc.UcError) as e:    # (the same read of an unmapped page)
        emu.emu_start(CODE, CODE + len(code))
    assert e.value.errno == uc.UC_ERR_READ_UNMAPPED
    assert stop.reason == "fault"
    assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED)
    assert m.read(DATA, 0x60) == bytes(emu.mem_read(DATA, 0x60))
    return m


def test_a_first_run_takes_its_templates_from_the_library(process, monkeypatch):
    code = asm(PROGRAM, 32, CODE)
    made = _counting(monkeypatch)
    _run_and_check(code)
    general = [x for x in made if x[2]]
    assert len(general) >= 8
    process()                       # (an empty code cache: only the library is left)
    assert os.path.exists(process.lib)
    made.clear()
    m = _run_and_check(code)
    # none is made again (the shift's count is a parameter of its general template too:
    # no per-count template, which the library would not hold)
    assert made == [], made
    assert m.tr.tier0.templates


def test_the_library_holds_no_guest_constant(process):
    code = asm(PROGRAM, 32, CODE)
    m = _run_and_check(code)
    insns = [m.tr.fetch(key, key)[0] for key in m.tr.tier0.seen]
    # (an instruction's shape, and the one with its registers parameters)
    shapes = {tier0.shape(i) for i in insns} | \
        {tier0._parametric(i)[0] for i in insns if tier0._parametric(i)}
    process()
    data = open(process.lib, "rb").read()
    for value in (0x5EED1234, 0x0BADF00D, 0x31337):
        assert value.to_bytes(4, "little") not in data, hex(value)
    stamp, entries = marshal.loads(data)
    # keyed by the decoder's shapes alone (no length, ModRM byte or constants)
    assert entries and all(len(sk) == 3 and sk[0] in shapes for sk in entries)
    # the values marshal wrote as integers anywhere inside (literals, keys)
    assert not {0x5EED1234, 0x0BADF00D, 0x31337, 0x7777, 0x4242} & _ints(entries)


def _ints(obj, out=None) -> set:
    out = set() if out is None else out
    if type(obj) is int:
        out.add(obj)
    elif isinstance(obj, (tuple, list, frozenset, set)):
        for x in obj:
            _ints(x, out)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _ints(k, out)
            _ints(v, out)
    elif hasattr(obj, "co_consts"):
        _ints(obj.co_consts, out)
    return out


@pytest.mark.parametrize("damage", ["garbage", "truncated", "stale", "others_may_write"])
def test_a_damaged_stale_or_unsafe_library_is_not_used(process, monkeypatch, damage):
    code = asm(PROGRAM, 32, CODE)
    _run_and_check(code)
    process()
    lib = process.lib
    data = open(lib, "rb").read()
    if damage == "garbage":
        open(lib, "wb").write(os.urandom(len(data)))
    elif damage == "truncated":
        open(lib, "wb").write(data[:len(data) // 2])
    elif damage == "stale":     # (another version of the translator's files)
        monkeypatch.setattr(codecache, "_fingerprint", b"\x01" * 16)
    else:
        os.chmod(lib, 0o666)
    made = _counting(monkeypatch)
    _run_and_check(code)
    assert len([x for x in made if x[2]]) >= 8         # built again


def test_nothing_is_read_or_written_with_the_caches_off(process, monkeypatch):
    code = asm(PROGRAM, 32, CODE)
    _run_and_check(code)
    process()
    monkeypatch.setenv("PYVM_TIER0_LIBRARY", "0")
    made = _counting(monkeypatch)
    _run_and_check(code)
    assert len([x for x in made if x[2]]) >= 8
    assert tier0lib.load() == {} and not tier0lib.store({})
