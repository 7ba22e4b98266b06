"""The vDSO the i386 kernel maps into every process (``linux-gate.so.1``): a small ELF
shared object whose address the kernel gives in AT_SYSINFO_EHDR, and whose
``__kernel_vsyscall`` (AT_SYSINFO) glibc calls for every system call
(``call *%gs:0x10``). Signal handlers installed without SA_RESTORER return through its
``__kernel_sigreturn``/``__kernel_rt_sigreturn``; the C library finds ``__vdso_*``
clock functions in it by name and version (LINUX_2.6) through its hash table.

pyvm's vDSO is built here, not copied from a kernel: the code is NASM source assembled
by pyasm (every function simply makes the system call with ``int 0x80``: the kernel's
read the time from a data page, which would only be faster), laid out as the kernel's
``vdso32.so`` is (one R+X PT_LOAD at 0, then PT_DYNAMIC, PT_NOTE and PT_GNU_EH_FRAME)
with a dynamic section, SysV hash table, symbol and version tables (LINUX_2.5 for the
``__kernel_*`` entries, LINUX_2.6 for ``__vdso_*``, as the kernel), a Linux version note
and unwind tables, so an unwinder can step out of ``__kernel_vsyscall`` (pthread
cancellation of a thread blocked in a system call does exactly that). The sigreturn
entries are preceded by a byte no FDE covers and are not covered themselves: unwinders
recognise them by their bytes, as on a real kernel.

Assembling costs more than starting a small program, so the image ships built
(vdso_image.py, written by ``python -m vm.linux.vdso``; a test checks it equals a fresh
build from this file): a run neither assembles nor imports the assembler.
"""

from __future__ import annotations

import os
import struct
from typing import List, Optional, Tuple

try:        # (not hashlib: importing it loads OpenSSL, ~3 ms of every run)
    from _blake2 import blake2b as _blake2b
except ImportError:
    from hashlib import blake2b as _blake2b

from formats.elf.constants import (
    ET_DYN,
    PF_R,
    PF_X,
    PT_DYNAMIC,
    PT_GNU_EH_FRAME,
    PT_LOAD,
    PT_NOTE,
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHN_ABS,
    SHT_DYNAMIC,
    SHT_DYNSYM,
    SHT_GNU_VERDEF,
    SHT_GNU_VERSYM,
    SHT_HASH,
    SHT_NOTE,
    SHT_PROGBITS,
    SHT_STRTAB,
    STB_GLOBAL,
    STT_FUNC,
    STT_OBJECT,
)
from formats.elf.elffile import new_header
from formats.elf.structs import Elf32_Phdr, Elf32_Shdr, Elf32_Sym
from formats.elf.tables import StringTable

SONAME = "linux-gate.so.1"
KERNEL_VERSION = (6, 1, 0)          # as uname(2) says (vm/linux/syscalls.py)
PAGE = 0x1000

# The code. Each system call wrapper keeps EBX (callee-saved) and returns what the call
# returns (a negative errno on failure, which is what the C library expects of a vDSO
# function). Labels ending in _end give the symbol sizes; .vsys_ret etc. the CFI.
SOURCE = """\
bits 32
__kernel_vsyscall:
        int 0x80
        ret
__kernel_vsyscall_end:
        align 16, db 0x90
        nop                     ; return address - 1 of a handler: no FDE here
__kernel_sigreturn:
        pop eax
        mov eax, 119            ; sigreturn
        int 0x80
__kernel_sigreturn_end:
        nop
__kernel_rt_sigreturn:
        mov eax, 173            ; rt_sigreturn
        int 0x80
__kernel_rt_sigreturn_end:
%macro call2 2                  ; name, system call: f(a, b)
        align 16, db 0x90
%1:
        push ebx
%1_pushed:
        mov eax, %2
        mov ebx, [esp + 8]
        mov ecx, [esp + 12]
        int 0x80
        pop ebx
%1_popped:
        ret
%1_end:
%endmacro
        call2 __vdso_clock_gettime, 265
        call2 __vdso_gettimeofday, 78
        call2 __vdso_clock_getres, 266
        call2 __vdso_clock_gettime64, 403
        align 16, db 0x90
__vdso_time:                    ; time(tloc)
        push ebx
__vdso_time_pushed:
        mov eax, 13
        mov ebx, [esp + 8]
        int 0x80
        pop ebx
__vdso_time_popped:
        ret
__vdso_time_end:
"""

# (symbol, version index); 2 = LINUX_2.6, 3 = LINUX_2.5 as in the kernel's image
FUNCTIONS = [("__kernel_vsyscall", 3), ("__kernel_sigreturn", 3),
             ("__kernel_rt_sigreturn", 3), ("__vdso_clock_gettime", 2),
             ("__vdso_gettimeofday", 2), ("__vdso_clock_getres", 2),
             ("__vdso_clock_gettime64", 2), ("__vdso_time", 2)]
VERSIONS = [(SONAME, 1), ("LINUX_2.6", 0), ("LINUX_2.5", 0)]   # index 1, 2, 3; 1 = BASE
# functions with CFI: those that push EBX get its save and the CFA change
_CFI = ["__kernel_vsyscall", "__vdso_clock_gettime", "__vdso_gettimeofday",
        "__vdso_clock_getres", "__vdso_clock_gettime64", "__vdso_time"]

DT_NULL, DT_HASH, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SYMENT, DT_SONAME = 0, 4, 5, 6, 10, 11, 14
DT_VERSYM, DT_VERDEF, DT_VERDEFNUM = 0x6FFFFFF0, 0x6FFFFFFC, 0x6FFFFFFD
VER_FLG_BASE = 1
DYNSYM, DYNSTR, TEXT = 2, 3, 10        # section indices, in the order build() makes them


class Vdso:
    """The built image and the addresses (offsets from its base) the kernel uses."""

    __slots__ = ("data", "vsyscall", "sigreturn", "rt_sigreturn")

    def __init__(self, data: bytes, vsyscall: int, sigreturn: int, rt_sigreturn: int):
        self.data, self.vsyscall = data, vsyscall
        self.sigreturn, self.rt_sigreturn = sigreturn, rt_sigreturn

    @property
    def span(self) -> int:
        return (len(self.data) + PAGE - 1) & ~(PAGE - 1)


def _align(buf: bytearray, n: int) -> None:
    buf.extend(bytes(-len(buf) % n))


def _elf_hash(name: bytes) -> int:
    h = 0
    for c in name:
        h = (h << 4) + c
        g = h & 0xF0000000
        if g:
            h ^= g >> 24
        h &= ~g & 0xFFFFFFFF
    return h


def _uleb(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _advance(delta: int) -> bytes:
    return bytes((0x40 | delta,)) if delta < 0x40 else b"\x02" + bytes((delta,))


def _eh_frame(at: int, labels: dict) -> Tuple[bytes, List[Tuple[int, int]]]:
    """.eh_frame placed at ``at``: one CIE (CFA = ESP + 4, return address at CFA - 4)
    and an FDE per function of _CFI; returns it and (function, FDE address) pairs."""
    cie_body = (b"\x01zR\x00" + _uleb(1) + b"\x7c" + _uleb(8) + _uleb(1) + b"\x1b"
                + b"\x0c\x04\x04" + b"\x88\x01")    # def_cfa esp+4; eip at cfa-4
    cie_body += bytes(-(len(cie_body) + 8) % 4)      # DW_CFA_nop padding
    out = bytearray(struct.pack("<II", len(cie_body) + 4, 0) + cie_body)
    fdes = []
    for name in _CFI:
        start, end = labels[name], labels[name + "_end"]
        ops = b""
        if name + "_pushed" in labels:               # push ebx ... pop ebx; ret
            ops = (_advance(labels[name + "_pushed"] - start) + b"\x0e\x08" + b"\x83\x02"
                   + _advance(labels[name + "_popped"] - labels[name + "_pushed"])
                   + b"\x0e\x04" + b"\xc3")
        fde_at = at + len(out)
        body_len = 4 + 4 + 4 + 1 + len(ops)
        pad = -(body_len + 4) % 4
        pc_field = fde_at + 8
        out += struct.pack("<IIiI", body_len + pad, fde_at + 4 - at, start - pc_field,
                           end - start)
        out += b"\x00" + ops + bytes(pad)
        fdes.append((start, fde_at))
    out += bytes(4)                                  # terminator
    return bytes(out), fdes


def _eh_frame_hdr(at: int, eh_frame: int, fdes: List[Tuple[int, int]]) -> bytes:
    table = b"".join(struct.pack("<ii", pc - at, fde - at) for pc, fde in sorted(fdes))
    return (b"\x01\x1b\x03\x3b" + struct.pack("<iI", eh_frame - (at + 4), len(fdes))
            + table)


def build() -> Vdso:
    """Assemble the code and lay the shared object out (no cache)."""
    from asm.api import assemble
    code = assemble(SOURCE, fmt="bin", bits=32, filename="vdso.asm", listing=False)
    text_bytes = code.data
    labels = dict(code.symbols)
    names = [n for n, _ in FUNCTIONS]
    dynstr = StringTable()
    # the symbol table: null, the functions, then the version names (ABS, as ld makes)
    syms: List[Tuple[str, int, int, int, int]] = [("", 0, 0, 0, 0)]
    for name, ver in FUNCTIONS:
        syms.append((name, labels[name], labels[name + "_end"] - labels[name],
                     STB_GLOBAL << 4 | STT_FUNC, ver))
    for i, (vname, _flags) in enumerate(VERSIONS[1:], 2):
        syms.append((vname, 0, 0, STB_GLOBAL << 4 | STT_OBJECT, i))
    soname = dynstr.add(SONAME)
    sym_names = [dynstr.add(s[0]) for s in syms]
    ver_names = [dynstr.add(v) for v, _ in VERSIONS]
    n = len(syms)
    # the file, section by section (vaddr == file offset)
    nphdr = 4
    buf = bytearray(52 + nphdr * Elf32_Phdr.size)
    sections = []                                   # (name, type, flags, off, size, ...)

    def section(name, stype, flags, data, align, link=0, info=0, entsize=0) -> int:
        _align(buf, align)
        off = len(buf)
        buf.extend(data)
        sections.append((name, stype, flags, off, len(data), link, info, align, entsize))
        return off

    nbucket = 3
    buckets, chains = [0] * nbucket, [0] * n
    for i in range(1, n):
        b = _elf_hash(syms[i][0].encode()) % nbucket
        chains[i], buckets[b] = buckets[b], i
    # the text goes after the tables and its address is in the symbol values: a first
    # pass finds it (no size depends on it), the second writes the tables with it
    text_at_guess = 0
    for _pass in range(2):
        del buf[52 + nphdr * Elf32_Phdr.size:]
        del sections[:]
        hash_off = section(".hash", SHT_HASH, SHF_ALLOC,
                           struct.pack(f"<{2 + nbucket + n}I", nbucket, n, *buckets, *chains),
                           4, link=DYNSYM, entsize=4)
        dynsym = b"".join(
            Elf32_Sym(st_name=sym_names[i], st_value=(s[1] + text_at_guess if s[3] & 0xF ==
                                                      STT_FUNC else 0),
                      st_size=s[2], st_info=s[3],
                      st_shndx=(0 if i == 0 else SHN_ABS if s[3] & 0xF == STT_OBJECT
                                else TEXT)).pack() for i, s in enumerate(syms))
        dynsym_off = section(".dynsym", SHT_DYNSYM, SHF_ALLOC, dynsym, 4, link=DYNSTR, info=1,
                             entsize=16)
        strtab = dynstr.to_bytes()
        dynstr_off = section(".dynstr", SHT_STRTAB, SHF_ALLOC, strtab, 1)
        versym_off = section(".gnu.version", SHT_GNU_VERSYM, SHF_ALLOC,
                             struct.pack(f"<{n}H", *(s[4] for s in syms)), 2, link=DYNSYM,
                             entsize=2)
        verdef = bytearray()
        for i, (vname, flags) in enumerate(VERSIONS):
            nxt = 0 if i == len(VERSIONS) - 1 else 28
            verdef += struct.pack("<HHHHIII", 1, flags, i + 1, 1,
                                  _elf_hash(vname.encode()), 20, nxt)
            verdef += struct.pack("<II", ver_names[i], 0)
        verdef_off = section(".gnu.version_d", SHT_GNU_VERDEF, SHF_ALLOC, verdef, 4,
                             link=DYNSTR, info=len(VERSIONS))
        dyn = [(DT_SONAME, soname), (DT_HASH, hash_off), (DT_STRTAB, dynstr_off),
               (DT_SYMTAB, dynsym_off), (DT_STRSZ, len(strtab)), (DT_SYMENT, 16),
               (DT_VERDEF, verdef_off), (DT_VERDEFNUM, len(VERSIONS)),
               (DT_VERSYM, versym_off), (DT_NULL, 0)]
        dynamic_off = section(".dynamic", SHT_DYNAMIC, SHF_ALLOC,
                              b"".join(struct.pack("<iI", t, v) for t, v in dyn), 4,
                              link=DYNSTR, entsize=8)
        major, minor, patch = KERNEL_VERSION
        note = struct.pack("<III", 6, 4, 0) + b"Linux\0\0\0" + struct.pack(
            "<I", major << 16 | minor << 8 | patch)
        note_off = section(".note", SHT_NOTE, SHF_ALLOC, note, 4)
        # .eh_frame_hdr's size is known before .eh_frame is: 12 + 8 per FDE
        hdr_at = (len(buf) + 3) & ~3
        frame_at = hdr_at + 12 + 8 * len(_CFI)
        text_at = (frame_at + len(_eh_frame(0, labels)[0]) + 15) & ~15
        shifted = {k: v + text_at for k, v in labels.items()}
        frame, fdes = _eh_frame(frame_at, shifted)
        ehhdr_off = section(".eh_frame_hdr", SHT_PROGBITS, SHF_ALLOC,
                            _eh_frame_hdr(hdr_at, frame_at, fdes), 4)
        section(".eh_frame", SHT_PROGBITS, SHF_ALLOC, frame, 4)
        buf.extend(b"\xcc" * (text_at - len(buf)))  # int3 between, as padding
        section(".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, text_bytes, 16)
        if text_at == text_at_guess:
            break
        text_at_guess = text_at
    load_end = len(buf)
    shstr = StringTable()
    shnames = [shstr.add(s[0]) for s in sections]
    shstrndx = len(sections) + 1
    shstr_name = shstr.add(".shstrtab")
    shstr_off = len(buf)
    buf.extend(shstr.to_bytes())
    _align(buf, 4)
    shoff = len(buf)
    shdrs = [Elf32_Shdr()]
    for (_name, stype, flags, off, size, link, info, align, entsize), nm in zip(sections,
                                                                               shnames):
        shdrs.append(Elf32_Shdr(sh_name=nm, sh_type=stype, sh_flags=flags, sh_addr=off,
                                sh_offset=off, sh_size=size, sh_link=link, sh_info=info,
                                sh_addralign=align, sh_entsize=entsize))
    shdrs.append(Elf32_Shdr(sh_name=shstr_name, sh_type=SHT_STRTAB, sh_offset=shstr_off,
                            sh_size=len(shstr.to_bytes()), sh_addralign=1))
    buf.extend(b"".join(s.pack() for s in shdrs))
    phdrs = [
        Elf32_Phdr(p_type=PT_LOAD, p_filesz=load_end, p_memsz=load_end,
                   p_flags=PF_R | PF_X, p_align=PAGE),
        Elf32_Phdr(p_type=PT_DYNAMIC, p_offset=dynamic_off, p_vaddr=dynamic_off,
                   p_paddr=dynamic_off, p_filesz=len(dyn) * 8, p_memsz=len(dyn) * 8,
                   p_flags=PF_R, p_align=4),
        Elf32_Phdr(p_type=PT_NOTE, p_offset=note_off, p_vaddr=note_off, p_paddr=note_off,
                   p_filesz=len(note), p_memsz=len(note), p_flags=PF_R, p_align=4),
        Elf32_Phdr(p_type=PT_GNU_EH_FRAME, p_offset=ehhdr_off, p_vaddr=ehhdr_off,
                   p_paddr=ehhdr_off, p_filesz=12 + 8 * len(fdes),
                   p_memsz=12 + 8 * len(fdes), p_flags=PF_R, p_align=4),
    ]
    hdr = new_header(ET_DYN)
    hdr.e_entry = shifted["__kernel_vsyscall"]
    hdr.e_phoff, hdr.e_phentsize, hdr.e_phnum = 52, Elf32_Phdr.size, len(phdrs)
    hdr.e_shoff, hdr.e_shnum, hdr.e_shstrndx = shoff, len(shdrs), shstrndx
    buf[0:52] = hdr.pack()
    buf[52:52 + len(phdrs) * Elf32_Phdr.size] = b"".join(p.pack() for p in phdrs)
    assert names[0] == "__kernel_vsyscall"
    return Vdso(bytes(buf), shifted["__kernel_vsyscall"], shifted["__kernel_sigreturn"],
                shifted["__kernel_rt_sigreturn"])


# -- the shipped image -----------------------------------------------------------------

_image: Optional[Vdso] = None
IMAGE_MODULE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vdso_image.py")


def source_key() -> str:
    """A digest of this file: the shipped image is this file's only while they agree."""
    with open(__file__, "rb") as f:
        return _blake2b(f.read(), digest_size=12).hexdigest()


def vdso() -> Vdso:
    """The run's vDSO: the image shipped in vdso_image.py (built from this file by
    ``python -m vm.linux.vdso``; tests/test_linux_vdso.py checks they agree), so a run
    never assembles (nor imports the assembler); built in memory only while this file
    has been edited and the image not yet written again."""
    global _image
    if _image is None:
        from vm.linux import vdso_image as shipped
        if shipped.SOURCE_KEY == source_key():
            _image = Vdso(shipped.DATA, shipped.VSYSCALL, shipped.SIGRETURN,
                          shipped.RT_SIGRETURN)
        else:
            _image = build()
    return _image


def write_image(path: str = IMAGE_MODULE) -> None:
    """Write vdso_image.py from build()."""
    v = build()
    hexdata = v.data.hex()
    rows = "\n".join(f'    "{hexdata[i:i + 88]}"' for i in range(0, len(hexdata), 88))
    text = ('"""The vDSO image, generated from vm/linux/vdso.py by ``python -m vm.linux.vdso``'
            '\n(do not edit: tests/test_linux_vdso.py checks it equals a fresh build)."""\n\n'
            f'SOURCE_KEY = "{source_key()}"\n'
            f"VSYSCALL = {v.vsyscall:#x}\nSIGRETURN = {v.sigreturn:#x}\n"
            f"RT_SIGRETURN = {v.rt_sigreturn:#x}\n"
            f"DATA = bytes.fromhex(\n{rows}\n)\n")
    with open(path, "w", encoding="ascii") as f:
        f.write(text)


__all__ = ["Vdso", "build", "vdso"]

if __name__ == "__main__":
    write_image()
