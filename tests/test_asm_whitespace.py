"""Line ends and blanks: CRLF files, trailing blanks and blank-only lines assemble as NASM's."""

from __future__ import annotations

import subprocess

from conftest import require_tool

from asm.assembler import assemble

SOURCE = ("bits 32\r\nstart: nop \r\n   \r\n\tmov eax, 1\t\r\n"
          "db \"a  \" , 'b' \r\n%define X 3  \r\ntimes X db 0 ; trailing \r\n")


def test_crlf_and_trailing_blanks_match_nasm(tmp_path):
    nasm = require_tool("nasm")
    src = tmp_path / "ws.s"
    src.write_bytes(SOURCE.encode())
    subprocess.run([nasm, "-f", "bin", "-o", str(tmp_path / "n.bin"), str(src)], check=True)
    assert assemble(SOURCE, str(src), fmt="bin").image() == (tmp_path / "n.bin").read_bytes()
