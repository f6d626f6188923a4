"""Command line: ``contactcore <command> ...``.

Each command group lives in a module of this package with a ``register(subparsers)``
function; they are found automatically. Errors we expect become one readable line
and an exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path

from contactcore import __version__
from contactcore.errors import ConfigError, ContactcoreError, DependencyUnavailable

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="contactcore",
        description=(
            "contactcore: a contact center on real Asterisk. "
            "Settings come from contactcore.toml (or --config) and CONTACTCORE_* variables."
        ),
    )
    parser.add_argument("--version", action="version", version=f"contactcore {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="settings file (TOML); default: ./contactcore.toml or $CONTACTCORE_CONFIG",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    package = importlib.import_module(__name__)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        result: int = args.handler(args)
        return result
    except ConfigError as exc:
        print(f"contactcore: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DependencyUnavailable as exc:
        print(f"contactcore: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except ContactcoreError as exc:
        print(f"contactcore: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # e.g. `contactcore ... | head`: the reader left; that is not an error of ours.
        # Point stdout at /dev/null so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
