"""pyasm under PyPy, round 29: parse templates stored as plain data (asm/plaindata.py)
instead of pickles, and the line-shape lookups' str-method forms of two regular
expressions (asm/shapes.py). Oracles: pickle (a thawed template is what unpickling
gives; copyreg's slot names), the regular expressions themselves, and nasm (same bytes
from a warm store, and for a template too deep to store)."""

from __future__ import annotations

import copyreg
import marshal
import os
import pickle
import random
import subprocess
import sys

from conftest import require_tool

from asm import grammar, plaindata, shapes
from asm import parser as P

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_LINES = [
    "mov eax, [ebx+740]", "L3: lea edx, [esi+edi*4+814]", "jne L2", "push esi",
    "mov byte [edi+962], 26", "sub dword [ebp-999], 13813", "x: db 'ab', 0, 1.5",
    "times 4 dw 1+2*3", "y equ 5 << 2", "dd x wrt ..sym", "call far [bx]",
    "jmp 0x10:0x20", "mov ax, seg x", "resd 10", "incbin 'f', 2, 3", "dq -1.5e3",
    "mov eax, (1 ? 2 : 3)", "add ax, ~5 + -x", "rep movsb", "lock add [eax], ebx",
    "dt 1.0, 2", "mov cr0, eax", "fadd st0, st1", "db `a\\n`",
]


def _same(a, b, ma: dict, mb: dict) -> bool:
    """Equal classes and state, and the same objects shared (what pickle keeps)."""
    ta = type(a)
    if ta is not type(b):
        return False
    if ta in (type(None), bool, int, float, str, bytes):
        return a == b
    if (id(a) in ma) != (id(b) in mb):
        return False
    if id(a) in ma:
        return ma[id(a)] == mb[id(b)]
    ma[id(a)] = mb[id(b)] = len(ma)
    if ta in (tuple, list):
        return len(a) == len(b) and all(_same(x, y, ma, mb) for x, y in zip(a, b))
    da, db = getattr(a, "__dict__", None), getattr(b, "__dict__", None)
    if (da is None) != (db is None) or (da is not None and list(da) != list(db)):
        return False
    if da is not None and not all(_same(da[k], db[k], ma, mb) for k in da):
        return False
    for name in plaindata._slot_names(ta):
        owner = next(c for c in ta.__mro__ if name in c.__dict__)
        got = []
        for obj in (a, b):
            try:
                got.append((owner.__dict__[name].__get__(obj, owner),))
            except AttributeError:
                got.append(None)
        if (got[0] is None) != (got[1] is None):
            return False
        if got[0] is not None and not _same(got[0][0], got[1][0], ma, mb):
            return False
    return True


def test_thawed_templates_are_what_pickle_gives(monkeypatch):
    made = []
    real = grammar.parse_template

    def parse_template(tokens, start, slotted):
        raw = real(tokens, start, slotted)
        made.append(raw)
        return raw

    monkeypatch.setattr(grammar, "parse_template", parse_template)
    monkeypatch.setattr(P, "_stored", {})
    monkeypatch.setattr(P, "_templates", {})
    monkeypatch.setattr(P, "_used", {})
    monkeypatch.setattr(P, "_dirty", True)      # (no store written by this test)
    for line in _LINES:
        try:
            P._parse_line(line)
        except Exception:
            pass
    assert len(made) > 15
    for raw in made:
        frozen = plaindata.freeze(raw)
        assert frozen is not None
        thawed = plaindata.thaw(marshal.loads(marshal.dumps(frozen)))
        assert _same(pickle.loads(pickle.dumps(raw, protocol=pickle.HIGHEST_PROTOCOL)),
                     thawed, {}, {})


def test_freeze_refuses_what_it_cannot_encode():
    assert plaindata.freeze({"a": 1}) is None
    assert plaindata.freeze(P.CExpr(P.E.Num(1))) is None    # (its __getattr__ makes fn)
    shared = P.Slot(0, "number")
    thawed = plaindata.thaw(plaindata.freeze((shared, [shared], ("\0o", 1))))
    assert thawed[0] is thawed[1][0] and thawed[2] == ("\0o", 1)


def test_str_method_forms_match_the_regular_expressions():
    # (shapes' own regular expressions, which CPython uses: the oracle of the PyPy forms)
    rnd = random.Random(29)
    for _ in range(60_000):
        text = "".join(rnd.choice("aZ_9.$#@~?: \t;\n[],+-'\f") for _ in range(rnd.randint(0, 10)))
        if rnd.random() < 0.3:
            text = rnd.choice(("jne ", "L1: ", " call\t", ".x:")) + text
        m = shapes._HEAD.match(text)
        assert shapes._head(text) == (None if m is None else (m.group(1), m.group(2),
                                                              m.start(2))), repr(text)
        m = shapes._BRANCH.match(text)
        assert shapes._branch_words(text) == (None if m is None else m.groups()), repr(text)


def test_pypy_warm_template_store_gives_nasms_bytes(tmp_path):
    pypy = require_tool("pypy3")
    nasm = require_tool("nasm")
    from vm.bench.assembler import generate
    src = tmp_path / "g.asm"
    src.write_text(generate(3000) + "section .data\nx: db 'a', 0\ntimes 3 dw 1+2\n")
    subprocess.run([nasm, "-f", "elf32", str(src), "-o", str(tmp_path / "n.o")], check=True)
    # (a PyPy that has Lark: a fresh template store needs it for shapes not seen yet)
    with_lark = [p for p in (pypy, "/tmp/pypy-venv/bin/python") if os.path.exists(p) and
                 subprocess.run([p, "-c", "import lark"], capture_output=True).returncode == 0]
    assert with_lark, "no PyPy with lark"
    env = {**os.environ, "PYTHONPATH": ROOT, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    for python in (with_lark[0], sys.executable):
        for run in range(2):            # (the second run reads the plain templates)
            out = tmp_path / f"p{run}.o"
            lark = _pyasm_imports_lark(python, env, "-f", "elf32", str(src), "-o", str(out))
            assert out.read_bytes() == (tmp_path / "n.o").read_bytes()
            # Lark makes the first run's templates; the warm run takes all from the store
            assert lark == (run == 0), (python, run)


# pyasm in-process (cli.main: the store is saved at exit), then whether Lark was imported
LARK_PROBE = """
import sys
from asm import cli
status = cli.main(sys.argv[1:])
sys.stdout.write("lark %d status %d" % ("lark" in sys.modules, status))
"""


def _pyasm_imports_lark(python: str, env: dict, *args: str) -> bool:
    out = subprocess.run([python, "-c", LARK_PROBE, *args], env=env, capture_output=True,
                         check=True).stdout.decode()
    assert out.endswith(" status 0"), out
    return out.startswith("lark 1")


def test_a_template_too_deep_to_store_still_assembles(tmp_path):
    # freeze and pickle both meet Python's recursion limit on this line's template: the
    # store keeps nothing for it, and the line assembles as nasm assembles it
    nasm = require_tool("nasm")
    src = tmp_path / "e.asm"
    src.write_text("bits 32\ndd " + "+".join(["1"] * 500) + "\nmov eax, 1\n")
    subprocess.run([nasm, "-f", "bin", str(src), "-o", str(tmp_path / "n.bin")], check=True)
    env = {**os.environ, "PYTHONPATH": ROOT, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    for run in range(2):        # (the second run: the other shape from the store)
        out = tmp_path / f"p{run}.bin"
        got = subprocess.run([sys.executable, "-m", "asm.cli", "-f", "bin", str(src), "-o",
                              str(out)], env=env, capture_output=True)
        assert (got.returncode, got.stderr) == (0, b""), got.stderr
        assert out.read_bytes() == (tmp_path / "n.bin").read_bytes()


def test_store_entries_are_decoded_only_when_a_line_uses_them(monkeypatch):
    for name, value in (("_stored", {}), ("_templates", {}), ("_used", {}),
                        ("_dirty", True), ("_line_cache", {})):
        monkeypatch.setattr(P, name, value)
    for line in _LINES:
        try:
            P._parse_line(line)
        except Exception:
            pass
    want = repr(P._parse_line("lea edx, [esi+edi*4+814]"))    # (Lark's template)
    store = dict(P._used)
    # each entry is bytes (read with the file, decoded later): marshal's or a pickle
    assert all(type(v) is bytes and v[:1] in (b"m", b"p") for v in store.values())
    assert sum(v[:1] == b"m" for v in store.values()) > 15
    thawed = []
    real = plaindata.thaw
    monkeypatch.setattr(plaindata, "thaw", lambda data: thawed.append(1) or real(data))
    monkeypatch.setattr(grammar, "parse_template", None)     # (Lark is not called)
    for name, value in (("_stored", dict(store)), ("_templates", {}), ("_used", {})):
        monkeypatch.setattr(P, name, value)
    got = repr(P._parse_line("lea edx, [esi+edi*4+814]"))
    assert len(thawed) == len(P._used) < len(store) // 4
    assert got == want


class Private:                          # a private slot: pickle's name is _Private__p
    __slots__ = ("__p", "q")

    def __init__(self):
        self.__p = 7
        self.q = 8


class Guarded:                          # unpickling sets its slots through this
    __slots__ = ("q",)

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value + 1)


def _with_parse_class(monkeypatch, cls: type) -> None:
    """``cls`` as one of asm.expr's parse classes (pickle and freeze find it there)."""
    monkeypatch.setattr(P.E, cls.__name__, cls, raising=False)
    monkeypatch.setattr(cls, "__module__", P.E.__name__)
    monkeypatch.setattr(plaindata, "_classes", None)


def test_freeze_refuses_what_unpickling_would_set_otherwise(monkeypatch):
    for cls in (Private, Guarded):
        _with_parse_class(monkeypatch, cls)
    obj = Private()
    assert pickle.loads(pickle.dumps(obj))._Private__p == 7
    assert plaindata.freeze(obj) is None
    guarded = Guarded.__new__(Guarded)
    object.__setattr__(guarded, "q", 1)
    assert pickle.loads(pickle.dumps(guarded)).q == 2
    assert plaindata.freeze(guarded) is None
    # the slots freeze reads of the parse classes are the ones pickle reads (copyreg)
    for cls in plaindata._parse_classes().values():
        if cls not in (Private, Guarded) and plaindata._plain_class(cls):
            assert sorted(plaindata._slot_names(cls)) == sorted(copyreg._slotnames(cls))


# PyPy's compile hook: the loop it compiles has a peeled iteration (two labels) unless
# unrolling is off, as asm/pypy_gc.py's tune_jit turns it for pyasm
UNROLL_PROBE = """
import sys, pypyjit
from asm import pypy_gc
if sys.argv[1] == "tuned":
    pypy_gc.tune_jit()
labels = []
def hook(info):
    if info.type == "loop":
        labels.append(sum(1 for op in info.operations if op.name == "label"))
pypyjit.set_compile_hook(hook)
def loop(n):
    s = 0
    for i in range(n):
        s += i & 7
    return s
loop(10000)
print(labels)
"""


def test_pyasm_jit_compiles_loops_without_unrolling():
    from pypy_probe import run_pypy
    assert run_pypy(UNROLL_PROBE, "none", clean_env=True, timeout=120).strip() == b"[2]"
    assert run_pypy(UNROLL_PROBE, "tuned", clean_env=True, timeout=120).strip() == b"[1]"
