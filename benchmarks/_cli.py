"""Argument checks shared by the benchmark scripts: a bad value is a one-line usage error (exit
status 2) raised right after parsing, before any table is loaded or any run starts.

The scripts run as ``python benchmarks/<name>.py`` (this directory is on ``sys.path``) and are
also loaded by file path in the tests (it may not be): each script imports it with a fallback
that adds its own directory to ``sys.path``.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterable


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose usage error also carries its message: it prints usage and
    ``<prog>: error: <message>`` to stderr and raises ``SystemExit`` with exit status 2, as argparse
    does, but ``str()`` of the exception is that message line (not ``"2"``), so a caller can read it."""

    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        line = f"{self.prog}: error: {message}"
        print(line, file=sys.stderr)
        err = SystemExit(line)
        err.code = 2
        raise err


def _int(text: str, minimum: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse ``type``: an integer >= 1."""
    return _int(text, 1, "a positive integer")


def at_least_two(text: str) -> int:
    """argparse ``type``: an integer >= 2 (a fit needs two labels, an adaptation two measurements)."""
    return _int(text, 2, "an integer >= 2")


def nonneg_int(text: str) -> int:
    """argparse ``type``: an integer >= 0."""
    return _int(text, 0, "a non-negative integer")


def names(parser: argparse.ArgumentParser, flag: str, spec: str, allowed: Iterable[str]) -> list[str]:
    """The comma-separated names of ``spec``; a usage error naming the first one not in ``allowed``
    (an empty ``spec`` included: it does not mean "the default"), or the first one given twice (it
    would print the same row twice)."""
    allowed = list(allowed)
    if not spec.strip():
        parser.error(f"argument {flag}: no name given; choose from {', '.join(allowed)}")
    got = spec.split(",")
    bad = [x for x in got if x not in allowed]
    if bad:
        parser.error(f"argument {flag}: unknown {bad[0]!r}; choose from {', '.join(allowed)}")
    twice = [x for i, x in enumerate(got) if x in got[:i]]
    if twice:
        parser.error(f"argument {flag}: {twice[0]!r} given twice")
    return got


def ints(parser: argparse.ArgumentParser, flag: str, spec: str, minimum: int = 1, maximum: int | None = None) -> list[int]:
    """The comma-separated integers of ``spec``, each in ``[minimum, maximum]``; else a usage error naming the bad one."""
    out = []
    for x in spec.split(","):
        try:
            v = int(x)
        except ValueError:
            v = None
        if v is None or v < minimum or (maximum is not None and v > maximum):
            bounds = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
            parser.error(f"argument {flag}: {x!r} is not an integer {bounds} (comma-separated list expected)")
        out.append(v)
    return out


def floats(parser: argparse.ArgumentParser, flag: str, spec: str, low: float | None = None, high: float | None = None,
           low_open: bool = False) -> list[float]:
    """The comma-separated finite numbers of ``spec``, each in the given bounds; else a usage error naming the bad one
    (nan and inf included)."""
    out = []
    for x in spec.split(","):
        try:
            v = float(x)
        except ValueError:
            v = float("nan")
        ok = math.isfinite(v) and (low is None or (v > low if low_open else v >= low)) and (high is None or v <= high)
        if not ok:
            bounds = " and ".join(
                b for b in ((f"{'>' if low_open else '>='} {low:g}" if low is not None else ""),
                            (f"<= {high:g}" if high is not None else "")) if b
            )
            parser.error(f"argument {flag}: {x!r} is not a finite number{' ' + bounds if bounds else ''} (comma-separated list expected)")
        out.append(v)
    return out


def number(parser: argparse.ArgumentParser, flag: str, text: str, low: float | None = None, high: float | None = None,
           low_open: bool = False) -> float:
    """The one finite number of ``text`` in the given bounds (:func:`floats` of a single value); else a usage error."""
    if "," in text:
        parser.error(f"argument {flag}: one number expected, got {text!r}")
    return floats(parser, flag, text, low, high, low_open)[0]


def shown_failures(failed: list[str]) -> str:
    """The first three of ``failed`` (run names), and how many more: a script's last line after failures."""
    return ", ".join(failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
