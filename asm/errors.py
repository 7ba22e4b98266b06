"""Diagnostics shared by the assemblers and the linker."""

from __future__ import annotations


class AsmError(Exception):
    """An error in the user's input, reported as ``file:line: error: message``.

    ``file``/``line`` may be filled in later by the driver that knows the location.
    """

    def __init__(self, message: str, file: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line

    def __str__(self) -> str:
        if self.file is not None and self.line is not None:
            return f"{self.file}:{self.line}: error: {self.message}"
        if self.file is not None:
            return f"{self.file}: error: {self.message}"
        return f"error: {self.message}"


class AsmErrors(Exception):
    """Several errors from one run; the CLI prints each and exits 1."""

    def __init__(self, errors: list[AsmError]):
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


def did_you_mean(word: str, known: dict[str, str]) -> str:
    """``" (did you mean 'X'?)"`` for a near miss, else "". ``known`` maps the forms to
    compare (e.g. upper-cased names) to the spelling to show."""
    import difflib
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.7)
    return f" (did you mean '{known[close[0]]}'?)" if close else ""
