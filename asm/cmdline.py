"""pyasm's command line, read the way NASM 2.16 reads its own (asm/nasm.c process_arg).

Options are read twice, as NASM does: the first reading settles the output format, the
include path, the error file and the like, the second the input and output names,
pre-definitions and dependency options, so messages come in NASM's order, with NASM's
wording (``pyasm`` for ``nasm``) and exit status. ``NASMENV``, ``@file`` and ``-@ file``
are read as NASM reads them. Options NASM has that pyasm cannot honour are refused with
a message that says so, never silently accepted.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence, TextIO

from formats.plainrecord import field, record

PROG = "pyasm"

# NASM's output formats (-hf); pyasm writes bin and elf32 (and its own b32 and v16)
NASM_FORMATS = ("bin", "ith", "srec", "aout", "aoutb", "coff", "elf32", "elf64", "elfx32",
                "as86", "obj", "win32", "win64", "ieee", "macho32", "macho64", "dbg", "elf",
                "macho", "win")
FORMAT_ALIASES = {"elf": "elf32"}
PYASM_FORMATS = ("bin", "elf32", "b32", "v16")
DEBUG_FORMATS = {"elf32": ("dwarf", "stabs")}
LIMITS = ("passes", "stalled-passes", "macro-levels", "macro-tokens", "mmacros", "rep",
          "eval", "lines")
# long options: name -> (kind, takes an argument: "yes" | "no" | "maybe")
_LONG = {"v": ("version", "no"), "version": ("version", "no"), "help": ("help", "no"),
         "abort-on-panic": ("abort", "no"), "prefix": ("gprefix", "yes"),
         "postfix": ("gpostfix", "yes"), "gprefix": ("gprefix", "yes"),
         "gpostfix": ("gpostfix", "yes"), "lprefix": ("lprefix", "yes"),
         "lpostfix": ("lpostfix", "yes"), "include": ("include", "yes"),
         "pragma": ("pragma", "yes"), "before": ("before", "yes"),
         "limit-": ("limit", "yes"), "keep-all": ("keep-all", "no"),
         "no-line": ("no-line", "no"), "debug": ("debug", "maybe"),
         "reproducible": ("reproducible", "no"), "origin": ("origin", "yes")}


class Exit(Exception):
    """Stop now with this status (the messages are already written)."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


@record
class Options:
    """What the command line asks for."""
    inname: Optional[str] = None
    outname: Optional[str] = None
    listname: Optional[str] = None
    errname: Optional[str] = None
    fmt: Optional[str] = None           # None: from the output name or the source
    optimize: int = 2
    include_paths: list = field(default_factory=list)
    pre: list = field(default_factory=list)     # see asm.preproc.Preprocessor(pre=)
    warnings: list = field(default_factory=list)
    errors_to_stdout: bool = False
    debug: bool = False
    debug_format: Optional[str] = None
    preprocess: bool = False            # -E
    assemble: bool = True               # False under -M/-MG: dependencies only
    depend: bool = False                # -M, -MG, -MD: write dependencies
    depend_missing_ok: bool = False     # -MG
    depend_phony: bool = False          # -MP
    depend_file: Optional[str] = None   # -MF/-MD FILE ("-" or None: stdout)
    depend_target: Optional[str] = None  # -MT / -MQ
    depend_target_quoted: bool = False  # -MQ: quoted for make when written
    wmake: bool = False                 # -MW
    origin: Optional[str] = None        # pyasm's --origin (b32)
    show_passes: bool = False           # -Ov
    error_format: str = "gnu"           # -X: gnu or vc
    stop: bool = False                  # `--` read (NASM never resets it between readings)


class _Reader:
    """One reading of the arguments (NASM's parse_cmdline for one pass)."""

    def __init__(self, opts: Options, pass_no: int, err: TextIO):
        self.o = opts
        self.pass_no = pass_no
        self._err = err
        self.failed = False         # NASM's terminate_after_phase
        self.usage = False          # NASM's want_usage

    # ---- messages

    @property
    def err(self) -> TextIO:
        """Where messages go: -s sends them to stdout as soon as it is read."""
        import sys
        return sys.stdout if self.o.errors_to_stdout else self._err

    def _where(self) -> str:
        return self.o.inname if self.o.inname else PROG

    def error(self, message: str) -> None:
        """nasm_nonfatalf(ERR_USAGE, ...): reported, the run stops after this reading."""
        print(f"{self._where()}: error: {message}", file=self.err)
        self.failed = True

    def fatal(self, message: str, usage: bool = True) -> None:
        print(f"{self._where()}: fatal: {message}", file=self.err)
        if usage:
            print(f"Type {PROG} -h for help.", file=self.err)
        raise Exit(1)

    def warning(self, message: str) -> None:
        print(f"{PROG}: warning: {message}", file=self.err)

    # ---- one argument

    def _param(self, p: str, q: Optional[str]) -> tuple:
        """get_param: (value or None, whether the next argument was taken)."""
        if len(p) > 2:
            return p[2:].lstrip(" \t"), False
        if q:
            return q, True
        self.error(f"option `-{p[1]}' requires an argument")
        return None, False

    def arg(self, p: Optional[str], q: Optional[str]) -> bool:
        """process_arg: handle ``p`` (``q`` is the next argument); True when ``q`` was
        taken as ``p``'s value."""
        if not p:
            return False
        o, first = self.o, self.pass_no == 1
        if p[0] != "-" or o.stop or len(p) == 1:
            if not first:
                if p[0] == "-" and len(p) == 1:
                    self.fatal("reading the source from standard input (`-') is not "
                               "supported")
                self._copy("inname", p, "input")
            return False
        c = p[1]
        advance = False
        param = None
        if c in "oOfpPdDiIlLFXuUZwW":
            param, advance = self._param(p, q)
            if param is None:
                return advance
        if c == "s":
            if first:
                o.errors_to_stdout = True
        elif c == "o":
            if not first:
                self._copy("outname", param, "output")
        elif c == "f":
            if first:
                name = param.lower()
                if name not in NASM_FORMATS and name not in PYASM_FORMATS:
                    self.fatal(f"unrecognised output format `{param}' - use -hf for a list")
                name = FORMAT_ALIASES.get(name, name)
                if name not in PYASM_FORMATS:
                    self.fatal(f"output format `{param}' is not supported by {PROG} "
                               f"(it writes {', '.join(PYASM_FORMATS)})")
                o.fmt = name
        elif c == "O":
            if first:
                self._optimize(param)
        elif c in "pP":
            if not first:
                o.pre.append(("include", param))
        elif c in "dD":
            if not first:
                name, eq, value = param.partition("=")
                o.pre.append(("define", name, value if eq else None))
        elif c in "uU":
            if not first:
                o.pre.append(("undef", param))
        elif c in "iI":
            if first:
                o.include_paths.append(param)
        elif c == "l":
            if not first:
                self._copy("listname", param, "listing")
        elif c == "L":
            pass        # listing flags: pyasm's listing has NASM's default layout only
        elif c == "Z":
            if first:
                self._copy("errname", param, "error")
        elif c == "F":
            if first:
                o.debug = True
                o.debug_format = param
        elif c == "X":
            if first:
                low = param.lower()
                if low in ("vc", "msvc", "ms"):
                    o.error_format = "vc"
                elif low in ("gnu", "gcc"):
                    o.error_format = "gnu"
                else:
                    self.fatal(f"unrecognized error reporting format `{param}'")
        elif c == "g":
            if first:
                o.debug = True
                if len(p) > 2:
                    o.debug_format = p[2:].lstrip(" \t")
        elif c == "h":
            print_help()
            raise Exit(0)
        elif c == "y":
            print_debug_formats()
            raise Exit(0)
        elif c == "v":
            print_version()
            raise Exit(0)
        elif c == "t":
            if first:
                self.fatal(f"TASM compatibility mode (-t) is not supported by {PROG}",
                           usage=False)
        elif c in "eE":
            if first:
                o.preprocess = True
        elif c == "a":
            if first:
                self.fatal(f"assembling without the preprocessor (-a) is not supported by "
                           f"{PROG}", usage=False)
        elif c in "wW":
            if not first:
                o.warnings.append(param)
        elif c == "M":
            advance = self._depend(p, q)
        elif c == "-":
            advance = self._long(p[2:], q)
        else:
            self.error(f"unrecognised option `-{c}'")
        return advance

    def _copy(self, attr: str, value: str, what: str) -> None:
        if getattr(self.o, attr) is not None:
            self.fatal(f"more than one {what} file specified: {value}\n", usage=False)
        setattr(self.o, attr, value)

    def _optimize(self, param: str) -> None:
        if not param:
            self.o.optimize = 2
            return
        i = 0
        while i < len(param):
            ch = param[i]
            if ch.isdigit():
                j = i
                while j < len(param) and param[j].isdigit():
                    j += 1
                level = int(param[i:j])
                self.o.optimize = level if level < 2 else 2
                i = j
            elif ch in "v+":
                self.o.show_passes = True
                i += 1
            elif ch == "x":
                self.o.optimize = 2
                i += 1
            else:
                self.fatal(f"unknown optimization option -O{ch}\n", usage=False)

    def _depend(self, p: str, q: Optional[str]) -> bool:
        o = self.o
        sub = p[2:3]
        advance = False
        if self.pass_no == 1:
            if sub == "W":
                o.wmake = True
            elif sub and sub in "DFTQ":
                advance = True      # NASM takes the next argument here, even for -MD
        else:
            if sub == "":
                o.depend, o.assemble, o.preprocess = True, False, False
            elif sub == "G":
                o.depend, o.assemble, o.preprocess = True, False, False
                o.depend_missing_ok = True
            elif sub == "P":
                o.depend_phony = True
            elif sub == "D":
                o.depend = True
                if q and (q[0] != "-" or len(q) == 1):
                    o.depend_file = q
                    advance = True
            elif sub == "F":
                o.depend_file = q
                advance = True
            elif sub == "T":
                o.depend_target, o.depend_target_quoted = q, False
                advance = True
            elif sub == "Q":
                o.depend_target, o.depend_target_quoted = q, True
                advance = True
            elif sub == "W":
                pass
            else:
                self.error(f"unknown dependency option `-M{sub}'")
        if advance and not q:
            self.error(f"option `-M{sub}' requires a parameter")
            return False
        return advance

    def _long(self, text: str, q: Optional[str]) -> bool:
        if not text:
            self.o.stop = True
            return False
        found = None
        for label, spec in _LONG.items():
            if not text.lower().startswith(label):
                continue
            if label.endswith("-") or len(text) == len(label) or text[len(label)] == "=":
                found = (label, spec)
                break
        if found is None:
            self.error(f"unrecognized option `--{text}'")
            return False
        label, (kind, need) = found
        head, eq, param = text[len(label):].partition("=")
        name = text if not eq else text[:len(label) + len(head)]
        value: Optional[str] = param if eq else None
        advance = False
        if need == "yes" and value is None:
            value, advance = q, True
            if value is None:
                self.error(f"option `--{name}' requires an argument")
                return False
        elif need == "no" and value is not None:
            self.error(f"option `--{name}' does not take an argument")
            return False
        first = self.pass_no == 1
        o = self.o
        if kind == "version":
            print_version()
            raise Exit(0)
        if kind == "help":
            print_help()
            raise Exit(0)
        if kind in ("gprefix", "lprefix", "gpostfix", "lpostfix"):
            if not first:
                # what NASM's set_label_mangle does (the assembler's, not a line: -E
                # shows none; unlike the pragma's, these postfixes hold in ELF)
                o.pre.append(("affix", kind, value))
        elif kind == "include":
            if not first:
                # NASM 2.16.01 pre-includes the *next* argument even after `=`
                o.pre.append(("include", q if eq and q else value))
        elif kind == "pragma":
            if not first:
                o.pre.append(("line", f"%pragma {value}"))
        elif kind == "before":
            if not first:
                o.pre.append(("line", value))
        elif kind == "limit":
            if first:
                self._limit(head, value)
        elif kind == "keep-all":
            if first:
                self.fatal(f"--keep-all is not supported by {PROG} (a failed run never "
                           "leaves an output file)", usage=False)
        elif kind == "origin":
            if not first:
                o.origin = value
        # --no-line: pyasm never applies %line directives; --reproducible: pyasm's output
        # never holds a time or a version; --abort-on-panic, --debug: NASM's own
        # debugging aids, with nothing to do in pyasm
        return advance

    def _limit(self, name: str, value: str) -> None:
        if name.lower() not in LIMITS:
            self.warning(f"unknown limit: `{name}' [-w+other]")
            return
        v = value.strip().lower()
        if v != "unlimited":
            from asm.errors import AsmError
            from asm.expr import read_number
            try:
                if read_number(v) < 0:
                    raise AsmError(v)
            except (AsmError, ValueError, IndexError):
                self.warning(f"invalid limit value: `{value}' [-w+other]")
                return
        self.fatal(f"--limit-{name.lower()} is not supported by {PROG} (its limits are "
                   "fixed)", usage=False)


def _split_args(text: str) -> list:
    """NASM's process_args: NASMENV and @file lines are split at blanks, or at the first
    character when it is not a `-` (then the separator)."""
    sep = " "
    if text and text[0] != "-":
        sep, text = text[0], text[1:]
    return [a for a in text.split(sep) if a]


def _read_all(args: list, reader: _Reader) -> None:
    i = 0
    while i < len(args):
        p = args[i]
        q = args[i + 1] if i + 1 < len(args) else None
        i += 1
        if p.startswith("@"):
            # a response file: its lines are read as NASMENV is
            try:
                with open(p[1:], encoding="utf-8", errors="surrogateescape") as f:
                    lines = f.read().splitlines()
            except OSError as exc:
                print(f"{p[1:]}: {exc.strerror}", file=reader.err)
                raise Exit(255) from None       # NASM's exit(-1)
            for line in lines:
                _read_all(_split_args(line.rstrip("\r\n\x1a")), reader)
            continue
        if not reader.o.stop and p.startswith("-@"):
            name, advance = reader._param(p, q)
            if advance:
                i += 1
            if name is not None:
                try:
                    with open(name, encoding="utf-8", errors="surrogateescape") as f:
                        lines = [ln.strip() for ln in f.read().splitlines()]
                except OSError:
                    reader.error(f"unable to open response file `{name}'")
                    continue
                _read_all([ln for ln in lines if ln], reader)
            continue
        if reader.arg(p, q):
            i += 1


def parse(argv: Sequence[str], err: TextIO) -> Options:
    """Read the command line (after NASMENV); raises Exit after printing NASM's messages."""
    opts = Options()
    env = os.environ.get("NASMENV")
    for pass_no in (1, 2):
        reader = _Reader(opts, pass_no, err)
        if env:
            _read_all(_split_args(env), reader)
        _read_all(list(argv), reader)
        if pass_no == 1 and not reader.failed:
            _check_debug_format(opts, reader)
        if reader.failed:
            if reader.usage:
                print(f"Type {PROG} -h for help.", file=reader.err)
            raise Exit(1)
    final = _Reader(opts, 2, err)
    if opts.inname is None:
        final.fatal("no input file specified")
    if opts.inname in (opts.errname, opts.outname, opts.listname, opts.depend_file):
        final.fatal("will not overwrite input file")
    return opts


def _check_debug_format(opts: Options, reader: _Reader) -> None:
    """After the first reading, as NASM: -F names a debug format of the output format."""
    if not opts.debug or opts.debug_format is None:
        return
    fmt = opts.fmt or "bin"
    if opts.debug_format.lower() not in DEBUG_FORMATS.get(fmt, ()):
        reader.fatal(f"unrecognized debug format `{opts.debug_format}' for output format "
                     f"`{fmt}'")


def print_version() -> None:
    from asm.preproc import NASM_VERSION
    major, minor, sub = NASM_VERSION[:3]
    print(f"{PROG} (NASM-compatible) version {major}.{minor:02d}.{sub:02d}")


def print_debug_formats() -> None:
    print("       elf32:     dwarf     ELF32 (i386) dwarf (newer) [default]\n"
          "                  stabs     ELF32 (i386) stabs (older)")


def print_help() -> None:
    print(f"""Usage: {PROG} [-@ response_file] [options...] [--] filename
       {PROG} -v (or --v)

Options (as NASM's; values in brackets are defaults):

    -h            show this text and exit (also --help)
    -v (or --v)   print the version number and exit
    -@ file       response file; one command line option per line

    -o outfile    write output to outfile
    -f format     output format: bin [default], elf32 (also elf), b32, v16
    --origin addr load address for -f b32 (pyasm's own option; default 0x1000)

    -Xgnu         error format file:line: error: message [default]
    -s            redirect error messages to stdout
    -Zfile        redirect error messages to file

    -M            generate Makefile dependencies on stdout
    -MG           d:o, missing files assumed generated
    -MF file      set Makefile dependency file
    -MD file      assemble and generate dependencies
    -MT file      dependency target name
    -MQ file      dependency target name (quoted)
    -MP           emit phony targets
    -MW           Watcom make quoting

    -g            generate debugging information (elf32: dwarf)
    -F format     select a debugging format (elf32: dwarf, stabs)
    -gformat      same as -g -F format

    -l listfile   write listing to a list file
    -O0 -O1 -Ox   no / minimal / multipass optimization [-Ox]

    -E (or -e)    preprocess only (writes output to stdout by default)
    -Ipath        add a pathname to the include file path (also -i)
    -Pfile        pre-include a file (also -p, --include)
    -Dmacro[=str] pre-define a macro
    -Umacro       undefine a macro
   --pragma str   pre-executes a specific %pragma
   --before str   add line (usually a preprocessor statement) before the input
   --no-line      ignore %line directives in input (pyasm always does)
   --prefix str, --postfix str, --lprefix str, --lpostfix str
                  affixes for global and local symbol names (elf32)

    -w+x -w-x     enable / disable warning x (also -Wx, -Wno-x; -w-all: none)""")
