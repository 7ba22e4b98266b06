"""``pyasm``: the NASM-like command line.

``pyasm SRC [-f bin|elf32|b32] [-o OUT] [-l LISTING] [-I DIR] [-D NAME[=VALUE]]
[-U NAME] [-E] [--origin ADDR]``. Diagnostics go to stderr as ``file:line: error: ...``;
on error the exit status is 1 and no output file is written (outputs are written to a
temporary file in the target directory and renamed into place).
"""

from __future__ import annotations

import gc
import os
import re
import sys
from typing import Optional, Sequence, TextIO

import click

from asm.errors import AsmError, AsmErrors

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


_WARNING_CLASS = re.compile(r"\[-w\+([A-Za-z0-9-]+)\]\s*$")


def warning_rules(options: Sequence[str]) -> list:
    """NASM's -w/-W options as (enabled, class) rules in command-line order:
    ``-w-all`` ``-w+orphan-labels`` ``-wfoo`` ``-Wno-foo`` ``-Wall``. Raises ValueError for
    the ones pyasm does not have (-w+error: warnings as errors)."""
    rules = []
    for opt in options:
        if opt.startswith(("-", "+")):
            on, name = opt[0] == "+", opt[1:]
        elif opt.startswith("no-"):
            on, name = False, opt[3:]
        else:
            on, name = True, opt
        name = name.lower()
        if name == "error" or name.startswith("error="):
            raise ValueError(f"warnings as errors (`{opt}') are not supported")
        if name == "orphan-labels":
            name = "label-orphan"          # NASM's old name for it
        rules.append((on, name))
    return rules


def _shown(warning: str, rules: Sequence[tuple]) -> bool:
    if not rules:
        return True
    m = _WARNING_CLASS.search(warning.splitlines()[0] if warning else "")
    cls = m.group(1).lower() if m else "other"
    shown = True
    for on, name in rules:
        if name == "all" or cls == name or cls.startswith(name + "-"):
            shown = on
    return shown


def _report(errors: Sequence[AsmError], warnings: Sequence[str], err: TextIO,
            rules: Sequence[tuple] = ()) -> None:
    for w in warnings:
        if _shown(w, rules):
            print(w, file=err)
    from asm.errors import source_context
    for e in errors:
        print(str(e), file=err)
        # pyasm's addition after NASM's line: the source line and a caret under the token
        for extra in source_context(getattr(e, "file", None), getattr(e, "line", None),
                                    getattr(e, "message", "")):
            print(extra, file=err)
        for note in getattr(e, "notes", None) or ():
            print(note, file=err)


def run(src: str, *, fmt: Optional[str] = None, output: Optional[str] = None,
        listing: Optional[str] = None, include_paths: Sequence[str] = (),
        defines: Sequence[str] = (), undefines: Sequence[str] = (),
        preprocess_only: bool = False, origin: Optional[str] = None,
        stdout: Optional[TextIO] = None, stderr: Optional[TextIO] = None,
        warnings: Sequence[str] = (), optimize: int = 2) -> int:
    """The whole of ``pyasm`` minus argument parsing; returns the exit status.
    ``warnings``: NASM's -w options without the -w (``-all``, ``+label-orphan``);
    ``optimize``: NASM's -O0 (0), -O1 (1) or -Ox (2, the default)."""
    err = stderr or sys.stderr
    try:
        rules = warning_rules(warnings)
    except ValueError as exc:
        print(f"pyasm: error: {exc}", file=err)
        return 1
    enabled = gc.isenabled()
    gc.disable()    # millions of small cached objects: collector scans would dominate
    try:
        status = _run(src, fmt, output, listing, include_paths, defines, undefines,
                      preprocess_only, origin, stdout, stderr, rules, optimize)
    finally:
        if enabled:
            gc.enable()
    if status:
        _remove_outputs(src, fmt, output, listing, preprocess_only)
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
         origin, stdout, stderr, rules=(), optimize=2) -> int:
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
    try:
        if preprocess_only:
            data = preprocess_text(text, src, include_paths, defs, undefines, fmt)
            if output:
                write_atomic(output, data.encode("utf-8", "surrogateescape"))
            else:
                out_stream.write(data)
            return 0
        if fmt == "elf32":
            from asm.assembler import assemble
            from asm.elf_output import elf32_object
            from asm.listing import format_listing
            result = assemble(text, src, fmt="elf32", include_paths=include_paths,
                              defines=defs, undefines=undefines, listing=listing is not None,
                              bits=32, optimize=optimize)
            _KEEP[:] = [result]
            data = elf32_object(result, src, text)
            lst = format_listing(result) if listing is not None else None
            _report((), result.warnings, err, rules)
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
                              optimize=optimize)
            _KEEP[:] = [result]     # freed at exit (skipped by main), not in the timed path
            data = result.image()
            lst = format_listing(result) if listing is not None else None
            _report((), result.warnings, err, rules)
    except AsmErrors as exc:
        _report(exc.errors, getattr(exc, "warnings", ()), err, rules)
        return 1
    except AsmError as exc:
        _report([exc], (), err)
        return 1
    except RecursionError:
        print(f"{src}: error: source too deeply nested", file=err)
        return 1
    except Exception as exc:    # a bug, but the user still gets one clean line, no traceback
        print(f"{src}: error: internal error: {type(exc).__name__}: {exc}", file=err)
        return 1
    try:
        write_atomic(output or default_output(src, fmt), data)
        if lst is not None:
            write_atomic(listing, lst.encode("utf-8", "surrogateescape"))
    except OSError as exc:
        print(f"pyasm: fatal: unable to write output: {exc.strerror}", file=err)
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
                    fmt: str = "bin") -> str:
    """``-E``: the preprocessed source with NASM-style ``%line`` markers."""
    from asm.preproc import Preprocessor, strip_comment
    pp = Preprocessor(text, src, include_paths=include_paths, defines=defines,
                      undefines=undefines, fmt=fmt, preprocess_only=True)
    out = []
    expect = None
    for sl in pp.lines():
        if not sl.assemble:
            continue
        # standard-macro lines belong to the line that invoked them, as in nasm -E
        key = (sl.file, sl.line) if sl.list_file == "<stdmac>" else (sl.list_file,
                                                                     sl.list_line)
        if key != expect:
            out.append(f"%line {key[1]}+1 {key[0]}\n")
        out.append(strip_comment(sl.text).rstrip() + "\n")
        expect = (key[0], key[1] + 1)
    if pp.errors:
        exc = AsmErrors(pp.errors)
        exc.warnings = pp.warnings
        raise exc
    return "".join(out)


def _version(ctx, _param, value):
    if value:
        from asm.preproc import NASM_VERSION
        major, minor, sub = NASM_VERSION[:3]
        print(f"pyasm (NASM-compatible) version {major}.{minor:02d}.{sub:02d}")
        ctx.exit(0)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("src", type=click.Path(dir_okay=False))
@click.option("-f", "fmt", help="output format: bin (default), elf32, b32, v16")
@click.option("-o", "output", help="output file (default: from the source name)")
@click.option("-l", "listing", help="write a listing file")
@click.option("-I", "include_paths", multiple=True, help="add an include directory")
@click.option("-i", "include_paths2", multiple=True, hidden=True)
@click.option("-D", "defines", multiple=True, help="pre-define a macro NAME[=VALUE]")
@click.option("-d", "defines2", multiple=True, hidden=True)
@click.option("-U", "undefines", multiple=True, help="undefine a macro")
@click.option("-u", "undefines2", multiple=True, hidden=True)
@click.option("-E", "-e", "preprocess_only", is_flag=True, help="preprocess only")
@click.option("--origin", help="load address for -f b32 (default 0x1000)")
@click.option("-w", "-W", "warn_opts", multiple=True,
              help="warning classes: -w-all, -w+label-orphan, -Wno-NAME (as NASM)")
@click.option("-O", "optimize", help="optimisation: -Ox (default) -Ov -O2 ...")
@click.option("-g", "debug", is_flag=True, help="debug information (accepted; none written)")
@click.option("-F", "debug_format", help="debug format (elf32: dwarf, stabs)")
@click.option("-X", "error_format", help="error format: gnu (default) or vc")
@click.option("-Z", "error_file", help="write diagnostics to this file")
@click.option("-s", "errors_to_stdout", is_flag=True, help="diagnostics to stdout")
@click.option("-v", "--version", is_flag=True, is_eager=True, expose_value=False,
              callback=_version, help="print the version")
def _command(src, fmt, output, listing, include_paths, include_paths2, defines, defines2,
             undefines, undefines2, preprocess_only, origin, warn_opts, optimize, debug,
             debug_format, error_format, error_file, errors_to_stdout):
    """Assemble SRC (NASM syntax)."""
    err = sys.stdout if errors_to_stdout else sys.stderr
    fatal = _option_problem(fmt or format_from_name(output), optimize, debug_format,
                            error_format)
    if fatal:
        print(f"pyasm: fatal: {fatal}", file=err)
        sys.exit(1)
    stream = None
    if error_file:
        try:
            stream = open(error_file, "w", encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            print(f"pyasm: fatal: cannot open error file `{error_file}': {exc.strerror}",
                  file=err)
            sys.exit(1)
        err = stream
    if debug or debug_format:
        # accepted so NASM makefiles run, but say that the object carries no debug sections
        print("pyasm: warning: -g/-F: no debug information is written yet", file=err)
    try:
        status = run(src, fmt=fmt, output=output, listing=listing,
                     include_paths=list(include_paths) + list(include_paths2),
                     defines=list(defines) + list(defines2),
                     undefines=list(undefines) + list(undefines2),
                     preprocess_only=preprocess_only, origin=origin, stderr=err,
                     warnings=warn_opts, optimize=_optimize_level(optimize))
    finally:
        if stream is not None:
            stream.close()
    sys.exit(status)


def _optimize_level(option: Optional[str]) -> int:
    """-O0 -> 0, -O1 -> 1, anything else (-Ox, -Ov, -O2...) -> 2 (NASM's multipass)."""
    digits = [o for o in (option or "").split(",") if o.isdigit()]
    if digits and int(digits[-1]) < 2:
        return int(digits[-1])
    return 2


def _option_problem(fmt: str, optimize: Optional[str], debug_format: Optional[str],
                    error_format: Optional[str]) -> Optional[str]:
    """NASM's fatal message for an option value pyasm cannot honour, else None."""
    if optimize is not None:
        levels = [o for o in optimize.split(",") if o]
        for o in levels:
            if not (o.isdigit() or o.lower() in ("x", "v")):
                return f"unknown optimization option -O{optimize}"
    if debug_format is not None:
        known = ("dwarf", "stabs") if fmt.lower() == "elf32" else ()
        if debug_format.lower() not in known:
            return (f"unrecognized debug format `{debug_format}' for output format "
                    f"`{fmt.lower()}'")
    if error_format is not None and error_format.lower() not in ("gnu", "vc"):
        return f"unrecognized error reporting format `{error_format}'"
    if error_format is not None and error_format.lower() == "vc":
        return "the `vc' error format is not supported"
    return None



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
    gc.disable()
    os._exit(_main(None))


def _main(argv: Optional[Sequence[str]]) -> int:
    gc.disable()
    try:
        rv = _command.main(args=list(argv) if argv is not None else None, prog_name="pyasm",
                           standalone_mode=False)
        status = rv if isinstance(rv, int) else 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    except click.exceptions.Abort:
        status = 1
    except click.exceptions.NoSuchOption as exc:
        # NASM's wording (and status) for an option it does not have
        spelling = "unrecognized" if exc.option_name.startswith("--") else "unrecognised"
        print(f"pyasm: error: {spelling} option `{exc.option_name}'", file=sys.stderr)
        print("Type pyasm -h for help.", file=sys.stderr)
        status = 1
    except click.ClickException as exc:
        exc.show()
        status = exc.exit_code
    sys.stdout.flush()
    sys.stderr.flush()
    return status


if __name__ == "__main__":
    script()
