"""NASM's command line through both programs (asm/cmdline.py): pre-includes, --before,
--pragma, the -M dependency options, -i/-I/-Z/-X/-v, response files and NASMENV. Each
case runs nasm and pyasm in two copies of one directory and compares exit status,
messages, standard output and every file the run leaves behind."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent

FILES = {
    "inc/a.inc": "db 1\n",
    "inc/n.inc": '%include "b.inc"\n',
    "inc/b.inc": "db 9\n",
    "pre.inc": "db 2\n",
    "p.inc": "%define X 3\n%error inpre\n",
    "fl.inc": "db __LINE__\ndb __FILE__\n",
    "data.bin": "xyz",
    "bins/b1.bin": "abc",
    "sp ace$#.bin": "xyz",
    "ok.asm": '%include "a.inc"\nincbin "data.bin"\ndb 3\n',
    "m.asm": '%include "a.inc"\nincbin "data.bin"\n%include "gen.inc"\n',
    "x.asm": "db X\n",
    "e.asm": "db 0\n",
    "ib.asm": 'incbin "b1.bin"\nincbin "data.bin", 1\nincbin "nothere.bin"\n',
    "ib2.asm": 'incbin "b1.bin"\n',
    "w.asm": "lbl\ndb 300\n",
    "g.asm": "global a\na: db 1\nextern b\ndd b\n.l: db 2\n",
    "q.asm": ('%include "n.inc"\n%if 0\n%include "never.inc"\nincbin "never.bin"\n%endif\n'
              'incbin "sp ace$#.bin"\n%depend "dep.x"\n%macro m 0\nincbin "data.bin"\n'
              "%endmacro\nm\n" + "".join(f'incbin "long_file_name_number_{i}.bin"\n'
                                         for i in range(1, 9))),
    "resp1.txt": "-Iinc/\n-o\nrr.bin\nok.asm\n",
    "e1.asm": ("%define X 5\ndb 1\n\ndb 2\n%macro m 1\ndb %1, X\ndb 3\n%endmacro\nm 7\n"
               "; comment\n%if 1\ndb 4\n%endif\n%rep 2\ndb 5\n%endrep\n"
               '%include "inc/a.inc"\ndb 6\ntimes 2 nop\n'),
}
FILES.update({f"long_file_name_number_{i}.bin": "xyz" for i in range(1, 9)})


def _tree(base: Path) -> None:
    for name, text in FILES.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _snapshot(base: Path) -> dict:
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*"))
            if p.is_file()}


def _both(tmp_path: Path, args: list, env: dict | None = None) -> tuple:
    """(nasm's, pyasm's) (status, stdout, stderr, files) for one command line."""
    require_tool("nasm")
    results = []
    for tool in ("nasm", "pyasm"):
        base = tmp_path / tool
        base.mkdir()
        _tree(base)
        run_env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
        cmd = ["nasm"] if tool == "nasm" else [sys.executable, "-m", "asm.cli"]
        r = subprocess.run(cmd + args, cwd=base, capture_output=True, text=True,
                           env=run_env)
        stderr = r.stderr
        if tool == "nasm":
            stderr = re.sub(r"^nasm:", "pyasm:", stderr, flags=re.M)
            stderr = stderr.replace("Type nasm -h", "Type pyasm -h")
        else:
            # pyasm's own addition under an error: the source line and a caret
            stderr = re.sub(r"^    .*\n^ *\^~*\n", "", stderr, flags=re.M)
        results.append((r.returncode, r.stdout, stderr, _snapshot(base)))
    return tuple(results)


DEPENDENCY_CASES = [
    ["-M", "-Iinc/", "q.asm"],
    ["-Iinc/", "-MD", "x.d", "q.asm"],
    ["-MD", "-Iinc/", "q.asm"],                   # NASM's -MD takes -Iinc/ as its file
    ["-Iinc/", "-p", "pre.inc", "-MD", "x.d", "ok.asm"],
    ["-Iinc/", "-M", "-E", "ok.asm"],
    ["-Iinc/", "-MD", "x.d", "-MG", "ok.asm"],
    ["-Iinc/", "-M", "-MD", "x.d", "ok.asm"],
    ["-M", "-MW", "-Iinc/", "q.asm"],
    ["-M", "-MP", "-MW", "-Iinc/", "q.asm"],
    ["-M", "-MP", "-Iinc/", "q.asm"],
    ["-M", "-MQ", "x y$#z", "-Iinc/", "ok.asm"],
    ["-M", "-MT", "x y$#z", "-Iinc/", "ok.asm"],
    ["-M", "-MF", "-", "-Iinc/", "ok.asm"],
    ["-M", "-MF", "deps.mk", "-Iinc/", "ok.asm"],
    ["-M", "-o", "o o.bin", "-Iinc/", "ok.asm"],
    ["-M", "-f", "elf32", "-Iinc/", "ok.asm"],
    ["-Ibins/", "-M", "ib.asm"],
    ["-Ibins/", "-MD", "x.d", "ib2.asm"],
    ["-MG", "-Ibins/", "-M", "ib.asm"],
    ["-M", "m.asm", "-Iinc/"],
    ["-MG", "m.asm", "-Iinc/"],
    ["-Pinc/a.inc", "-p", "pre.inc", "-M", "ok.asm", "-Iinc/"],
    ["-MD", "-MP", "-Iinc/", "ok.asm", "-o", "out.bin"],
    ["-M", "-MF", "-Iinc/", "ok.asm"],
    ["-MX", "ok.asm"],
    ["-M"],
]

OPTION_CASES = [
    ["--before", "%define X 5", "x.asm", "-o", "o.bin"],
    ["--before", "%define X 7", "-UX", "x.asm", "-o", "o.bin"],
    ["-UX", "--before", "%define X 7", "x.asm", "-o", "o.bin"],
    ["-DX=1", "--before", "%undef X", "x.asm", "-o", "o.bin"],
    ["--before", "db 5", "-DX=1", "x.asm", "-o", "o.bin"],
    ["--before", "db __LINE__, __FILE__", "e.asm", "-o", "o.bin"],
    ["--pragma", "foo bar", "x.asm", "-DX=1", "-o", "o.bin"],
    ["--pragma=preproc sane_empty_expansion", "-DX=1", "x.asm", "-o", "o.bin"],
    ["-p", "p.inc", "x.asm", "-o", "o.bin"],
    ["-p", "fl.inc", "e.asm", "-o", "o.bin"],
    ["-P", "fl.inc", "--include=pre.inc", "e.asm", "-o", "o.bin"],
    ["--include", "p.inc", "x.asm"],
    ["-p", "nothere.inc", "x.asm"],
    ["-f", "elf32", "--prefix", "_", "g.asm", "-o", "g.o"],
    ["-f", "elf32", "--lprefix", "L_", "g.asm", "-o", "g.o"],
    ["-i", "inc/", "ok.asm", "-o", "o.bin"],
    ["-iinc/", "ok.asm", "-o", "o.bin"],
    ["-I", "inc/", "-D", "X=2", "-d", "Y", "-u", "Y", "x.asm", "-o", "o.bin"],
    ["-Z", "err.txt", "w.asm", "-o", "o.bin"],
    ["-Z", "/nonexistent/err.txt", "w.asm"],
    ["-Xvc", "w.asm", "-o", "o.bin"],
    ["-Xgcc", "w.asm", "-o", "o.bin"],
    ["-Xfoo", "w.asm"],
    ["-s", "w.asm", "-o", "o.bin"],
    ["-@", "resp1.txt"],
    ["--", "-r.asm"],
    ["-q", "ok.asm"],
    ["-q", "-r", "ok.asm"],
    ["--bogus=3", "ok.asm"],
    ["--keep-all=1", "ok.asm"],
    ["-o"],
    ["-I"],
    ["-f", "foo", "ok.asm"],
    ["-Oq", "ok.asm"],
    ["-O", "e.asm", "-o", "o.bin"],
    ["e.asm", "e.asm"],
    ["-l", "a", "-l", "b", "e.asm"],
    ["e.asm", "-o", "e.asm"],
    ["--limit-foo", "3", "e.asm", "-o", "o.bin"],
    ["-Lfoo", "e.asm", "-o", "o.bin"],
    ["-f", "bin", "-g", "e.asm", "-o", "o.bin"],
    ["-f", "bin", "-F", "dwarf", "e.asm", "-o", "o.bin"],
    ["-f", "elf32", "-F", "foo", "e.asm"],
    ["nothere.asm"],
    [],
    ["-E", "e1.asm"],
    ["-E", "--pragma", "foo bar", "--before", "db 1", "-DX=1", "x.asm"],
    ["-E", "-p", "fl.inc", "x.asm", "-DX=2", "-o", "x.i"],
]


@pytest.mark.parametrize("args", DEPENDENCY_CASES + OPTION_CASES,
                         ids=lambda a: " ".join(a) or "(none)")
def test_same_as_nasm(tmp_path, args):
    n, p = _both(tmp_path, args)
    assert p[0] == n[0], f"status: nasm {n[0]} pyasm {p[0]}\n{n[2]}\n{p[2]}"
    assert p[2] == n[2], "messages differ"
    assert p[1] == n[1], "standard output differs"
    assert p[3] == n[3], f"files differ: {set(p[3]) ^ set(n[3]) or 'contents'}"


@pytest.mark.parametrize("env", ["-Iinc/ -DX=4", "#-Iinc/#-DX=4"])
def test_nasmenv(tmp_path, env):
    n, p = _both(tmp_path, ["x.asm", "-o", "o.bin"], env={"NASMENV": env})
    assert n[0] == 0 and p == n


def test_version(tmp_path):
    n, p = _both(tmp_path, ["-v"])
    assert p[0] == n[0] == 0
    assert n[1].startswith("NASM version ")
    assert p[1].split()[-1] == n[1].split()[2]


def test_refused_options_say_so(tmp_path):
    """Options of NASM that pyasm cannot honour stop the run with a message naming them
    (NASM itself runs them), never silently."""
    _tree(tmp_path)
    for args in (["-t"], ["-a"], ["-f", "coff"],
                 ["--limit-rep", "5"], ["--keep-all"]):
        r = subprocess.run([sys.executable, "-m", "asm.cli", *args, "e.asm"], cwd=tmp_path,
                           capture_output=True, text=True,
                           env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert r.returncode == 1
        assert "not supported by pyasm" in r.stderr, (args, r.stderr)
        assert not (tmp_path / "e").exists()


def test_help(tmp_path):
    r = subprocess.run([sys.executable, "-m", "asm.cli", "-h"], capture_output=True,
                       text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0
    for opt in ("-MD file", "--before", "--pragma", "-Pfile"):
        assert opt in r.stdout


def test_shutil_which_nasm_is_real():
    # the oracle must be NASM itself (its -v names it)
    exe = require_tool("nasm")
    assert shutil.which("nasm") == exe
    assert subprocess.run([exe, "-v"], capture_output=True, text=True).stdout.startswith(
        "NASM version")
