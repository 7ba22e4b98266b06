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
        row_of: list = []       # piece index -> its row
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
            row_of.append(len(rows))
        if cur or e.offset is not None and not rows and e.pieces:
            rows.append((cur_off, cur))
        level = f" <{e.depth}> " if e.depth else "     "
        text = e.text.rstrip("\n")
        if not rows:
            out.append(f"{e.lineno:6d} {'':28}{level}{text}\n")
        # a message comes out with the row being filled when it came (NASM prints a row
        # when the next piece overflows it), others after the last row
        after: dict = {}
        marks = getattr(e, "marks", {})
        for i, msg in enumerate(e.messages):
            m = marks.get(i)
            row = len(rows) - 1 if m is None or not row_of else row_of[min(max(m, 1),
                                                                         len(row_of)) - 1]
            after.setdefault(row, []).append(msg)
        for msg in getattr(e, "pp_messages", None) or ():     # (a directive's: no bytes)
            after.setdefault(len(rows) - 1, []).append(msg)
        for msg in (msg for messages in getattr(e, "muted", ()) for msg in messages):
            after.setdefault(len(rows) - 1, []).append(msg)
        for k, (off, data) in enumerate(rows):
            head = f"{e.lineno:6d} {off or 0:08X} {data:<{HEXBIT + 1}}"
            if k == 0:
                out.append(f"{head}{level}{text}\n")
            else:
                out.append(head + "\n")
            for msg in after.pop(k, ()):
                out.append(f"{e.lineno:6d} {'':8} {'*' * HEXBIT} {level} {msg}\n")
        for row in sorted(after):
            for msg in after[row]:
                out.append(f"{e.lineno:6d} {'':8} {'*' * HEXBIT} {level} {msg}\n")
    return "".join(out)
