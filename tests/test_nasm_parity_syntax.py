"""Syntax, data and expression forms NASM accepts (or rejects) that pyasm used to get
wrong: each source through both assemblers, same status, bytes and diagnostics."""

from __future__ import annotations

import pytest
from nasm_parity import check

CASES = {
    # syntax
    "loop-count-register": "x: loop x, ecx\nloop x, cx\nbits 32\nloope x, cx\nloopnz x, ecx\n",
    "loop-bad-register": "bits 32\nx: loop x, eax\n",
    "loop-out-of-range": "x: loop y, cx\ntimes 200 nop\ny:\n",
    "pop-cs-8086": "cpu 8086\npop cs\nmov cs, ax\n",
    "pop-cs": "pop cs\npop cs\n%rep 2\npop cs\n%endrep\n",
    "pop-cs-186": "cpu 186\npop cs\n",
    "x87-omitted": "fadd\nfsub\nfmul\nfdiv\nfsubr\nfdivr\nfxch\nfcom\nfcomp\nfucom\nfld st1\n"
                   "faddp\nfsubp\nfdivrp\nfcomi\nfucomip\nffree\nfcmovnbe\nfcmovb\nfst\nfld\n"
                   "fstp\nffreep\nfcomip\nfucomi\nfcmove\nfcmovu\nfcmovnu\nfcmovne\n"
                   "fcmovnb\nfcmovbe\n",
    "fadd-to": "x: fadd to st1\nfmul to st2\nfadd st1\nfsubr to st3\nfdivr to st7\nfsub to st0\n"
               "fdiv to st4\n",
    "mib-sum": "bits 32\nmov eax, [eax,ecx*4]\nlea eax, [ebx,esi]\nmov eax, [ds:eax,ecx*4]\n"
               "mov eax,[ebx+4, esi]\nmov eax,[eax,2*esi]\n",
    "mib-bad": "bits 32\nmov eax, [ds:eax,ecx*4+8]\nmov eax,[byte ebx, 4]\n",
    "jmp-strict": "bits 16\njmp strict x\nx: nop\njmp strict short x\n",
    "jmp-strict-32": "bits 32\nx: jmp strict x\nje strict x\ncall strict x\njmp strict near x\n"
                     "jmp strict short x\nloop strict x\njmp strict word x\n",
    "insn-names-as-labels": "add: db 1\nmov: db 2\nnop:\njmp add\n",
    "insn-lines": "times 3 nop\nrep movsb\nnop\nlock add [bx], ax\n",
    "cpu-after-cached-line": "bits 32\nrdtsc\ncpu 386\nrdtsc\n",
    "istruc-at-local": "struc pt\n.x resw 1\n.y resw 1\nendstruc\np: istruc pt\nat .x, dw 1\n"
                       "at .y, dw 2\niend\nq: istruc pt\nat pt.y, dw 3\niend\ndw pt_size\n",
    "class-attribute": "section foo class=CODE\ndb 1\n",
    "bin-attributes": "section foo class=CODE exec write alloc valign=4 private use32 foo=3 "
                      "bar\ndb 1\n",
    # data and expressions
    "hex-0dh-0bh": "db 0dh, 0bh, 0bah, 0d0h, 0b1h\n",
    "radix-forms": "db 0d10, 0b101, 0x1f, 10b, 0h, 0q7, 17q, 0t9, 0y1, 1_0h\n",
    "radix-both": "dd 0x1fh\n",
    "packed-bcd": "dt 123p\ndt 1234567890p\ndt -5p\ndt 0p123, 12_3p, 0P5\n",
    "packed-bcd-dd": "dd 12p\n",
    "float-functions": "dw __float16__(1.5)\ndd __float32__(1.5)\ndq __float64__(1.5)\n"
                       "dq __float80m__(1.5)\ndw __float80e__(1.5)\n"
                       "dq __float128l__(1.5), __float128h__(1.5)\n"
                       "dd __float32__(-1.5), __?float32?__(+2.0)\nmov eax, __float32__(1.0)\n"
                       "db __float8__(1.5)\n",
    "float-function-integer": "dd __float32__(1)\n",
    "utf-functions": "dw __utf16__(\"a\u00e9\")\ndd __utf32__(\"a\u00e9\")\n"
                     "dw __utf16le__('x'), __utf16be__('x')\n",
    "forward-equ-division": "dw 100 / X\ndw 7 % Y\nX equ 4\nY equ 3\n",
    "bfloat16-unknown": "dw __bfloat16__(1.5)\n",
    "trailing-comma": "db 6,\ndw 6,\ndd 1,\n",
    "dup-and-groups": "dw 2 dup (1, 2 dup (3))\ndb 3 dup 5\ndb 2 dup (\"ab\")\n"
                      "db %(1,%(2,3)),4\ndd 2 dup (1.5)\nx equ 2\ndb x dup (9)\nresb 1\n"
                      "db 2 dup (?)\nn equ 3\ndb n dup (n dup (7), 8)\ntimes 2 db 2 dup (5)\n",
    "dup-bad": "x: db x dup (1)\ndb -1 dup (1)\n",
    "uninit-items": "db ?\ndw 1, ?\nsection .data\ndb ?\nsection .bss\nx: db ?\n"
                    "dw ?,?\ny: dd 2 dup (?)\nz:\nsection .data\ndd z-x\n",
}


@pytest.mark.parametrize("name", list(CASES))
def test_syntax_parity(tmp_path, name):
    check(tmp_path, CASES[name], messages=name not in ("bfloat16-unknown", "loop-out-of-range",
                                                       "float-function-integer",
                                                       "radix-both"))
