"""Session 33 red team: attacks where earlier red teams did not look.

- A crafted ELF file whose section (or program) headers each name the same area of
  the file made ``read_elf`` copy that area once per header: ``pyvm-tools info`` of a
  2.7 MB file with 300 such headers took 832 MB, and a larger count exhausts the host.
  The same reader serves ``pyvm --debug``/``--gdb`` (the symbols of the untrusted
  program being debugged), ``pyvm-tools disasm`` and pyld. Section and segment bytes
  are now sliced from the file when asked for (formats/elf/elffile.py), so what a
  reader holds is the file, once. The oracle for what the file says is binutils'
  readelf; the property is the peak resident size of the tool.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import build, peak_rss  # noqa: E402

HERE = Path(__file__).parent
EHDR = struct.Struct("<16sHHIIIIIHHHHHH")
COPIES = 600                # headers naming one area: ~430 MB before (0.7 MB each)
BOUND_KB = 200_000          # what reading it may hold (the file, and Python)


def _base() -> bytes:
    return build("redteam33", where=HERE).read_bytes()


def _many_sections(data: bytes, count: int) -> bytes:
    """``data`` with its section header table replaced by ``count`` PROGBITS headers
    (and the null one), each naming the file from its second byte to its end."""
    body = bytearray(data)
    body += bytes(-len(body) % 4)
    shoff = len(body)
    end = shoff + (count + 1) * 40
    body += bytes(40) + struct.pack("<10I", 0, 1, 6, 0x1000, 1, end - 1, 0, 0, 1, 0) * count
    hdr = list(EHDR.unpack_from(body))
    hdr[6], hdr[12], hdr[13] = shoff, count + 1, 0      # e_shoff, e_shnum, e_shstrndx
    EHDR.pack_into(body, 0, *hdr)
    return bytes(body)


def _many_segments(data: bytes, count: int) -> bytes:
    """``data`` with its program header table replaced by ``count`` PT_NULL headers,
    each naming the file from its second byte to its end (no section table)."""
    body = bytearray(data)
    body += bytes(-len(body) % 4)
    phoff = len(body)
    end = phoff + count * 32
    body += struct.pack("<8I", 0, 1, 0, 0, end - 1, end - 1, 4, 1) * count
    hdr = list(EHDR.unpack_from(body))
    hdr[5], hdr[6], hdr[10], hdr[12], hdr[13] = phoff, 0, count, 0, 0
    EHDR.pack_into(body, 0, *hdr)
    return bytes(body)


def _readelf(args: list, path: Path) -> str:
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.fail("needs binutils' readelf")
    return subprocess.run([readelf, "-W", *args, str(path)], capture_output=True,
                          text=True).stdout


def test_info_of_many_headers_naming_one_area_holds_the_file_once(tmp_path):
    path = tmp_path / "bomb"
    path.write_bytes(_many_sections(_base(), COPIES))
    want = re.search(r"There are (\d+) section headers", _readelf(["-S"], path))
    assert want and int(want.group(1)) == COPIES + 1
    out, status, peak = peak_rss([sys.executable, "-m", "vm.tools", "info", "--no-symbols",
                                  path])
    assert status == 0, out
    assert f"sections ({COPIES + 1}):".encode() in out, out[:400]
    assert peak < BOUND_KB, f"pyvm-tools info held {peak} KiB"


def test_info_of_many_program_headers_naming_one_area(tmp_path):
    path = tmp_path / "bomb"
    path.write_bytes(_many_segments(_base(), COPIES))
    want = re.search(r"There are (\d+) program headers", _readelf(["-l"], path))
    assert want and int(want.group(1)) == COPIES
    out, status, peak = peak_rss([sys.executable, "-m", "vm.tools", "info", path])
    assert status == 0, out
    assert f"{COPIES} program headers".encode() in out, out[:400]
    assert peak < BOUND_KB, f"pyvm-tools info held {peak} KiB"


def test_debugging_a_hostile_program_reads_its_symbols_once(tmp_path):
    """``pyvm --debug`` reads the symbols of the program it debugs, which is the
    untrusted one; the program itself still runs as natively."""
    path = tmp_path / "bomb"
    path.write_bytes(_many_sections(_base(), COPIES))
    path.chmod(0o755)
    native = subprocess.run([str(path)], capture_output=True)
    assert native.stdout == b"redteam33\n" and native.returncode == 0
    script = tmp_path / "cmds"
    script.write_text("continue\nquit\n")
    out, status, peak = peak_rss([sys.executable, "-c",
                                  "import sys; sys.stdin = open(sys.argv[1]); "
                                  "from vm.cli import main; sys.argv[1:] = sys.argv[2:]; "
                                  "main()", script, "--debug", path])
    assert b"redteam33\n" in out, out[-400:]
    assert peak < BOUND_KB, f"pyvm --debug held {peak} KiB"


NOTE_DESC = 2_700_000       # one note's descriptor: ~800 MB before with 300 headers
NOTE_COPIES = 300


def _one_note_many_headers(data: bytes, count: int, segments: bool) -> bytes:
    """``data`` with one GNU note of NOTE_DESC bytes appended, then ``count`` SHT_NOTE
    section headers (or PT_NOTE program headers) each naming that note."""
    body = bytearray(data)
    body += bytes(-len(body) % 4)
    noff = len(body)
    body += struct.pack("<3I", 4, NOTE_DESC, 1) + b"GNU\0" + bytes(NOTE_DESC)
    size = len(body) - noff
    hdr = list(EHDR.unpack_from(body))
    if segments:
        phoff = len(body)
        body += struct.pack("<8I", 4, noff, 0, 0, size, size, 4, 4) * count
        hdr[5], hdr[6], hdr[10], hdr[12], hdr[13] = phoff, 0, count, 0, 0
    else:
        shoff = len(body)
        body += bytes(40) + struct.pack("<10I", 0, 7, 2, 0, noff, size, 0, 0, 4, 0) * count
        hdr[6], hdr[12], hdr[13] = shoff, count + 1, 0
    EHDR.pack_into(body, 0, *hdr)
    return bytes(body)


@pytest.mark.parametrize("segments", [False, True], ids=["sections", "segments"])
def test_info_of_many_note_headers_naming_one_note(tmp_path, segments):
    """ElfFile.notes parsed a note area once per header naming it and copied each
    descriptor (pyvm-tools info: 818 MB for 300 headers of a 2.7 MB note); readelf
    says what the notes are."""
    path = tmp_path / "nbomb"
    path.write_bytes(_one_note_many_headers(_base(), NOTE_COPIES, segments))
    theirs = _readelf(["-n"], path)
    sizes = re.findall(r"^\s+GNU\s+(0x[0-9a-f]+)\s", theirs, re.M)
    assert len(sizes) == NOTE_COPIES and {int(s, 16) for s in sizes} == {NOTE_DESC}
    out, status, peak = peak_rss([sys.executable, "-m", "vm.tools", "info", "--no-symbols",
                                  path])
    assert status == 0, out
    assert f"notes ({NOTE_COPIES}):".encode() in out, out[-400:]
    assert out.count(f"GNU type 1 ({NOTE_DESC} bytes)".encode()) == NOTE_COPIES
    assert peak < BOUND_KB, f"pyvm-tools info held {peak} KiB"
