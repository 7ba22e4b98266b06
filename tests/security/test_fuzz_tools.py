"""Hostile inputs to every tool: random and mutated sources, objects, executables and B32
files must give a clean result or clean one-line errors, never a Python traceback, an
exit status outside the documented set, or an output file after a failure.

pyasm, pyld and pyvm-tools run in-process (their entry points return a status); pyvm
runs guests, so it runs in a subprocess (a guest must not be able to harm the tests),
with --max-steps and --timeout. The CI variants try a few dozen cases per target; the
``slow`` variants (``pytest -m slow``) many more. ``--hypothesis-show-statistics``
shows how many ran.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from asm import cli as asm_cli
from asm.link import cli as linker_cli

CI = settings(max_examples=100, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SLOW = settings(max_examples=1500, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CI_VM = settings(CI, max_examples=30)
SLOW_VM = settings(SLOW, max_examples=400)

HAVE_NASM = shutil.which("nasm") is not None and shutil.which("ld") is not None
needs_nasm = pytest.mark.skipif(not HAVE_NASM, reason="needs nasm and GNU ld")

# pyvm: the guest's own status (0-255) for programs that can call exit; otherwise
# these, documented in README and the runners: 1 bad file or option, 124 --max-steps,
# 125 deadlock, 128+signal after a fault (132 SIGILL, 133 SIGTRAP, 134 SIGABRT,
# 135 SIGBUS, 136 SIGFPE, 139 SIGSEGV), 142 --timeout, 153 --max-output.
PYVM_STATUSES = {0, 1, 124, 125, 132, 133, 134, 135, 136, 139, 142, 153}
B32_STATUSES = {0, 1, 124, 132, 142}


def no_traceback(text: str) -> None:
    assert "Traceback" not in text, text
    assert "internal error" not in text, text


# -- inputs ------------------------------------------------------------------------------

MNEMONICS = ["mov", "add", "sub", "adc", "sbb", "and", "or", "xor", "cmp", "test", "inc",
             "dec", "neg", "not", "mul", "imul", "div", "idiv", "shl", "shr", "sar", "rol",
             "ror", "rcl", "rcr", "shld", "shrd", "push", "pop", "lea", "jmp", "call",
             "ret", "retf", "iret", "int", "into", "jz", "jnz", "jc", "loop", "jecxz",
             "movzx", "movsx", "xchg", "cmpxchg", "xadd", "bswap", "bt", "bts", "bsf",
             "setz", "cmovz", "enter", "leave", "in", "out", "movsb", "rep stosd", "lodsw",
             "fld", "fstp", "fadd", "fild", "fistp", "fxch", "fsqrt", "lgdt", "lidt", "ltr",
             "mov cr0,", "hlt", "nop", "cpuid", "rdtsc", "aaa", "daa", "les", "lds",
             "bound", "arpl", "lock", "pushad", "popfd", "cbw", "cwde", "cdq", "far"]
OPERANDS = ["eax", "ax", "al", "ah", "ebx", "ecx", "cl", "esp", "bp", "si", "di", "cs",
            "ds", "es", "fs", "ss", "cr0", "dr7", "st0", "st1", "0", "1", "-1", "255",
            "0x7fffffff", "0xffffffff", "1<<40", "label", "$", "$$", "[eax]", "[bx+si]",
            "[ebp-4]", "[esp+eax*8+0x10]", "[0x1000]", "byte [edi]", "word [esi+2]",
            "dword [label]", "qword [eax]", "tword [ebx]", "far [eax]", "short label",
            "near label", "0x10:0x20", "es:[di]", "'ab'", "`\\n`", "1.5", "__?float32?__(1.0)",
            "seg label", "label wrt ..sym", "strict byte 1", "[eax*3]", "[esp*2]", "[]"]
DIRECTIVES = ["bits 16", "bits 32", "bits 64", "org 0x100", "org -1", "section .text",
              "section .data align=16", "section .bss", "segment x", "align 4",
              "align 3", "alignb 16", "times 4 db 0", "times -1 db 0", "times 1<<30 nop",
              "resb 0x10", "resd -1", "db 'x', 0", "dw label - $$", "dd 1.0e308", "dq 1",
              "incbin '/dev/null'", "incbin 'missing'", "%include 'missing'",
              "%define A 1", "%macro M 1\n db %1\n%endmacro", "M 5", "%rep 3\nnop\n%endrep",
              "%if A\n%else\n%endif", "%assign n n+1", "%error oops", "%warning hmm",
              "global label", "extern ext", "common c 4", "label:", "..@x:", ".l:",
              "struc S\n.a: resb 1\nendstruc", "istruc S\niend", "absolute 0", "cpu 386",
              "default rel", "equ 3", "x equ x", "%include '/dev/zero'", "incbin '/dev/zero'"]

random_text = st.text(st.characters(min_codepoint=1, max_codepoint=0x7F), max_size=30)
random_line = st.one_of(
    st.builds(lambda m, ops: f"{m} {', '.join(ops)}", st.sampled_from(MNEMONICS),
              st.lists(st.sampled_from(OPERANDS), max_size=3)),
    st.sampled_from(DIRECTIVES),
    random_text,
    st.binary(max_size=20).map(lambda b: b.decode("latin-1")),
)


@st.composite
def asm_sources(draw) -> bytes:
    lines = draw(st.lists(random_line, min_size=1, max_size=12))
    text = "\n".join(lines)
    if draw(st.booleans()) and text:         # a mutation: a byte flipped somewhere
        i = draw(st.integers(0, len(text) - 1))
        text = text[:i] + chr(draw(st.integers(0, 255))) + text[i + 1:]
    return text.encode("utf-8", "surrogateescape")


def mutate(data: bytes, regions: list, draw, n_max: int = 6) -> bytes:
    """Flip, set or zero up to n_max bytes, mostly inside the given (start, end) regions."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, n_max))):
        if regions and draw(st.integers(0, 4)):
            start, end = draw(st.sampled_from(regions))
        else:
            start, end = 0, len(buf)
        if end <= start:
            continue
        i = draw(st.integers(start, min(end, len(buf)) - 1))
        how = draw(st.integers(0, 3))
        if how == 0:
            buf[i] ^= 1 << draw(st.integers(0, 7))
        elif how == 1:
            buf[i] = draw(st.integers(0, 255))
        elif how == 2:
            buf[i] = 0xFF
        else:
            buf[i] = 0
    if draw(st.integers(0, 9)) == 0:         # sometimes cut short
        buf = buf[:draw(st.integers(0, len(buf)))]
    return bytes(buf)


def elf_regions(data: bytes) -> list:
    """The ELF header, the program and section header tables, and the contents of the
    symbol, string and relocation sections."""
    regions = [(0, 52)]
    phoff, shoff = struct.unpack_from("<II", data, 28)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 42)
    if phnum:
        regions.append((phoff, phoff + phnum * phentsize))
    if shnum:
        regions.append((shoff, shoff + shnum * shentsize))
        for k in range(shnum):
            _name, sh_type, _f, _a, off, size = struct.unpack_from(
                "<IIIIII", data, shoff + k * shentsize)
            if sh_type in (2, 3, 4, 9, 11) and size:       # symtab strtab rela rel dynsym
                regions.append((off, min(off + size, len(data))))
    return regions


SOURCE = """\
extern helper_missing
global _start, value
section .text
_start: mov eax, [value]
        call local
        mov ebx, eax
        mov eax, 1
        int 0x80
local:  add eax, value - $$
        ret
section .data
value:  dd local, _start, 7
ptrs:   dd value
section .bss
buf:    resb 64
"""


_CORPUS: dict = {}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Builds the seed files once; the tests read them through seeds() so that
    hypothesis never prints them in a falsifying example."""
    if not _CORPUS:
        _CORPUS.update(_build_seeds(tmp_path_factory.mktemp("seeds")))
    return None


def seeds() -> dict:
    return _CORPUS


def _build_seeds(d) -> dict:
    """Seed files: an ELF32 object (nasm), an executable (GNU ld), a B32 program."""
    out: dict = {}
    b32 = d / "hello.b32"
    here = os.path.dirname(os.path.abspath(__file__))
    src = os.path.join(here, "..", "..", "samples", "b32", "hello.asm")
    assert asm_cli.run(src, output=str(b32), stderr=io.StringIO()) == 0
    out["b32"] = b32.read_bytes()
    if HAVE_NASM:
        (d / "p.s").write_text(SOURCE.replace("extern helper_missing\n", ""))
        subprocess.run(["nasm", "-f", "elf32", "p.s", "-o", "p.o"], cwd=d, check=True)
        subprocess.run(["ld", "-m", "elf_i386", "p.o", "-o", "p"], cwd=d, check=True)
        out["obj"] = (d / "p.o").read_bytes()
        out["exe"] = (d / "p").read_bytes()
    return out


# -- pyasm -------------------------------------------------------------------------------

def check_pyasm(source: bytes, fmt: str, listing: bool) -> None:
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "f.asm")
        with open(src, "wb") as f:
            f.write(source)
        out = os.path.join(d, "f.out")
        lst = os.path.join(d, "f.lst") if listing else None
        with open(out, "wb") as f:
            f.write(b"old")                      # a failure must remove it, as NASM
        err = io.StringIO()
        status = asm_cli.run(src, fmt=fmt, output=out, listing=lst, include_paths=[d],
                             stdout=io.StringIO(), stderr=err)
        no_traceback(err.getvalue())
        assert status in (0, 1, 3)      # (3: where NASM fails an assertion, `resd -1`)
        if status:
            # no output, as NASM; a listing only as NASM keeps one (errors found in the
            # final pass, written into it)
            left = sorted(os.listdir(d))
            assert left in (["f.asm"], ["f.asm", "f.lst"]), (left, err.getvalue())
        else:
            assert os.path.isfile(out)


@CI
@given(asm_sources(), st.sampled_from(["bin", "elf32"]), st.booleans())
@example(source=b"dw label - $$", fmt="bin", listing=True)
@example(source=b"resd -1", fmt="bin", listing=False)
def test_pyasm_fuzz(source, fmt, listing):
    check_pyasm(source, fmt, listing)


@pytest.mark.slow
@SLOW
@given(asm_sources(), st.sampled_from(["bin", "elf32"]), st.booleans())
def test_pyasm_fuzz_slow(source, fmt, listing):
    check_pyasm(source, fmt, listing)


# -- pyld --------------------------------------------------------------------------------

def check_pyld(obj: bytes, extra: list) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.o")
        with open(path, "wb") as f:
            f.write(obj)
        out = os.path.join(d, "a.out")
        with open(out, "wb") as f:
            f.write(b"old")                      # a failure must remove it, as GNU ld
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = linker_cli.run([path, "-o", out] + extra)
        no_traceback(err.getvalue())
        assert status in (0, 1)
        if status:
            assert not os.path.exists(out), err.getvalue()


@st.composite
def mutated_objects(draw) -> bytes:
    seed = seeds()["obj"]
    return mutate(seed, elf_regions(seed), draw)


LD_OPTIONS = st.sampled_from([[], ["--oformat", "binary"], ["-e", "value"],
                              ["-Ttext", "0x1000"], ["-s"]])


@needs_nasm
@CI
@given(data=st.data(), extra=LD_OPTIONS)
def test_pyld_fuzz(corpus, data, extra):
    check_pyld(data.draw(mutated_objects()), extra)


@needs_nasm
@pytest.mark.slow
@SLOW
@given(data=st.data(), extra=LD_OPTIONS)
def test_pyld_fuzz_slow(corpus, data, extra):
    check_pyld(data.draw(mutated_objects()), extra)


# -- pyvm-tools info / disasm --------------------------------------------------------------

@st.composite
def program_files(draw) -> tuple:
    corpus = seeds()
    """(name, bytes): a mutated executable, object or B32 file, or random bytes."""
    kinds = ["b32", "random"] + (["exe", "obj"] if "exe" in corpus else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "random":
        data = draw(st.binary(max_size=200))
        name = draw(st.sampled_from(["x.bin", "x.com", "x.b32", "x.o", "x"]))
        if draw(st.booleans()):
            data = draw(st.sampled_from([b"\x7fELF", b"B32", b"\x7fELF\x01\x01\x01"])) + data
        return name, data
    seed = corpus[kind]
    regions = [(0, 7)] if kind == "b32" else elf_regions(seed)
    return {"b32": "x.b32", "exe": "x", "obj": "x.o"}[kind], mutate(seed, regions, draw)


def check_tool(command: list, name: str, data: bytes) -> None:
    from vm.tools import main
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(data)
        result = CliRunner().invoke(main, command + [path])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        no_traceback(result.output)
        assert result.exit_code in (0, 1), result.output


TOOL_COMMANDS = st.sampled_from([["info"], ["info", "--no-symbols"], ["disasm"],
                                 ["disasm", "--bits", "16"]])


@CI
@given(data=st.data(), command=TOOL_COMMANDS)
def test_tools_fuzz(corpus, data, command):
    check_tool(command, *data.draw(program_files()))


@pytest.mark.slow
@SLOW
@given(data=st.data(), command=TOOL_COMMANDS)
def test_tools_fuzz_slow(corpus, data, command):
    check_tool(command, *data.draw(program_files()))


# -- pyvm --------------------------------------------------------------------------------

@st.composite
def guests(draw) -> tuple:
    corpus = seeds()
    """(name, bytes, options, allowed statuses or None for any 0-255)."""
    kinds = ["b32", "flat32", "flat16", "com"] + (["exe"] if "exe" in corpus else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "b32":
        return "x.b32", mutate(corpus["b32"], [(0, 7)], draw), [], B32_STATUSES
    if kind == "exe":
        seed = corpus["exe"]
        regions = [r for r in elf_regions(seed) if r[0] < 52 + 32 * 4]   # headers
        return "x", mutate(seed, regions, draw), [], None
    code = draw(st.binary(min_size=1, max_size=64))
    if kind == "flat32":
        return "x.bin", code, [], None
    if kind == "flat16":
        return "x.bin", code, ["--bits", "16"], None
    return "x.com", code, [], None


def check_pyvm(name: str, data: bytes, options: list, allowed) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(data)
        env = dict(os.environ, PYVM_CODE_CACHE="0")
        env.pop("PYVM_DEBUG", None)
        proc = subprocess.run(
            [sys.executable, "-c", "from vm.launch import script; script()", "--max-steps", "10000",
             "--timeout", "5", "--max-output", "64K", *options, path],
            cwd=d, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        err = proc.stderr.decode("utf-8", "replace")
        no_traceback(err)
        assert 0 <= proc.returncode <= 255, err
        assert proc.returncode != 70, err                # 70: a bug in pyvm
        if allowed is not None:
            assert proc.returncode in allowed, err


@CI_VM
@given(data=st.data())
def test_pyvm_fuzz(corpus, data):
    check_pyvm(*data.draw(guests()))


@pytest.mark.slow
@SLOW_VM
@given(data=st.data())
def test_pyvm_fuzz_slow(corpus, data):
    check_pyvm(*data.draw(guests()))
