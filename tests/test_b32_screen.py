"""The 80x25 B32 screen and its three renderings: plain text, ANSI colours, HTML."""

from __future__ import annotations

import re

import pytest

from vm.b32.render import ansi_sgr, render_ansi, render_html, render_text
from vm.b32.screen import Screen, cell_address


def screen_with(*cells) -> Screen:
    """A blank screen with (row, col, text, attr) runs written into it."""
    screen = Screen(bytearray(0x10000))
    screen.clear()
    for row, col, text, attr in cells:
        for i, ch in enumerate(text.encode("latin-1")):
            address = cell_address(row, col + i)
            screen.mem[address] = ch
            screen.mem[address + 1] = attr
    return screen


def test_cell_addresses():
    # Spec section 5: (r, c) is at $A000 + 2*(80r + c); the last cell is $AF9E.
    assert cell_address(0, 0) == 0xA000
    assert cell_address(0, 1) == 0xA002
    assert cell_address(1, 0) == 0xA0A0
    assert cell_address(24, 79) == 0xAF9E
    with pytest.raises(IndexError):
        cell_address(25, 0)


def test_blank_screen_renders_as_nothing():
    screen = screen_with()
    assert render_text(screen) == ""
    assert render_ansi(screen) == ""


# -- plain text ---------------------------------------------------------------------------

def test_text_trims_trailing_blanks_and_rows():
    screen = screen_with((0, 0, "Hello", 0x1E), (2, 3, "B32 ", 0x4F), (3, 70, "   ", 0x70))
    assert render_text(screen) == "Hello\n\n   B32\n"


def test_text_keeps_leading_blanks_and_full_width():
    screen = screen_with((0, 78, "ab", 0x07), (24, 0, "z", 0x07))
    lines = render_text(screen).split("\n")
    assert lines[0] == " " * 78 + "ab"
    assert len(lines) == 26 and lines[24] == "z" and lines[25] == ""


def test_text_glyphs():
    # NUL shows as a blank; other control bytes and bytes above 127 as '?' (the
    # tutorial's ASCII decoder turned bytes above 127 into '?').
    screen = screen_with((0, 0, "A\x00B\x01C\x80D\xffE", 0x07))
    assert render_text(screen) == "A B?C?D?E\n"


# -- ANSI ---------------------------------------------------------------------------------

@pytest.mark.parametrize("attr, sgr", [
    (0x1E, "\x1b[93;44m"),   # yellow (bright brown) on blue
    (0x4F, "\x1b[97;41m"),   # white (bright gray) on red
    (0x07, "\x1b[37;40m"),   # gray on black, the default
    (0x01, "\x1b[34;40m"),   # blue: B32 bit 0 is blue, ANSI 4 is blue
    (0x04, "\x1b[31;40m"),   # red: B32 bit 2 is red, ANSI 1 is red
    (0x02, "\x1b[32;40m"),   # green
    (0x03, "\x1b[36;40m"),   # cyan
    (0x05, "\x1b[35;40m"),   # magenta
    (0x06, "\x1b[33;40m"),   # brown
    (0x08, "\x1b[90;40m"),   # bright black = gray
    (0x0C, "\x1b[91;40m"),   # bright red = pink
    (0x70, "\x1b[30;47m"),   # black on gray
    (0x2A, "\x1b[92;42m"),   # light green on green
    (0x9E, "\x1b[93;44m"),   # bit 7 is unused: no blink
    (0xF0, "\x1b[30;47m"),   # ... and the background has no bright variant
])
def test_ansi_colours(attr, sgr):
    assert ansi_sgr(attr) == sgr


def test_ansi_rendering():
    screen = screen_with((0, 0, "Hi", 0x1E), (0, 2, "!", 0x4F), (1, 0, "ok", 0x07))
    assert render_ansi(screen) == (
        "\x1b[93;44mHi\x1b[97;41m!\x1b[0m\n"
        "\x1b[37;40mok\x1b[0m\n")


def test_ansi_keeps_coloured_blanks():
    # A blank on a blue background is visible, so it is not trimmed; gray on black is.
    screen = screen_with((0, 0, "  ", 0x10), (2, 0, "x", 0x07))
    assert render_ansi(screen) == (
        "\x1b[30;44m  \x1b[0m\n"
        "\n"
        "\x1b[37;40mx\x1b[0m\n")


# -- HTML ---------------------------------------------------------------------------------

def test_html_colours():
    page = render_html(screen_with((0, 0, "Hi", 0x1E), (0, 2, "!", 0x4F), (1, 0, "c", 0x06)))
    assert page.startswith("<!DOCTYPE html>")
    assert '<span style="color:#ffff00;background-color:#0000ff">Hi</span>' in page
    assert '<span style="color:#ffffff;background-color:#ff0000">!</span>' in page
    assert '<span style="color:#a52a2a;background-color:#000000">c</span>' in page   # brown
    assert '<span style="color:#808080;background-color:#000000">' in page          # $07


def test_html_has_the_whole_screen_and_escapes_text():
    page = render_html(screen_with((3, 0, "<a & b>", 0x07)), title="x <y>")
    assert "<title>x &lt;y&gt;</title>" in page
    assert "&lt;a &amp; b&gt;" in page
    body = page.split('<pre class="b32"')[1].split(">", 1)[1].split("</pre>")[0].strip("\n")
    rows = body.split("\n")
    assert len(rows) == 25
    for row in rows:
        text = re.sub(r"<[^>]+>", "", row).replace("&lt;", "<").replace("&gt;", ">")
        assert len(text.replace("&amp;", "&")) == 80
