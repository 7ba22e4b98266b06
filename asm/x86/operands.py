"""Operands as the front end hands them to the x86 encoder (and the decoder hands them back).

Values are already evaluated to integers. ``reloc`` is opaque to the encoder: it is set when
a value is not a plain number (relative to a section or an external symbol), which both
disables NASM's short/sign-extended optimisations and makes the encoder report a Fixup so
the driver can emit a relocation. ``unknown`` marks a forward reference not yet resolved in
the current pass.
"""

from __future__ import annotations

from typing import Optional, Union

from formats.plainrecord import field, record


@record
class Reg:
    name: str                   # lower case: 'al', 'eax', 'es', 'cr0', 'st3', ...
    spec = None                 # (not a field) a size keyword NASM ignored on it: it warns


@record
class Imm:
    value: int
    size: Optional[int] = None  # explicit size keyword in bytes: byte=1 word=2 dword=4
    strict: bool = False        # 'strict' keyword: no optimisation of the size
    jump: Optional[str] = None  # 'short' | 'near' | 'far' keyword before the operand
    reloc: object = None
    unknown: bool = False
    # (set on the few that need it) a value NASM's parser does not call simple (`2*x`: a
    # segment base multiplied away): no sign-extended byte or unity form for it
    not_simple = False
    unknowable = False      # a `<=>` made it unknown: NASM's 0, sized as known but a branch
    #                         target not known (asm.expr.Unknowable)


@record
class Mem:
    """``[seg: disp + reg*mult + ...]``.

    ``regs`` lists (register, multiplier) in source order, one entry per distinct register
    (``[eax+eax*2]`` gives ``[('eax', 3)]``). The encoder chooses base and index as NASM does.
    """
    size: Optional[int] = None  # byte/word/dword/qword/tword -> 1/2/4/8/10; None if unsized
    seg: Optional[str] = None   # segment override register
    regs: list = field(default_factory=list)
    disp: int = 0
    disp_size: Optional[int] = None  # [byte eax+1], [dword eax], [word bx]
    reloc: object = None
    unknown: bool = False
    nosplit: bool = False
    jump: Optional[str] = None  # 'near' | 'far' keyword (jmp far [eax])
    strict: bool = False
    scaled: tuple = ()          # registers written with an explicit '*' ([ebp*1+ebx]):
                                # NASM never makes those the base when it has a choice
    asize: Optional[int] = None  # `[a32 bx]`: the address size written inside
    # (not a field: set on the few that need it) the relocated section's address that
    # disp includes (a flat binary's org): NASM's bounds checks see the offset
    origin = 0
    # (set on the few that need it) a self-relative displacement with no target (`[ebx+5-x]`,
    # x in this section): sized by its offset (disp - origin), never warned about
    relative = False


@record
class FarPtr:
    """``seg:offset`` immediate of ``jmp``/``call`` far."""
    seg: int
    offset: int
    size: Optional[int] = None  # word/dword keyword on the offset


Operand = Union[Reg, Imm, Mem, FarPtr]


@record(frozen=True)
class SectionRel:
    """``reloc`` of a value relative to a section: a label defined in it, or ``$``.

    The encoder treats a jump target as local (short-jump optimisation, displacement
    resolved, no fixup) when its reloc has ``section`` equal to the section being assembled
    and no ``symbol`` (an external symbol). A plain number is never local: NASM does not
    optimise ``jmp 0x1234`` to a short jump.
    """
    section: str = ".text"


@record
class Fixup:
    """A field of an encoded instruction that holds a non-plain value (see ``reloc``)."""
    offset: int                 # byte offset of the field within the instruction
    size: int                   # 1, 2 or 4
    reloc: object
    pcrel: bool                 # field holds target - end_of_instruction


@record
class Encoded:
    data: bytes
    fixups: list = field(default_factory=list)
    lockable: bool = True       # a lock prefix is valid here (else NASM warns, the CPU #UDs)
    level: int = 0              # the form's CPU level (asm.x86.table.FLAG_LEVELS)
    hle: str = ""               # what xacquire/xrelease may do here (encoder.hle_use)
    obsolete: bool = False      # an 8086-only instruction (`pop cs`): NASM warns
    warnings: tuple = ()        # NASM's warnings about it, each with its [-w+class] tag
