"""The x86 instruction set: one table driving encoder, decoder and disassembler."""
