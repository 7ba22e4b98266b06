"""NASM's preprocessor: single-line and multi-line macros, conditionals, %rep, %include.

:class:`Preprocessor` turns source text into a stream of :class:`SourceLine` for the
assembler. It runs interleaved with the assembler's first pass (a generator), because
``%if`` and ``%assign`` may use EQU constants defined on earlier lines, as in NASM.

A line is processed in two steps, as NASM's token-based preprocessor would behave:
``%``-constructs that need the enclosing macro or context (``%1``, ``%{2}``, ``%%local``,
``%$ctxlocal``, ``%+``) are substituted in the text, then single-line macros are
expanded on tokens. Macro-expanded lines report the outermost invocation's line, with
``... from macro `m' defined here`` notes, like NASM.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from typing import Callable, Iterator, Optional, Sequence

from asm import access
from asm import expr as E
from asm.errors import AsmError, NolistFrame, WarningError, as_error, macro_notes, with_notes
from formats.plainrecord import field, record

MAX_REP = 1_000_000
MAX_MACRO_DEPTH = 10_000
MAX_INCLUDE_DEPTH = 200
MAX_SMACRO_DEPTH = 1000
MAX_LINES = 3_000_000           # lines produced in all (NASM's limit is far higher; memory)
NASM_VERSION = (2, 16, 1, 0)


class SourceLine:
    """One line for the assembler (``assemble``) and/or the listing (``listed``).

    ``file``/``line`` locate diagnostics (inside a macro: the outermost invocation);
    ``list_file``/``list_line``/``list_text`` are the line as written in its own source
    (macro bodies unexpanded), shown by listings and ``-E``; ``depth`` is the macro/rep/
    include nesting (``<n>`` in listings); ``trace`` holds ``(file, line, macro)`` for
    NASM's "... from macro `m' defined here" notes.
    """

    __slots__ = ("text", "file", "line", "list_line", "list_file", "list_text", "depth",
                 "trace", "listed", "assemble", "messages")
    expanded = False        # a line of a macro or %rep body (ExpandedLine)

    def __init__(self, text: str, file: str, line: int, list_line: int = 0,
                 list_file: str = "", list_text: str = "", depth: int = 0,
                 trace: tuple = (), listed: bool = True, assemble: bool = True):
        self.text = text
        self.file = file
        self.line = line
        self.list_line = list_line
        self.list_file = list_file
        self.list_text = list_text
        self.depth = depth
        self.trace = trace
        self.listed = listed
        self.assemble = assemble

    def __repr__(self) -> str:
        return f"SourceLine({self.text!r}, {self.file!r}, {self.line})"


class ExpandedLine(SourceLine):
    """A line of a macro's or a %rep's body: NASM lists it as it keeps it, in tokens
    (asm.listing.listed_text)."""

    __slots__ = ()
    expanded = True


class MacroLabel(SourceLine):
    """The label of a multi-line macro call, emitted before the expansion: ``nasm -E``
    prints it as NASM builds it, a blank after the colon included."""

    __slots__ = ()


# which lines a source's kind makes (a file's are listed as written)
_LINE_CLASS = {"file": SourceLine, "macro": ExpandedLine, "rep": ExpandedLine}

# --------------------------------------------------------------------------- tokens

_TOK = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>'[^']*'?|"[^"]*"?|`(?:\\.|[^`\\])*`?)
  | (?P<comment>;.*)
  | (?P<num>\$?[0-9][0-9A-Za-z_]*(?:\.[0-9A-Za-z_]*)?(?:(?<=[eEpP])[+-][0-9_]+)?)
  | (?P<id>\$?(?:[A-Za-z_.@]|\?(?=[A-Za-z0-9_$\#@~.?]))[A-Za-z0-9_$\#@~.?]*)
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)
_IDENT = re.compile(r"\$?(?:[A-Za-z_.@]|\?(?=[A-Za-z0-9_$#@~.?]))[A-Za-z0-9_$#@~.?]*")
_HEAD = re.compile(r"\s*([A-Za-z0-9_$#@~.?]+)\s*:?\s*([A-Za-z0-9_$#@~.?]*)")
_DIRECTIVE = re.compile(r"\s*(%[A-Za-z]+)\b(.*)$", re.DOTALL)
_STRING_OR_PCT = re.compile(r"""
    (?P<str>'[^']*'|"[^"]*"|`(?:\\.|[^`\\])*`)
  | (?P<comment>;.*)
  | %(?P<brace>\{[^}]*\})(?P<tail>[A-Za-z0-9_$\#@~.?]*)
  | %(?P<open>\{[^}]*)\Z
  | %(?P<num>[0-9]+)
  | %(?P<local>%[A-Za-z0-9_$\#@~.?]+)
  | %(?P<ctx>\$+[A-Za-z0-9_$\#@~.?]*)
  | %(?P<paste>\+)(?![0-9])
  | %(?P<cc>[+-][0-9]+)
  | %(?P<qq>\?\??)
  | %(?P<env>!(?:[A-Za-z_][A-Za-z0-9_]*|'[^']*'|"[^"]*"))
""", re.VERBOSE | re.DOTALL)


_DIRECTIVE_START = re.compile(r"\s*%[A-Za-z]")
_BAD_PARAMETER = "invalid expression in parameter "    # (a preprocessor function's)
_ENV_DIRECTIVE = re.compile(r"\s*%(?:error|warning|fatal|i?defstr)\b", re.I)
_MACRO_WORD = re.compile(r"(?:%\$+)?[A-Za-z_.?$@#~][A-Za-z0-9_.?$@#~]*\Z")   # (%ifdef's)
_CTX_TAIL = re.compile(r"(?:\$+[A-Za-z0-9_$\#@~.?]*)?")
_EXPANDING_HEAD = re.compile(r"\s*%i?(?:xdefine|assign|defstr|deftok|strlen|strcat|substr)"
                             r"\s+([^\s,]*)", re.I)


def tokenize(text: str) -> list:
    """(kind, text) pairs; kinds: ws str comment num id other."""
    return [(m.lastgroup, m.group()) for m in _TOK.finditer(text)]


def strip_comment(text: str) -> str:
    """Drop a ';' comment (not one inside a string)."""
    if ";" not in text:
        return text
    for m in _TOK.finditer(text):
        if m.lastgroup == "comment":
            return text[:m.start()]
    return text


def quote(data: str) -> str:
    """NASM's nasm_quote: single quotes if possible, else double, else backquotes."""
    if "'" not in data:
        return f"'{data}'"
    if '"' not in data:
        return f'"{data}"'
    out = []
    for ch in data:
        if ch in "`\\":
            out.append("\\" + ch)
        elif ord(ch) < 32:
            out.append(f"\\{ord(ch):o}")
        else:
            out.append(ch)
    return "`" + "".join(out) + "`"


# a line whose strings all close (its comment aside): what asm.parser.open_quote finds
# of most lines with a string, read at once (the preprocessor asks of every one)
_CLOSED_STRINGS = re.compile(r"""[^'"`;]*(?:(?:"[^"]*"|'[^']*'|`(?:[^`\\]|\\.)*`)[^'"`;]*)*"""
                             r"(?:;.*)?", re.S)


def _open_string(text: str) -> bool:
    """Whether the text (a line) has an unterminated string."""
    from asm.parser import open_quote
    return open_quote(text) is not None


def _unquote(tok: str) -> str:
    return E.read_string(tok).decode("utf-8", "surrogateescape")


# --------------------------------------------------------------------------- macros

@record
class SMacro:
    name: str
    params: Optional[list]      # None: no parentheses
    body: str
    casesense: bool = True
    greedy: bool = False
    dynamic: Optional[Callable] = None


def _fitting(defs: Optional[dict], n: int) -> Optional[SMacro]:
    """A macro of ``defs`` ({nparams: SMacro}, -1: no parameters) NASM's smacro_defined
    takes for a definition with ``n`` parameters."""
    want = max(n, 0)
    for k, m in (defs or {}).items():
        have = max(k, 0)
        if want == 0 or have == 0 or want == have or (m.greedy and want >= have - 1):
            return m
    return None


@record
class MMacro:
    name: str
    nmin: int
    nmax: int                   # -1: unlimited
    greedy: bool
    nolist: bool
    defaults: list
    body: list                  # [(text, file, line)]
    casesense: bool = True
    recursive: bool = False
    file: str = ""
    line: int = 0


@record
class _Source:
    """A stream of raw lines: a file, a macro expansion or a %rep body."""
    kind: str                   # 'file' | 'macro' | 'rep'
    lines: list                 # [(text, file, lineno)]
    pos: int = 0
    file: str = ""
    macro: Optional[MMacro] = None
    params: list = field(default_factory=list)
    unique: int = 0
    count: int = 0              # rep: remaining iterations
    cond_depth: int = 0         # conditional stack height when entered
    inv_file: str = ""          # where this expansion was invoked (diagnostics)
    inv_line: int = 0
    nolist: bool = False
    depth: int = 0
    label: str = ""             # %00
    last_line: int = 0
    outer_trace: tuple = ()     # macro notes of the invocation point
    home: Optional[_Source] = None    # the macro expansion a %rep body belongs to
    # `%line N+M name` met at original line L of this file: later lines of it are
    # reported as N + M * (their line - L) in `name` -- (L, N, M, name or None)
    remap: Optional[tuple] = None
    argc: int = -1              # %0 when it is not len(params): a call that dropped a
    #                             trailing empty parameter below the macro's minimum
    exiting: bool = False       # rep: after %exitrep (the rest of the body: listed only)


# `%{1}`, `%{-1}`, `%{1:-1}`: a macro parameter (or range) in braces
# `%use fp` and `%use altreg`: NASM 2.16's macros/fp.mac and macros/altreg.mac
_FP_CONSTANTS = {"Inf": "__?Infinity?__", "NaN": "__?QNaN?__", "QNaN": "__?QNaN?__",
                 "SNaN": "__?SNaN?__"}
_FP_FUNCTIONS = ("float8", "float16", "bfloat16", "float32", "float64", "float80m",
                 "float80e", "float128l", "float128h")
_ALTREG = tuple(
    [(f"r{i}{suffix}", reg) for suffix, regs in (
        ("", "rax rcx rdx rbx rsp rbp rsi rdi"), ("d", "eax ecx edx ebx esp ebp esi edi"),
        ("w", "ax cx dx bx sp bp si di"), ("b", "al cl dl bl spl bpl sil dil"),
        ("h", "ah ch dh bh"), ("l", "al cl dl bl spl bpl sil dil"))
     for i, reg in enumerate(regs.split())]
    + [(f"r{i}l", f"r{i}b") for i in range(8, 16)])

# `%use masm`: NASM 2.16.01's macros/masm.mac (its parser reads __?masm_ptr?__ and
# __?masm_flat?__: asm.parser, nasm.lark)
_MASM_MAC = """%unimacro segment 1+
%imacro segment 0-1+.nolist
%define __?SECT?__ [segment %00 %1]
__?SECT?__
%endmacro
%imacro ends 0+.nolist
%null ends %00
%endmacro
%imacro proc 0-*.nolist
%rep %0
%ifidni %1,far
%idefine ret retf
%endif
%rotate 1
%endrep
%endmacro
%imacro endp 0.nolist
%null endp %00
%undef ret
%endmacro
%idefine ptr __?masm_ptr?__
%idefine flat __?masm_flat?__
%idefine offset
%imacro end 0+.nolist
%endmacro
%idefine tbyte tword
default rel
"""

_CLEAR_OPTIONS = ("global", "context", "all", "define", "defalias", "alldefine", "macro")
_PARAM_BRACE = re.compile(r"-?[0-9]+(?::-?[0-9]+)?")

# NASM's tokens of a %macro line's parameter specification (blanks are tokens too)
_SPEC_TOKEN = re.compile(r"\s+|[0-9][0-9A-Za-z_$]*|[A-Za-z_.?@$][\w$#@~.?]*|.", re.DOTALL)


def _macro_spec(word: str, spec: str) -> tuple:
    """(min, max (-1: `*`), greedy, .nolist, defaults, errors) of `%macro name SPEC`, read
    token by token as NASM's parse_mmacro_spec: `1-3` but not `1 - 3`, a count that is
    no number an error (the macro defined all the same)."""
    toks = _SPEC_TOKEN.findall(spec)
    errors: list = []

    def count(tok: str) -> int:
        try:
            return int(E.read_number(tok))
        except (AsmError, ValueError):
            errors.append(f"unable to parse parameter count `{tok}'")
            return 0

    nmin = nmax = 0
    k = 0                           # the token read last (NASM's tline): toks[k]
    if toks and toks[0][0].isdigit():
        nmin = nmax = count(toks[0])
    else:
        errors.append(f"`{word}' expects a parameter count")
    nxt = toks[k + 1:k + 2]
    if toks and nxt == ["-"]:
        k += 2
        tok = toks[k] if k < len(toks) else ""
        if tok == "*":
            nmax = -1
        elif not tok[:1].isdigit():
            errors.append(f"`{word}' expects a parameter count after `-'")
        else:
            nmax = count(tok)
            if nmin > nmax:
                errors.append("minimum parameter count exceeds maximum")
                nmax = nmin
    plus = nolist = False
    if k < len(toks) and toks[k + 1:k + 2] == ["+"]:
        k, plus = k + 1, True
    if k < len(toks) and [t.lower() for t in toks[k + 1:k + 2]] == [".nolist"]:
        k, nolist = k + 1, True
    rest = "".join(toks[k + 1:]).strip()
    return nmin, nmax, plus, nolist, _split_macro_args(rest) if rest else [], errors


def _captures_label(macro: MMacro) -> bool:
    """A macro whose body uses %00 takes its call's label: NASM then does not emit it."""
    return any("%00" in line[0] for line in macro.body)


class _Cond:
    __slots__ = ("active", "done", "parent_active", "seen_else")

    def __init__(self, active: bool, parent_active: bool):
        self.active = active and parent_active
        self.done = self.active
        self.parent_active = parent_active
        self.seen_else = False


_COND_BASE = ("if", "ifdef", "ifidn", "ifidni", "ifnum", "ifstr", "ifid", "iftoken",
              "ifempty", "ifmacro", "ifctx", "ifenv", "ifusable", "ifusing", "ifdefalias")
_IF_NAMES = set()
_ELIF_NAMES = set()
for _b in _COND_BASE:
    _rest = _b[2:]
    _IF_NAMES.update({"%if" + _rest, "%ifn" + _rest})
    _ELIF_NAMES.update({"%elif" + _rest, "%elifn" + _rest})


class _PPEval(E.EvalContext):
    def __init__(self, lookup: Optional[Callable], here: Optional[Callable] = None):
        self.lookup = lookup
        self.here_fn = here

    placeholders: dict = {}             # see Preprocessor._eval_macro_expr

    def unknowable(self, guarded, fn):
        return E.Rel(0, {E._UNKNOWN_TERM: 1})     # (NASM: "non-constant value given")

    def symbol(self, name: str):
        v = self.placeholders.get(name)
        if v is not None:
            return v
        if self.lookup is None:
            raise AsmError("symbol references not supported in preprocess-only mode")
        return self.lookup(name)

    def here(self):
        if self.here_fn is None:
            raise AsmError("`$' is not allowed in a preprocessor expression")
        return self.here_fn(False)

    def sect_start(self):
        if self.here_fn is None:
            raise AsmError("`$$' is not allowed in a preprocessor expression")
        return self.here_fn(True)

    def register(self, name: str):
        # a register is a value of its own in NASM's %if (`%if %1 = bp`)
        return E.Rel(0, {("reg", name.lower()): 1})

    warned: tuple = ()

    def warn_other(self, message: str) -> None:
        self.warned += (message,)       # (Preprocessor._eval reports them at its line)


# --------------------------------------------------------------------------- preprocessor

class Preprocessor:
    """Produce :class:`SourceLine` objects from NASM source (see module docstring)."""

    def __init__(self, text: str, filename: str, *, include_paths: Sequence[str] = (),
                 defines: Sequence[tuple] = (), undefines: Sequence[str] = (),
                 fmt: str = "bin", symbol_value: Optional[Callable] = None,
                 preprocess_only: bool = False, report: Optional[Callable] = None,
                 pre: Sequence[tuple] = (), depends: Optional[list] = None,
                 deps_only: bool = False, depend_includes: bool = True):
        self.text = text
        # the command line's -D/-U/-p/--before/--pragma in their order, as ("define",
        # name, value) ("undef", name) ("include", path) ("line", text): done before the
        # main file, their lines located at (main file, line 0) as NASM does
        self.pre = list(pre)
        # files the output depends on (-M/-MD): appended in order, once each
        self.depends = depends
        self.depend_includes = depend_includes  # NASM 2.16 omits them when assembling
        # -M: only the dependencies are wanted, a missing %include is one of them
        self.deps_only = deps_only
        self.filename = filename
        self.include_paths = list(include_paths)
        self.fmt = fmt
        self.symbol_value = symbol_value
        self.here_value: Optional[Callable] = None   # `$`/`$$` in %if (the assembler's)
        # %stacksize/%arg/%local state (NASM's default is `flat`)
        self.stack_size, self.stack_ptr, self.arg_offset, self.local_offset = 4, "ebp", 8, 0
        self.preprocess_only = preprocess_only
        self.report = report
        self.errors: list = []
        self.warnings: list = []
        self.cur_trace: tuple = ()      # the macro notes of the line being read
        # the listed line of the directive being carried out: its messages are listed
        # under it (``messages``: "warning: ...", as NASM's listing rows say)
        self.list_sl: Optional[SourceLine] = None
        # where each warning came in the assembler's stream of lines (set by the
        # assembler, which merges them with its own in source order, as NASM prints them)
        self.warning_position: Optional[Callable[[], int]] = None
        self.warning_at: list = []
        # whether the assembler's `[warning]` directives so far leave a warning shown
        self.warning_shown: Optional[Callable[[str], bool]] = None
        # ... and whether they make it an error (asm.errors.WarningError)
        self.warning_error: Optional[Callable[[str], bool]] = None
        self.quiet_elif = False     # an %elif's condition is being worked out
        self.smacros: dict = {}         # name -> {nparams(-1 plain): SMacro}
        self.ismacros: dict = {}        # lower name -> {nparams: SMacro}
        self.mmacros: dict = {}         # name -> [MMacro]
        self.immacros: dict = {}        # lower name -> [MMacro]
        # lines seen to name no macro at all (see _plain_lines), and the characters a
        # single-line macro name can start with (None: not worked out); both are
        # forgotten when a macro table changes (_macros_changed)
        self.macro_free: set = set()
        self.smacro_initials: Optional[str] = None
        self.ctx: list = []             # [(name, id, {smacros})]
        self.unique = 0
        self.bits = 16
        self.sources: list = []
        self.conds: list = []
        self.defining: Optional[dict] = None
        self.fatal = False
        self.mmacro_count = 0
        self.alias_names: set = set()     # names %defalias made (%ifdefalias)
        self.produced = 0
        self.active_macros: dict = {}
        self.call_warning: Optional[str] = None    # _find_mmacro_call's legacy warning
        # called once a source read holds `ptr` (the assembler then looks for NASM's
        # `ptr` warning on its lines; without it, no line can hold the word)
        self.ptr_hook: Optional[Callable[[], None]] = None
        self._install_builtins()
        self._load_stdmac()
        # (its body: _incbin_text; the assembler reads the line itself)
        self.incbin_macro = self.immacros["incbin"][0]
        for name, value in defines:
            self._define(name, None, value if value is not None else "", True)
        for name in undefines:
            self._undef(name)

    # ---- diagnostics

    def _err(self, msg: str, file: str, line: int, trace: tuple = ()) -> AsmError:
        if msg.startswith("unterminated string"):
            msg = "expression syntax error"     # (NASM's parser meets the string's token)
        e = AsmError(msg, file, line)
        e.at = ("pp", self.produced)     # (a %rep body's line: one per repetition)
        e.order = (0, 0, len(self.errors))    # (-E's; the assembler gives its own)
        e.notes = macro_notes(trace)
        self.errors.append(e)
        if self.report is not None:
            self.report(e)
        self._list_message(f"error: {msg}")
        return e

    def _here(self) -> tuple:
        """(file, line) NASM names for the line being read: inside a macro's expansion
        (or a %rep body in one) the line that invoked the macro."""
        src = self.sources[-1] if self.sources else None
        home = src if src is not None and src.kind == "macro" else getattr(src, "home", None)
        if home is not None:
            return home.inv_file, home.inv_line
        return self.cur_file, self.cur_line

    def _warn_open_string(self, text: str, file: str, line: int) -> None:
        """NASM's tokenizer warns about an unterminated string (and keeps its text)."""
        if _CLOSED_STRINGS.fullmatch(text):
            return              # (most lines with a string: the quick answer)
        from asm.parser import open_quote
        quote = open_quote(text)
        if quote is not None:
            self._warn(f"unterminated string (missing `{quote}') [-w+pp-open-string]", file,
                       line)

    def _list_message(self, text: str) -> None:
        if self.list_sl is not None:
            self.list_sl.messages.append(text)

    def _warn(self, msg: str, file: str, line: int) -> None:
        if self.quiet_elif or self.warning_shown is not None and not self.warning_shown(msg):
            return      # (an %elif's: NASM shows none, see _conditional)
        # inside a macro: NASM's note lines follow, one per macro level (as for errors)
        if self.warning_error is not None and self.warning_error(msg):
            self.warnings.append(WarningError(with_notes(f"{file}:{line}: error: "
                                                         f"{as_error(msg)}", self.cur_trace)))
            self._list_message(f"error: {as_error(msg)}")
        else:
            self.warnings.append(with_notes(f"{file}:{line}: warning: {msg}", self.cur_trace))
            self._list_message(f"warning: {msg}")
        # (its place among the errors: asm.errors.in_nasm_order; -E has no assembler)
        self.warning_at.append(self.warning_position() if self.warning_position
                               else (0, 0, len(self.errors)))

    # ---- builtin macros

    def _install_builtins(self) -> None:
        major, minor, sub, patch = NASM_VERSION
        now = time.localtime()
        utc = time.gmtime()
        consts = {
            "__?NASM_MAJOR?__": str(major), "__?NASM_MINOR?__": str(minor),
            "__?NASM_SUBMINOR?__": str(sub), "__?NASM_PATCHLEVEL?__": str(patch),
            "__?NASM_VERSION_ID?__": f"0{major:02x}{minor:02x}{sub:02x}{patch:02x}h",
            "__?NASM_VER?__": f'"{major}.{minor:02d}.{sub:02d}"',
            "__?OUTPUT_FORMAT?__": self.fmt, "__?DEBUG_FORMAT?__": "",
            "__?DATE?__": time.strftime('"%Y-%m-%d"', now),
            "__?TIME?__": time.strftime('"%H:%M:%S"', now),
            "__?DATE_NUM?__": time.strftime("%Y%m%d", now),
            "__?TIME_NUM?__": time.strftime("%H%M%S", now),
            "__?UTC_DATE?__": time.strftime('"%Y-%m-%d"', utc),
            "__?UTC_TIME?__": time.strftime('"%H:%M:%S"', utc),
            "__?UTC_DATE_NUM?__": time.strftime("%Y%m%d", utc),
            "__?UTC_TIME_NUM?__": time.strftime("%H%M%S", utc),
            "__?POSIX_TIME?__": str(int(time.time())), "__?PASS?__": "1",
            "__?SECT?__": "[section .text]", "__?PTR?__": "",
        }
        for name, body in consts.items():
            self._define(name, None, body, True)
        self._define("__?FILE?__", None, "", True, dynamic=lambda: quote(self.cur_file))
        self._define("__?LINE?__", None, "", True, dynamic=lambda: str(self.cur_line))
        self._define("__?BITS?__", None, "", True,
                     dynamic=lambda: "0" if self.preprocess_only else str(self.bits))
        for name in list(consts) + ["__?FILE?__", "__?LINE?__", "__?BITS?__"]:
            old = name.replace("?", "")
            if old != name:
                self._alias(old, name)

    def _alias(self, alias: str, target: str) -> None:
        """%defalias: the old spelling follows the new one."""
        self.alias_names.add(alias)

        def dyn(t=target):
            m = self._find_smacro(t, None)
            if m is None:
                return t
            return m.dynamic() if m.dynamic else m.body
        self._define(alias, None, "", True, dynamic=dyn)

    def _load_stdmac(self) -> None:
        saved = (self.cur_file, self.cur_line) if hasattr(self, "cur_file") else None
        self.cur_file, self.cur_line = "<stdmac>", 0
        text = STANDARD_MACROS + FORMAT_MACROS.get(self.fmt, "")
        src = _Source("file", [(t, "<stdmac>", i + 1) for i, t in
                               enumerate(text.splitlines())], file="<stdmac>")
        self.sources = [src]
        for _ in self._run(stdmac=True):
            pass
        self.sources = []
        if saved:
            self.cur_file, self.cur_line = saved

    # ---- smacro table

    def _define(self, name: str, params: Optional[list], body: str, casesense: bool,
                greedy: bool = False, dynamic: Optional[Callable] = None) -> None:
        if casesense and params is None and dynamic is None and name[:1] != "%":
            d = self.smacros.get(name)
            if d is not None and -1 in d and name.lower() not in self.ismacros:
                # a new value for a plain macro (`%assign i i+1`): what the general way
                # below comes to, without its checks
                d[-1] = SMacro(name, None, body, True, greedy)
                return
        name = self._ctx_name(name)
        n = -1 if params is None else len(params)
        same = self.smacros.get(name) if casesense else self.ismacros.get(name.lower())
        other = self._other_case(name, n, casesense)
        if other is not None:
            # NASM keeps the old macro behind the new one; a case-insensitive one hides
            # the sensitive spellings (`%undef` does not bring them back here)
            self._warn(f"case {'' if casesense else 'in'}sensitive definition of macro "
                       f"`{name}' will shadow {'in' if casesense else ''}sensitive macro "
                       f"`{other.name}' [-w+pp-macro-def-case-single]", *self._here())
            if not casesense:
                low = name.lower()
                for k in [k for k in self.smacros if k.lower() == low]:
                    del self.smacros[k]
        elif same and (-1 in same if n >= 0 else len(same) > (-1 in same)):
            # one name both with and without parameters: NASM's error (by default), and
            # the new definition replaces every old one
            self._warn(f"macro `{name}' defined both with and without parameters "
                       "[-w+pp-macro-def-param-single]", *self._here())
            same.clear()
        if not (casesense and n in self.smacros.get(name, ())
                and name.lower() not in self.ismacros):
            # (a new value for a macro that exists, as `%assign i i+1` in a loop, names
            # no new macro: the caches of macro-free lines stay right)
            self._macros_changed()
        m = SMacro(name, params, body, casesense, greedy, dynamic)
        if casesense:   # (found before an insensitive one of the same spelling)
            self.smacros.setdefault(name, {})[n] = m
        else:
            self.ismacros.setdefault(name.lower(), {})[n] = m

    def _other_case(self, name: str, n: int, casesense: bool) -> Optional[SMacro]:
        """The macro of the other case sense NASM's define_smacro finds first for a new
        definition (then pp-macro-def-case-single), None when it finds one of the same
        sense first or none. (The sensitive spelling of a name is newer than its
        insensitive macro: an insensitive definition removes the sensitive ones.)"""
        if casesense:
            if _fitting(self.smacros.get(name), n) is not None:
                return None
            return _fitting(self.ismacros.get(name.lower()), n)
        low = name.lower()
        for k, d in reversed(self.smacros.items()):     # (the newest spelling first)
            if k.lower() == low:
                m = _fitting(d, n)
                if m is not None:
                    return m
        return None

    def _undef(self, name: str) -> None:
        name = self._ctx_name(name)
        self._macros_changed()
        self.smacros.pop(name, None)
        low = name.lower()
        if low in self.ismacros:
            self.ismacros.pop(low)

    def _find_smacro(self, name: str, nargs: Optional[int]) -> Optional[SMacro]:
        d = self.smacros.get(name)
        if not d:
            d = self.ismacros.get(name.lower())
            if not d:
                return None
        if nargs is None:
            return d.get(-1)
        return d.get(nargs)

    def _is_smacro(self, name: str) -> bool:
        return bool(self.smacros.get(name) or self.ismacros.get(name.lower()))

    def _ctx_name(self, name: str) -> str:
        """``%$name`` -> the context-local identifier ``..@<id>.name``."""
        if name.startswith("%$"):
            depth = 0
            rest = name[1:]
            while rest.startswith("$"):
                depth += 1
                rest = rest[1:]
            if not self.ctx:
                raise AsmError(f"`{name}': context stack is empty")
            if len(self.ctx) < depth:
                raise AsmError(f"`{rest}': context stack is only {len(self.ctx)} level"
                               f"{'s' if len(self.ctx) != 1 else ''} deep")
            return f"..@{self.ctx[-depth][1]}.{rest}"
        return name

    # ---- the main loop

    def depend(self, path: str) -> None:
        """Record a file the output depends on (once)."""
        if self.depends is not None and path not in self.depends:
            self.depends.append(path)

    def _pre_lines(self) -> Iterator[SourceLine]:
        """The command line's pre-definitions, pre-includes and --before lines, in order."""
        for item in self.pre:
            self.cur_file, self.cur_line = self.filename, 0
            try:
                if item[0] == "define":
                    self._define(item[1], None, item[2] if item[2] is not None else "", True)
                    continue
                if item[0] == "undef":
                    self._undef(item[1])
                    continue
                if item[0] == "affix":      # (--gprefix...: the assembler's)
                    continue
                if item[0] == "include":
                    found = self._read_include(item[1], item[1])
                    if found is None:
                        continue
                    lines = [(t, self.filename, 0) for t, _, _ in _split(found[1], item[1])]
                else:
                    lines = [(item[1], self.filename, 0)]
            except AsmError as exc:
                self._err(exc.message, self.filename, 0)
                continue
            self.sources = [_Source("file", lines, file=self.filename)]
            yield from self._run()
            if self.fatal:
                return

    def _note_text(self, text: str) -> None:
        """Tell the ptr_hook (once) that a source read holds the word `ptr`, or may make
        it (`P%+TR`, `%!ENV`, `%deftok`, `%tok()`: NASM's scanner warns all the same)."""
        low = text.lower()
        if self.ptr_hook is not None and ("ptr" in low or "tok" in low
                                          or _MAY_PASTE.search(low)):
            self.ptr_hook()
            self.ptr_hook = None

    def lines(self) -> Iterator[SourceLine]:
        """Generate the preprocessed lines of the main file."""
        self.depend(self.filename)
        if self.ptr_hook is not None:
            self._note_text(self.text + "".join(str(item[1:]) for item in self.pre))
        if self.pre:
            yield from self._pre_lines()
            if self.fatal:
                return
        self.cur_file, self.cur_line = self.filename, 0
        main = _split(self.text, self.filename)
        self.sources = [_Source("file", main, file=self.filename)]
        yield from self._run()
        eof = len(main) + 1
        if self.fatal:
            return
        if self.conds:          # (NASM's fatal: nothing more)
            self._err("expected `%endif' before end of file", self.filename,
                      eof).severity = "fatal"
            self.fatal = True
            return
        if self.defining is not None:
            d = self.defining
            if d["kind"] == "rep":
                self._err("end of file while still in %rep", self.filename, eof)
            else:
                self._err(f"end of file while still defining macro `{d['macro'].name}'",
                          self.filename, eof)

    def _active(self) -> bool:
        return not self.conds or self.conds[-1].active

    def _run(self, stdmac: bool = False) -> Iterator[SourceLine]:
        sources = self.sources
        while sources and not self.fatal:
            src = sources[-1]
            if src.pos >= len(src.lines):
                if src.kind == "rep" and src.count > 1:
                    src.count -= 1
                    src.pos = 0
                    continue
                self._pop_sources(len(sources) - 1)
                continue
            if src.exiting:
                # NASM lists the rest of the repetition %exitrep ended, reading none of it
                raw, file, lineno = src.lines[src.pos]
                src.pos += 1
                if not src.nolist and not stdmac:
                    yield _LINE_CLASS[src.kind]("", file, lineno, lineno, file, raw,
                                                len(sources) - 1, (), True, False)
                continue
            if (src.kind != "macro" and src.home is None and self.defining is None
                    and not stdmac and (not self.conds or self.conds[-1].active)
                    and "%" not in src.lines[src.pos][0]
                    and not (src.inv_file and src.kind == "file")):
                yield from self._plain_lines(src)
                continue
            raw, file, lineno = src.lines[src.pos]
            at = lineno
            if src.remap is not None:
                file, lineno = _remapped(src.remap, file, lineno)
            src.pos += 1
            if src.kind == "file" and "%" in raw and _LINE_WORD.match(raw):
                # NASM takes `%line` as it reads the file: in a false %if and in a macro
                # or %rep body being defined too; the line itself goes no further
                src.last_line = lineno
                try:
                    src.remap = _line_directive(strip_comment(raw.lstrip()[5:]).strip(), at,
                                                src.remap[3] if src.remap else None)
                except AsmError as exc:
                    self._err(exc.message, file, lineno)
                if not src.nolist and not stdmac:
                    yield SourceLine("", file, lineno, lineno, file, raw, len(sources) - 1,
                                     (), True, False)      # (listed, as NASM lists it)
                continue
            src.last_line = lineno
            if (src.kind == "file" and not stdmac and ('"' in raw or "'" in raw or "`" in raw)
                    and (self.defining is not None or self._active())):
                self._warn_open_string(raw, file, lineno)
            self.produced += 1
            if self.produced > MAX_LINES:
                self._err(f"source expands to more than {MAX_LINES} lines", file, lineno)
                self.fatal = True
                break
            self.cur_file, self.cur_line = file, lineno
            loc_file, loc_line, trace, nolist = file, lineno, (), src.nolist
            home = src if src.kind == "macro" else src.home
            if home is None:
                if src.inv_file and src.kind == "file":     # (a %use package's line)
                    loc_file, loc_line = src.inv_file, src.inv_line
            else:
                loc_file, loc_line = home.inv_file, home.inv_line
                frame = (home.macro.file, lineno, home.macro.name)
                trace = home.outer_trace + ((NolistFrame(frame) if home.macro.nolist
                                             else frame),)
            self.cur_trace = trace
            depth = len(sources) - 1
            if ("%" not in raw and self.defining is None and not stdmac
                    and (not self.conds or self.conds[-1].active)):
                # fast path for a plain line: only single-line macros may apply
                try:
                    text = self._detoken_env(self._expand_line(raw))
                    if self._find_mmacro_call(text) is None:
                        low = text.lstrip()[:5].lower()
                        if low.startswith("[bits") or low.startswith("[use"):
                            self._track_bits(text)
                        yield _LINE_CLASS[src.kind](text, loc_file, loc_line, lineno, file,
                                                    raw, depth, trace, not nolist, True)
                        continue
                except AsmError as exc:
                    self._err(exc.message, loc_file, loc_line, trace)
                    continue
            elif (self.defining is None and not stdmac
                    and (not self.conds or self.conds[-1].active)):
                assign = _ASSIGN_LINES.get(raw)
                if assign is None:
                    assign = _assign_line(raw)
                    if len(_ASSIGN_LINES) < 100_000:
                        _ASSIGN_LINES[raw] = assign
                if assign:
                    # `%assign NAME EXPR` (what _line and _directive do for it, without
                    # their general steps: the cost of a %rep loop that counts)
                    if not nolist:
                        yield _LINE_CLASS[src.kind]("", loc_file, loc_line, lineno, file,
                                                    raw, depth, trace, True, False)
                    name, expr_text, casesense = assign
                    try:
                        self._define(name, None, str(self._eval_macro_expr(expr_text,
                                                                           "%assign")),
                                     casesense)
                    except AsmError as exc:
                        self._err(exc.message, loc_file, loc_line, trace)
                    continue
            try:
                yield from self._line(raw, src, file, lineno, loc_file, loc_line, trace,
                                      depth, nolist, stdmac)
            except AsmError as exc:
                self._err(exc.message, loc_file, loc_line, trace)

    def _plain_lines(self, src: _Source) -> Iterator[SourceLine]:
        """The general loop of `_run` for a run of plain lines (no `%`) of a file or of a
        %rep body outside macros, without the per-line checks that only a `%` line or a
        multi-line macro call can change: the lines of a large source mostly take this way.
        Returns at the first line that needs the general loop."""
        lines = src.lines
        n = len(lines)
        depth = len(self.sources) - 1
        listed = not src.nolist
        make = _LINE_CLASS[src.kind]
        macro_free = self.macro_free
        start = src.pos
        self.cur_trace = ()
        remap = src.remap
        # (a %rep body's lines were read, and warned about, once)
        from_file = src.kind == "file"
        try:
            pos = src.pos
            while pos < n and not self.fatal:
                raw, file, lineno = lines[pos]
                if "%" in raw:
                    return
                if remap is not None:
                    file, lineno = _remapped(remap, file, lineno)
                pos = src.pos = pos + 1
                if from_file and ('"' in raw or "'" in raw or "`" in raw):
                    self._warn_open_string(raw, file, lineno)     # (read from the file)
                self.produced += 1
                if self.produced > MAX_LINES:
                    self._err(f"source expands to more than {MAX_LINES} lines", file, lineno)
                    self.fatal = True
                    return
                if raw in macro_free:
                    text = raw
                else:
                    self.cur_file, self.cur_line = file, lineno
                    text = self._plain_text(raw, file, lineno)
                    if text is False:
                        continue
                    if text is None:
                        # a multi-line macro call: its expansion, then the general loop
                        try:
                            yield from self._line(raw, src, file, lineno, file, lineno, (),
                                                  depth, src.nolist, False)
                        except AsmError as exc:
                            self._err(exc.message, file, lineno, ())
                        return
                yield make(text, file, lineno, lineno, file, raw, depth, (), listed, True)
        finally:
            if src.pos > start:
                src.last_line = lines[src.pos - 1][2]

    def _plain_text(self, raw: str, file: str, lineno: int) -> str | bool | None:
        """The text of a line of `_plain_lines` not known to be macro free; False when it
        was dropped for an error, None when it calls a multi-line macro."""
        stripped = raw.lstrip()
        if self._no_smacro_in(raw) and self._no_mmacro_head(raw):
            # what _expand_line and _find_mmacro_call find first: nothing to do
            text = raw
            if stripped[:1] != "[" and len(self.macro_free) < 200_000:
                self.macro_free.add(raw)
        else:
            try:
                text = self._detoken_env(self._expand_line(raw))
                if self._find_mmacro_call(text) is not None:
                    return None
            except AsmError as exc:
                self._err(exc.message, file, lineno, ())
                return False
            stripped = text.lstrip()
        if stripped[:1] == "[":
            low = stripped[:5].lower()
            if low.startswith("[bits") or low.startswith("[use"):
                self._track_bits(text)
        return text

    def _line(self, raw: str, src: _Source, file: str, lineno: int, loc_file: str,
              loc_line: int, trace: tuple, depth: int, nolist: bool,
              stdmac: bool) -> Iterator[SourceLine]:
        listed = not nolist and not stdmac
        make = _LINE_CLASS[src.kind]

        def list_only():
            if listed:
                return make("", loc_file, loc_line, lineno, file, raw, depth, trace, True,
                            False)
            return None

        # collecting a %macro or %rep body
        if self.defining is not None:
            d = self.defining
            m = _DIRECTIVE.match(raw)
            word = m.group(1).lower() if m else ""
            if word in ("%macro", "%imacro", "%rmacro", "%irmacro", "%rep"):
                # nested definitions of the same kind end at their own terminator
                if (word == "%rep") == (d["kind"] == "rep"):
                    d["nest"] += 1
                if d["kind"] == "rep" and word != "%rep":
                    d["nest_macro"] += 1
            end = word in ("%endmacro", "%endm") if d["kind"] == "macro" else word == "%endrep"
            if d["kind"] == "rep" and word in ("%endmacro", "%endm") and d["nest_macro"]:
                d["nest_macro"] -= 1
                end = False
            if end:
                if d["nest"]:
                    d["nest"] -= 1
                else:
                    self.defining = None
                    self._finish_definition(d)
                    sl = list_only()
                    if sl:
                        yield sl
                    if d["kind"] == "rep" and d.get("count", 0) > 0 and d["lines"]:
                        self._push_rep(d, src, loc_file, loc_line, trace)
                    return
            d["lines"].append((raw, file, lineno))
            if "%{" in raw:             # (NASM reads the body's tokens as it stores it)
                for message in _brace_warnings(raw):
                    self._warn(message, loc_file, loc_line)
            sl = list_only()
            if sl:
                yield sl
            return

        # macro parameters and context locals are substituted before anything else
        text = raw
        if "%" in text:
            free = _PERCENT_FREE.get(text)
            if free is None:
                free = _percent_free(text)
                if len(_PERCENT_FREE) < 100_000:
                    _PERCENT_FREE[text] = free
            if not free and self._elif_decided(text):
                pass            # (NASM settles a %elif without expanding it: see below)
            elif not free:
                errors: list = []
                try:
                    d = _DIRECTIVE.match(text)
                    if (d and d.group(1).lower() in ("%macro", "%imacro", "%rmacro",
                                                     "%irmacro")
                            and d.group(2).lstrip()[:2] == "%$" and self._active()):
                        # (`%macro %$m`: NASM wants an identifier token, unexpanded)
                        raise AsmError(f"`{d.group(1).lower()}' expects a macro name")
                    text = self._subst_percent(text, src, errors)
                except AsmError:
                    if self._active():
                        d = _DIRECTIVE.match(text)
                        if d and d.group(1).lower() in _IF_NAMES:
                            self.conds.append(_Cond(False, True))   # %endif still matches
                        raise
                    text, errors = raw, []      # (a line NASM skips: not expanded)
                if errors and not self._active():
                    text, errors = raw, []
                for message in errors:
                    self._err(message, loc_file, loc_line, trace)
                lost = [message for message in errors if "context stack" in message]
                if lost and _DIRECTIVE_START.match(text) is None:
                    # context-locals with no context: NASM reports them as it reads the
                    # line, then again as it expands it (the line goes on without them)
                    for message in lost:
                        self._err(message, loc_file, loc_line, trace).repeated = True

        m = _DIRECTIVE.match(text)
        if m:
            word = m.group(1).lower()
            if word in _IF_NAMES or word in _ELIF_NAMES or word in ("%else", "%endif"):
                self._conditional(word, m.group(2), loc_file, loc_line)
                sl = list_only()
                if sl:
                    yield sl
                return
        if not self._active():
            sl = list_only()
            if sl:
                yield sl
            return
        if m and m.group(1).lower() == "%pragma" and (
                strip_comment(m.group(2)).split()[:1] or [""])[0].lower() != "preproc":
            # a pragma for the assembler or the output format: passed on as NASM does
            # (and kept by -E) as `[pragma ...]`
            text = f"[pragma {strip_comment(m.group(2)).strip()}]"
            m = None
        if m and (m.group(1).lower() in _DIRECTIVES or m.group(1).lower() in
                  ("%macro", "%imacro", "%rmacro", "%irmacro")):
            sl = list_only()
            if sl:
                sl.messages = []
                yield sl
            elif nolist and not stdmac:
                # a .nolist expansion's directive: not listed, but NASM lists its messages
                # on the row being filled (the call's): passed on if it has any
                sl = make("", loc_file, loc_line, lineno, file, raw, depth, trace, False,
                          False)
                sl.messages = []
            self.list_sl = sl
            try:
                self._directive(m.group(1).lower(), m.group(2), src, file, lineno,
                                loc_file, loc_line, trace, raw)
            except AsmError as exc:
                self._err(exc.message, loc_file, loc_line, trace)
            finally:
                self.list_sl = None
            if sl and not sl.listed and sl.messages:
                yield sl
            return
        if m and m.group(1).lower() not in ("%%",) and re.match(r"\s*%[A-Za-z]", text):
            # an unknown %word at line start (a smacro named like a directive is expanded
            # above): NASM passes the line on, and its parser refuses it
            raise AsmError("label or instruction expected at start of line")

        # single-line macros
        if "%[" in text:
            text = self._expand_brackets(text)
        text = self._detoken_env(self._expand_line(text))

        # multi-line macro invocation (optionally after a label)
        call = self._find_mmacro_call(text)
        if call is not None and call[1] is self.incbin_macro:
            text = self._incbin_text(text, call[0], call[2], loc_file, loc_line, trace)
            if not text:
                return
            call = None
        if call is not None:
            label, macro, args = call
            if self.call_warning:
                self._warn(self.call_warning, loc_file, loc_line)
            if listed:
                yield make("", loc_file, loc_line, lineno, file, raw, depth, trace, True,
                           False)
            if label and not _captures_label(macro):
                # (NASM lists it as the expansion's first line)
                yield MacroLabel(label, loc_file, loc_line, lineno, file, label, depth + 1,
                                 trace, listed and not macro.nolist, True)
            self._push_macro(macro, args, src, loc_file, loc_line, trace, file, lineno,
                             label.split(":", 1)[0].strip())
            return
        if stdmac:
            return
        low = text.lstrip()[:7].lower()
        if low.startswith("[bits") or low.startswith("[use"):
            self._track_bits(text)
        yield make(text, loc_file, loc_line, lineno, file, raw, depth, trace, not nolist,
                   True)

    def _track_bits(self, text: str) -> None:
        m = re.match(r"\s*\[\s*(bits\s+(\w+)|use(16|32))", text, re.I)
        if m:
            try:
                self.bits = int(m.group(2) or m.group(3), 0)
            except ValueError:
                pass

    # ---- % substitution (step one)

    def _macro_source(self, src: _Source) -> Optional[_Source]:
        for s in reversed(self.sources):
            if s.kind == "macro":
                return s
        return None

    def _elif_decided(self, text: str) -> bool:
        """Whether ``text`` is a %elif... whose fate is known before its operand is read
        (no open %if, after %else, an earlier branch taken, or inside a skipped %if):
        NASM then reports or skips it without expanding the line."""
        d = _DIRECTIVE.match(text)
        if not d or d.group(1).lower() not in _ELIF_NAMES:
            return False
        if not self.conds:
            return True
        c = self.conds[-1]
        return c.seen_else or c.done or not c.parent_active

    def _subst_percent(self, text: str, src: _Source, errors: list) -> str:
        """The line with its %-constructs substituted; ``errors`` gets NASM's messages
        for those it drops (the line goes on without them)."""
        msrc = self._macro_source(src)
        stored = None if src.kind == "file" else src.kind     # (a macro's or %rep's)
        directive = _DIRECTIVE_START.match(text) is not None
        # a directive that expands its operands and then defines a name: NASM reports a
        # context-local with no context as it expands, goes on with the token, then fails
        # on the name if it is one (`%substr x %$y`, `%strlen %$x %$y`)
        head = _EXPANDING_HEAD.match(text) if directive else None
        name_at, body_at = head.span(1) if head else (-1, len(text) + 1)
        # `%!NAME` is read when NASM turns the line back into text (_detoken_env): a
        # directive's operands keep it (`%ifdef %!X` is refused, `%define X %!Y` stores
        # it), but for a message's; a macro's lines have it read with their parameters
        env_here = (not directive or msrc is not None
                    or _ENV_DIRECTIVE.match(text) is not None)

        def repl(m):
            g = m.lastgroup
            if g in ("str", "comment"):
                return m.group()
            if g == "tail":         # (`%{...}name`: the name is pasted to what it gives)
                if m.group("brace") == "{}":      # (the operator: no name pasted)
                    return empty_braces(m) + ("" if directive else " ") + m.group("tail")
                return repl_brace(m)
            if g == "open":
                # NASM closes it at the end of the line (the comment in it)
                if stored is None:
                    self._warn(_OPEN_BRACES, *self._here())
                inner = m.group(g)[1:]
                if not inner:
                    return empty_braces(m)
                if msrc is None and inner.lstrip("-")[:1].isdigit():
                    errors.append(f"`%{inner}': not in a macro call")
                    return ""
                if msrc is not None and _PARAM_BRACE.fullmatch(inner.strip()):
                    return self._param(msrc, int(inner))
                return m.group() if directive else "%" + inner
            return repl_other(m, g)

        def empty_braces(m):
            if stored is None:      # (a stored body's: warned as it was stored)
                self._warn(_EMPTY_BRACES, *self._here())
            return m.group() if directive else "%"

        def repl_brace(m):
            inner = m.group("brace")[1:-1].strip()
            if inner.startswith("$") and not directive:
                try:
                    self._ctx_name("%" + inner)
                except AsmError as exc:
                    # NASM pastes first: the error names the whole token, which stays
                    exc.message = exc.message.replace(f"`%{inner}'",
                                                      f"`%{inner}{m.group('tail')}'")
                    errors.append(exc.message)
                    return f"%{inner}{m.group('tail')}"
            return repl_other(m, "brace") + m.group("tail")

        def repl_other(m, g):
            if g == "num" or g == "brace":
                inner = m.group(g)
                if g == "brace":
                    inner = inner[1:-1].strip()
                    if inner.startswith("$"):
                        name = self._ctx_name("%" + inner)
                        sm = self._find_smacro(name, None)
                        if sm is not None:
                            return sm.dynamic() if sm.dynamic else sm.body
                        return name
                    if inner.startswith("!"):
                        return self._environment(inner[1:]) if env_here else m.group()
                    if msrc is None and _PARAM_BRACE.fullmatch(inner):
                        errors.append(f"`%{inner}': not in a macro call")     # (`db %{1}`)
                        return ""
                    if ":" in inner:
                        if msrc is None:
                            return m.group()
                        a, _, b = inner.partition(":")
                        try:
                            lo, hi = int(a), int(b)
                        except ValueError:
                            return m.group()
                        n = len(msrc.params)    # (NASM: negative counts from the last)
                        if not (lo and hi and -n <= lo <= n and -n <= hi <= n):
                            errors.append(f"`%{m.group('brace')}': macro parameters out "
                                          "of range")
                            return ""
                        lo, hi = lo + (n + 1 if lo < 0 else 0), hi + (n + 1 if hi < 0 else 0)
                        step = 1 if hi >= lo else -1
                        return ", ".join(self._param(msrc, k) for k in range(lo, hi + step,
                                                                              step))
                if msrc is None:
                    if g == "brace" and not directive:
                        return "%" + inner      # (`%{x}`: NASM's `%` operator and x)
                    if g == "num":      # (`db %5`, `%define q %1`; not `db % 5`)
                        errors.append(f"`{m.group()}': not in a macro call")
                        return ""
                    return m.group()
                if inner == "00":
                    return msrc.label       # the label of the macro call
                try:
                    k = int(inner)
                except ValueError:
                    # (`%{x}`, `%{ }`: NASM's `%` operator and what it holds)
                    return m.group() if directive or g != "brace" else "%" + inner
                return self._param(msrc, k)
            if g == "local":
                if msrc is None:
                    errors.append(f"`{m.group()}': not in a macro call")
                    return ""
                return f"..@{msrc.unique}.{m.group(g)[1:]}"
            if g == "ctx":
                if m.start() == name_at:
                    return m.group()        # (the name: the directive's own error)
                if directive and m.start() < body_at:
                    if m.group(g) == "$":
                        return m.group()    # (no identifier: the directive says so)
                    return self._ctx_name("%" + m.group(g))     # (the directive's error)
                try:
                    return self._ctx_name("%" + m.group(g))
                except AsmError as exc:
                    errors.append(exc.message)
                    return m.group()        # (it stays: the line goes on with it)
            if g == "paste":
                return m.group()
            if g == "cc":
                # %+1: the parameter as a condition code; %-1: the inverse condition
                if msrc is None:
                    errors.append(f"`{m.group()}': not in a macro call")
                    return ""
                p = self._param(msrc, int(m.group(g)[1:])).strip()
                if p.lower() not in _INVERSE_CC:    # (NASM drops it: the line goes on)
                    errors.append(f"macro parameter `%{m.group(g)}' is not a condition code")
                    return ""
                return p if m.group(g)[0] == "+" else _INVERSE_CC[p.lower()]
            if g == "qq":
                if msrc is None:
                    return m.group()
                return msrc.macro.name
            if g == "env" and env_here:
                return self._environment(m.group(g)[1:])
            return m.group()

        return _STRING_OR_PCT.sub(repl, text)

    def _detoken_env(self, text: str) -> str:
        """A `%!NAME` a single-line macro gave (`%define X %!NAME`) is read, with its
        warning, at the line that uses it: NASM's detoken, as the line goes to the
        assembler."""
        if "%!" not in text:
            return text
        return _STRING_OR_PCT.sub(self._env_token, text)

    def _env_token(self, m: re.Match) -> str:
        return self._environment(m.group("env")[1:]) if m.lastgroup == "env" else m.group()

    def _environment(self, name: str) -> str:
        """`%!NAME` (`%!"NAME"`): the environment variable's value; NASM warns when there
        is none (on a line it reads)."""
        if name[:1] in ("'", '"'):
            name = name[1:-1]
        value = access.environ().get(name)     # (pyvm's guest: its own, asm/access.py)
        if value is None:
            if self._active():
                self._warn(f"nonexistent environment variable `{name}' "
                           "[-w+pp-environment]", *self._here())
            return ""
        return value

    @staticmethod
    def _param(msrc: _Source, k: int) -> str:
        if k == 0:
            return str(len(msrc.params) if msrc.argc < 0 else msrc.argc)
        if k < 0:
            return ""
        if k <= len(msrc.params):
            return msrc.params[k - 1]
        return ""

    # ---- single-line macro expansion (step two)

    def _macros_changed(self) -> None:
        self.macro_free.clear()
        self.smacro_initials = None

    def _no_smacro_in(self, text: str) -> bool:
        """No identifier of the line is a single-line macro name (so it expands to itself)."""
        smacros, ismacros = self.smacros, self.ismacros
        if not smacros and not ismacros:
            return True
        initials = self.smacro_initials
        if initials is None:
            first = {name[:1] for name in smacros}
            for name in ismacros:
                first.update((name[:1].lower(), name[:1].upper()))
            initials = self.smacro_initials = "".join(sorted(first))
        if len(initials) <= 4:
            # a macro name in the line would bring its first character (the standard
            # macros all start with `_`): a quick no for most lines
            for c in initials:
                if c in text:
                    break
            else:
                return True
        idents = _IDENT.findall(text)
        if not ismacros:
            return smacros.keys().isdisjoint(idents)
        for ident in idents:
            if ident in smacros or ident.lower() in ismacros:
                return False
        return True

    def _expand_line(self, text: str) -> str:
        if self._no_smacro_in(text) and ("%" not in text or (
                not _PP_FUNC.search(text) and "%+" not in text)):
            return text     # (`P%+TR` is pasted outside a macro too)
        toks = tokenize(text)
        expanded = self._expand_tokens(toks, frozenset(), 0)
        out = "".join(t for _, t in expanded)
        if "%+" in out:
            # by tokens: a macro may expand to half a string (`%define q "`, q %+ x %+ q)
            out = _paste_tokens(expanded)
        return out

    def _expand_tokens(self, toks: list, active: frozenset, level: int) -> list:
        if level > MAX_SMACRO_DEPTH:
            raise AsmError("interminable macro recursion")
        out = []
        i, n = 0, len(toks)
        while i < n:
            kind, t = toks[i]
            if kind == "comment":
                break
            if (t == "%" and i + 2 < n and toks[i + 2][1] == "("
                    and toks[i + 1][1].lower() in PP_FUNCTIONS):
                args, end = _split_call_args(toks, i + 2)
                if args is not None:
                    text = self._pp_function(toks[i + 1][1].lower(), args, active, level)
                    if text is not None:
                        out.extend(self._expand_tokens(tokenize(text), active, level + 1))
                        i = end
                        continue
            if kind != "id" or t in active or not self._is_smacro(t):
                out.append(toks[i])
                i += 1
                continue
            # function-like?
            j = i + 1
            while j < n and toks[j][0] == "ws":
                j += 1
            macro = None
            args = None
            if j < n and toks[j][1] == "(":
                args, end = _split_call_args(toks, j)
                if args is not None:
                    macro = self._find_smacro(t, len(args))
                    if macro is None:
                        d = self.smacros.get(t) or self.ismacros.get(t.lower()) or {}
                        for m in d.values():
                            if m.greedy and m.params and len(args) >= len(m.params):
                                macro = m
                                head = args[:len(m.params) - 1]
                                tail = args[len(m.params) - 1:]
                                args = head + [_join_args(tail)]
                                break
                    if macro is not None:
                        i = end
            if macro is None:
                macro = self._find_smacro(t, None)
                if macro is None:
                    out.append(toks[i])
                    i += 1
                    continue
                i += 1
                args = None
            if macro.dynamic is not None:
                body = macro.dynamic()
                out.extend(tokenize(body))
                continue
            body_toks = tokenize(macro.body)
            if macro.params and args is not None:
                pmap = {p: a for p, a in zip(macro.params, args)}
                sub = []
                for bt in body_toks:
                    if bt[0] == "id" and bt[1] in pmap:
                        sub.extend(pmap[bt[1]])
                    else:
                        sub.append(bt)
                body_toks = sub
            text = "".join(x for _, x in body_toks)
            if "%+" in text:
                body_toks = tokenize(_paste(text))
            out.extend(self._expand_tokens(body_toks, active | {t}, level + 1))
        return out

    def _expand_brackets(self, text: str) -> str:
        """Each ``%[...]`` replaced by its macro-expanded contents (pasted in place)."""
        out = []
        i = 0
        while True:
            j = text.find("%[", i)
            if j < 0:
                out.append(text[i:])
                return "".join(out)
            depth, k = 1, j + 2
            while k < len(text) and depth:
                depth += {"[": 1, "]": -1}.get(text[k], 0)
                k += 1
            if depth:
                raise AsmError("unterminated %[ construct")
            out.append(text[i:j])
            out.append(self._expand_line(text[j + 2:k - 1]).strip())
            i = k

    def _eval_param(self, text: str, what: str, param: int) -> Optional[int]:
        """The value of parameter ``param`` of %eval()/%sel(); None when it is not one
        whole expression: NASM reports it and goes on without it (`db %eval(1 2)` gives
        `db`; the other functions drop the line)."""
        try:
            return self._eval(text, what, param=param)
        except AsmError as exc:
            if not exc.message.startswith(_BAD_PARAMETER):
                raise
            self._err(exc.message, *self._here(), self.cur_trace)
            return None

    def _pp_function(self, name: str, args: list, active: frozenset, level: int):
        """NASM 2.16's preprocessor functions (%eval(), %num(), %str() ...): the text they
        stand for, or None to leave the call as it is (as NASM does with a wrong count)."""
        def text(a: list) -> str:
            return "".join(x for _, x in a).strip()

        if name == "str":
            return quote(", ".join(text(a) for a in args))
        if name == "count":
            return str(max(len(args), 1))
        if name.startswith("is"):
            return str(int(self._cond_value("%if" + name[2:], ", ".join(text(a) for a in args))))
        vals = [text(self._expand_tokens(a, active, level + 1)) for a in args]
        if name == "eval":
            values = (self._eval_param(v, "%eval", k) for k, v in enumerate(vals))
            return ",".join("" if v is None else str(v) for v in values)
        if name == "abs":
            if len(vals) != 1:
                return None
            return str(abs(E.wrap64(self._eval(vals[0], "%abs", param=0))))
        if name == "cond":
            if len(vals) not in (2, 3):
                return None
            if self._eval(vals[0], "%cond", param=0):
                return vals[1]
            return vals[2] if len(vals) == 3 else ""
        if name == "sel":
            if len(vals) < 1:
                return None
            k = self._eval_param(vals[0], "%sel", 0) or 0
            if not 1 <= k < len(vals):
                why = "exceeds the number of arguments" if k > 0 else "is not a valid selector"
                self._warn(f"%sel({k}) {why} [-w+pp-sel-range]", *self._here())
                return ""
            return vals[k]
        if name == "strlen":
            if len(vals) != 1:
                return None
            return str(len(_unquote(vals[0])))
        if name == "strcat":
            return quote("".join(_unquote(v) for v in vals))
        if name == "substr":
            if len(vals) not in (2, 3):
                return None
            s = _unquote(vals[0])
            start = self._eval(vals[1], "%substr", param=1) - 1
            count = self._eval(vals[2], "%substr", param=2) if len(vals) == 3 else len(s)
            if count < 0:
                count = len(s) - start + count + 1
            return quote(s[max(start, 0):max(start, 0) + max(count, 0)])
        if name == "tok":
            if len(vals) != 1:
                return None
            return _unquote(vals[0])
        if name == "num":
            if not 1 <= len(vals) <= 3:
                return None
            v = self._eval(vals[0], "%num", param=0) & ((1 << 64) - 1)
            digits = self._eval(vals[1], "%num", param=1) if len(vals) > 1 and vals[1] else -1
            base = self._eval(vals[2], "%num", param=2) if len(vals) > 2 and vals[2] else 10
            if not 2 <= base <= 36:
                raise AsmError(f"invalid base {base} given to %num()")
            chars = []
            while v:
                v, r = divmod(v, base)
                chars.append("0123456789abcdefghijklmnopqrstuvwxyz"[r])
            s = "".join(reversed(chars)) or "0"
            if digits >= 0:
                s = s[-digits:] if digits else ""
                s = s.rjust(digits, "0")
            return quote(s)
        return None

    # ---- multi-line macros

    def _no_mmacro_head(self, text: str) -> bool:
        """Neither of the first two words of the line names a multi-line macro."""
        h = _HEAD.match(text)
        if h is None:
            return True
        w1, w2 = h.groups()
        return not (w1 in self.mmacros or w1.lower() in self.immacros or
                    w2 in self.mmacros or w2.lower() in self.immacros)

    def _find_mmacro_call(self, text: str):
        if self._no_mmacro_head(text):
            return None
        m = _IDENT.match(text.lstrip())
        if not m:
            return None
        stripped = text.lstrip()
        name = m.group()
        rest = stripped[m.end():]
        label = ""
        if not self._lookup_mmacro(name):
            # `label: macro args` or `label macro args`
            r = rest.lstrip()
            colon = r.startswith(":")
            if colon:
                r = r[1:].lstrip()
            m2 = _IDENT.match(r)
            if not m2:
                return None
            if not self._lookup_mmacro(m2.group()):
                return None
            # what NASM emits before the expansion: the label, the blanks and colon
            # as written (a run of blanks as one space), a colon added if there is none
            head = rest[:len(rest) - len(rest.lstrip())]
            label = name + (" " if head else "")
            if colon:
                label += ": " if rest.lstrip()[1:2].isspace() else ":"
            else:
                label += ":"
            name = m2.group()
            rest = r[m2.end():]
        # (NASM's parameters are the tokens after the name, blank or not: `m:`, `m(1)`)
        args = _split_macro_args(strip_comment(rest).strip())
        cands = self._lookup_mmacro(name)
        # NASM (< 2.15 legacy): a call ending in a comma drops its empty last parameter
        self.call_warning = None     # (warned by the caller that expands it)
        comma = len(args) > 1 and not args[-1] and strip_comment(rest).rstrip()[-1:] == ","
        for mac in cands:
            if mac.name in self._active_macros() and not mac.recursive:
                continue
            n = len(args)
            if n >= mac.nmin and (mac.nmax < 0 or n <= mac.nmax or mac.greedy):
                if comma:
                    self.call_warning = ("dropping trailing empty parameter in call to "
                                         f"multi-line macro `{mac.name}' "
                                         "[-w+pp-macro-params-legacy]")
                    rest = strip_comment(rest).rstrip()[:-1]
                    args = args[:-1]
                    n -= 1
                if mac.greedy and mac.nmax >= 0 and n > mac.nmax:
                    args = args[:mac.nmax - 1] + [_rejoin(rest, mac.nmax - 1)]
                return label, mac, args
        if comma:
            # none takes that many: one that takes the parameters before the comma
            n = len(args) - 1
            for mac in cands:
                if (not (mac.name in self._active_macros() and not mac.recursive)
                        and n >= mac.nmin and (mac.nmax < 0 or n <= mac.nmax)):
                    self.call_warning = (f"improperly calling multi-line macro `{mac.name}' "
                                         f"with {n + 1} parameters [-w+pp-macro-params-legacy]")
                    return label, mac, args[:-1]
        if all(mac.name in self._active_macros() and not mac.recursive for mac in cands) or (
                cands == [self.incbin_macro]):
            return None     # (a bare `incbin`: the parser warns, with its error)
        # exists but with another parameter count: NASM warns and assembles the line as is
        self._warn(f"multi-line macro `{name}' exists, but not taking {len(args)} parameter"
                   f"{'s' if len(args) != 1 else ''} [-w+pp-macro-params-multi]",
                   *self._here())
        return None

    def _incbin_text(self, text: str, label: str, args: list, loc_file: str, loc_line: int,
                     trace: tuple) -> str:
        """A call of NASM 2.16's standard macro `incbin` (%push, %pathsearch %$dep %1,
        %depend %$dep, `%? %$dep,%2`, %pop), whose line the assembler reads itself: it
        takes two unique numbers (the call's and the context's: `%%` labels after it
        count on), and %pathsearch wants a string first. Returns the line to pass on
        (the label alone, or nothing, where NASM's assembler fails)."""
        from asm.parser import tokenize as asm_tokenize
        number = self.unique + 1
        self.unique += 2
        try:
            tokens = asm_tokenize(args[0])
        except AsmError:
            tokens = []
        if tokens and tokens[0][0] == "STRING" and len(tokens) == 1:
            return text         # (a trailing comma: the parser warns as the macro does)
        if self.call_warning:
            self._warn(self.call_warning, loc_file, loc_line)
        if tokens and tokens[0][0] == "STRING":
            self._warn("trailing garbage after `%pathsearch' ignored [-w+pp-trailing]",
                       loc_file, loc_line)
            first = tokens[0][1]
        else:
            self._err("`%pathsearch' expects a file name", loc_file, loc_line, trace)
            self._err("`%depend' expects a file name", loc_file, loc_line, trace)
            if not self.preprocess_only:
                self._err(f"symbol `..@{number}.dep' not defined before use", loc_file,
                          loc_line, trace)
                return label
            first = f"..@{number}.dep"     # (what `nasm -E` prints)
        head = _INCBIN_WORD.match(text)
        return f"{head.group()} {first}" + "".join("," + arg for arg in args[1:])

    def _active_macros(self) -> dict:
        return self.active_macros

    def _pop_sources(self, k: int, exiting: bool = False) -> None:
        """Drop sources[k:] and their macro activations. NASM closes the conditionals
        opened in an expansion left by %exitmacro/%exitrep (``exiting``, a rep's
        ``exiting``); one that ends keeps them open (a `%endif` after the call matches),
        and a %rep it opened and did not end is a fatal."""
        d = self.defining
        for j in range(len(self.sources) - 1, k - 1, -1):
            s = self.sources[j]
            if (s.kind == "macro" and not exiting and d is not None and d["kind"] == "rep"
                    and d.get("sources", 0) > j):
                self._err(f"`%rep' without `%endrep' within expansion of macro "
                          f"`{s.macro.name}'", s.inv_file, s.inv_line).severity = "fatal"
                self.fatal = True
                break
        for s in self.sources[k:]:
            if s.kind == "macro":
                n = self.active_macros.get(s.macro.name, 0) - 1
                if n > 0:
                    self.active_macros[s.macro.name] = n
                else:
                    self.active_macros.pop(s.macro.name, None)
        for s in self.sources[k:]:
            if (s.kind in ("macro", "rep") and (exiting or s.exiting)
                    and len(self.conds) > s.cond_depth):
                del self.conds[s.cond_depth:]
                break
        del self.sources[k:]

    def _lookup_mmacro(self, name: str) -> list:
        return self.mmacros.get(name, []) + self.immacros.get(name.lower(), [])

    def _push_macro(self, macro: MMacro, args: list, src: _Source, loc_file: str,
                    loc_line: int, trace: tuple, file: str, lineno: int, label: str) -> None:
        if len(self.sources) >= MAX_MACRO_DEPTH:
            raise AsmError("interminable multiline macro recursion")
        self.mmacro_count += 1
        params = list(args)
        # NASM: the defaults up to min + their number (more than max too: `%0`); a greedy
        # macro keeps max, its last one a default that runs on to the end of them
        need = macro.nmin + len(macro.defaults)
        while len(params) < need:
            k = len(params) - macro.nmin
            params.append(macro.defaults[k] if 0 <= k < len(macro.defaults) else "")
        if macro.greedy and 0 < macro.nmax < len(params):
            last = macro.nmax - 1
            params[last:] = [",".join(params[last:]) if len(args) <= last else params[last]]
        unique = self.unique
        self.unique += 1
        new = _Source("macro", macro.body, file=macro.file, macro=macro, params=params,
                      unique=unique, cond_depth=len(self.conds), label=label)
        new.inv_file, new.inv_line = loc_file, loc_line
        if len(args) < macro.nmin:
            new.argc = len(args)
        new.nolist = macro.nolist or src.nolist
        new.outer_trace = trace
        self.active_macros[macro.name] = self.active_macros.get(macro.name, 0) + 1
        self.sources.append(new)

    # ---- directives

    def _directive(self, word: str, rest: str, src: _Source, file: str, lineno: int,
                   loc_file: str, loc_line: int, trace: tuple, raw: str):
        rest_nc = strip_comment(rest)
        arg = rest_nc.strip()
        if "%[" in arg and word not in ("%macro", "%imacro", "%rmacro", "%irmacro"):
            arg = self._expand_brackets(arg)    # `%assign v%[n] 1`: expanded first
        casesense = not word.startswith("%i") or word in ("%include", "%if")
        base = word[2:] if word.startswith("%i") and word not in (
            "%include", "%if") else word[1:]
        if word in ("%macro", "%imacro", "%rmacro", "%irmacro"):
            self._begin_macro(word, arg, file, lineno, (loc_file, loc_line, trace))
            return
        if word == "%null":
            return                      # (NASM 2.16: a directive that does nothing)
        if word == "%rep":
            # (NASM: with no count an error and no repetition; a count it cannot
            # evaluate an error and no %rep block at all)
            count = self._eval_macro_expr(arg, "%rep") if arg else 0
            self.defining = {"kind": "rep", "lines": [], "nest": 0, "nest_macro": 0,
                             "count": 0, "file": file, "line": lineno,
                             "sources": len(self.sources)}     # (see _pop_sources)
            if not arg:
                self._err("`%rep' expects a repeat count", loc_file, loc_line, trace)
            if count < 0:
                # (NASM: a warning, and no repetition)
                self._warn(f"negative `%rep' count: {count} [-w+pp-rep-negative]", loc_file,
                           loc_line)
                count = 0
            if count > MAX_REP:
                raise AsmError(f"`%rep' count {count} exceeds limit (currently {MAX_REP})")
            self.defining["count"] = count
            return
        if word in ("%endrep", "%endmacro", "%endm"):
            raise AsmError(f"`{word}': not defining a macro" if word != "%endrep"
                           else "`%endrep': no matching `%rep'")
        if word == "%exitrep":
            for k in range(len(self.sources) - 1, -1, -1):
                s = self.sources[k]
                if s.kind == "rep":
                    self._pop_sources(k + 1)
                    s.count, s.exiting = 1, True
                    return
                if s.kind == "macro":
                    break
            raise AsmError("`%exitrep' not within `%rep' block")
        if word in ("%exitmacro",):
            for k in range(len(self.sources) - 1, -1, -1):
                s = self.sources[k]
                if s.kind == "macro":
                    self._pop_sources(k, exiting=True)
                    return
            raise AsmError("`%exitmacro' not within `%macro' block")
        if word == "%rotate":
            if not arg:
                raise AsmError("`' missing rotate count")     # (NASM 2.16.01's words)
            msrc = self._macro_source(src)
            if msrc is None:
                raise AsmError("`%rotate' invoked outside a macro call")
            n = self._eval(self._expand_line(arg), "%rotate", critical=True)
            if msrc.params:
                n %= len(msrc.params)
                msrc.params = msrc.params[n:] + msrc.params[:n]
            return
        if base in ("define", "xdefine"):
            self._define_directive(arg, casesense, expand=base == "xdefine", word=word)
            return
        if word in ("%undef", "%iundef", "%undefalias"):
            parts = arg.split()
            name = parts[0] if parts else ""
            if not name or _not_a_macro_name(name) or not (
                    _MACRO_WORD.match(name) or name.startswith("%%")):
                shown = "%undefalias" if word == "%undefalias" else "%undef"
                raise AsmError(f"`{shown}' expects a macro identifier")     # (`%undef %!X`)
            if len(parts) > 1:
                self._warn("trailing garbage after macro name ignored [-w+pp-trailing]",
                           *self._here())
            self._undef(name)
            return
        if base == "assign":
            name, expr_text = _name_and_rest(arg, word)
            v = self._eval_macro_expr(expr_text, "%assign")
            self._define(name, None, str(v), casesense)
            return
        if base == "defstr":
            name, body = _name_and_rest(arg, word, allow_empty=True)
            self._define(name, None, quote(self._detoken_env(self._expand_line(body)).strip()),
                         casesense)
            return
        if base == "deftok":
            name, body = _name_and_rest(arg, word, allow_empty=True)
            toks = [t for t in tokenize(self._expand_line(body)) if t[0] != "ws"]
            if len(toks) != 1 or toks[0][0] != "str":
                raise AsmError(f"`{word}' requires string as second parameter")
            self._define(name, None, _unquote(toks[0][1]), casesense)
            return
        if base == "strlen":
            name, body = _name_and_rest(arg, word)
            toks = [t for t in tokenize(self._expand_line(body)) if t[0] != "ws"]
            if len(toks) != 1 or toks[0][0] != "str":
                raise AsmError(f"`{word}' requires string as second parameter")
            self._define(name, None, str(len(E.read_string(toks[0][1]))), casesense)
            return
        if base == "strcat":
            name, body = _name_and_rest(arg, word, allow_empty=True)   # (none: '')
            parts = []
            expanded = self._expand_line(body)
            for m in _TOK.finditer(expanded):
                kind, t = m.lastgroup, m.group()
                if kind == "str":
                    parts.append(_unquote(t))
                elif kind == "ws" or t == ",":
                    continue
                else:
                    if t == "%":    # (a context-local left by a missing context: one token)
                        t += _CTX_TAIL.match(expanded, m.end()).group()
                    raise AsmError(f"non-string passed to `{word}': {t}")
            self._define(name, None, quote("".join(parts)), casesense)
            return
        if base == "substr":
            name, body = _name_and_rest(arg, word)
            toks = tokenize(self._expand_line(body))
            k = 0
            while k < len(toks) and toks[k][0] == "ws":
                k += 1
            if k >= len(toks) or toks[k][0] != "str":
                raise AsmError(f"`{word}' requires a string as parameter")
            s = _unquote(toks[k][1])
            rest_text = "".join(t for _, t in toks[k + 1:]).strip()
            if rest_text.startswith(","):
                rest_text = rest_text[1:]
            from asm.parser import tokenize as asm_tokenize
            index_toks = asm_tokenize(strip_comment(rest_text).strip())
            if not index_toks or index_toks[0][0] == "COMMA":
                raise AsmError(f"`{word}' requires a starting index")
            start, end = self._eval_leading(index_toks, word)
            # NASM skips the token after the start, a comma or not (`1 2 3`: 1, then 3)
            rest = index_toks[end + 1:]
            length = self._eval_leading(rest, word)[0] if rest else 1
            slen = len(s)
            if length < 0:
                length += slen - start + 2
            start = max(start - 1, 0)       # NASM 2.16.01 clamps a start before the string
            piece = s[start:start + max(length, 0)] if start < slen else ""
            self._define(name, None, quote(piece), casesense)
            return
        if word in ("%defalias", "%idefalias"):
            parts = arg.split()
            if len(parts) != 2 or not all(map(_MACRO_WORD.match, parts)):
                raise AsmError(f"`{word}' expects a macro identifier" if not parts or
                               not _MACRO_WORD.match(parts[0])
                               else f"`{word}' expects a macro identifier to alias")
            self._alias(parts[0], parts[1])
            return
        if word == "%include":
            self._include(arg, file, lineno)
            return
        if word in ("%error", "%warning", "%fatal"):
            msg = self._detoken_env(self._expand_line(arg))
            toks = [t for t in tokenize(msg) if t[0] != "ws"]
            if len(toks) == 1 and toks[0][0] == "str" and not _open_string(toks[0][1]):
                msg = _unquote(toks[0][1])
            if word == "%warning":
                self._warn(f"{msg} [-w+user]", loc_file, loc_line)
            else:
                e = self._err(msg, loc_file, loc_line, trace)
                if word == "%fatal":
                    self.fatal = True
                    e.severity = "fatal"
                else:           # (NASM's final pass: never when pass 1 fails)
                    e.final_pass_only = True
            return
        if word == "%push":
            name = arg.split()[0] if arg.split() else ""
            if name and not _MACRO_WORD.match(name):
                raise AsmError("`%push' expects a context identifier")
            if len(arg.split()) > 1:
                self._warn("trailing garbage after `%push' ignored [-w+pp-trailing]",
                           loc_file, loc_line)
            self.ctx.append((name, self.unique, {}))
            self.unique += 1
            return
        if word == "%pop":
            if not self.ctx:
                raise AsmError("`%pop': context stack is empty")
            self.ctx.pop()
            return
        if word == "%repl":
            if not self.ctx:
                raise AsmError("`%repl': context stack is empty")
            name = arg.split()[0] if arg.split() else ""
            self.ctx[-1] = (name, self.ctx[-1][1], self.ctx[-1][2])
            return
        if word in ("%unmacro", "%unimacro"):
            m = re.match(r"([A-Za-z_.?@$][A-Za-z0-9_$#@~.?]*)\s*(.*)$", arg, re.DOTALL)
            if not m:
                raise AsmError(f"`{word}' expects a macro name")
            # (NASM reads the counts as %macro does, its errors reported, then removes)
            nmin, nmax, plus, _, defaults, errors = _macro_spec(word, m.group(2).strip())
            for message in errors:
                self._err(message, loc_file, loc_line)
            if defaults and not plus and nmax >= 0 and len(defaults) > nmax - nmin:
                self._warn(f"too many default macro parameters in macro `{m.group(1)}' "
                           "[-w+pp-macro-defaults]", loc_file, loc_line)
            table = self.mmacros if word == "%unmacro" else self.immacros
            key = m.group(1) if word == "%unmacro" else m.group(1).lower()
            # (only the macro of exactly these counts goes, as in NASM)
            kept = [mac for mac in table.get(key, ())
                    if (mac.nmin, mac.nmax, mac.greedy) != (nmin, nmax, plus)]
            if kept:
                table[key] = kept
            else:
                table.pop(key, None)
            self._macros_changed()
            return
        if word == "%line":
            _line_directive(arg, 0, None)   # (in a macro's body: checked, no effect)
            return
        if word in ("%arg", "%local"):
            self._arg_local(word, arg)
            return
        if word == "%stacksize":
            kind = arg.split()[0].lower() if arg.split() else ""
            if not kind:
                raise AsmError("`%stacksize' missing size parameter")
            # NASM's settings: (slot size, frame register, first %arg offset)
            setting = {"flat": (4, "ebp", 8), "flat64": (8, "rbp", 16),
                       "large": (2, "bp", 4), "small": (2, "bp", 6)}.get(kind)
            if setting is None:
                raise AsmError("`%stacksize' invalid size type")
            self.stack_size, self.stack_ptr, self.arg_offset = setting
            self.local_offset = 0
            return
        if word == "%use":
            self._use(arg, file, lineno)
            return
        if word == "%depend":
            name = arg
            if arg[:1] in ("'", '"', "`"):
                name = _unquote(arg)
            elif arg.startswith("<") and arg.endswith(">"):
                name = arg[1:-1]
            if name:
                self.depend(name)
            return
        if word == "%clear":
            self._clear(arg, loc_file, loc_line)
            return
        if word == "%aliases":
            self._aliases(arg)
            return
        if word in ("%pragma", "%warning"):
            return
        raise AsmError(f"unknown preprocessor directive `{word}'")

    def _clear(self, arg: str, file: str, line: int) -> None:
        """%clear: every global single-line and multi-line macro (the standard ones too)
        goes, context-local ones stay. NASM 2.16.01 loops forever on its options
        (`%clear define`...): pyasm clears everything for them."""
        word = arg.split(None, 1)[0] if arg.split() else ""
        if word and not _IDENT.match(word):
            self._warn("trailing garbage after `%clear' ignored [-w+pp-trailing]", file, line)
            return
        if word and word.lower() not in _CLEAR_OPTIONS:
            raise AsmError(f"invalid option to %clear: {word}")
        self.smacros = {k: v for k, v in self.smacros.items() if k.startswith("..@")}
        self.ismacros = {k: v for k, v in self.ismacros.items() if k.startswith("..@")}
        self.mmacros, self.immacros = {}, {}
        self.alias_names = set()

    def _aliases(self, arg: str) -> None:
        """%aliases on|off or a constant expression, checked as NASM reads it (pyasm
        always expands aliases)."""
        text = self._expand_line(arg).strip()
        first = _SPEC_TOKEN.match(text)
        if not text or first.group().lower() in ("no", "yes", "false", "true", "off", "on"):
            return      # (NASM reads the first token only: `%aliases on off` is on)
        try:
            self._eval(text, "%aliases")
        except AsmError as exc:
            if exc.message != "non-constant value given to `%aliases'":
                raise
            raise AsmError("boolean flag expression must be a constant") from None

    def _use(self, arg: str, file: str = "", lineno: int = 0) -> None:
        """%use PACKAGE: NASM's standard macro packages that pyasm has."""
        name = arg.strip().strip("'\"`").lower()
        if not name:
            raise AsmError("`%use' expects a package name")
        flag = f"__?USE_{name.upper()}?__"
        if name not in ("ifunc", "smartalign", "fp", "altreg", "masm"):
            raise AsmError(f"unknown `%use' package: `{name}'")
        if self._is_smacro(flag):
            return                      # a package is loaded once
        self._define(flag, None, "", True)
        if name == "ifunc":
            for f, body in (("ilog2", "(__?ilog2e?__(x))"), ("ilog2e", "(__?ilog2e?__(x))"),
                            ("ilog2w", "(__?ilog2w?__(x))"), ("ilog2f", "(__?ilog2f?__(x))"),
                            ("ilog2c", "(__?ilog2c?__(x))"), ("ilog2fw", "(__?ilog2w?__(x))"),
                            ("ilog2cw", "(__?ilog2w?__(x) * 0 + __?ilog2c?__(x))")):
                self._define(f, ["x"], body, True)
            return
        if name == "fp":                # (NASM 2.16's macros/fp.mac)
            for f in ("Inf", "NaN", "QNaN", "SNaN"):
                self._define(f, None, _FP_CONSTANTS[f], True)
            for f in _FP_FUNCTIONS:
                self._define(f, ["x"], f"__?{f}?__(x)", True)
            return
        if name == "altreg":            # (NASM 2.16's macros/altreg.mac)
            for alias, reg in _ALTREG:
                self._define(alias, None, reg, False)
            return
        if name == "masm":
            text = _MASM_MAC
        else:
            from asm.smartalign import macros
            text = macros()
        package = _Source("file", [(t, "<stdmac>", i + 1) for i, t in
                                   enumerate(text.splitlines())], file="<stdmac>")
        package.nolist = True       # (a package's lines are not listed)
        # (NASM reads a package's lines at the %use line: -E's %line, diagnostics)
        package.inv_file, package.inv_line = file, lineno
        self.sources.append(package)

    def _arg_local(self, word: str, arg: str) -> None:
        """%arg and %local: name:size pairs as frame-relative %defines (and, for %local,
        the context's %$localsize grown), slots rounded up to the %stacksize."""
        sizes = {"byte": 1, "word": 2, "dword": 4, "qword": 8, "tword": 10, "oword": 16,
                 "yword": 32, "zword": 64}
        if not arg:
            raise AsmError(f"`{word}' missing argument parameter")
        for item in arg.split(","):
            name, colon, kind = (x.strip() for x in item.partition(":"))
            if not name or not colon:
                raise AsmError(f"syntax error processing `{word}' directive")
            if not kind:
                raise AsmError(f"`{word}' missing size type parameter")
            size = sizes.get(self._expand_line(kind).strip().lower())
            if size is None:
                raise AsmError(f"invalid size type for `{word}' missing directive")
            size = -(-size // self.stack_size) * self.stack_size
            if word == "%arg":
                self._define(name, None, f"({self.stack_ptr}+{self.arg_offset})", True)
                self.arg_offset += size
            else:
                self.local_offset += size
                self._define(name, None, f"({self.stack_ptr}-{self.local_offset})", True)
                if not self.ctx:
                    raise AsmError("`%$localsize': context stack is empty")
                name = self._ctx_name("%$localsize")
                cur = self._find_smacro(name, None)
                if cur is None:
                    raise AsmError("expression syntax error")
                v = self._eval(self._expand_line(f"{cur.body}+{size}"), "%assign")
                self._define(name, None, str(v), True)

    def _define_directive(self, arg: str, casesense: bool, expand: bool,
                          word: str = "%define") -> None:
        m = re.match(r"(%?\$*[A-Za-z_.?@$][A-Za-z0-9_$#@~.?]*)(\(([^)]*)\))?(.*)$", arg,
                     re.DOTALL)
        if not m:
            raise AsmError(f"`{word}' expects a macro identifier")
        name = m.group(1)
        if _not_a_macro_name(name):
            raise AsmError(f"`{word}' expects a macro identifier")
        params = None
        greedy = False
        if m.group(2) is not None:
            params = [p.strip() for p in m.group(3).split(",")] if m.group(3).strip() else []
            if params and params[-1].endswith("+"):
                params[-1] = params[-1][:-1].strip()
                greedy = True
        body = m.group(4)
        if params is None and body and not body[0].isspace():
            raise AsmError(f"`{word}' expects a macro identifier")
        body = body.strip()
        if expand and params:
            body = self._expand_shielded(body, params)
        elif expand:
            body = self._expand_line(body)
        self._define(name, params, body, casesense, greedy)

    def _expand_shielded(self, body: str, params: list) -> str:
        """`%xdefine m(a) ...`: the body expanded with its parameters kept out of it
        (a parameter named as a macro stays the parameter, as in NASM)."""
        stem = "__?pyasm_param"
        while stem in body:     # (a name of that form in the source itself)
            stem += "_"
        shield = {p: f"{stem}{k}?__" for k, p in enumerate(params)}
        text = "".join(shield.get(t, t) if kind == "id" else t for kind, t in tokenize(body))
        text = self._expand_line(text)
        for p, mark in shield.items():
            text = text.replace(mark, p)
        return text

    def _begin_macro(self, word: str, arg: str, file: str, lineno: int,
                     where: tuple) -> None:
        m = re.match(r"([A-Za-z_.?@$][A-Za-z0-9_$#@~.?]*)\s*(.*)$", arg, re.DOTALL)
        if not m:
            raise AsmError(f"`{word}' expects a macro name")
        name = m.group(1)
        nmin, nmax, plus, nolist, defaults, errors = _macro_spec(word, m.group(2).strip())
        for message in errors:      # (NASM's: the macro is defined all the same)
            self._err(message, *where)
        if defaults and not plus and nmax >= 0 and len(defaults) > nmax - nmin:
            self._warn(f"too many default macro parameters in macro `{name}' "
                       "[-w+pp-macro-defaults]", where[0], where[1])
        if self._redefines(name, nmin, nmax, plus):
            self._warn(f"redefining multi-line macro `{name}' [-w+pp-macro-redef-multi]",
                       where[0], where[1])
        macro = MMacro(name, nmin, nmax, plus, nolist, defaults, [],
                       casesense=word in ("%macro", "%rmacro"),
                       recursive=word in ("%rmacro", "%irmacro"), file=file, line=lineno)
        self.defining = {"kind": "macro", "macro": macro, "lines": [], "nest": 0,
                         "nest_macro": 0, "file": file, "line": lineno}

    def _redefines(self, name: str, nmin: int, nmax: int, greedy: bool) -> bool:
        """NASM's test for its redefinition warning: a macro of the very same name (case
        and all) whose parameter counts overlap these."""
        return any(m.name == name and _overlaps(m, nmin, nmax, greedy)
                   for m in self._lookup_mmacro(name))

    def _finish_definition(self, d: dict) -> None:
        if d["kind"] != "macro":
            return
        macro = d["macro"]
        macro.body = d["lines"]
        self._macros_changed()
        table = self.mmacros if macro.casesense else self.immacros
        key = macro.name if macro.casesense else macro.name.lower()
        lst = table.setdefault(key, [])
        # redefinition with the same parameter range replaces the old one
        lst[:] = [m for m in lst if (m.nmin, m.nmax) != (macro.nmin, macro.nmax)]
        lst.append(macro)

    def _push_rep(self, d: dict, src: _Source, loc_file: str, loc_line: int,
                  trace: tuple) -> None:
        new = _Source("rep", d["lines"], file=src.file, count=d["count"],
                      cond_depth=len(self.conds))
        new.inv_file, new.inv_line = loc_file, loc_line
        new.nolist = src.nolist
        new.home = src if src.kind == "macro" else src.home
        self.sources.append(new)

    def _include(self, arg: str, file: str, lineno: int) -> None:
        arg = self._expand_line(arg).strip()
        if arg[:1] in ("'", '"', "`") and _open_string(arg):
            raise AsmError("`%include' expects a file name")
        if arg[:1] in ("'", '"', "`") or arg.startswith("<"):
            name = arg[1:-1] if arg[0] != "`" else _unquote(arg)
        else:
            name = arg
        if not name:
            raise AsmError("`%include' expects a file name")
        if sum(1 for s in self.sources if s.kind == "file") >= MAX_INCLUDE_DEPTH:
            raise AsmError(f"unable to open include file `{name}': include nested too deeply")
        found = self._read_include(name, name)
        if found is not None:
            path, text = found
            self.sources.append(_Source("file", _split(text, path), file=path))

    def _read_include(self, name: str, shown: str) -> Optional[tuple]:
        """(path, text) of an include file found as NASM looks for it (as named, then in
        each -I directory); None when -M lists a missing one instead."""
        path = None
        for cand in [name] + [os.path.join(d, name) for d in self.include_paths]:
            if os.path.isfile(cand) and access.allowed(cand):   # (pyvm's guest: asm/access.py)
                path = cand
                break
        if path is None:
            if self.deps_only:
                self.depend(name)       # NASM: assumed to be generated
                return None
            raise AsmError(f"unable to open include file `{shown}': No such file or directory")
        from formats.inputs import InputError
        try:
            text = access.read_source(path)     # (pyvm's guest: asm/access.py)
        except OSError as exc:
            raise AsmError(f"unable to open include file `{shown}': {exc.strerror}") from None
        except InputError as exc:
            raise AsmError(f"include file `{shown}': {exc}") from None
        if self.depend_includes:
            self.depend(path)
        if self.ptr_hook is not None:
            self._note_text(text)
        return path, text

    # ---- conditionals

    def _conditional(self, word: str, arg: str, file: str, line: int) -> None:
        if word in _IF_NAMES:
            parent = self._active()
            try:
                value = self._cond_value(word, arg) if parent else False
            except AsmError:
                self.conds.append(_Cond(False, parent))     # %endif still matches
                raise
            self.conds.append(_Cond(value, parent))
            return
        if not self.conds:
            raise AsmError(f"`{word}': no matching `%if'")
        c = self.conds[-1]
        if word == "%endif":
            self.conds.pop()
            return
        if word == "%else":
            if c.seen_else:
                self._warn("`%else' after `%else', ignoring content [-w+pp-else-else]",
                           file, line)
            c.seen_else = True
            c.active = c.parent_active and not c.done
            c.done = c.done or c.active
            return
        # %elifXXX
        if c.seen_else:
            self._warn(f"`{word}' after `%else', ignoring content [-w+pp-else-elif]", file,
                       line)
            c.active = False
            return
        if c.done or not c.parent_active:
            c.active = False
            return
        # NASM evaluates it in the state of the branch before, which is not emitting:
        # its errors are not shown (pp_suppress_error), and one ends the %if (COND_NEVER)
        self.quiet_elif = True
        try:
            c.active = self._cond_value("%if" + word[5:], arg)
        except AsmError:
            c.active = False
            c.done = True
            return
        finally:
            self.quiet_elif = False
        c.done = c.active

    def _defined(self, name: str) -> bool:
        """%ifdef's test of one name; a context-local with no such context is not defined
        where NASM does not show the error (an %elifdef)."""
        try:
            return self._is_smacro(self._ctx_name(name))
        except AsmError:
            if self.quiet_elif:
                return False
            raise

    def _cond_value(self, word: str, arg: str) -> bool:
        name = word[3:]
        negate = False
        if name.startswith("n") and name not in ("num",):
            negate = True
            name = name[1:]
        arg = strip_comment(arg)
        if name == "":
            v = self._eval_macro_expr(arg, "%if")
            result = bool(v)
        elif name == "def":
            words = arg.split()     # (none: NASM's is false, without a message)
            if not all(map(_MACRO_WORD.match, words)):
                raise AsmError(f"`{word}' expects macro identifiers")
            result = any(self._defined(w) for w in words)
        elif name == "defalias":
            words = arg.split()
            if not all(map(_MACRO_WORD.match, words)):
                raise AsmError(f"`{word}' expects macro identifiers")
            result = any(w in self.alias_names for w in words)     # (%undef: still one)
        elif name in ("idn", "idni"):
            a, b = _split_two(self._expand_line(arg), word)
            if name == "idni":
                a, b = a.lower(), b.lower()
            result = _norm_tokens(a) == _norm_tokens(b)
        elif name in ("num", "str", "id", "token", "empty"):
            toks = [t for t in tokenize(self._expand_line(arg)) if t[0] not in ("ws",
                                                                                 "comment")]
            if name == "empty":
                result = not toks
            elif name == "token":
                result = len(toks) == 1
            else:
                kind = {"num": "num", "str": "str", "id": "id"}[name]
                result = len(toks) == 1 and toks[0][0] == kind
                if name == "num" and toks and len(toks) == 2 and toks[0][1] == "-":
                    result = toks[1][0] == "num"
        elif name == "macro":
            parts = arg.split()
            if not parts or parts[0][:1] == "%" or not _MACRO_WORD.match(parts[0]):
                raise AsmError(f"`{word}' expects a macro name")    # (`%ifmacro %!X`)
            cands = self._lookup_mmacro(parts[0])
            if len(parts) > 1:
                # NASM: the parameter ranges overlap (`%ifmacro m 1-3`, `m 2+`, `m 1-*`)
                m = re.match(r"(\d+)(?:-(\d+|\*))?(\+)?", "".join(parts[1:]))
                lo = int(m.group(1)) if m else 0
                hi = lo if not m or m.group(2) is None else (
                    -1 if m.group(2) == "*" else int(m.group(2)))
                plus = bool(m and m.group(3))
                result = any(_overlaps(c, lo, hi, plus) for c in cands)
            else:
                result = bool(cands)
        elif name == "ctx":
            words = arg.split()
            result = bool(self.ctx) and (not words or self.ctx[-1][0] in words)
        elif name == "env":
            result = arg.strip().strip("'\"`%!") in access.environ()   # (asm/access.py)
        else:
            result = False
        return result != negate

    def _eval_macro_expr(self, text: str, what: str) -> int:
        """``_eval(_expand_line(text))`` for %assign/%if/%rep. An expression whose
        single-line macros are all plain numbers (``%assign i i+1``) is parsed once, with
        those macros as placeholders that take their current values, instead of being
        expanded and parsed again on every evaluation (a %rep loop's cost)."""
        plan = _expr_plans.get(text)
        if plan is None:
            plan = _expr_plan(text)
            if len(_expr_plans) < 50_000:
                _expr_plans[text] = plan
        if plan is not False:
            smacros, ismacros = self.smacros, self.ismacros
            values = None       # token index -> the macro's body (a plain number)
            for k, name in plan:
                d = smacros.get(name) or (ismacros.get(name.lower()) if ismacros else None)
                if not d:
                    continue
                m = d.get(-1)
                if m is None:
                    continue        # only parameterised forms: the name stays as it is
                body = m.body
                if m.dynamic is not None or not _PLAIN_INT.match(body):
                    values = False
                    break
                if values is None:
                    values = {}
                values[k] = body
            if values is not False:
                key = (text, tuple(values) if values else ())
                fn = _expr_fns.get(key)
                if fn is None:
                    fn = self._compile_plan(text, values or {})
                    if len(_expr_fns) < 50_000:
                        _expr_fns[key] = fn
                if fn is not False:
                    fn, names = fn
                    ctx = (_PPEval(None) if self.preprocess_only
                           else _PPEval(self.symbol_value, self.here_value))
                    if values:
                        ctx.placeholders = dict(zip(names, map(int, values.values())))
                    try:
                        v = fn(ctx)
                    except AsmError:
                        v = None            # the general way says what is wrong
                    if type(v) is int and not ctx.warned:
                        return v    # (a warning: the general way reports it at the line)
        return self._eval(self._expand_line(text), what)

    @staticmethod
    def _compile_plan(text: str, values: dict):
        """The compiled form of ``text`` with the identifier tokens numbered in ``values``
        replaced by placeholder symbols; False if it does not parse so."""
        from asm.parser import parse_expr_tokens
        from asm.parser import tokenize as asm_tokenize
        toks = tokenize(text)
        names = tuple(f"__?pp{k}?__" for k in values)
        for k, name in zip(values, names):
            toks[k] = ("id", name)
        try:
            return parse_expr_tokens(asm_tokenize("".join(t for _, t in toks))).fn, names
        except AsmError:
            return False

    @staticmethod
    def _parse_pp_expr(tokens: list) -> tuple:
        """(the compiled expression of a %if/%assign/%rep..., whether tokens follow it):
        NASM reads as far as an expression goes (`%rep 2 3`) and, having worked it out,
        warns about the rest."""
        from asm.parser import _expression_end, parse_expr_tokens
        try:
            return parse_expr_tokens(tokens), False
        except AsmError:
            end = _expression_end(tokens, 0) if tokens else None
            if end is None or end == len(tokens):
                raise
            return parse_expr_tokens(tokens[:end]), True

    def _undefined_before(self, tokens: list, exc: AsmError, what: str) -> None:
        """NASM works an expression out as it reads it: a symbol not defined in the
        longest part that reads as an expression is reported before the syntax error
        after it (`%if x %%`)."""
        from asm.parser import parse_expr_tokens
        if exc.message != "expression syntax error":
            return
        # (longest first; a line that reads nowhere would re-parse every prefix: at most
        # 32 of them, so `%if ) 1+1+...` stays linear)
        for k in range(len(tokens), max(len(tokens) - 32, 0), -1):
            part = tokens[:k]
            depth = sum(t[0] == "LPAR" for t in part) - sum(t[0] == "RPAR" for t in part)
            closed = [("RPAR", ")")] * max(depth, 0)
            # (a `?` left open: what follows it is read as far as it goes, then the `:`)
            open_q = sum(t[0] == "QMARK" for t in part) > sum(t[0] == "COLON" for t in part)
            try:
                ce = parse_expr_tokens(part + closed)
            except AsmError:
                if not open_q:
                    continue
                try:
                    ce = parse_expr_tokens(part + [("COLON", ":"), ("NUMBER", "0")] + closed)
                except AsmError:
                    continue
            else:
                open_q = False
            try:
                self._value_of(ce, what)
            except AsmError as inner:
                if inner.message.endswith("not defined before use"):
                    raise inner from None
            ended = k == len(tokens) or tokens[k][0] not in _OPERATOR_TOKENS
            if open_q and ended:
                raise AsmError("`?' without matching `:'") from None
            if depth > 0 and ended:
                raise AsmError("expecting `)'") from None     # (`%if ((2) x`, `%if (1`)
            return

    def _eval(self, text: str, what: str, critical: bool = False,
              param: Optional[int] = None) -> int:
        """The value of a preprocessor expression. A directive's (``%if``, ``%rep``...) is
        read as far as it goes, with a warning about the rest; a preprocessor function's
        parameter (``param``: its index) must be one whole expression, as in NASM."""
        from asm.parser import tokenize as asm_tokenize
        text = strip_comment(text).strip()
        cut = False
        if "%+" in text:
            # pasted (`%eval(1 %+ 2)`: 12); a `%+` with nothing after ends the expression
            text = _paste(text)
            m = _TRAILING_PASTE.search(text)
            if m:
                text, cut = text[:m.start()], True
        if not text:
            raise AsmError("expression syntax error")
        tokens = asm_tokenize(text)
        try:
            ce, trailing = self._parse_pp_expr(tokens)
        except AsmError as exc:
            self._undefined_before(tokens, exc, what)
            raise
        trailing = trailing or cut
        if trailing and param is not None:
            raise AsmError(f"{_BAD_PARAMETER}{param} of function `{what}'")
        v = self._value_of(ce, what)
        if trailing:
            self._warn("trailing garbage after expression ignored [-w+pp-trailing]",
                       *self._here())
        return v

    def _eval_leading(self, tokens: list, what: str) -> tuple:
        """(the value of the expression ``tokens`` start with, the index of the token after
        it), read as far as it goes, without a word about the rest (%substr's indices)."""
        from asm.parser import _expression_end, parse_expr_tokens
        end = _expression_end(tokens, 0) if tokens else None
        if end is None:
            end = len(tokens)           # (malformed: the parser's error)
        return self._value_of(parse_expr_tokens(tokens[:end]), what), end

    def _value_of(self, ce, what: str) -> int:
        """A compiled preprocessor expression worked out, with its warnings."""
        ctx = (_PPEval(None) if self.preprocess_only
               else _PPEval(self.symbol_value, self.here_value))
        v = ce.fn(ctx)
        for message in ctx.warned:
            self._warn(message if message[-1] == "]" else f"{message} [-w+other]",
                       *self._here())
        if type(v) is not int:
            raise AsmError(f"non-constant value given to `{what}'")
        return v


# --------------------------------------------------------------------------- helpers

def _overlaps(macro: MMacro, nmin: int, nmax: int, greedy: bool) -> bool:
    """Whether a macro's parameter counts overlap ``nmin``-``nmax`` (-1: `*`; ``greedy``:
    `+`), as NASM tests them (%ifmacro, its redefinition warning)."""
    return ((macro.nmin <= nmax or nmax < 0 or greedy)
            and (macro.nmax < 0 or nmin <= macro.nmax or macro.greedy))


_INCBIN_WORD = re.compile(r".*?\bincbin\b", re.I | re.S)
_PLAIN_INT = re.compile(r"-?[0-9]{1,18}\Z")
_EXPR_TOKEN_OK = frozenset("+-*/%&|^~!<>=()?:")
_expr_plans: dict = {}      # expression text -> ((token index, identifier), ...) or False
_expr_fns: dict = {}        # (text, placeholder indices) -> compiled expression or False


def _expr_plan(text: str):
    """The identifiers of a preprocessor expression that may be single-line macros, as
    (token index, name) pairs; False when the expression needs the general way (a
    preprocessor function, a string, a comment, a `$`, a call-like `name(`)."""
    if "%+" in text:
        return False        # (`1 %+ 2` pastes: 12)
    toks = tokenize(text)
    plan = []
    prev_id = False
    for k, (kind, t) in enumerate(toks):
        if kind == "ws":
            continue
        if kind == "id":
            if t[0] == "$":
                return False
            plan.append((k, t))
            prev_id = True
            continue
        if kind == "num":
            prev_id = False
            continue
        if kind != "other" or t not in _EXPR_TOKEN_OK or (t == "(" and prev_id):
            return False
        prev_id = False
    return tuple(plan)


# condition codes and their inverses for %-1 (NASM's inverse_ccs, quirks included)
_INVERSE_CC = {
    "a": "na", "ae": "nae", "b": "nb", "be": "nbe", "c": "nc", "e": "ne", "g": "ng",
    "ge": "nge", "l": "nl", "le": "nle", "na": "a", "nae": "ae", "nb": "b", "nbe": "be",
    "nc": "c", "ne": "e", "ng": "g", "nge": "ge", "nl": "l", "nle": "le", "no": "o",
    "np": "p", "ns": "s", "nz": "e", "o": "no", "p": "po", "pe": "po", "po": "pe", "s": "ns",
    "z": "nz"}

# NASM 2.16.01's preprocessor functions (no %map() yet: it came with 2.17)
PP_FUNCTIONS = frozenset(("eval", "abs", "cond", "sel", "count", "str", "strlen", "strcat",
                          "substr", "tok", "num") + tuple("is" + b[2:] for b in _COND_BASE
                                                          if b != "if"))
_PP_FUNC = re.compile(r"%(?:" + "|".join(sorted(PP_FUNCTIONS)) + r")\s*\(", re.I)


def _paste_tokens(toks: list) -> str:
    """Tokens -> text, ``a %+ b`` pasted as ``ab`` (blanks around ``%+`` dropped)."""
    out: list = []
    i, n = 0, len(toks)
    while i < n:
        t = toks[i][1]
        if t == "%" and i + 1 < n and toks[i + 1][1] == "+":
            j = i + 2
            while j < n and toks[j][0] == "ws":
                j += 1
            if j < n and toks[j][0] != "comment":
                while out and out[-1].isspace():
                    out.pop()
                i = j
                continue
            # (nothing to paste with: `%+` stays, an expression syntax error as in NASM)
        out.append(t)
        i += 1
    return "".join(out)


def _paste(text: str) -> str:
    """``a %+ b`` -> ``ab`` outside strings."""
    return _PASTE.sub(lambda m: m.group(1) or "", text)


_TRAILING_PASTE = re.compile(r"\s*%\+\s*\Z")
# what may paste or read a word together: `%+`, `%!ENV`, a macro parameter (`%1%2`)
_MAY_PASTE = re.compile(r"%(?:[+!]|\{?-?[0-9])")
_PASTE = re.compile(r"""('[^']*'|"[^"]*"|`(?:\\.|[^`\\])*`)|\s*%\+\s*(?=[^\s;])""")


_LINE_WORD = re.compile(r"\s*%line(?![^\s;])", re.IGNORECASE)
_LINE_ARGS = re.compile(r"([^\s+]*)(?:\s*\+\s*([^\s+]*))?\s*(.*)$", re.DOTALL)


def _line_directive(arg: str, at: int, name: Optional[str]) -> tuple:
    """`%line N[+M] [name]` (comment stripped) at original line ``at``: the remap of the
    file's later lines (_Source.remap); ``name`` is the file name an earlier %line gave.
    As NASM 2.16, the line after the directive is N + M (not N)."""
    m = _LINE_ARGS.match(arg)
    try:
        first = E.read_number(m.group(1)) if m.group(1)[:1].isdigit() else None
    except AsmError:
        first = None
    if first is None:
        raise AsmError("`%line' expects a line number")
    inc = 1
    if m.group(2) is not None:
        try:
            inc = E.read_number(m.group(2)) if m.group(2)[:1].isdigit() else None
        except AsmError:
            inc = None
        if inc is None:
            raise AsmError("`%line' expects a line increment")
    given = m.group(3).strip()
    if len(given) >= 2 and given[0] in "\"'`" and given[-1] == given[0]:
        given = given[1:-1]
    return (at, first, inc, given or name)


def _remapped(remap: tuple, file: str, lineno: int) -> tuple:
    """(file, line) of a line of a file under `%line` (see _Source.remap)."""
    at, first, inc, name = remap
    return (name or file), first + inc * (lineno - at)


def _split(text: str, filename: str) -> list:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if "\r" not in text and "\\\n" not in text and not text.endswith("\\"):
        # no CR to drop and no line continued: one entry per line
        return list(zip(lines, itertools.repeat(filename), range(1, len(lines) + 1)))
    out = []
    pending = None
    start = 0
    for i, line in enumerate(lines):
        if line.endswith("\r"):
            line = line[:-1]
        if pending is not None:
            line = pending + line
        else:
            start = i
        if line.endswith("\\") and not line.rstrip().startswith(";"):
            pending = line[:-1]
            continue
        pending = None
        out.append((line, filename, start + 1))
    if pending is not None:
        out.append((pending, filename, start + 1))
    return out


def _split_call_args(toks: list, j: int):
    """Arguments of ``name(a, b)`` starting at the '(' token; -> (args, index after ')')."""
    depth = 0
    args: list = [[]]
    k = j
    n = len(toks)
    while k < n:
        kind, t = toks[k]
        if t == "(" and kind == "other":
            depth += 1
            if depth > 1:
                args[-1].append(toks[k])
        elif t == ")" and kind == "other":
            depth -= 1
            if depth == 0:
                result = [_trim(a) for a in args]
                if len(result) == 1 and not result[0]:
                    result = []
                return result, k + 1
            args[-1].append(toks[k])
        elif t == "," and kind == "other" and depth == 1:
            args.append([])
        elif t == "{" and kind == "other" and depth == 1:
            # braces group an argument containing commas
            k += 1
            while k < n and toks[k][1] != "}":
                args[-1].append(toks[k])
                k += 1
        else:
            args[-1].append(toks[k])
        k += 1
    return None, j


def _trim(toks: list) -> list:
    while toks and toks[0][0] == "ws":
        toks = toks[1:]
    while toks and toks[-1][0] == "ws":
        toks = toks[:-1]
    return toks


def _join_args(args: list) -> list:
    out: list = []
    for i, a in enumerate(args):
        if i:
            out.append(("other", ","))
        out.extend(a)
    return out


def _split_macro_args(text: str) -> list:
    """Multi-line macro arguments: commas at top level, ``{...}`` groups (braces dropped)."""
    if not text:
        return []
    args = []
    cur: list = []
    i, n = 0, len(text)
    brace = False
    while i < n:
        ch = text[i]
        if ch in "'\"`":
            m = _TOK.match(text, i)
            tok = m.group() if m else ch
            cur.append(tok)
            i += len(tok)
            continue
        if ch == ";":
            break
        if ch == "{" and not "".join(cur).strip():
            depth = 1
            j = i + 1
            while j < n and depth:
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                j += 1
            cur = [text[i + 1:j - 1]]
            brace = True
            i = j
            continue
        if ch == ",":
            args.append("".join(cur) if brace else "".join(cur).strip())
            cur = []
            brace = False
            i += 1
            continue
        cur.append(ch)
        i += 1
    last = "".join(cur) if brace else "".join(cur).strip()
    args.append(last)
    return args


def _rejoin(rest: str, skip: int) -> str:
    """The text after the first ``skip`` top-level commas (a greedy last parameter)."""
    text = strip_comment(rest).strip()
    if skip <= 0:
        return text
    count = 0
    i = 0
    quote_ch = None
    while i < len(text):
        ch = text[i]
        if quote_ch:
            if ch == quote_ch:
                quote_ch = None
        elif ch in "'\"`":
            quote_ch = ch
        elif ch == ",":
            count += 1
            if count == skip:
                return text[i + 1:].strip()
        i += 1
    return ""


def _split_top_commas(text: str) -> list:
    parts = []
    depth = 0
    cur = []
    for kind, t in tokenize(text):
        if kind == "other" and t == "(":
            depth += 1
        elif kind == "other" and t == ")":
            depth -= 1
        if kind == "other" and t == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(t)
    parts.append("".join(cur))
    return parts


def _split_two(text: str, word: str) -> tuple:
    parts = _split_top_commas(text)
    if len(parts) < 2:
        raise AsmError(f"`{word}' expects two comma-separated arguments")
    return parts[0], ",".join(parts[1:])


def _norm_tokens(text: str) -> list:
    return [t for k, t in tokenize(text) if k not in ("ws", "comment")]


_PERCENT_FREE: dict = {}    # line text -> True when _subst_percent leaves it as it is


def _percent_free(text: str) -> bool:
    """No %-construct that step one substitutes (a parameter, a local label, a context
    local, an environment variable...), so the line's text does not depend on where it
    is expanded."""
    return all(m.lastgroup in ("str", "comment", "paste") for m in
               _STRING_OR_PCT.finditer(text))


_ASSIGN_LINES: dict = {}    # line text -> (name, expression, case-sensitive) or False


def _assign_line(raw: str):
    """An `%assign`/`%iassign` line whose text does not depend on where it is expanded,
    split as _directive splits it; False for any other line."""
    m = _DIRECTIVE.match(raw)
    if (m is None or m.group(1).lower() not in ("%assign", "%iassign")
            or not _percent_free(raw)):
        return False
    arg = strip_comment(m.group(2)).strip()
    if "%[" in arg:
        return False
    try:
        name, expr_text = _name_and_rest(arg, m.group(1).lower())
    except AsmError:
        return False
    return name, expr_text, m.group(1).lower() == "%assign"


_MACRO_NAME = re.compile(r"(%?\$*[A-Za-z_.?@$][A-Za-z0-9_$#@~.?]*)(.*)$", re.DOTALL)


_OPERATOR_TOKENS = ("PLUS", "MINUS", "BINOP", "QMARK", "COLON")
_OPEN_BRACES = "unterminated %{...} construct (missing `}') [-w+pp-open-brackets]"
_EMPTY_BRACES = "empty %{} construct expands to the % operator [-w+pp-empty-braces]"


def _brace_warnings(text: str) -> list:
    """NASM's warnings as it reads a line's `%{` constructs (unterminated, empty)."""
    out = []
    for m in _STRING_OR_PCT.finditer(text):
        g = m.lastgroup
        if g == "open":
            out.append(_OPEN_BRACES)
            if m.group(g) == "{":
                out.append(_EMPTY_BRACES)
        elif g == "tail" and m.group("brace") == "{}":
            out.append(_EMPTY_BRACES)
    return out


def _not_a_macro_name(name: str) -> bool:
    """`$`, `$$` and `%$` are no macro identifiers for NASM (`%$$` is: a context's)."""
    return name == "%$" or not name.strip("$")


def _name_and_rest(arg: str, word: str, allow_empty: bool = False) -> tuple:
    m = _MACRO_NAME.match(arg)
    if not m or _not_a_macro_name(m.group(1)):
        raise AsmError(f"`{word}' expects a macro identifier")
    rest = m.group(2)
    if not rest.strip() and not allow_empty:
        raise AsmError("expression syntax error" if "assign" in word
                       else f"`{word}' requires a string as parameter" if "substr" in word
                       else f"`{word}' requires string as second parameter")
    return m.group(1), rest


_DIRECTIVES = frozenset("""
%define %idefine %xdefine %ixdefine %undef %iundef %assign %iassign %defstr %idefstr
%deftok %ideftok %strlen %istrlen %strcat %istrcat %substr %isubstr %defalias %idefalias
%undefalias
%rep %endrep %exitrep %endmacro %endm %exitmacro %rotate %include %error %warning %fatal
%push %pop %repl %unmacro %unimacro %line %pragma %clear %arg %stacksize %local %use
%depend %aliases %null
""".split())


# NASM's standard macro package (macros/standard.mac, the parts that apply here).
STANDARD_MACROS = r"""
%imacro section 1+.nolist
%define __?SECT?__ [section %1]
__?SECT?__
%endmacro
%imacro segment 1+.nolist
%define __?SECT?__ [segment %1]
__?SECT?__
%endmacro
%define __?SECTALIGN_ALIGN_UPDATES_SECTION?__ 1
%imacro sectalign 1+.nolist
%ifidni %1,off
%define __?SECTALIGN_ALIGN_UPDATES_SECTION?__ 0
%elifidni %1,on
%define __?SECTALIGN_ALIGN_UPDATES_SECTION?__ 1
%else
[sectalign %1]
%endif
%endmacro
%imacro absolute 1+.nolist
%define __?SECT?__ [absolute %1]
__?SECT?__
%endmacro
%imacro struc 1-2.nolist 0
%push
%define %$strucname %1
[absolute %2]
%$strucname:
%endmacro
%imacro endstruc 0.nolist
%{$strucname}_size equ ($-%$strucname)
%pop
__?SECT?__
%endmacro
%imacro istruc 1.nolist
%push
%define %$strucname %1
%$strucstart:
%endmacro
%imacro at 1-2+.nolist
%defstr %$member %1
%substr %$member1 %$member 1
%ifidn %$member1,'.'
times (%$strucname %+ %1-%$strucname)-($-%$strucstart) db 0
%else
times (%1-%$strucname)-($-%$strucstart) db 0
%endif
%2
%endmacro
%imacro iend 0.nolist
times %{$strucname}_size-($-%$strucstart) db 0
%pop
%endmacro
%imacro align 1-2+.nolist nop
%if __?SECTALIGN_ALIGN_UPDATES_SECTION?__
sectalign %1
%endif
times (((%1) - (($-$$) % (%1))) % (%1)) %2
%endmacro
%imacro alignb 1-2+.nolist
%if __?SECTALIGN_ALIGN_UPDATES_SECTION?__
sectalign %1
%endif
%ifempty %2
resb (((%1) - (($-$$) % (%1))) % (%1))
%else
times (((%1) - (($-$$) % (%1))) % (%1)) %2
%endif
%endmacro
%imacro bits 1+.nolist
[bits %1]
%endmacro
%imacro use16 0.nolist
[bits 16]
%endmacro
%imacro use32 0.nolist
[bits 32]
%endmacro
%imacro extern 1-*.nolist
%rep %0
[extern %1]
%rotate 1
%endrep
%endmacro
%imacro static 1-*.nolist
%rep %0
[static %1]
%rotate 1
%endrep
%endmacro
%imacro global 1-*.nolist
%rep %0
[global %1]
%rotate 1
%endrep
%endmacro
%imacro required 1-*.nolist
%rep %0
[required %1]
%rotate 1
%endrep
%endmacro
%imacro common 1-*.nolist
%rep %0
[common %1]
%rotate 1
%endrep
%endmacro
%imacro cpu 1+.nolist
[cpu %1]
%endmacro
%imacro incbin 1-2+.nolist 0
%endmacro
%imacro default 1+.nolist
[default %1]
%endmacro
%imacro float 1+.nolist
[float %1]
%endmacro
"""
# the output format's own macros (NASM's outmac): `%ifmacro org` is true for bin only
FORMAT_MACROS = {"bin": """%imacro org 1+.nolist
[org %1]
%endmacro
"""}
