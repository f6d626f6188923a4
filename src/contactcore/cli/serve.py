"""``contactcore serve``: the controller process."""

from __future__ import annotations

import argparse
import asyncio
import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

from contactcore.cli._common import settings_from


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run the controller (ARI app, routing, web) until SIGTERM/Ctrl-C",
        description=(
            "Connects to the database (migrating it), Redis and Asterisk (ARI), takes every call "
            "into the Stasis app and serves the web app with /healthz and /metrics. SIGTERM stops "
            "taking new calls, lets calls in progress finish, then exits."
        ),
    )
    p.add_argument("--pid-file", type=Path, default=None, help="write the process id here")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from contactcore.app import serve

    settings = settings_from(args)
    settings.log.dir.mkdir(parents=True, exist_ok=True)
    handler = RotatingFileHandler(
        settings.log.dir / "contactcore.log", maxBytes=20_000_000, backupCount=5
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if not args.verbose:
        root.setLevel(settings.log.level)
    return asyncio.run(serve(settings, args.pid_file))
