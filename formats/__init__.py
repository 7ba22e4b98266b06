"""Byte layouts on disk (flat, B32, V16, ELF32, DOS .COM) and format detection by magic."""

from __future__ import annotations

import os

FORMATS = ("raw", "bin", "com", "elf", "b32", "v16", "asm")


def is_boot_sector(data: bytes) -> bool:
    """A PC boot sector: exactly 512 bytes ending in the 55 AA signature."""
    return len(data) == 512 and data[510:512] == b"\x55\xaa"


def detect(path: str, data: bytes) -> str:
    """Guess a program's format from its magic bytes, then its extension.

    Returns one of FORMATS. Anything unrecognised is a flat binary ("bin").
    """
    if data[:4] == b"\x7fELF":
        return "elf"
    if data[:3] == b"B32":
        return "b32"
    if data[:4] == b"V16\0":
        return "v16"
    ext = os.path.splitext(path)[1].lower()
    if ext == ".com":
        return "com"
    if ext in (".s", ".asm", ".nasm"):
        return "asm"
    return "bin"
