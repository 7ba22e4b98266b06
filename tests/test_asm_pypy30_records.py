"""formats/plainrecord.py: a @record class behaves as the same declaration under
@dataclass (the oracle: the dataclasses module, on twin classes), and the ELF classes
made with it keep pyasm's output identical to nasm's."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import ClassVar, Optional

import pytest
from conftest import require_tool

from formats.plainrecord import FrozenInstanceError, field, fields, record, replace

BODY = '''
    name: str
    data: bytes = b""
    size: Optional[int] = None
    items: list = FIELD(default_factory=list)
    limit: ClassVar[int] = 7
    plain = 3                   # (no annotation: no field)

    @property
    def length(self) -> int:
        return len(self.data)
'''


def _twins() -> tuple:
    made = {}
    for deco, fld in ((dataclasses.dataclass, dataclasses.field), (record, field)):
        # (in this module: dataclasses reads a string ClassVar annotation through it)
        scope = {"__name__": __name__, "Optional": Optional, "ClassVar": ClassVar,
                 "FIELD": fld}
        exec(f"class Twin:\n{BODY}", scope)
        made[deco] = deco(scope["Twin"])
    return made[dataclasses.dataclass], made[record]


def test_same_behaviour_as_dataclass():
    want, got = _twins()
    for args, kwargs in (((".text",), {}), ((".data", b"ab"), {"size": 4}),
                         ((), {"name": "x", "items": [1]})):
        w, g = want(*args, **kwargs), got(*args, **kwargs)
        assert repr(w) == repr(g)
        assert vars(w) == vars(g)
        assert (w == want(*args, **kwargs)) == (g == got(*args, **kwargs)) is True
        assert g != got("other") and g.__eq__(w) is NotImplemented
        assert g.length == w.length
    assert want(".a").items is not want(".a").items
    assert got(".a").items is not got(".a").items
    assert not hasattr(got, "items") and got.data == want.data == b""
    assert got.limit == 7 and got.plain == 3
    for bad in (lambda c: c(), lambda c: c("a", b"", 1, [], 5), lambda c: c("a", nope=1)):
        with pytest.raises(TypeError):
            bad(want)
        with pytest.raises(TypeError):
            bad(got)
    with pytest.raises(TypeError):
        hash(got("a"))
    with pytest.raises(TypeError):
        hash(want("a"))


def test_own_repr_kept_and_order_of_defaults_checked():
    @record
    class Own:
        a: int

        def __repr__(self) -> str:
            return "mine"

    assert repr(Own(1)) == "mine" and Own(1) == Own(1)
    with pytest.raises(TypeError):
        @record
        class Bad:
            a: int = 0
            b: int


def test_pyasm_runs_without_dataclasses(tmp_path):
    """pyasm -f elf32 (and -f bin) imports neither dataclasses nor what it pulls in
    (inspect, ast, dis: ~20 ms of every start under PyPy, with ~0.4 ms per class made),
    and writes nasm's bytes."""
    nasm = require_tool("nasm")
    src = tmp_path / "t.asm"
    src.write_text("bits 32\nextern e\nglobal s\nsection .text\ns: mov eax, [e+4]\n"
                   "jmp s\nsection .data\nd: dd s, d\n")
    code = ("import sys\n"
            "from asm.cli import main\n"
            "status = main(sys.argv[1:])\n"
            "print(status, sorted(m for m in ('dataclasses', 'inspect', 'ast', 'dis')"
            " if m in sys.modules))\n")
    loaded = {}
    # (twice each: the first run may parse a line shape new to the template cache with
    # lark, which imports dataclasses itself; the second reads the cache, as a user's)
    flat = tmp_path / "f.asm"
    flat.write_text("bits 16\nmov ax, [d]\njmp $\nd: dw d, 3\n")
    for fmt in ("elf32", "elf32", "bin", "bin"):
        got = subprocess.run([sys.executable, "-c", code, "-f", fmt,
                              str(src if fmt == "elf32" else flat), "-o",
                              str(tmp_path / f"p.{fmt}")],
                             capture_output=True, text=True, check=True)
        loaded[fmt] = got.stdout.split("\n")[0]
    assert loaded == {"elf32": "0 []", "bin": "0 []"}
    subprocess.run([nasm, "-f", "elf32", str(src), "-o", str(tmp_path / "n.o")], check=True)
    assert (tmp_path / "p.elf32").read_bytes() == (tmp_path / "n.o").read_bytes()


def test_elf32_object_same_as_nasm(tmp_path):
    from asm.cli import main
    from vm.bench.assembler import generate
    nasm = require_tool("nasm")
    src = tmp_path / "gen.asm"
    src.write_text(generate(600) + "extern ext\nglobal L1\nsection .data\ndd ext, L2\n"
                   "common cc 8\n")
    subprocess.run([nasm, "-f", "elf32", str(src), "-o", str(tmp_path / "n.o")], check=True)
    assert main(["-f", "elf32", str(src), "-o", str(tmp_path / "p.o")]) == 0
    assert (tmp_path / "p.o").read_bytes() == (tmp_path / "n.o").read_bytes()


def _twin(options: dict, body: str) -> tuple:
    made = []
    for deco in (dataclasses.dataclass, record):
        scope = {"__name__": __name__, "Optional": Optional}
        exec(f"class Twin:\n{body}", scope)
        made.append(deco(**options)(scope["Twin"]))
    return tuple(made)


def test_frozen_eq_false_replace_and_fields_as_dataclasses():
    body = "    a: int\n    b: Optional[str] = None\n"
    for options in ({"frozen": True}, {"eq": False}, {"frozen": True, "eq": False}, {}):
        want, got = _twin(options, body)
        w, g = want(1, "x"), got(1, "x")
        assert repr(w) == repr(g)
        assert (w == want(1, "x")) == (g == got(1, "x"))
        assert ("__hash__" in vars(want)) == ("__hash__" in vars(got))
        if options.get("frozen") and options.get("eq", True):
            assert hash(g) == hash(w) == hash((1, "x"))
        for obj, errors in ((w, dataclasses.FrozenInstanceError),
                            (g, FrozenInstanceError)):
            if options.get("frozen"):
                with pytest.raises(errors):
                    obj.a = 2
                with pytest.raises(AttributeError):
                    del obj.b
            else:
                obj.a = 2
        assert [f.name for f in fields(got)] == [f.name for f in dataclasses.fields(want)]
        assert repr(replace(g, b="y")) == repr(dataclasses.replace(w, b="y"))
        with pytest.raises(TypeError):
            replace(g, c=1)
