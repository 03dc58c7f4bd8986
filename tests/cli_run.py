"""A helper shared by the CLI tests (imported, not collected: its name does not start with test_)."""

from __future__ import annotations

from nagen.cli import main


def run_cli(argv: list[str]) -> int:
    """``nagen.cli.main``'s exit code, argparse's own exits (``--help``, usage errors) included."""
    try:
        return main(argv)
    except SystemExit as e:
        return int(e.code)
