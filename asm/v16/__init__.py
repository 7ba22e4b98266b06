"""V16, the 16-bit teaching machine of ``v16-spec.md``: instruction table, assembler,
disassembler and the assemble/disassemble round trip.

Entry points for the command lines:
    assemble(text, filename) -> bytes            (raises asm.errors.AsmErrors)
    looks_like_v16_source(text) -> bool
    disassemble(data, name=None) -> list[str]    (raises formats.v16.V16FormatError)
    roundtrip_file(path) / roundtrip_bytes(data) -> None or what differs
"""

from asm.v16.assembler import assemble, assemble_program
from asm.v16.disassembler import disassemble
from asm.v16.roundtrip import roundtrip_bytes, roundtrip_file, roundtrip_source
from asm.v16.syntax import looks_like_v16_source

__all__ = ["assemble", "assemble_program", "disassemble", "looks_like_v16_source",
           "roundtrip_bytes", "roundtrip_file", "roundtrip_source"]
