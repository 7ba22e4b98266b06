"""B32, the 16-bit teaching machine of ``b32-spec.md``: instruction table, assembler,
disassembler and the assemble/disassemble round trip."""
