"""``pyasm``: the NASM-like command line.

``pyasm SRC [-f bin|elf32|b32] [-o OUT] [-l LISTING] [-I DIR] [-D NAME[=VALUE]]
[-U NAME] [-E] [--origin ADDR]``. Diagnostics go to stderr as ``file:line: error: ...``;
on error the exit status is 1 and no output file is written (outputs are written to a
temporary file in the target directory and renamed into place).
"""

from __future__ import annotations

if __name__ == "__main__":
    from asm.pypy_gc import tune_gc
    tune_gc()       # (PyPy) once more with a 16 MB GC nursery, before the imports below
    from asm import pypy_re
    pypy_re.install()   # (PyPy) the regular expressions of earlier runs: asm/pypy_re.py

import gc  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
from typing import Optional, Sequence, TextIO  # noqa: E402

from asm.errors import (  # noqa: E402
    AsmError,
    AsmErrors,
    WarningError,
    warning_enabled,
    warning_is_error,
    warning_rule,
)
from asm.makedeps import DependencyRequest, incbin_file  # noqa: E402

FORMATS = ("bin", "elf32", "b32", "v16")
_KEEP: list = []


def default_output(src: str, fmt: str) -> str:
    """NASM's default output name: the source name with the format's extension."""
    root, ext = os.path.splitext(src)
    if fmt == "bin":
        return root if ext else "nasm.out"
    return root + {"elf32": ".o", "b32": ".b32", "v16": ".v16"}[fmt]


def format_from_name(out: Optional[str], default: Optional[str] = "bin") -> Optional[str]:
    """The format an output name asks for (.o, .b32, .v16), else ``default``."""
    if out:
        ext = os.path.splitext(out)[1].lower()
        if ext == ".o":
            return "elf32"
        if ext in (".b32", ".v16"):
            return ext[1:]
    return default


def format_of_source(text: str) -> str:
    """With no -f and no telling output name: the source's own machine
    (asm/language.py, the decision pyvm and pyvm-tools make too)."""
    from asm.language import source_language
    lang = source_language(text)
    return lang if lang in ("b32", "v16") else "bin"


def write_atomic(path: str, data: bytes) -> None:
    """Never a partial output: see formats/outputs.py."""
    from formats.outputs import write_atomic as write
    write(path, data, prefix=".pyasm-")


def parse_origin(text: str) -> int:
    from asm.expr import read_number
    return read_number(text.strip())


def warning_rules(options: Sequence[str]) -> list:
    """NASM's -w/-W options as (enabled, class) rules in command-line order:
    ``-w-all`` ``-w+orphan-labels`` ``-wfoo`` ``-Wno-foo`` ``-Wall`` ``-Werror=foo``."""
    return [warning_rule(opt) for opt in options]


_LOCATED = re.compile(r"(.+?):(\d+): (.*)\Z", re.DOTALL)
_error_format = ["gnu"]         # -X: NASM's gnu (file:line: ) or vc (file(line) : )


def _located(message: str) -> str:
    """A ``file:line: ...`` message in NASM's form: no number for line 0 (the command
    line's --before lines and pre-included files), and -Xvc's ``file(line) : ``."""
    m = _LOCATED.match(message)
    if m is None or (m.group(2) != "0" and _error_format[0] == "gnu"):
        return message
    file, line, rest = m.groups()
    if _error_format[0] == "vc":
        return f"{file}({line}) : {rest}" if line != "0" else f"{file} : {rest}"
    return f"{file}: {rest}"


def _report(errors: Sequence[AsmError], warnings: Sequence[str], err: TextIO,
            order: Optional[Sequence[tuple]] = None) -> None:
    """The errors and the warnings (those the -w options and `[warning]` directives
    leave) in NASM's order (``order``: asm.errors.in_nasm_order's)."""
    from asm.errors import in_nasm_order, source_context
    for e in in_nasm_order(list(errors), list(warnings), order):
        if isinstance(e, str):
            for line in e.split("\n"):         # (the warning, then its macro notes)
                print(_located(line), file=err)
            continue
        print(_located(str(e)), file=err)
        # pyasm's addition after NASM's line: the source line and a caret under the token
        for extra in source_context(getattr(e, "file", None), getattr(e, "line", None),
                                    getattr(e, "message", "")):
            print(extra, file=err)
        for note in getattr(e, "notes", None) or ():
            print(_located(note), file=err)


def run(src: str, *, fmt: Optional[str] = None, output: Optional[str] = None,
        listing: Optional[str] = None, include_paths: Sequence[str] = (),
        defines: Sequence[str] = (), undefines: Sequence[str] = (),
        preprocess_only: bool = False, origin: Optional[str] = None,
        stdout: Optional[TextIO] = None, stderr: Optional[TextIO] = None,
        warnings: Sequence[str] = (), optimize: int = 2,
        debug_format: Optional[str] = None, pre: Sequence[tuple] = (),
        deps: Optional[DependencyRequest] = None) -> int:
    """The whole of ``pyasm`` minus argument parsing; returns the exit status.
    ``pre``: the command line's -D/-U/-p/--before/--pragma in order (see
    asm.preproc.Preprocessor); ``deps``: the -M options.
    ``warnings``: NASM's -w options without the -w (``-all``, ``+label-orphan``);
    ``optimize``: NASM's -O0 (0), -O1 (1) or -Ox (2, the default);
    ``debug_format``: -g/-F, ``dwarf`` or ``stabs`` (elf32 only; None: no debug info)."""
    rules = warning_rules(warnings)
    enabled = gc.isenabled()
    gc.disable()    # millions of small cached objects: collector scans would dominate
    kept: list = []
    try:
        status = _run(src, fmt, output, listing, include_paths, defines, undefines,
                      preprocess_only, origin, stdout, stderr, rules, optimize,
                      debug_format, pre=pre, deps=deps, kept=kept)
    finally:
        if enabled:
            gc.enable()
    if status and not (deps is not None and deps.only):
        _remove_outputs(src, fmt, output, None if kept else listing, preprocess_only)
    return status


def _remove_outputs(src: str, fmt: Optional[str], output: Optional[str],
                    listing: Optional[str], preprocess_only: bool) -> None:
    """After a failure, as NASM does: no output or listing file is left behind, not
    even one that existed before (never the source itself, nor anything but a regular
    file). An unknown -f fails before any of that, and NASM then leaves files alone."""
    if fmt is None and format_from_name(output, None) is None:
        try:
            with open(src, encoding="utf-8", errors="surrogateescape") as f:
                fmt = format_of_source(f.read(1 << 20))
        except OSError:
            fmt = "bin"
    fmt = (fmt or format_from_name(output)).lower()
    if fmt not in FORMATS:
        return
    paths = [output] if output else [] if preprocess_only else [default_output(src, fmt)]
    if listing:
        paths.append(listing)
    for path in paths:
        try:
            if not os.path.isfile(path) or os.path.islink(path):
                continue
            if os.path.exists(src) and os.path.samefile(path, src):
                continue
            os.unlink(path)
        except OSError:
            pass


def _run(src, fmt, output, listing, include_paths, defines, undefines, preprocess_only,
         origin, stdout, stderr, rules=(), optimize=2, debug_format=None, *, pre=(),
         deps=None, kept=None) -> int:
    out_stream = stdout or sys.stdout
    err = stderr or sys.stderr
    if fmt is None:
        fmt = format_from_name(output, None)
    if fmt is not None and fmt.lower() not in FORMATS:
        print(f"pyasm: error: unrecognised output format `{fmt}' - use one of: "
              f"{', '.join(FORMATS)}", file=err)
        return 1
    from formats.inputs import InputError, read_source
    try:
        text = read_source(src)
    except OSError as exc:
        print(f"pyasm: fatal: unable to open input file `{src}' {exc.strerror}", file=err)
        return 1
    except InputError as exc:
        print(f"pyasm: {src}: {exc}", file=err)
        return 1
    fmt = fmt.lower() if fmt is not None else format_of_source(text)
    defs = []
    for d in defines:
        name, eq, value = d.partition("=")
        defs.append((name, value if eq else None))
    depends: Optional[list] = None if deps is None else []
    try:
        if preprocess_only or (deps is not None and deps.only):
            if deps is not None and deps.only:
                paths = [] if deps.missing_ok else include_paths
                preprocess_text(text, src, paths, defs, undefines, fmt, pre=pre,
                                depends=depends, deps_only=True, rules=rules)
                return _write_dependencies(deps, src, fmt, output, depends, err)
            warned: list = []
            try:
                data = preprocess_text(text, src, include_paths, defs, undefines, fmt,
                                       pre=pre, depends=depends, rules=rules,
                                       warnings=warned)
            except AsmErrors as exc:
                if not output:          # (NASM writes its lines as it goes, then fails)
                    out_stream.write(getattr(exc, "output", ""))
                raise
            if output:
                write_atomic(output, data.encode("utf-8", "surrogateescape"))
            else:
                out_stream.write(data)
            _report((), warned, err)
            if any(type(w) is WarningError for w in warned):
                return 1                # (-Werror: NASM writes the output and fails)
            if deps is not None:
                return _write_dependencies(deps, src, fmt, output, depends, err)
            return 0
        if fmt == "elf32":
            from asm.assembler import assemble
            from asm.elf_output import elf32_object
            from asm.listing import format_listing
            result = assemble(text, src, fmt="elf32", include_paths=include_paths,
                              defines=defs, undefines=undefines, listing=listing is not None,
                              bits=32, optimize=optimize, debug=debug_format is not None,
                              pre=pre, depends=depends, warnings=rules)
            _KEEP[:] = [result]
            data = elf32_object(result, src, text, debug_format)
            lst = format_listing(result) if listing is not None else None
            _report((), result.warnings, err)
        elif fmt == "b32":
            data = _assemble_b32(text, src, origin)
            lst = None
        elif fmt == "v16":
            from asm.v16 import assemble as v16_assemble
            data = v16_assemble(text, src)
            lst = None
        else:
            from asm.assembler import assemble
            from asm.listing import format_listing
            result = assemble(text, src, fmt=fmt, include_paths=include_paths, defines=defs,
                              undefines=undefines, listing=listing is not None,
                              optimize=optimize, pre=pre, depends=depends,
                              warnings=rules)
            _KEEP[:] = [result]     # freed at exit (skipped by main), not in the timed path
            data = result.image()
            lst = format_listing(result) if listing is not None else None
            _report((), result.warnings, err)
    except AsmErrors as exc:
        _report(exc.errors, getattr(exc, "warnings", ()), err,
                getattr(exc, "warning_order", None))
        if listing is not None and getattr(exc, "listing", None) is not None:
            # (errors of the final pass: NASM writes its listing, the errors in it)
            from asm.listing import format_listing
            try:
                write_atomic(listing, format_listing(exc).encode("utf-8", "surrogateescape"))
                if kept is not None:
                    kept.append(listing)
            except OSError:
                pass
        return max(getattr(e, "status", 1) for e in exc.errors) if exc.errors else 1
    except AsmError as exc:
        _report([exc], (), err)
        return 1
    except RecursionError:
        print(f"{src}: error: source too deeply nested", file=err)
        return 1
    except Exception as exc:    # a bug, but the user still gets one clean line, no traceback
        print(f"{src}: error: internal error: {type(exc).__name__}: {exc}", file=err)
        return 1
    target = output or default_output(src, fmt)
    try:
        write_atomic(target, data)
        if lst is not None:
            target = listing
            write_atomic(listing, lst.encode("utf-8", "surrogateescape"))
    except OSError as exc:
        # NASM's line, then why on a line of its own
        print(f"{src}: fatal: unable to open output file `{target}'", file=err)
        print(f"    {exc.strerror}", file=err)
        return 1
    if deps is not None:
        return _write_dependencies(deps, src, fmt, output, depends or [src], err)
    return 0


def _write_dependencies(deps: DependencyRequest, src: str, fmt: str, output: Optional[str],
                        files: Sequence[str], err: TextIO) -> int:
    """NASM's emit_dependencies: the rules to -MF's file, -MD's (or NAME.d), or stdout."""
    name = output or default_output(src, fmt)
    text = deps.rules(name, files)
    path = deps.file
    if path is None and not deps.only:
        path = output + ".d" if output else os.path.splitext(src)[0] + ".d"
    if path is None or path == "-":
        sys.stdout.write(text)
        return 0
    try:
        write_atomic(path, text.encode("utf-8", "surrogateescape"))
    except OSError:
        print(f"{src}: error: unable to write dependency file `{path}'", file=err)
        return 1
    return 0


def _assemble_b32(text: str, src: str, origin: Optional[str]) -> bytes:
    try:
        org = parse_origin(origin) if origin else 0x1000
    except AsmError:
        raise AsmError(f"invalid origin `{origin}'") from None
    try:
        from asm.b32.assembler import assemble as b32_assemble
    except ImportError:
        raise AsmError("the b32 assembler is not available") from None
    return b32_assemble(text, src, origin=org)


def preprocess_text(text: str, src: str, include_paths: Sequence[str] = (),
                    defines: Sequence[tuple] = (), undefines: Sequence[str] = (),
                    fmt: str = "bin", *, pre: Sequence[tuple] = (),
                    depends: Optional[list] = None, deps_only: bool = False,
                    rules: Sequence[tuple] = (), warnings: Optional[list] = None) -> str:
    """``-E``: the preprocessed source with NASM-style ``%line`` markers. ``depends``
    collects the files read, %depend and incbin files (for -M/-MD), as NASM's
    preprocessor notes them; ``deps_only`` (-M) lists missing include files instead of
    failing on them. ``rules``: the -w options' (see warning_rules); ``warnings`` gets
    the warnings (NASM's -E prints them too)."""
    from asm.preproc import MacroLabel, Preprocessor, strip_comment
    pp = Preprocessor(text, src, include_paths=include_paths, defines=defines,
                      undefines=undefines, fmt=fmt, preprocess_only=True, pre=pre,
                      depends=depends, deps_only=deps_only)
    if rules:
        pp.warning_shown = lambda message: warning_enabled(message, rules)
    # (some classes are errors with no rule: asm.errors.DEFAULT_ERRORS)
    pp.warning_error = lambda message: warning_is_error(message, rules)
    out = []
    # NASM's %line bookkeeping (nasm.c, the preprocess-only loop): a line one further
    # than expected gets a blank line, one standing still (a macro) an increment of 0
    file_name, linnum, lineinc = None, 0, 0
    for sl in pp.lines():
        if not sl.assemble:
            continue
        if depends is not None:
            name = incbin_file(sl.text)
            if name is not None:
                pp.depend(_find_incbin(name, include_paths))
        # standard-macro lines belong to the line that invoked them, as in nasm -E
        where_file, where_line = ((sl.file, sl.line) if sl.list_file == "<stdmac>"
                                  else (sl.list_file, sl.list_line))
        text = sl.text if type(sl) is MacroLabel else strip_comment(sl.text).rstrip()
        for line in preprocessed_lines(text):
            if file_name != where_file:
                file_name, linnum, lineinc = where_file, -1, 1
            elif lineinc:
                if linnum + lineinc == where_line:
                    out.append("\n")
                    linnum += lineinc
                elif linnum - lineinc == where_line:
                    lineinc = 0
            elif linnum + 1 == where_line:
                lineinc = 1
            if linnum == -1 and not line:
                continue
            if linnum != where_line:
                out.append(f"%line {where_line}{lineinc:+d} {file_name}\n")
            linnum = where_line + lineinc
            out.append(line + "\n")
    if pp.errors:
        exc = AsmErrors(pp.errors)
        exc.warnings, exc.warning_order = pp.warnings, pp.warning_at
        exc.output = "".join(out)
        raise exc
    if warnings is not None:
        warnings.extend(pp.warnings)
    return "".join(out)


def preprocessed_lines(line: str) -> list:
    """What ``nasm -E`` prints for a preprocessed line (comment already stripped): its
    tokens with each run of blanks outside strings as one space, and an ``incbin`` as
    NASM 2.16's standard macro rewrites it (``incbin 'file',offset``; a label before it
    on a line of its own)."""
    line = _one_blank(line)
    m = _INCBIN_CALL.match(line)
    if m is None:
        return [line]
    label, word, args = m.group(1) or "", m.group(2), m.group(3)
    first, comma, rest = _split_first_arg(args)
    if first is None:
        return [line]
    name = first
    if first[:1] in "'\"`" and len(first) >= 2 and first[-1] == first[:1]:
        try:
            from asm.expr import read_string
            name = read_string(first).decode("utf-8", "surrogateescape")
        except AsmError:
            return [line]
        name = f"'{name}'" if "'" not in name else f'"{name}"'
    call = f"{word} {name},{rest.lstrip() if comma else '0'}"
    return [label, call] if label else [call]


_INCBIN_CALL = re.compile(r"((?:[A-Za-z_.?@][\w.?@$#~]*:?)\s)?\s*(incbin)\s+(\S.*)$",
                          re.IGNORECASE)


def _one_blank(line: str) -> str:
    """Runs of blanks outside strings made one space (NASM's tokens, detokenized)."""
    if "  " not in line and "\t" not in line and "\v" not in line and "\f" not in line:
        return line
    out = []
    quote = None
    blank = False
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            out.append(ch)
            if ch == "\\" and quote == "`" and i + 1 < len(line):
                out.append(line[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in " \t\v\f\r":
            if not blank:
                out.append(" ")
            blank = True
            i += 1
            continue
        else:
            if ch in "'\"`":
                quote = ch
            out.append(ch)
        blank = False
        i += 1
    return "".join(out)


def _split_first_arg(args: str) -> tuple:
    """(first argument, whether a comma follows, the rest) of a macro call's arguments;
    (None, ...) when a string is not closed."""
    quote = None
    depth = 0
    for i, ch in enumerate(args):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth <= 0:
            return args[:i].strip(), True, args[i + 1:]
    if quote:
        return None, False, ""
    return args.strip(), False, ""


def _find_incbin(name: str, include_paths: Sequence[str]) -> str:
    """Where the assembler would find an incbin file (the name itself when nowhere)."""
    for cand in [name] + [os.path.join(d, name) for d in include_paths]:
        if os.path.isfile(cand):
            return cand
    return name


def _command_line(argv: Sequence[str]) -> int:
    """Read NASM's command line (asm/cmdline.py) and run; returns the exit status."""
    from asm import cmdline
    try:
        opts = cmdline.parse(argv, sys.stderr)
    except cmdline.Exit as stop:
        return stop.status
    err = sys.stdout if opts.errors_to_stdout else sys.stderr
    stream = None
    if opts.errname is not None:
        try:
            stream = open(opts.errname, "w", encoding="utf-8", errors="surrogateescape")
        except OSError:
            print(f"{opts.inname}: fatal: cannot open file `{opts.errname}' for error "
                  "messages", file=err)
            print(f"Type {cmdline.PROG} -h for help.", file=err)
            return 1
        err = stream
    # as NASM: -F alone turns debug information on too, -g alone means DWARF
    dbg = (opts.debug_format or "dwarf").lower() if opts.debug else None
    deps = None
    if opts.depend:
        deps = DependencyRequest(only=not opts.assemble, file=opts.depend_file,
                                 target=opts.depend_target,
                                 quote_target=opts.depend_target_quoted,
                                 phony=opts.depend_phony, missing_ok=opts.depend_missing_ok,
                                 wmake=opts.wmake)
    _error_format[0] = opts.error_format
    try:
        return run(opts.inname, fmt=opts.fmt, output=opts.outname, listing=opts.listname,
                   include_paths=opts.include_paths, preprocess_only=opts.preprocess,
                   origin=opts.origin, stderr=err, warnings=opts.warnings,
                   optimize=opts.optimize, debug_format=dbg, pre=opts.pre, deps=deps)
    finally:
        _error_format[0] = "gnu"
        if stream is not None:
            stream.close()


class _Command:
    """``pyasm`` for click's CliRunner (tests): ``main(args)`` exits with the status."""

    name = "pyasm"

    def main(self, args: Optional[Sequence[str]] = None, prog_name: Optional[str] = None,
             standalone_mode: bool = True, **_extra) -> int:
        status = _main(args)
        if standalone_mode:
            sys.exit(status)
        return status


_command = _Command()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``pyasm``'s entry point on ``argv`` (None: sys.argv[1:]); returns the exit status
    and leaves the interpreter running (the console script is :func:`script`)."""
    enabled = gc.isenabled()
    try:
        return _main(argv)
    finally:
        _KEEP.clear()
        if enabled:
            gc.enable()


def script() -> None:
    """The ``pyasm`` console script: the process ends right after, so it never pays for
    a collection or a teardown of the parse caches (millions of small objects: that
    alone can take as long as assembling a large file)."""
    from asm import pypy_re
    from asm.pypy_gc import tune_gc, tune_jit
    tune_gc()     # (PyPy) once more with a 16 MB GC nursery: asm/pypy_gc.py
    pypy_re.install()   # (PyPy) the regular expressions of earlier runs: asm/pypy_re.py
    tune_jit()
    gc.disable()
    status = _main(None)
    from asm import parser
    parser.save_templates()         # (os._exit runs no atexit hook)
    pypy_re.save()
    os._exit(status)


def _main(argv: Optional[Sequence[str]]) -> int:
    gc.disable()
    try:
        status = _command_line(list(argv) if argv is not None else sys.argv[1:])
    except KeyboardInterrupt:
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return status


if __name__ == "__main__":
    script()
