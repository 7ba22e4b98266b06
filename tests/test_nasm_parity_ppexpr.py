"""%assign, %if and %rep expressions whose single-line macros are plain numbers take a
parse-once way in the preprocessor (Preprocessor._eval_macro_expr); these sources pin
down that it gives what expanding the text would, against nasm."""

from __future__ import annotations

import pytest
from nasm_parity import check

SOURCES = {
    "counting loop": "%assign i 0\n%rep 300\n%assign i i+1\n%endrep\ndw i\n",
    "negative values": ("%assign i -5\n%assign j 0-i\n%assign k i*2\n%assign m -i\n"
                        "%assign n ~i\n%assign o i<<2\ndd i, j, k, m, n, o\n"),
    "adjacent negative": "%assign a 5\n%assign b -3\n%assign c a b\ndd c\n",
    "macro is an expression": "%define x 2+3\n%assign y x*2\ndd y\n",
    "case-insensitive": "%iassign II 3\n%assign j ii+1\n%assign k II*j\ndd j, k\n",
    "parameterised same name": ("%define f(a) a*2\n%assign v 4\n%assign w f(v)+1\n"
                                "dd w\n"),
    "function-like only": "%define g(a) a+1\ng: db 5\n%assign h g(1)*2+(g-g)\ndb h\n",
    "hex body": "%define k 0x10\n%assign v k+1\ndd v\n",
    "leading zeros": "%define k 007\n%assign v k*2\ndd v\n",
    "wraps at 64 bits": ("%assign big 9223372036854775807\n%assign b2 big+1\n"
                         "%assign b3 b2-1\ndq b2, b3\n"),
    "if and exitrep": ("%assign i 0\n%rep 100\n%assign i i+1\n%if i >= 7\n%exitrep\n"
                       "%endif\n%endrep\ndb i\n"),
    "rep count macro": "%assign n 3\n%assign t 0\n%rep n*2\n%assign t t+n\n%endrep\ndb t\n",
    "register in if": "%define r bp\n%if r = bp\ndb 1\n%else\ndb 2\n%endif\n",
    "label in assign": "a: db 0\nb: db 0\n%assign d b-a\ndb d\n",
    "comment after": "%assign i 2 ; two\n%assign i i*3 ; six\ndb i\n",
    "undefined macro word": "%assign v zz+1\ndb v\n",
    "division by zero": "%assign z 0\n%assign v 5/z\ndb v\n",
    "context local": ("%push c\n%assign %$n 4\n%assign %$n %$n+1\ndb %$n\n%pop\n"),
    "macro parameter": ("%macro m 1\n%assign q %1+1\ndb q\n%endmacro\nm 4\nm 9\n"),
    "redefined as text": ("%assign i 1\n%define i 1+1\n%assign j i*3\ndb j\n"
                          "%assign i 5\n%assign j i*3\ndb j\n"),
    "string operand": "%assign s 'ab'+1\ndw s\n",
    "dollar": "db 0\n%assign v $+1\ndb v\n",
    "nested rep": ("%assign t 0\n%rep 4\n%assign u 0\n%rep 3\n%assign u u+1\n"
                   "%assign t t+u\n%endrep\n%endrep\ndb t\n"),
}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_preprocessor_expressions(tmp_path, name):
    check(tmp_path, SOURCES[name])
