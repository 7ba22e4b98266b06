"""pyasm under PyPy keeps the regular expressions its modules compile in a signed cache
file (asm/pypy_re.py). The oracles: PyPy's own ``re`` without the cache (the patterns
must behave the same, match for match), PyPy's ``sre_parse`` (not called for a pattern
the cache holds), and nasm (pyasm's output, with and without the cache file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool

from asm import pypy_re

ROOT = Path(__file__).resolve().parent.parent

# patterns of every kind the engine takes (groups, named groups, flags, bytes, lookaround,
# repeats, a backreference), each matched against a few texts
PROBE = r"""
import json, re, sys, sre_parse
from asm import pypy_re
if sys.argv[1] != "plain":
    pypy_re.install()
parsed = []
usual_parse = sre_parse.parse
def parse(*a, **k):
    parsed.append(a[0])
    return usual_parse(*a, **k)
sre_parse.parse = parse
PATTERNS = [(r"(?P<label>[A-Za-z_.][\w.]*)\s*:\s*(\w+)", 0), (r"mov|add|SUB", re.I),
            (r"(?<![\w$])([1-9][0-9]*)(?![\w$])", 0), (r"^(a+)(b*)\1$", re.M),
            (rb"\x00[\x01-\x7f]{2,}", 0), (r"[^\"'`;]*;.*$", re.S | re.X),
            (r"(?:x|y){3,5}?z", re.A)]
TEXTS = ["L5: mov eax, 5000", "ADD ecx, 7", "aab\naab", "a; b", "xyxyz", "sub 12a 340"]
out = []
for p, f in PATTERNS:
    r = re.compile(p, f)
    row = [r.pattern if type(p) is str else r.pattern.decode("latin-1"), int(r.flags),
           r.groups, dict(r.groupindex)]
    for t in TEXTS:
        s = t if type(p) is str else t.encode()
        m = r.search(s)
        row.append(None if m is None else [m.span(), [g if type(g) is not bytes
                                                      else g.decode() for g in m.groups()]])
    out.append(row)
if sys.argv[1] == "save":
    pypy_re.save()
print(json.dumps({"results": out, "parsed": len(parsed)}))
"""


def _probe(mode: str, cache: Path) -> dict:
    pypy = require_tool("pypy3")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT),
           "XDG_CACHE_HOME": str(cache)}
    proc = subprocess.run([pypy, "-c", PROBE, mode], capture_output=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return json.loads(proc.stdout)


def _cache_file(cache: Path) -> Path:
    found = list((cache / "pyvm").glob("pypy-re-*.cache"))
    assert len(found) == 1, found
    return found[0]


def test_patterns_from_the_cache_behave_as_pypys_own(tmp_path):
    plain = _probe("plain", tmp_path / "none")
    first = _probe("save", tmp_path)                # compiled the usual way, recorded
    assert first["results"] == plain["results"] and first["parsed"] > 0
    _cache_file(tmp_path)
    again = _probe("load", tmp_path)                # built from the cache file
    assert again["results"] == plain["results"]
    assert again["parsed"] == 0                     # (no pattern parsed again)


def test_a_foreign_cache_file_is_ignored(tmp_path):
    plain = _probe("plain", tmp_path / "none")
    _probe("save", tmp_path)
    path = _cache_file(tmp_path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1                                   # (its tag no longer matches)
    path.write_bytes(bytes(data))
    got = _probe("load", tmp_path)
    assert got["results"] == plain["results"] and got["parsed"] > 0


@pytest.mark.parametrize("run", range(2))
def test_pyasm_under_pypy_with_the_cache_matches_nasm(tmp_path_factory, run):
    """First run (no cache file: it writes one), then a run that reads it."""
    pypy = require_tool("pypy3")
    nasm = require_tool("nasm")
    cache = tmp_path_factory.getbasetemp() / "pypy-re-cache"
    work = tmp_path_factory.mktemp("src")
    src = work / "t.asm"
    src.write_text("bits 32\nsection .text\nstart: mov eax, [ebx+1000]\n"
                   "jmp start\n%define X 5\ndd X, 'ab'\n")
    # (PyPy's own site may lack Lark: this interpreter's copy, pure Python, alone)
    import lark
    site = work / "site"
    site.mkdir()
    (site / "lark").symlink_to(Path(lark.__file__).parent)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "PYTHONPATH": f"{ROOT}{os.pathsep}{site}", "XDG_CACHE_HOME": str(cache)}
    subprocess.run([nasm, "-f", "elf32", str(src), "-o", str(work / "n.o")], check=True)
    proc = subprocess.run([pypy, "-m", "asm.cli", "-f", "elf32", str(src), "-o",
                           str(work / "p.o")], capture_output=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    assert (work / "p.o").read_bytes() == (work / "n.o").read_bytes()
    _cache_file(cache)


@pytest.mark.skipif(sys.implementation.name == "pypy", reason="CPython's case")
def test_nothing_under_cpython():
    import re
    before = re._compiler.compile
    pypy_re.install()
    assert re._compiler.compile is before and pypy_re._stored is None
