"""Console entry points that return an exit status instead of ending the interpreter:
``vm.cli.main([...])`` and ``vm.tools.main([...])`` can be called from Python (twice, in
one process); the console scripts wrap them in ``sys.exit``."""

from __future__ import annotations

from typing import Optional, Sequence

import click

from vm.options import EXIT_INTERRUPTED
from vm.startup import status_of


def call(command: click.Command, argv: Optional[Sequence[str]], prog_name: str) -> int:
    """Run a click command on ``argv`` (None: sys.argv[1:]) and return its exit status."""
    def main() -> object:
        try:
            return command.main(args=list(argv) if argv is not None else None,
                                prog_name=prog_name, standalone_mode=False)
        except click.exceptions.Exit as exc:
            return exc.exit_code
        except click.exceptions.Abort:       # Ctrl-C outside a run (a run reports it itself)
            return EXIT_INTERRUPTED
        except click.ClickException as exc:
            exc.show()
            return exc.exit_code
    return status_of(main)


class ReturningCommand(click.Command):
    """A click command whose ``__call__(argv)`` returns the exit status (click's own
    exits the process); ``.main()`` stays click's, for click.testing."""

    def __call__(self, argv: Optional[Sequence[str]] = None) -> int:  # type: ignore[override]
        return call(self, argv, self.name or "pyvm")


class ReturningGroup(click.Group):
    def __call__(self, argv: Optional[Sequence[str]] = None) -> int:  # type: ignore[override]
        return call(self, argv, self.name or "pyvm-tools")
