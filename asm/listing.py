"""Listing files in NASM's layout (``nasm -l``).

Each row: line number (6), offset (8 hex), up to 18 characters of output (bytes as hex,
``[reloc]`` fields, ``<rep N>``/``<res N>``/``<bin N>`` markers; a longer output wraps
onto continuation rows ending in ``-``), the macro level ``<n>`` and the source text.
"""

from __future__ import annotations

import re

HEXBIT = 18

# a line's tokens as NASM keeps a macro's body: strings, runs of blanks, a comment, others
# (`%{1:2}` is the token `%1:2`)
_TOKENS = re.compile(r"""`(?:\\.|[^`\\])*`?|'[^']*'?|"[^"]*"?|%\{[^}]*\}"""
                     r"""|[ \t\v\f\r]+|;.*|[^'"`;% \t\v\f\r]+|%""")


def listed_text(sl) -> str:
    """The text a listing shows for a preprocessed line: a macro's or a %rep's body line
    as NASM keeps it, in tokens (no comment, each run of blanks one space, none at the
    end), any other line as written."""
    if not sl.expanded:
        return sl.list_text
    out = []
    for token in _TOKENS.findall(sl.list_text):
        if token[0] == ";":
            break
        out.append(" " if token[0] in " \t\v\f\r" else
                   "%" + token[2:-1] if token[:2] == "%{" else token)
    return "".join(out).rstrip()


_TEXT_MAX = 1020          # source text NASM lists in full; a longer line ends in "..."


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
                # NASM lists a `<rep N>` at the offset of the row being filled: one that
                # starts a row of its own keeps the offset of the row it overflowed
                cur_off = rows[-1][0] if rows and piece.startswith("<rep") else off
            cur += piece
            row_of.append(len(rows))
        if cur or e.offset is not None and not rows and e.pieces:
            rows.append((cur_off, cur))
        level = f" <{e.depth}> " if e.depth else "     "
        text = e.text.rstrip("\n")
        if len(text) * 4 >= _TEXT_MAX:      # (NASM's listing line buffer, in bytes)
            raw = text.encode("utf-8", "surrogateescape")
            if len(raw) >= _TEXT_MAX:       # (a character it cuts is written in part)
                text = raw[:_TEXT_MAX].decode("utf-8", "surrogateescape") + "..."
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
            head = f"{e.lineno:6d} {(off or 0) & 0xFFFFFFFF:08X} {data:<{HEXBIT + 1}}"
            if k == 0:
                out.append(f"{head}{level}{text}\n")
            else:
                out.append(head + level.rstrip() + "\n")    # (NASM: the level, no text)
            for msg in after.pop(k, ()):
                out.append(f"{e.lineno:6d} {'':8} {'*' * HEXBIT} {level} {msg}\n")
        for row in sorted(after):
            for msg in after[row]:
                out.append(f"{e.lineno:6d} {'':8} {'*' * HEXBIT} {level} {msg}\n")
    return "".join(out)
