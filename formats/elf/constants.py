"""ELF32 / i386 constants (System V gABI and the i386 psABI) and their display names."""

from __future__ import annotations

ELFMAG = b"\x7fELF"
ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB, ELFDATA2MSB = 1, 2
EV_CURRENT = 1
ELFOSABI_SYSV = 0

# e_type
ET_NONE, ET_REL, ET_EXEC, ET_DYN, ET_CORE = 0, 1, 2, 3, 4
# e_machine
EM_386 = 3

# special section indices
SHN_UNDEF = 0
SHN_LORESERVE = 0xFF00
SHN_ABS = 0xFFF1
SHN_COMMON = 0xFFF2
SHN_XINDEX = 0xFFFF

# sh_type
SHT_NULL = 0
SHT_PROGBITS = 1
SHT_SYMTAB = 2
SHT_STRTAB = 3
SHT_RELA = 4
SHT_HASH = 5
SHT_DYNAMIC = 6
SHT_NOTE = 7
SHT_NOBITS = 8
SHT_REL = 9
SHT_SHLIB = 10
SHT_DYNSYM = 11
SHT_INIT_ARRAY = 14
SHT_FINI_ARRAY = 15
SHT_PREINIT_ARRAY = 16
SHT_GROUP = 17
SHT_SYMTAB_SHNDX = 18
SHT_GNU_ATTRIBUTES = 0x6FFFFFF5
SHT_GNU_HASH = 0x6FFFFFF6
SHT_GNU_VERDEF = 0x6FFFFFFD
SHT_GNU_VERNEED = 0x6FFFFFFE
SHT_GNU_VERSYM = 0x6FFFFFFF

# sh_flags
SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
SHF_MERGE = 0x10
SHF_STRINGS = 0x20
SHF_INFO_LINK = 0x40
SHF_LINK_ORDER = 0x80
SHF_OS_NONCONFORMING = 0x100
SHF_GROUP = 0x200
SHF_TLS = 0x400
SHF_COMPRESSED = 0x800
SHF_EXCLUDE = 0x80000000

GRP_COMDAT = 1

# symbol binding, type, visibility
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE, STT_COMMON, STT_TLS = range(7)
STT_GNU_IFUNC = 10
STV_DEFAULT, STV_INTERNAL, STV_HIDDEN, STV_PROTECTED = range(4)

# p_type
PT_NULL, PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE, PT_SHLIB, PT_PHDR, PT_TLS = range(8)
PT_GNU_EH_FRAME = 0x6474E550
PT_GNU_STACK = 0x6474E551
PT_GNU_RELRO = 0x6474E552
PT_GNU_PROPERTY = 0x6474E553
# p_flags
PF_X, PF_W, PF_R = 1, 2, 4

# i386 relocation types (psABI, table 4.x)
R_386_NONE = 0
R_386_32 = 1
R_386_PC32 = 2
R_386_GOT32 = 3
R_386_PLT32 = 4
R_386_COPY = 5
R_386_GLOB_DAT = 6
R_386_JMP_SLOT = 7
R_386_RELATIVE = 8
R_386_GOTOFF = 9
R_386_GOTPC = 10
R_386_32PLT = 11
R_386_TLS_TPOFF = 14
R_386_TLS_IE = 15
R_386_TLS_GOTIE = 16
R_386_TLS_LE = 17
R_386_TLS_GD = 18
R_386_TLS_LDM = 19
R_386_16 = 20
R_386_PC16 = 21
R_386_8 = 22
R_386_PC8 = 23
R_386_TLS_GD_32 = 24
R_386_TLS_GD_PUSH = 25
R_386_TLS_GD_CALL = 26
R_386_TLS_GD_POP = 27
R_386_TLS_LDM_32 = 28
R_386_TLS_LDM_PUSH = 29
R_386_TLS_LDM_CALL = 30
R_386_TLS_LDM_POP = 31
R_386_TLS_LDO_32 = 32
R_386_TLS_IE_32 = 33
R_386_TLS_LE_32 = 34
R_386_TLS_DTPMOD32 = 35
R_386_TLS_DTPOFF32 = 36
R_386_TLS_TPOFF32 = 37
R_386_SIZE32 = 38
R_386_TLS_GOTDESC = 39
R_386_TLS_DESC_CALL = 40
R_386_TLS_DESC = 41
R_386_IRELATIVE = 42
R_386_GOT32X = 43

# Width in bytes of the field each relocation patches (REL keeps the addend there).
RELOC_WIDTH = {
    R_386_NONE: 0, R_386_32: 4, R_386_PC32: 4, R_386_GOT32: 4, R_386_PLT32: 4,
    R_386_GOTOFF: 4, R_386_GOTPC: 4, R_386_16: 2, R_386_PC16: 2, R_386_8: 1, R_386_PC8: 1,
    R_386_SIZE32: 4, R_386_GOT32X: 4,
}

NT_GNU_ABI_TAG, NT_GNU_BUILD_ID, NT_GNU_PROPERTY_TYPE_0 = 1, 3, 5


def _names(prefix: str, *, skip: tuple[str, ...] = ()) -> dict[int, str]:
    """Map values to names for the module constants starting with ``prefix``."""
    table: dict[int, str] = {}
    for key, value in globals().items():
        if key.startswith(prefix) and isinstance(value, int) and key not in skip:
            table.setdefault(value, key[len(prefix):])
    return table


ET_NAMES = {ET_NONE: "NONE", ET_REL: "REL", ET_EXEC: "EXEC", ET_DYN: "DYN", ET_CORE: "CORE"}
SHT_NAMES = _names("SHT_")
STB_NAMES = _names("STB_")
STT_NAMES = _names("STT_")
STV_NAMES = _names("STV_")
PT_NAMES = _names("PT_")
R_386_NAMES = {v: "R_386_" + k for v, k in _names("R_386_").items()}
# Symbols readelf prints by name rather than number in the Ndx column.
SHN_NAMES = {SHN_UNDEF: "UND", SHN_ABS: "ABS", SHN_COMMON: "COM"}


def type_name(table: dict[int, str], value: int) -> str:
    """A constant's name, or its number when the table does not know it."""
    return table.get(value, f"<{value:#x}>")


def section_flags_text(flags: int) -> str:
    """readelf's one-letter section flag key (W A X M S I L O G T C E)."""
    letters = [(SHF_WRITE, "W"), (SHF_ALLOC, "A"), (SHF_EXECINSTR, "X"), (SHF_MERGE, "M"),
               (SHF_STRINGS, "S"), (SHF_INFO_LINK, "I"), (SHF_LINK_ORDER, "L"),
               (SHF_OS_NONCONFORMING, "O"), (SHF_GROUP, "G"), (SHF_TLS, "T"),
               (SHF_COMPRESSED, "C"), (SHF_EXCLUDE, "E")]
    return "".join(ch for bit, ch in letters if flags & bit)


def segment_flags_text(flags: int) -> str:
    """``RWE``-style permissions, as readelf prints them."""
    return "".join(ch if flags & bit else " " for bit, ch in ((PF_R, "R"), (PF_W, "W"), (PF_X, "E")))
