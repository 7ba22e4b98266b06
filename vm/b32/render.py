"""Drawing the B32 screen: plain text, ANSI colours, and an HTML page.

Colours are the ones the tutorial's B32Screen.cs paints with: .NET named colours, which
have the same RGB values as the CSS names. Bright foregrounds differ from the dark ones;
the background has no bright variant (spec section 5).
"""

from __future__ import annotations

import html

from vm.b32.screen import COLUMNS, ROWS, Screen, glyph

# index = attribute bits 0-2 (foreground) or 4-6 (background): bit 2 R, bit 1 G, bit 0 B
DARK = (("black", "#000000"), ("blue", "#0000ff"), ("green", "#008000"),
        ("cyan", "#00ffff"), ("red", "#ff0000"), ("magenta", "#ff00ff"),
        ("brown", "#a52a2a"), ("gray", "#808080"))
BRIGHT = (("gray", "#808080"), ("lightblue", "#add8e6"), ("lightgreen", "#90ee90"),
          ("lightcyan", "#e0ffff"), ("pink", "#ffc0cb"), ("fuchsia", "#ff00ff"),
          ("yellow", "#ffff00"), ("white", "#ffffff"))

# ANSI numbers colours B,G,R the other way round: ANSI 1 is red, B32 index 1 is blue.
_ANSI_INDEX = (0, 4, 2, 6, 1, 5, 3, 7)


def foreground(attr: int, dark=DARK, bright=BRIGHT) -> tuple[str, str]:
    """(name, '#rrggbb') of the attribute's foreground colour."""
    return (bright if attr & 0x08 else dark)[attr & 0x07]


def background(attr: int, dark=DARK) -> tuple[str, str]:
    return dark[(attr >> 4) & 0x07]


# Another text screen with the same cell layout (the PC's VGA text mode) is drawn by
# these functions too: its screen object may carry ``glyph`` (byte -> character),
# ``palette`` ((dark, bright) colour tables as above) and ``html_class``.
def _glyph(screen):
    return getattr(screen, "glyph", glyph)


def ansi_sgr(attr: int) -> str:
    """The escape sequence selecting an attribute's colours: 30-37/90-97 on 40-47."""
    fg = _ANSI_INDEX[attr & 0x07] + (90 if attr & 0x08 else 30)
    bg = _ANSI_INDEX[(attr >> 4) & 0x07] + 40
    return f"\x1b[{fg};{bg}m"


def render_text(screen: Screen) -> str:
    """Plain rows, trailing blanks and empty rows trimmed; '' for a blank screen."""
    lines = screen.lines()
    return "".join(line + "\n" for line in lines)


def _visible(cell: tuple[int, int], draw=glyph) -> bool:
    """A cell that shows something in colour: a character, or a non-black background."""
    char, attr = cell
    return draw(char) != " " or attr & 0x70 != 0


def render_ansi(screen: Screen) -> str:
    """Rows in colour, trimmed like render_text but keeping coloured blanks."""
    draw = _glyph(screen)
    rows = [screen.row(r) for r in range(ROWS)]
    while rows and not any(_visible(c, draw) for c in rows[-1]):
        rows.pop()
    out = []
    for cells in rows:
        while cells and not _visible(cells[-1], draw):
            cells = cells[:-1]
        line, current = [], None
        for char, attr in cells:
            if attr != current:
                line.append(ansi_sgr(attr))
                current = attr
            line.append(draw(char))
        if cells:
            line.append("\x1b[0m")
        out.append("".join(line) + "\n")
    return "".join(out)


def render_html(screen: Screen, title: str = "B32 screen") -> str:
    """A standalone page showing all 80x25 cells in their colours."""
    draw = _glyph(screen)
    dark, bright = getattr(screen, "palette", (DARK, BRIGHT))
    css = getattr(screen, "html_class", "b32")
    rows = []
    for r in range(ROWS):
        spans, run, current = [], [], None
        for char, attr in screen.row(r):
            if attr != current and run:
                spans.append(_span(current, run, dark, bright))
                run = []
            current = attr
            run.append(draw(char))
        spans.append(_span(current, run, dark, bright))
        rows.append("".join(spans))
    body = "\n".join(rows)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ background: #303030; margin: 2em; }}
pre.{css} {{ display: inline-block; margin: 0; padding: 4px; background: #000000;
          font: bold 16px/1.15 "Courier New", Courier, monospace; }}
</style>
</head>
<body>
<pre class="{css}" title="{COLUMNS}x{ROWS}">
{body}
</pre>
</body>
</html>
"""


def _span(attr: int, chars: list[str], dark=DARK, bright=BRIGHT) -> str:
    text = html.escape("".join(chars), quote=False)
    fg, bg = foreground(attr, dark, bright)[1], background(attr, dark)[1]
    return f'<span style="color:{fg};background-color:{bg}">{text}</span>'
