"""``fastdepth`` (the console script) and ``python -m fastdepth``: ``sweep`` and ``report``.

::

    fastdepth sweep --seeds 50          # = python -m fastdepth.sweep --seeds 50
    fastdepth report runs/<store>       # = python -m fastdepth.report runs/<store>
    fastdepth --version

Exit codes are the subcommand's: 0 done, 2 invalid command or input (one ``error:``
line), 130 / 143 interrupted (the sweep resumes).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from fastdepth import __version__
from fastdepth.kernels.vocab import hint

PROG = "fastdepth"


def _sweep(argv: list[str]) -> int:
    from fastdepth.sweep import main

    return main(argv)


def _report(argv: list[str]) -> int:
    from fastdepth.report import main

    return main(argv)


COMMANDS: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "sweep": (_sweep, "train a grid of networks into a resumable store, print the summary"),
    "report": (_report, "draw a store's figures and write its report.md"),
}


def usage() -> str:
    """The top-level help text."""
    lines = [f"usage: {PROG} COMMAND [ARGS...]   ({PROG} COMMAND --help for its options)", ""]
    lines += [f"  {name:<8}{doc}" for name, (_, doc) in COMMANDS.items()]
    lines += ["", "options:", "  -h, --help  show this help and exit",
              "  --version   print the fastdepth version and exit"]  # fmt: skip
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``fastdepth COMMAND ...``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(usage(), file=sys.stderr)
        print(f"error: give a command: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    first, rest = argv[0], argv[1:]
    if first in ("-h", "--help"):
        print(usage())
        return 0
    if first == "--version":
        print(f"fastdepth {__version__}")
        return 0
    if first not in COMMANDS:
        print(
            f"error: unknown command {first!r}{hint(first, COMMANDS)} valid: "
            f"{', '.join(COMMANDS)} (see {PROG} --help)",
            file=sys.stderr,
        )
        return 2
    return COMMANDS[first][0](rest)


if __name__ == "__main__":
    sys.exit(main())
