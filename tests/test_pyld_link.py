"""pyld against GNU ld on programs made of NASM start-up code and freestanding C: both
executables run natively with the same output and exit status."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from link.linkkit import PIC, gcc_c, ld, libgcc, nasm, pyld, readelf, run_native

from formats.elf import read_elf
from formats.elf.constants import PF_W, PF_X, PT_GNU_STACK, PT_LOAD, SHT_SYMTAB


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pyld_link")
    nasm("start.asm", out / "start.o")
    nasm("pic_start.asm", out / "pic_start.o")
    gcc_c("prog.c", out / "prog.o")
    gcc_c("util.c", out / "util.o")
    gcc_c("pic_a.c", out / "pic_a.o", PIC)
    gcc_c("pic_b.c", out / "pic_b.o", PIC)
    return out


C_PROGRAM = ["start.o", "prog.o", "util.o"]


def both(build: Path, inputs: list, *options: str) -> tuple[tuple, tuple, Path]:
    """Link with ld and pyld; return (status, stdout) of each run and pyld's output path."""
    args = [build / i if isinstance(i, str) and i.endswith(".o") else i for i in inputs]
    ld(*args, *options, "-o", build / "by_ld")
    tag = str(abs(hash((tuple(map(str, inputs)), options))))
    ours = build / f"by_pyld_{tag}"
    status, err = pyld(*args, *options, "-o", ours)
    assert status == 0, err
    return run_native(build / "by_ld"), run_native(ours), ours


def test_freestanding_c_program_matches_ld(build):
    expected, got, exe = both(build, C_PROGRAM + [libgcc()])
    assert got == expected
    status, out = got
    assert out.startswith(b"hello from pyld \nstart-up\n") and status != 0


def test_c_objects_use_what_the_test_is_about(build):
    """The inputs really contain the features the link test claims to cover."""
    prog = read_elf((build / "prog.o").read_bytes())
    names = {s.name for s in prog.sections}
    assert {".rodata.str1.1", ".text.startup", ".bss", ".data", ".comment", ".eh_frame",
            ".note.GNU-stack"} <= names
    syms = {s.name: s for s in prog.symbols()}
    assert syms["counter"].is_common
    assert syms["buffer"].bind == 0 and prog.sections[syms["buffer"].shndx].name == ".bss"
    assert {"__divdi3", "__udivmoddi4"} & {n for n, s in syms.items() if s.is_undefined}
    rel_data = prog.section(".rel.data")
    assert rel_data is not None and all(r.type == 1 for r in prog.relocations(rel_data))


def test_libgcc_members_are_pulled_and_mapped(build):
    status, err = pyld(*[build / o for o in C_PROGRAM], libgcc(), "-o", build / "mapped",
                       "-Map", build / "mapped.map")
    assert status == 0, err
    text = (build / "mapped.map").read_text()
    assert re.search(r"libgcc\.a\(_udivdi3\.o\)\n +\S*util\.o \(__udivdi3\)", text)
    assert "COMMON" in text and "counter" in text
    symbols = {s.name: s for s in read_elf((build / "mapped").read_bytes()).symbols()}
    # every global the map places is where the symbol table says
    for addr, name in re.findall(r"^ {16}(0x[0-9a-f]{8}) {16}(\w+)$", text, re.M):
        assert symbols[name].value == int(addr, 16), name
    assert "_udivmoddi4.o" not in text or "__udivmoddi4" in text
    for section in (".text.startup", ".rodata.str1.1", ".eh_frame", ".comment"):
        assert section in text


def test_library_search_with_L_and_l_in_any_order(build):
    libdir = os.path.dirname(libgcc())
    expected, _, _ = both(build, C_PROGRAM + [libgcc()])
    # -lgcc before the objects: ld would not find __udivdi3; pyld revisits archives
    status, err = pyld("-L", libdir, "-lgcc", *[build / o for o in C_PROGRAM],
                       "-o", build / "lib_first")
    assert status == 0, err
    assert run_native(build / "lib_first") == expected


def test_pic_objects_with_got_match_ld(build):
    expected, got, exe = both(build, ["pic_start.o", "pic_a.o", "pic_b.o"])
    assert got == expected
    assert got[0] == 10 + 30 + 3 + ord("z") + 3 * 2 + 5        # see pic_*.c / pic_start.asm
    elf = read_elf(exe.read_bytes())
    got_section = elf.section(".got")
    symbols = {s.name: s.value for s in elf.symbols()}
    assert symbols["_GLOBAL_OFFSET_TABLE_"] == got_section.addr
    # both PIC objects carry the __x86.get_pc_thunk COMDAT group: one copy survives
    thunks = [s for s in elf.symbols() if s.name.startswith("__x86.get_pc_thunk")]
    assert len(thunks) == len({s.name for s in thunks}) >= 1


def test_strip_leaves_no_symbol_table(build):
    expected, got, exe = both(build, C_PROGRAM + [libgcc()], "-s")
    assert got == expected
    elf = read_elf(exe.read_bytes())
    assert not [s for s in elf.sections if s.type == SHT_SYMTAB]
    assert "no symbols" in readelf("-s", exe) or "Symbol table" not in readelf("-s", exe)


def test_entry_option(build, tmp_path):
    src = "global _start, other\n_start: mov ebx, 1\n jmp done\nother: mov ebx, 2\n" \
          "done: mov eax, 1\n int 0x80\n"
    obj = nasm(src, tmp_path / "entry.o")
    for args, status in ((["-e", "other"], 2), ([], 1)):
        assert pyld(obj, *args, "-o", tmp_path / "e")[0] == 0
        assert run_native(tmp_path / "e")[0] == status
    other = {s.name: s.value for s in read_elf((tmp_path / "e").read_bytes()).symbols()}["other"]
    assert pyld(obj, "-e", hex(other), "-o", tmp_path / "e")[0] == 0
    assert run_native(tmp_path / "e")[0] == 2
    status, err = pyld(obj, "-e", "nowhere", "-o", tmp_path / "e")
    assert status == 0 and "warning: cannot find entry symbol nowhere" in err


def _stack_flags(path: Path):
    return [s.flags for s in read_elf(path.read_bytes()).segments if s.type == PT_GNU_STACK]


def test_gnu_stack_segment_follows_ld(build, tmp_path):
    noexec = nasm("global _start\n_start: ret\n"
                  "section .note.GNU-stack noalloc noexec nowrite progbits\n", tmp_path / "n.o")
    plain = nasm("global f\nf: ret\n", tmp_path / "p.o")
    for inputs in ([noexec], [noexec, plain], [plain]):
        ld(*inputs, "-e", "0", "-o", tmp_path / "l")
        assert pyld(*inputs, "-e", "0", "-o", tmp_path / "y")[0] == 0
        assert _stack_flags(tmp_path / "y") == _stack_flags(tmp_path / "l")
    assert _stack_flags(tmp_path / "l") == []


def test_segments_are_mapped_with_ld_permissions(build):
    _, _, exe = both(build, C_PROGRAM + [libgcc()])
    elf = read_elf(exe.read_bytes())
    loads = [s for s in elf.segments if s.type == PT_LOAD]
    for seg in loads:
        assert seg.offset % 0x1000 == seg.vaddr % 0x1000
    text = elf.section(".text")
    data = elf.section(".data")
    owner = {id(s): next(p for p in loads if p.vaddr <= s.addr < p.vaddr + p.memsz)
             for s in (text, data)}
    assert owner[id(text)].flags & PF_X and not owner[id(text)].flags & PF_W
    assert owner[id(data)].flags & PF_W and not owner[id(data)].flags & PF_X
    assert owner[id(text)] is not owner[id(data)]


def test_console_script(build, tmp_path):
    """The installed ``pyld`` entry point, end to end, in its own process."""
    exe = shutil.which("pyld")
    assert exe, "pyld console script is not installed (pip install -e .)"
    out = tmp_path / "prog"
    proc = subprocess.run([exe, "-m", "elf_i386", *[str(build / o) for o in C_PROGRAM],
                           libgcc(), "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert os.access(out, os.X_OK)
    ld(*[build / o for o in C_PROGRAM], libgcc(), "-o", tmp_path / "reference")
    assert run_native(out) == run_native(tmp_path / "reference")
