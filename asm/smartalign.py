"""`%use smartalign`: NASM's alignment with the longest NOP forms of an `alignmode`.

The preprocessor side (the `alignmode` and `align` macros) is in asm.preproc; `align N`
becomes the directive `[smartalign N MODE THRESHOLD]`, which the assembler turns into
bytes with :func:`padding` in every pass (so the padding follows the final layout)."""

from __future__ import annotations

_H = bytes.fromhex

# mode -> (jump threshold, {bits: [the NOP form of 1..8 bytes, None when there is none]})
# (NASM 2.16.01's forms; an 8-byte fill without an 8-byte form is 7 + 1)
_K8 = [_H("90"), _H("6690"), _H("666690"), _H("66666690"), _H("6666669090"),
       _H("666666906690"), _H("66666690666690"), _H("6666669066666690")]
_GENERIC16 = [_H("90"), _H("89f6"), _H("8d7400"), _H("8db40000"), _H("8db4000090"),
              _H("8db4000089ff"), _H("8db400008d7d00"), _H("8db400008dbd0000")]
MODES = {
    "nop": (16, {16: [b"\x90" * n for n in range(1, 9)],
                 32: [b"\x90" * n for n in range(1, 9)]}),
    "generic": (8, {
        16: _GENERIC16,
        32: [_H("90"), _H("89f6"), _H("8d7600"), _H("8d742600"), _H("908d742600"),
             _H("8db600000000"), _H("8db42600000000"), None]}),
    "k8": (16, {16: _K8, 32: _K8}),
    "k7": (16, {
        16: _K8[:4] + _GENERIC16[4:],
        32: [_H("90"), _H("8bc0"), _H("8d0420"), _H("8d442000"), _H("8d44200090"),
             _H("8d8000000000"), _H("8d040500000000"), None]}),
    "p6": (16, {
        16: [_H("90"), _H("6690"), _H("0f1f00"), _H("0f1f4000"), _H("0f1f400090"),
             _H("0f1f40006690"), _H("0f1f40000f1f00"), _H("0f1f40000f1f4000")],
        32: [_H("90"), _H("6690"), _H("0f1f00"), _H("0f1f4000"), _H("0f1f440000"),
             _H("660f1f440000"), _H("0f1f8000000000"), _H("0f1f840000000000")]}),
}


def padding(pad: int, mode: str, threshold: int, bits: int) -> bytes:
    """The bytes that fill ``pad`` bytes: a jump over plain NOPs past the threshold, else
    the mode's NOP forms, the longest first."""
    if pad <= 0:
        return b""
    if pad > threshold:
        if pad - 2 <= 127:
            return bytes((0xEB, pad - 2)) + b"\x90" * (pad - 2)
        size = 3 if bits == 16 else 5
        rel = pad - size
        return b"\xE9" + rel.to_bytes(size - 1, "little") + b"\x90" * rel
    forms = MODES[mode][1][32 if bits == 32 else 16]
    longest = 8 if forms[7] is not None else 7
    n, rest = divmod(pad, longest)
    return forms[longest - 1] * n + (forms[rest - 1] if rest else b"")


def macros() -> str:
    """The package's macros (what `%use smartalign` defines); the default mode is generic."""
    lines = ["%imacro alignmode 1-2.nolist"]
    first = True
    for mode, (threshold, _) in MODES.items():
        lines.append(f"%{'if' if first else 'elif'}idni %1,{mode}")
        lines.append(f"%define __?SMARTALIGN_MODE?__ {mode}")
        lines.append(f"%assign __?ALIGN_JMP_THRESHOLD?__ {threshold}")
        first = False
    lines += ["%else", "%error unknown alignment mode: %1", "%endif",
              "%ifnempty %2", "%assign __?ALIGN_JMP_THRESHOLD?__ %2", "%endif",
              "%xdefine __?ALIGNMODE?__ %1,__?ALIGN_JMP_THRESHOLD?__", "%endmacro",
              "%unimacro align 1-2+.nolist",
              "%imacro align 1-2+.nolist",
              "%if __?SECTALIGN_ALIGN_UPDATES_SECTION?__",
              "sectalign %1", "%endif",
              "%ifnempty %2",
              "times (((%1) - (($-$$) % (%1))) % (%1)) %2",
              "%else",
              "[smartalign %1 __?SMARTALIGN_MODE?__ __?ALIGN_JMP_THRESHOLD?__]",
              "%endif", "%endmacro",
              "alignmode generic"]
    return "\n".join(lines) + "\n"
