"""Listing files in NASM's layout (``nasm -l``).

Each row: line number (6), offset (8 hex), up to 18 characters of output (bytes as hex,
``[reloc]`` fields, ``<rep N>``/``<res N>``/``<bin N>`` markers; a longer output wraps
onto continuation rows ending in ``-``), the macro level ``<n>`` and the source text.
"""

from __future__ import annotations

HEXBIT = 18


def format_listing(assembly) -> str:
    out: list = []
    for e in assembly.listing:
        rows: list = []         # (offset, text)
        cur = ""
        cur_off = None
        for off, piece in e.pieces:
            if len(cur) + len(piece) > HEXBIT:
                rows.append((cur_off, cur + "-"))
                cur = ""
                cur_off = None
            if not cur:
                cur_off = off
            cur += piece
        if cur or e.offset is not None and not rows and e.pieces:
            rows.append((cur_off, cur))
        level = f" <{e.depth}> " if e.depth else "     "
        text = e.text.rstrip("\n")
        if not rows:
            out.append(f"{e.lineno:6d} {'':28}{level}{text}\n")
        for k, (off, data) in enumerate(rows):
            head = f"{e.lineno:6d} {off or 0:08X} {data:<{HEXBIT + 1}}"
            if k == 0:
                out.append(f"{head}{level}{text}\n")
            else:
                out.append(head + "\n")
        for msg in e.messages:
            out.append(f"{e.lineno:6d} {'':8} {'*' * HEXBIT}       {msg}\n")
    return "".join(out)
