"""Machine-code knowledge: text <-> bytes (grammars, preprocessor, instruction tables,
encoders, decoders, disassemblers, the assembler drivers and the linker)."""
