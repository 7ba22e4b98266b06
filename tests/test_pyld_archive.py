"""Static archives: the ar reader/writer against GNU ar and nm, and member selection in pyld
(pulled only when needed, repeated until nothing changes, with or without an index)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool
from link.linkkit import ld, libgcc, nasm, pyld, run_native

from formats.ar import read_archive, write_archive
from formats.elf import read_elf

MAIN = """\
global _start
extern first
_start: call first
        mov ebx, eax
        mov eax, 1
        int 0x80
"""
# first -> second -> third: each member needs one that comes *earlier* in the archive,
# so a single pass over the members is not enough.
MEMBERS = {
    "third.o": "global third\nthird: mov eax, 3\n ret\n",
    "second.o": "global second\nextern third\nsecond: call third\n add eax, 20\n ret\n",
    "a_member_with_a_long_name.o": "global first\nextern second\nfirst: call second\n"
                                   " add eax, 100\n ret\n",
    "unused.o": "global unused_symbol\nunused_symbol: ret\n",
}


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pyld_archive")
    nasm(MAIN, out / "main.o")
    for name, src in MEMBERS.items():
        nasm(src, out / name)
    return out


def _ar(parts: Path, archive: str, flags: str = "rcs") -> Path:
    require_tool("ar")
    path = parts / archive
    path.unlink(missing_ok=True)
    subprocess.run(["ar", flags, str(path), *[str(parts / m) for m in MEMBERS]], check=True,
                   capture_output=True)
    return path


def _ours(parts: Path, archive: str) -> Path:
    path = parts / archive
    path.write_bytes(write_archive([(m, (parts / m).read_bytes()) for m in MEMBERS]))
    return path


@pytest.mark.parametrize("make", ["gnu ar", "gnu ar, no index", "write_archive"])
def test_members_are_pulled_until_stable(parts, make):
    archive = {"gnu ar": lambda: _ar(parts, "libgnu.a"),
               "gnu ar, no index": lambda: _ar(parts, "libnoindex.a", "rcS"),
               "write_archive": lambda: _ours(parts, "libours.a")}[make]()
    status, err = pyld(parts / "main.o", archive, "-o", parts / "prog",
                       "-Map", parts / "prog.map")
    assert status == 0, err
    assert run_native(parts / "prog")[0] == 123
    names = {s.name for s in read_elf((parts / "prog").read_bytes()).symbols()}
    assert {"first", "second", "third"} <= names and "unused_symbol" not in names
    text = (parts / "prog.map").read_text()
    assert re.search(r"\(a_member_with_a_long_name\.o\)\n +\S*main\.o \(first\)", text)


def test_ld_accepts_archives_we_write(parts):
    archive = _ours(parts, "libours.a")
    ld(parts / "main.o", archive, "-o", parts / "by_ld")
    assert run_native(parts / "by_ld")[0] == 123
    listing = subprocess.run(["ar", "t", str(archive)], capture_output=True, text=True,
                             check=True).stdout.split()
    assert listing == list(MEMBERS)


def test_archive_before_objects_is_revisited(parts):
    _ar(parts, "libgnu.a")
    status, err = pyld("-L", parts, "-lgnu", parts / "main.o", "-o", parts / "late")
    assert status == 0, err
    assert run_native(parts / "late")[0] == 123


def test_l_colon_names_a_file(parts):
    _ar(parts, "libgnu.a")
    assert pyld(parts / "main.o", "-L" + str(parts), "-l:libgnu.a", "-o", parts / "c")[0] == 0


def test_reader_agrees_with_ar_and_nm_on_libgcc():
    require_tool("nm")
    path = libgcc()
    archive = read_archive(open(path, "rb").read())
    members = subprocess.run(["ar", "t", path], capture_output=True, text=True,
                             check=True).stdout.split()
    assert [m.name for m in archive.members] == members
    armap = subprocess.run(["nm", "-s", path], capture_output=True, text=True,
                           check=True).stdout
    first_listed: dict[str, str] = {}
    for symbol, member in re.findall(r"^(\S+) in (\S+)$", armap, re.M):
        first_listed.setdefault(symbol, member)     # e.g. COMDAT thunks are in many members
    assert len(first_listed) == len(archive.symbol_index) > 100
    for symbol, member in first_listed.items():
        assert archive.member_at(archive.symbol_index[symbol]).name == member


def test_write_archive_round_trips_libgcc():
    original = read_archive(open(libgcc(), "rb").read())
    again = read_archive(write_archive([(m.name, m.data) for m in original.members]))
    assert [(m.name, m.data) for m in again.members] == \
        [(m.name, m.data) for m in original.members]
    assert set(again.symbol_index) == set(original.symbol_index)
