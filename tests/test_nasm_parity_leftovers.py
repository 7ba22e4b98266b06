"""NASM parity for what issue 13 left last: a macro call's label in ``-E`` output and %00,
the "... from macro" note lines after warnings (in NASM's order), what an error found
in pass 1 leaves out, and data items followed by an extra token (``db 1 2``). Each case
runs through nasm (the oracle) and pyasm."""

from __future__ import annotations

import subprocess

import pytest
from conftest import require_tool
from nasm_parity import check
from test_asm_helpers import nasm, pyasm, write

from asm import cli

# ---- -E: the label of a multi-line macro call, as NASM writes it

LABELS = {
    # blanks and colon as written (a run of blanks as one space), a colon added if none
    "spacing": "%macro m 0\nnop\n%endmacro\nfoo: m\nbar:   m\nbaz m\nq\t:\tm\nr:m\n"
               "s  \t m\n",
    # a macro whose body uses %00 takes the label: NASM does not emit it
    "label-param": "%macro q 1\ndb %00, %1\n%endmacro\n%macro m 0\nnop\n%endmacro\n"
                   "x1 q 1\nx2: q 2\nx3: m\n",
}


@pytest.mark.parametrize("name", list(LABELS))
def test_preprocess_macro_label(tmp_path, name):
    exe = require_tool("nasm")
    src = write(tmp_path, "t.asm", LABELS[name])
    want = subprocess.run([exe, "-E", str(src)], capture_output=True, text=True,
                          cwd=tmp_path).stdout
    got = cli.preprocess_text(src.read_text(), str(src))
    assert got.splitlines() == want.splitlines()        # trailing blanks included


ASSEMBLED = {
    # %00 is the call's label (here a symbol defined by the macro itself)
    "label-param-defines": "%macro proc 0\n%00:\npush ebp\n%endmacro\nbits 32\n"
                           "myfunc proc\njmp myfunc\n",
    # `label macro` (no colon): NASM adds the colon, so no orphan-label warning
    "label-no-colon": "%macro m 0\nnop\n%endmacro\nfoo m\njmp foo\n",
}


@pytest.mark.parametrize("name", list(ASSEMBLED))
def test_macro_label_assembles(tmp_path, name):
    check(tmp_path, ASSEMBLED[name], "-w+all", warnings=["+all"])


# ---- warnings inside macros: the note lines, and NASM's order

def _messages(stderr: str) -> list:
    """Every line of a diagnostic stream but pyasm's source and caret lines."""
    return [ln for ln in stderr.splitlines() if not ln.startswith("    ")]


NOTES = {
    "nested": "%macro m 1\n  db %1\n%endmacro\n%macro w 0\nfoo\n%warning hi there\n m 300\n"
              "%endmacro\nbits 32\nw\nm 256\n",
    # a forward reference makes more than one pass: the final pass's warnings are shown
    "forward": "%macro m 1\n  mov al, %1\n%endmacro\n%warning first\njmp x\nm 300\n"
               "%warning second\nm 400\nx: nop\n",
    "in-rep": "%macro m 0\n%rep 2\ndb 256\n%endrep\n%endmacro\nm\n",
}


@pytest.mark.parametrize("name", list(NOTES))
def test_warning_macro_notes(tmp_path, name):
    src = write(tmp_path, "t.asm", NOTES[name])
    rc, nb, nerr = nasm(src)
    status, pb, perr = pyasm(src)
    assert (status, pb) == (rc, nb)
    assert "... from macro" in nerr
    assert _messages(perr) == _messages(nerr)


def test_warning_notes_filtered_with_their_warning(tmp_path):
    """-w-number-overflow hides the warning and its notes alike."""
    src = write(tmp_path, "t.asm", NOTES["nested"])
    rc, nb, nerr = nasm(src, "-w-number-overflow")
    status, pb, perr = pyasm(src, warnings=["-number-overflow"])
    assert (status, pb) == (rc, nb)
    assert _messages(perr) == _messages(nerr)


# ---- an error found in pass 1 ends NASM there: final-pass errors are not reported

PASS_ONE = {
    "syntax-and-combination": "bits 32\nmov eax, bl\nadd eax,, 1\nmov [eax], 1\n"
                              "mov eax, [ebx\ndb 300\n",
    "macro-error-and-size": "%macro m 0\nmov eax, [ecx\n%endmacro\nbits 32\nm\n"
                            "mov [eax], 1\nmov al, 300\n",
    # only final-pass errors: NASM reaches its final pass and reports them all
    "combination-only": "bits 32\nmov eax, bl\nmov [eax], 1\nmov al, 300\n",
}


@pytest.mark.parametrize("name", list(PASS_ONE))
def test_pass_one_errors(tmp_path, name):
    check(tmp_path, PASS_ONE[name])


# ---- db with an extra token after an item's expression

DATA = {
    "accepted": "x: db 1 2\ndw 1 2\ndb 1 2, 3\ndb (1) 2\ndb 1 -2\ndb 1 x\ntimes 2 db 1 2\n"
                "dq 1 2\ndb 1 1.5\ndb 1 2,3 4\ndb 1 + 2 3\ndd 2 1.0\ndb 1 2 ; c\ndb 1 $\n"
                "db 1 byte\ndb 1 :\ndb 1 ]\ndb 1 ) 2\ndb 1 2)\ndw 1 seg\ndb 1 ? 2 : 3 4\n"
                "dw __float16__(1.5) 7\n",
    # a string item followed by a token is an expression: its number, truncated
    "string-item": "db \"ab\" 3\ndb \"ab\" 3, 5\ndb \"a\" x, 5\n",
}
REJECTED = ["db 1 2 3", "db 1 (2)", "db 1 2 (3)", "db 1 2 - 1", "db 1 [2]", "dd 1.0 2",
            "dd -1.5 2", "db 5 6 7, 8 9", "db 1 2:", "db 1 2 dup 3", "db 1 - 2 3 + 4",
            "resb 1 2", "resw 2 x"]


@pytest.mark.parametrize("name", list(DATA))
def test_data_extra_token(tmp_path, name):
    check(tmp_path, DATA[name])


@pytest.mark.parametrize("line", REJECTED)
def test_data_extra_token_rejected(tmp_path, line):
    status, _, _ = check(tmp_path, f"x: {line}\n")
    assert status != 0
