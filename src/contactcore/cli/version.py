"""``contactcore version``: print the version (handy in bug reports)."""

from __future__ import annotations

import argparse

from contactcore import __version__


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("version", help="print the version")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    print(f"contactcore {__version__}")
    return 0
