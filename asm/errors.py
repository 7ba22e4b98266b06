"""Diagnostics shared by the assemblers and the linker."""

from __future__ import annotations

import re


class AsmError(Exception):
    """An error in the user's input, reported as ``file:line: error: message``.

    ``file``/``line`` may be filled in later by the driver that knows the location.
    """

    severity = "error"      # (`%fatal`'s: "fatal", as NASM prints it)
    after_warnings: tuple = ()

    def __init__(self, message: str, file: str | None = None, line: int | None = None, *,
                 also: tuple = (), line_warnings: tuple = (), after_warnings: tuple = (),
                 status: int = 1):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.also = also            # NASM's further errors on the line, after this one
        self.line_warnings = line_warnings  # ... and its warnings on the line, before it
        self.after_warnings = after_warnings    # ... and after it
        self.status = status        # the exit status: NASM's 3 where it panics (`resb -1`)

    def __str__(self) -> str:
        if self.file is not None and self.line is not None:
            return f"{self.file}:{self.line}: {self.severity}: {self.message}"
        if self.file is not None:
            return f"{self.file}: {self.severity}: {self.message}"
        return f"{self.severity}: {self.message}"


class AsmErrors(Exception):
    """Several errors from one run; the CLI prints each and exits 1."""

    def __init__(self, errors: list[AsmError]):
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


def source_context(file: str | None, line: int | None, message: str) -> list[str]:
    """What pyasm adds after NASM's ``file:line: error: message``: the source line, then a
    caret line under the offending token (the first quoted name of the message found on
    the line, else the line's first word). [] when the line cannot be read."""
    import re
    if not file or not line or line < 1:
        return []
    text = _source_line(file, line)
    if text is None or not text.strip():
        return []
    text = text.rstrip("\r\n")
    if len(text) > 200:
        return []
    start, length = len(text) - len(text.lstrip()), 0
    first = re.match(r"\s*([^\s,]+)", text)
    if first:
        length = len(first.group(1))
    for name in re.findall(r"[`']([^`'\s]+)'", message):
        m = re.search(r"(?<![\w.$?@])" + re.escape(name) + r"(?![\w$?@])", text, re.I)
        if m:
            start, length = m.start(), len(name)
            break
    # keep the line's tabs in the caret's indentation so the caret lines up
    pad = "".join(c if c == "\t" else " " for c in text[:start])
    return [f"    {text}", f"    {pad}^{'~' * max(length - 1, 0)}"]


_LINES: dict = {}


def _source_line(file: str, line: int) -> str | None:
    import os
    import stat
    try:
        st = os.stat(file)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size > 64 << 20:
        return None
    # (the file as it is now: an in-process run after an edit, or the same relative
    # name in another directory, must not show a line read before)
    key = (os.path.abspath(file), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    lines = _LINES.get(key)
    if lines is None:
        try:
            with open(file, encoding="utf-8", errors="surrogateescape") as f:
                lines = f.read().split("\n")
        except OSError:
            return None
        if len(_LINES) > 64:
            _LINES.clear()
        _LINES[key] = lines
    return lines[line - 1] if line <= len(lines) else None


def did_you_mean(word: str, known: dict[str, str]) -> str:
    """``" (did you mean 'X'?)"`` for a near miss, else "". ``known`` maps the forms to
    compare (e.g. upper-cased names) to the spelling to show."""
    import difflib
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.7)
    return f" (did you mean '{known[close[0]]}'?)" if close else ""


class NolistFrame(tuple):
    """A macro level ``(file, line, macro)`` of a trace whose macro was defined `.nolist`
    (NASM's built-in macros all are): NASM names no macro from that level inwards."""

    __slots__ = ()


def noted_frames(trace: tuple) -> tuple:
    """The macro levels of ``trace`` (outermost first) NASM names in its notes: those
    before the first `.nolist` one (its pp_error_list_macros stops there)."""
    for k, frame in enumerate(trace):
        if type(frame) is NolistFrame or frame[0] == "<stdmac>":
            return trace[:k]
    return trace


def macro_notes(trace: tuple) -> list:
    """NASM's "... from macro `m' defined here" notes for a line ``trace`` expanded."""
    return [f"{f}:{n}: ... from macro `{m}' defined here" for f, n, m in noted_frames(trace)]


def with_notes(warning: str, trace: tuple) -> str:
    """A warning and, on lines of its own, NASM's notes for the macro levels of ``trace``."""
    return "\n".join([warning, *macro_notes(trace)])


_NOT_SUPPORTED = "' is not supported in this context"


# the functions NASM's scanner knows (`__?float32?__`, or its standard macros' old names
# `__float32__`; bfloat16 has none): any other name before `(` is a symbol
_NASM_FUNCTIONS = frozenset(
    [f"__float{n}__" for n in ("8", "16", "32", "64", "80m", "80e", "128l", "128h")]
    + ["__bfloat16__"] + [f"__utf{n}{e}__" for n in ("16", "32") for e in ("", "le", "be")]
    + [f"__ilog2{c}__" for c in "ewfc"])


def call_syntax_message(message: str, text: str) -> str:
    """NASM's message for `name(...)` where name is no function of its (pyasm's grammar
    reads a call and fails when it is evaluated): its parser stops at the `(` and says
    what it expected there. ``text`` is the source line; others' messages pass through."""
    if not (message.startswith("`") and message.endswith(_NOT_SUPPORTED)):
        return message
    name = message[1:-len(_NOT_SUPPORTED)]
    key = name.replace("?", "")
    m = re.search(r"(?<![\w.$?@#~])" + re.escape(name) + r"\s*\(", text)
    if m is None or (key in _NASM_FUNCTIONS and (key != "__bfloat16__" or "?" in name)):
        return message              # (NASM's own functions: __float32__, __ilog2e__...)
    before = text[:m.start()]
    brackets = before.count("[") - before.count("]")
    parens = before.count("(") - before.count(")")
    if brackets > 0:
        return "expecting ] at end of memory operand"
    if parens > 0:
        return "expecting `)'"
    words = before.replace(":", " ").split()
    if any(w.lower() in ("db", "dw", "dd", "dq", "dt", "do", "dy", "dz") for w in words):
        return "comma expected after operand"
    return "comma, colon, decorator or end of line expected after operand"


_WARNING_CLASS = re.compile(r"\[-w\+(?:error=)?([A-Za-z0-9-]+)\]\s*$")


def warning_rule(word: str) -> tuple:
    """(enabled, class) of one warning word of NASM's -w options and `[warning]`
    directives: `+class`, `-class`, `no-class`, `class`; NASM's old class names read as
    the new ones."""
    if word.startswith(("-", "+")):
        on, name = word[0] == "+", word[1:]
    elif word.startswith("no-"):
        on, name = False, word[3:]
    else:
        on, name = True, word
    name = name.lower()
    if name == "orphan-labels":
        name = "label-orphan"
    elif name.startswith("macro-params"):
        name = "pp-" + name            # (NASM 2.16's old names of the pp- classes)
    return on, name


def _flag(name: str) -> tuple:
    """A rule's (flag, class): NASM keeps two flags per warning class, shown (`class`) and
    an error (`error=class`; bare `error`: every class)."""
    if name == "error" or name.startswith("error="):
        return "error", name[6:] or "all"
    return "shown", name


def _covers(name: str, cls: str) -> bool:
    return name == "all" or cls == name or cls.startswith(name + "-")


def warning_class(warning: str) -> str:
    """A warning's class: the `[-w+class]` its first line ends with, else `other`."""
    m = _WARNING_CLASS.search(warning.split("\n", 1)[0])
    return m.group(1).lower() if m else "other"


# classes NASM 2.16 makes errors unless the rules say otherwise (WARN_ST_ERROR)
DEFAULT_ERRORS = frozenset(("pp-macro-def-param-single",))


def _state(flag: str, cls: str, rules) -> bool:
    state = flag == "shown" or cls in DEFAULT_ERRORS
    for on, name in rules:
        f, target = _flag(name)
        if f == flag and _covers(target, cls):
            state = on
    return state


def warning_enabled(warning: str, rules) -> bool:
    """Whether NASM's -w options or `[warning]` directives (``rules``: (enabled, class)
    pairs in the order given; a class also names the classes it starts, `all` every one)
    leave the warning shown."""
    return _state("shown", warning_class(warning), rules)


def warning_is_error(warning: str, rules) -> bool:
    """Whether the rules make the (shown) warning an error (`-Werror=class`, `[warning
    +error=class]`; NASM then says ``error: ... [-w+error=class]``)."""
    return _state("error", warning_class(warning), rules)


def as_error(warning: str) -> str:
    """A warning's message as NASM words it when the warning is an error."""
    return _WARNING_CLASS.sub(lambda m: f"[-w+error={m.group(1)}]", warning, count=1)


def with_rules(rules, new) -> list:
    """``rules`` followed by ``new`` (a new list: pushed states keep theirs), without the
    earlier rules of a name a new one repeats: the last matching rule decides
    (:func:`_state`), so a source repeating `[warning +x]` keeps the list short."""
    names = {name for _, name in new}
    return [r for r in rules if r[1] not in names] + list(new)


def restored_rules(name: str, initial) -> list:
    """The rules `[warning *name]` adds: the flag of the classes ``name`` covers back to
    what the command line's ``initial`` rules made it (NASM's warning_state_init)."""
    flag, target = _flag(name)
    out = [(flag == "shown" or target in DEFAULT_ERRORS, name)]
    if flag == "error":     # (a wider name: the classes that are errors by default too)
        out += [(True, f"error={cls}") for cls in sorted(DEFAULT_ERRORS)
                if cls != target and _covers(target, cls)]
    for on, rule in initial:
        f, cls = _flag(rule)
        if f != flag:
            continue
        if _covers(cls, target):        # a wider rule: only for the classes restored
            out.append((on, name))
        elif _covers(target, cls):      # a narrower one, as it was
            out.append((on, rule))
    return out


def in_nasm_order(errors: list, warnings: list, order=None) -> list:
    """The errors and the warnings interleaved as NASM prints them, as it goes: ``order``
    holds each warning's place (Assembler._order: its line's place, the preprocessor's or
    the assembler's, how many of the pass's errors came before it); an error's is its
    ``order``. Without places: the warnings first."""
    if order is None or len(order) != len(warnings):
        return list(warnings) + list(errors)
    out: list = []
    k = 0
    place = None
    for e in errors:
        place = getattr(e, "order", place)  # (none: the one before's)
        while k < len(warnings) and (place is None or order[k] <= place):
            out.append(warnings[k])
            k += 1
        out.append(e)
    return out + warnings[k:]


class WarningError(str):
    """A warning the rules made an error (NASM's text, ``file:line: error: ...``): it
    stays in the warnings' order, and the run fails."""
