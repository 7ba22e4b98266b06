"""Makefile dependency rules as NASM's -M options write them (emit_dependencies)."""

from __future__ import annotations

from typing import Callable, Optional, Sequence


def quote_for_pmake(name: str) -> str:
    """A file name made safe for POSIX make, as NASM quotes it: blanks escaped (with the
    backslashes before them doubled), ``$`` doubled, ``#`` escaped, trailing
    backslashes doubled."""
    out = []
    backslashes = 0
    for ch in name:
        if ch in " \t":
            out.append("\\" * backslashes + "\\" + ch)
            backslashes = 0
        elif ch == "$":
            out.append("$$")
            backslashes = 0
        elif ch == "#":
            out.append("\\#")
            backslashes = 0
        elif ch == "\\":
            out.append(ch)
            backslashes += 1
        else:
            out.append(ch)
            backslashes = 0
    out.append("\\" * backslashes)
    return "".join(out)


def quote_for_wmake(name: str) -> str:
    """A file name made safe for Watcom make (-MW): double quotes around names with
    blanks, ``&`` or ``"``; ``$`` and ``#`` escaped with ``$``; ``"`` doubled."""
    quote = any(ch in ' \t&"' for ch in name)
    body = "".join("$" + ch if ch in "$#" else '""' if ch == '"' else ch for ch in name)
    return f'"{body}"' if quote else body


def dependency_rules(target: str, files: Sequence[str], phony: bool = False,
                     quote: Callable[[str], str] = quote_for_pmake,
                     wmake: bool = False) -> str:
    """The text NASM writes: ``target : file file ...`` wrapped at NASM's column, a blank
    line, then (-MP) an empty rule for each file."""
    wrap = " &\n " if wmake else " \\\n "
    out = [f"{target} :"]
    column = len(target) + 2
    for f in files:
        q = quote(f)
        if column + len(q) > 62 and column > 1:
            out.append(wrap)
            column = 1
        out.append(f" {q}")
        column += len(q) + 1
    out.append("\n\n")
    if phony:
        for f in files:
            out.append(f"{quote(f)} :\n{chr(9) + '%null' + chr(10) if wmake else ''}\n")
    return "".join(out)


class DependencyRequest:
    """What -M, -MG, -MD, -MF, -MT, -MQ, -MP and -MW ask for."""

    def __init__(self, only: bool = False, file: Optional[str] = None,
                 target: Optional[str] = None, quote_target: bool = False,
                 phony: bool = False, missing_ok: bool = False, wmake: bool = False):
        self.only = only                # -M/-MG: no assembly, the rules alone
        self.file = file                # None or "-": standard output (or NAME.d, -MD)
        self.target = target            # None: the output file's name
        self.quote_target = quote_target
        self.phony = phony
        self.missing_ok = missing_ok    # -MG: the include path is not searched
        self.wmake = wmake

    def quote(self, name: str) -> str:
        return quote_for_wmake(name) if self.wmake else quote_for_pmake(name)

    def rules(self, output_name: str, files: Sequence[str]) -> str:
        if self.target is None:
            target = self.quote(output_name)
        else:
            target = self.quote(self.target) if self.quote_target else self.target
        return dependency_rules(target, files, self.phony, self.quote, self.wmake)


def incbin_file(line: str) -> Optional[str]:
    """The file an ``incbin "name"`` line names (after an optional label), else None;
    what NASM's preprocessor notes for -M and -E."""
    from asm.errors import AsmError
    from asm.parser import tokenize
    if "incbin" not in line.lower():
        return None
    try:
        toks = tokenize(line)
    except AsmError:
        return None
    i = 0
    if len(toks) > 1 and toks[0][0] == "ID":
        i = 2 if toks[1][0] == "COLON" else 1
    if (len(toks) > i + 1 and toks[i][1].lower() == "incbin"
            and toks[i + 1][0] == "STRING"):
        from asm.expr import read_string
        return read_string(toks[i + 1][1]).decode("utf-8", "surrogateescape")
    return None
