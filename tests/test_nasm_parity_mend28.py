"""NASM parity, mends of round 10 (issue 13): each case runs nasm 2.16 (the oracle) and
pyasm on the same small source and compares exit status, bytes and diagnostics (in
order, with NASM's "... from macro" notes)."""

from __future__ import annotations

import pytest
from test_nasm_parity_leftovers9 import same

# ---- a preprocessor function's parameter is one whole expression: `%eval(1 2)` is an
# error (not %rep's "trailing garbage" warning); %eval()/%sel() go on without it, the
# other functions drop the line

@pytest.mark.parametrize("text", [
    "db %eval(1 2)\n", "db %sel(1 2,5,6)\n", "db %cond(1 2,5,6)\n", "db %num(1 2)\n",
    "db %abs(1 2)\n", "db %num(5,1 2)\n", "db %eval(1,2 3)\n", "db %substr(\"abcd\",1 2)\n",
    "%xdefine y %eval(3 4)\ndb y\n", "%if %eval(1 2)\ndb 1\n%endif\n",
    "%assign x %eval(1 2)\n", "%error %eval(1 2)\n", "db 5, %cond(1 2,5,6), 7\n",
    "db 5, %eval(1 2), 7\n", "db 5, %sel(1 2,5,6), 7\n", "db 5, %eval(2, 1 2), 7\n",
    "%if %cond(1 2,5,6)\n%endif\n", "db 5, %sel(0,5,6), 7\n", "db 5, %sel(-1,5,6), 7\n",
    # guards (NASM's reading, unchanged)
    "db %eval(1+2), %num(255,4,16), %sel(2,5,6), %cond(0,5,6), %abs(-3)\n",
    "%rep 2 3\ndb 1\n%endrep\n", "db 5, %sel(3,5,6), 7\n",
])
def test_function_parameter_is_one_expression(tmp_path, text):
    same(tmp_path, text)


# ---- a symbol not defined yet is "unknown", no scalar: a register (or a label) times
# it is refused in the first pass as NASM does ("unable to multiply two non-scalar
# objects"), also when the unknown went through another operator

@pytest.mark.parametrize("text", [
    "mov eax, [ebx*((x-$$)/4)]\ntimes 8 db 0\nx:\n",
    "mov eax, [((x-$$)/4)*ebx]\ntimes 8 db 0\nx:\n",
    "mov eax, [ebx*((x-$$) ? 2 : 4)]\ntimes 8 db 0\nx:\n",
    "mov eax, [ebx+ecx*((x-$$)>>1)]\ntimes 8 db 0\nx:\n",
    "lea eax,[eax*N]\nN equ 4\n", "lea eax,[N*eax]\nN equ 4\n",
    # guards: an unknown times a number, two unknowns, a register times a number
    "lea eax,[eax*N]\nN:\n", "lea eax,[x+eax*4]\nx equ 4\n", "lea eax,[eax*4+x]\nx equ 4\n",
    "mov eax, [x*2]\nx equ 4\n", "dd (x-$$)*2\nx:\n", "dd (x-$$)*(y-$$)\nx:\ny:\n",
    "dd lbl*N\nlbl:\nN equ 2\n",
])
def test_register_times_unknown(tmp_path, text):
    same(tmp_path, text)


# ---- a divisor that is a symbol defined later reads 0 in the first pass: no "division
# by zero" then (`dw (end-$$)/SZ`, the boot-sector idiom); unknowns that cancel
# (`y-x`, both ahead) are a plain 0 in NASM, and its error

@pytest.mark.parametrize("text", [
    "dw (end-$$)/SZ\nend:\nSZ equ 4\n", "db (x-$$)/N\nx:\nN equ 2\n",
    "db (x-$$)%N\nx:\nN equ 2\n", "db (x-$$)//N\nx:\nN equ 2\n",
    "db (x-$$)/(N*2-N)\nx:\nN equ 2\n", "db 4/(y-x)\ndb 0\nx: db 0\ny:\n",
    # guards
    "db (x-$$)//(y-x)\ndb 0\nx: db 0\ny:\n", "db (x-$$)%%N\nx:\nN equ 2\n",
    "db (x-$$)/0\nx:\n", "db 4/(x-$$)\nx:\n", "db 4/(N-N)\nN equ 2\n", "db 4%N\nN equ 0\n",
    "align (x-$$)/2\nx:\n", "db 4/((x-$$)/2)\nx:\n",
])
def test_forward_divisor(tmp_path, text):
    same(tmp_path, text)


# ---- `%!NAME` is read as NASM turns a line into text: a directive's operands keep it
# (identifier-taking directives refuse it, a %define body stores it and the line using
# the macro reads it), %error/%warning/%defstr read it, a macro's lines with their
# parameters

@pytest.mark.parametrize("text", [
    "%ifdef %!PYVM_NO_SUCH_VAR\ndb 1\n%else\ndb 2\n%endif\n",
    "%define X %!PYVM_NO_SUCH_VAR\ndb 1\ndb X\n", "%undef %!PYVM_NO_SUCH_VAR\n",
    "%ifmacro %!PYVM_NO_SUCH_VAR\n%endif\n", "%strlen L %!PYVM_NO_SUCH_VAR\n",
    "%xdefine X %!PYVM_NO_SUCH_VAR\ndb 1\n", "%ifdef %{!PYVM_NO_SUCH_VAR}\n%endif\n",
    "%define X %!PYVM_NO_SUCH_VAR\n%macro m 0\ndb X\n%endmacro\nm\n",
    "%define X %!PYVM_NO_SUCH_VAR\n%defstr h X\ndb h\n",
    "%undef 5\n", "%undef x y\n", "%undef \"x\"\n", "%ifmacro 5\n%endif\n",
    "%ifmacro \"x\"\n%endif\n",
    # guards
    "%macro m 0\n%define X %!PYVM_NO_SUCH_VAR\n%endmacro\nm\n", "%error %!PYVM_NO_SUCH_VAR\n",
    "%warning %{!PYVM_NO_SUCH_VAR}\n", "%defstr h %!PYVM_NO_SUCH_VAR\ndb h\n",
    "%define X 1\ndb X, %!PYVM_NO_SUCH_VAR\n", "db \"%!PYVM_NO_SUCH_VAR\"\n",
    "%define X %!PATH\ndb 1\n", "%undef %$x\n", "%undef x.y\n", "%undef %%x\n",
    "%ifmacro ..@x\n%endif\n",
])
def test_environment_variable_operands(tmp_path, text):
    same(tmp_path, text)


# ---- %substr reads its start as far as it goes, skips the token after it (a comma or
# not) and reads the length, without a word about the rest; %undefalias

@pytest.mark.parametrize("text", [
    "%substr s \"abcd\" 1 2 3\ndb s\n", "%substr s \"abcd\" 1 2,3\ndb s\n",
    "%substr s \"abcd\" 2 3\ndb s\n", "%substr s \"abcd\" 1,\ndb s\n",
    "%substr s \"abcd\" 1, 2 3\ndb s\n", "%substr s \"abcd\" (1) 2\ndb s\n",
    "%substr s \"abcd\" 1 2+1\ndb s\n",
    "%undefalias foo\n", "%undefalias\n", "%undefalias 5\n",
    "%defalias a b\n%undefalias a\n%ifdef a\ndb 1\n%endif\n",
    "%define a 1\n%undefalias a\ndb a\n", "%defalias a b\n%undefalias a x\n",
    "%defalias a b\n%define b 7\n%undefalias a\ndb b\n",
    # guards
    "%substr s \"abcd\" 2,2\ndb s\n", "%substr s \"abcd\" 2,-1\ndb s\n",
    "%substr s \"abcd\",2,2\ndb s\n", "%substr s \"abcd\"\ndb s\n",
    "%substr s \"abcd\" ,2\ndb s\n", "%substr s \"abcd\" 1+\ndb s\n",
    "%substr s \"abcd\" x\ndb s\n", "%substr s \"abcd\" 2 ; c\ndb s\n",
    "%substr s \"abcd\" 0,2\ndb s\n",
])
def test_substr_indices_and_undefalias(tmp_path, text):
    same(tmp_path, text)
