"""``pyld``: the command line, parsed like GNU ld's so the two are interchangeable.

    pyld OBJ... [-o OUT] [-e SYMBOL] [-Ttext ADDR] [-Tdata ADDR] [-Tbss ADDR]
         [-L DIR] [-lNAME] [--oformat elf|binary] [-Map FILE] [-s] [-m elf_i386]

ld's syntax has options glued to values (``-lgcc``, ``-Ttext=0x1000``) and positional
order that matters (``-l`` is searched where it appears), which click cannot express, so the
arguments are parsed here by hand. Output files are written atomically: a temporary file in
the target directory, renamed over the target only when everything succeeded. On error,
like ld, any previous output file is removed so a stale program cannot be mistaken for
the result.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Optional

from formats.inputs import InputError, read_input

from .linker import LinkError, LinkOptions, link

PROG = "pyld"
USAGE = f"""usage: {PROG} [options] file...
  -o FILE, --output=FILE      write the output to FILE (default a.out)
  -e SYMBOL, --entry=SYMBOL   entry point: a symbol, or an address (default _start)
  -Ttext=ADDR -Tdata=ADDR -Tbss=ADDR
                              address of the section (hexadecimal, 0x optional)
  -L DIR, --library-path=DIR  add DIR to the -l search path
  -lNAME, --library=NAME      link libNAME.a (or -l:FILE for FILE) from the search path
  --oformat=elf|binary        ELF32 executable (default) or flat binary
  -Map=FILE                   write a link map to FILE
  -s, --strip-all             omit the symbol table
  -m elf_i386                 accepted for ld compatibility
  -h, --help                  show this help
  --version                   show the version
"""
EMULATIONS = ("elf_i386",)
OFORMATS = {"elf": "elf", "elf32-i386": "elf", "elf32": "elf", "binary": "binary"}
IGNORED = ("-static", "-Bstatic", "-nostdlib", "--no-dynamic-linker", "--build-id=none",
           "-znoexecstack", "--gc-sections=no")


class UsageError(Exception):
    pass


@dataclass
class Arguments:
    inputs: list[tuple[str, str]] = field(default_factory=list)   # ("file"|"lib", text)
    output: str = "a.out"
    map_file: Optional[str] = None
    library_paths: list[str] = field(default_factory=list)
    options: LinkOptions = field(default_factory=LinkOptions)
    help: bool = False
    version: bool = False


def _address(option: str, text: str) -> int:
    # ld reads -T addresses as hexadecimal, with or without 0x
    body = text[2:] if text.lower().startswith("0x") else text
    try:
        value = int(body, 16)
    except ValueError:
        raise UsageError(f"invalid address '{text}' for {option}") from None
    if not 0 <= value <= 0xFFFFFFFF:
        raise UsageError(f"address '{text}' for {option} is out of range")
    return value


def parse_args(argv: list[str]) -> Arguments:
    args = Arguments()
    opts = args.options
    i = 0

    def value(option: str, inline: Optional[str]) -> str:
        nonlocal i
        if inline is not None:
            return inline
        i += 1
        if i >= len(argv):
            raise UsageError(f"option '{option}' requires an argument")
        return argv[i]

    while i < len(argv):
        arg = argv[i]
        name, eq, inline_value = arg.partition("=")
        inline = inline_value if eq else None
        if not arg.startswith("-") or arg == "-":
            args.inputs.append(("file", arg))
        elif arg in ("-h", "--help"):
            args.help = True
        elif arg in ("-v", "--version", "-V"):
            args.version = True
        elif name in ("-o", "--output"):
            args.output = value(name, inline)
        elif arg.startswith("-o") and not arg.startswith("--"):
            args.output = arg[2:]
        elif name in ("-e", "--entry"):
            opts.entry = value(name, inline)
        elif arg.startswith("-e") and not arg.startswith("--"):
            opts.entry = arg[2:]
        elif name.lstrip("-") in ("Ttext", "Tdata", "Tbss"):
            which = name.lstrip("-")
            setattr(opts, which[1:], _address(which, value(name, inline)))
        elif name in ("-L", "--library-path"):
            args.library_paths.append(value(name, inline))
        elif arg.startswith("-L"):
            args.library_paths.append(arg[2:])
        elif name in ("-l", "--library"):
            args.inputs.append(("lib", value(name, inline)))
        elif arg.startswith("-l"):
            args.inputs.append(("lib", arg[2:]))
        elif name == "--oformat":
            fmt = value(name, inline)
            if fmt not in OFORMATS:
                raise UsageError(f"unsupported output format '{fmt}' (use elf or binary)")
            opts.oformat = OFORMATS[fmt]
        elif name in ("-Map", "--Map"):
            args.map_file = value(name, inline)
        elif arg in ("-s", "--strip-all"):
            opts.strip = True
        elif name == "-m":
            emulation = value(name, inline)
            if emulation not in EMULATIONS:
                raise UsageError(f"unsupported emulation '{emulation}' (pyld links elf_i386)")
        elif arg.startswith("-m") and not arg.startswith("--"):
            if arg[2:] not in EMULATIONS:
                raise UsageError(f"unsupported emulation '{arg[2:]}' (pyld links elf_i386)")
        elif arg in IGNORED:
            pass
        else:
            raise UsageError(f"unrecognised option '{arg}'")
        i += 1
    return args


def _find_library(name: str, paths: list[str]) -> str:
    filename = name[1:] if name.startswith(":") else f"lib{name}.a"
    for directory in paths:
        candidate = os.path.join(directory, filename)
        if os.path.isfile(candidate):
            return candidate
    raise LinkError(f"cannot find -l{name}")


def _clash(args: Arguments) -> Optional[str]:
    """An input that is also the output or the map file, by the file a name finally
    reaches, or a map file that is the output. As GNU ld 2.40: an input named as the
    output is refused ("input file 'a.o' is the same as output file"), a library found
    through -l is not (ld writes the output over it; it fails when it needed a member,
    having emptied the archive first: pyld reads every input before writing, so such a
    link works, and the archive is replaced as ld replaces it). Unlike ld, on purpose:
    an input named as the map file is refused (ld writes the map over it: the input is
    lost), and so is a map file that is the output (ld writes both into one file: a
    damaged executable)."""
    output = os.path.realpath(args.output)
    mapped = os.path.realpath(args.map_file) if args.map_file else None
    if mapped == output:
        return f"map file '{args.map_file}' is the same as output file"
    for kind, text in args.inputs:
        try:
            path = _find_library(text, args.library_paths) if kind == "lib" else text
        except LinkError:
            continue                        # (reported when the inputs are read)
        real = os.path.realpath(path)
        if real == output and kind != "lib":
            return f"input file '{path}' is the same as output file"
        if real == mapped:
            return f"input file '{path}' is the same as map file"
    return None


def _read_inputs(args: Arguments) -> list[tuple[str, bytes]]:
    inputs = []
    for kind, text in args.inputs:
        path = _find_library(text, args.library_paths) if kind == "lib" else text
        try:
            inputs.append((path, read_input(path)))
        except OSError as e:
            raise LinkError(f"cannot open {path}: {e.strerror or e}") from None
        except InputError as e:
            raise LinkError(f"{path}: {e}") from None
    return inputs


def write_atomically(path: str, data: bytes, mode: int = 0o777) -> None:
    """Never a partial output: see formats/outputs.py (``mode`` less the umask)."""
    from formats.outputs import write_atomic
    write_atomic(path, data, mode, prefix=".pyld-")


def _remove_stale(path: str) -> None:
    """After a failure, as GNU ld does: no output file, not even an older one."""
    try:
        if os.path.isfile(path):
            os.unlink(path)
    except OSError:
        pass


def run(argv: list[str]) -> int:
    try:
        args = parse_args(argv)
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        print(f"{PROG}: use --help for usage", file=sys.stderr)
        return 1
    if args.help:
        print(USAGE, end="")
        return 0
    if args.version:
        print(f"{PROG} (pyvm) 0.1.0: an ELF32 i386 static linker in Python")
        return 0
    clash = _clash(args)
    if clash:                   # (nothing written and nothing removed)
        print(f"{PROG}: error: {clash}", file=sys.stderr)
        return 1
    try:
        result = link(_read_inputs(args), args.options)
        for warning in result.warnings:
            print(f"{PROG}: warning: {warning}", file=sys.stderr)
        write_atomically(args.output, result.output)
        if args.map_file:
            write_atomically(args.map_file, result.map_text.encode(), 0o666)
    except LinkError as e:
        for message in e.messages:
            print(f"{PROG}: error: {message}", file=sys.stderr)
        _remove_stale(args.output)
        return 1
    except OSError as e:
        print(f"{PROG}: error: cannot write {e.filename or args.output}: "
              f"{e.strerror or e}", file=sys.stderr)
        _remove_stale(args.output)
        return 1
    except BaseException:       # a bug (reported by main): no output either, as ld
        _remove_stale(args.output)
        raise
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    """``pyld``'s entry point: returns the exit status (the interpreter goes on)."""
    try:
        status = run(sys.argv[1:] if argv is None else list(argv))
    except KeyboardInterrupt:
        status = 130
    except Exception as e:      # a bug in pyld, not in the input: still no traceback
        print(f"{PROG}: internal error: {type(e).__name__}: {e} (please report this)",
              file=sys.stderr)
        status = 2
    return status


def script() -> None:
    """The ``pyld`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    script()
