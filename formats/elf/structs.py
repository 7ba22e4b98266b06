"""The ELF32 on-disk structures, each declared exactly once (little-endian, as on i386)."""

from __future__ import annotations

from .records import declare

Elf32_Ehdr = declare("Elf32_Ehdr", "<", [
    ("e_ident", "16s"),
    ("e_type", "H"),
    ("e_machine", "H"),
    ("e_version", "I"),
    ("e_entry", "I"),
    ("e_phoff", "I"),
    ("e_shoff", "I"),
    ("e_flags", "I"),
    ("e_ehsize", "H"),
    ("e_phentsize", "H"),
    ("e_phnum", "H"),
    ("e_shentsize", "H"),
    ("e_shnum", "H"),
    ("e_shstrndx", "H"),
])

Elf32_Shdr = declare("Elf32_Shdr", "<", [
    ("sh_name", "I"),
    ("sh_type", "I"),
    ("sh_flags", "I"),
    ("sh_addr", "I"),
    ("sh_offset", "I"),
    ("sh_size", "I"),
    ("sh_link", "I"),
    ("sh_info", "I"),
    ("sh_addralign", "I"),
    ("sh_entsize", "I"),
])

Elf32_Phdr = declare("Elf32_Phdr", "<", [
    ("p_type", "I"),
    ("p_offset", "I"),
    ("p_vaddr", "I"),
    ("p_paddr", "I"),
    ("p_filesz", "I"),
    ("p_memsz", "I"),
    ("p_flags", "I"),
    ("p_align", "I"),
])

Elf32_Sym = declare("Elf32_Sym", "<", [
    ("st_name", "I"),
    ("st_value", "I"),
    ("st_size", "I"),
    ("st_info", "B"),     # binding << 4 | type
    ("st_other", "B"),    # visibility in the low 2 bits
    ("st_shndx", "H"),
])

Elf32_Rel = declare("Elf32_Rel", "<", [
    ("r_offset", "I"),
    ("r_info", "I"),      # symbol index << 8 | type
])

Elf32_Rela = declare("Elf32_Rela", "<", [
    ("r_offset", "I"),
    ("r_info", "I"),
    ("r_addend", "i"),
])

Elf32_Nhdr = declare("Elf32_Nhdr", "<", [
    ("n_namesz", "I"),
    ("n_descsz", "I"),
    ("n_type", "I"),
])

# e_ident: magic, class, data encoding, version, OS ABI, ABI version, padding.
Elf32_Ident = declare("Elf32_Ident", "<", [
    ("ei_mag", "4s"),
    ("ei_class", "B"),
    ("ei_data", "B"),
    ("ei_version", "B"),
    ("ei_osabi", "B"),
    ("ei_abiversion", "B"),
    ("ei_pad", "7s"),
])


def st_info(bind: int, type_: int) -> int:
    return (bind << 4) | (type_ & 0xF)


def r_info(sym: int, type_: int) -> int:
    return (sym << 8) | (type_ & 0xFF)
