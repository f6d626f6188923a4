"""``contactcore flows``: check call flows, generate their prompts, reload them live."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from contactcore.adapters.tts.espeak import EspeakSynthesizer
from contactcore.cli._common import settings_from
from contactcore.errors import ContactcoreError, NotFound
from contactcore.ivr.loader import load_flows
from contactcore.ivr.model import FlowError, FlowSet
from contactcore.ivr.prompts import PromptBuilder

DEFAULT_PID_FILE = Path("var/contactcore.pid")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("flows", help="call flows (dialplans/*.yaml): check, prompts, reload")
    flows = p.add_subparsers(dest="flows_command", metavar="ACTION", required=True)

    check = flows.add_parser("check", help="validate the flow files and print a summary")
    check.add_argument("dir", nargs="?", type=Path, help="default: controller.dialplans_dir")
    check.set_defaults(handler=_check)

    prompts = flows.add_parser("prompts", help="generate the custom prompts' sound files")
    prompts.add_argument("dir", nargs="?", type=Path, help="default: controller.dialplans_dir")
    prompts.add_argument("--sounds-dir", type=Path, help="default: controller.sounds_dir")
    prompts.add_argument("--recorded-dir", type=Path, help="default: ivr.recorded_prompts_dir")
    prompts.set_defaults(handler=_prompts)

    reload = flows.add_parser("reload", help="make the running controller reload its flows")
    reload.add_argument("--pid-file", type=Path, default=DEFAULT_PID_FILE)
    reload.set_defaults(handler=_reload)


def _directory(args: argparse.Namespace) -> Path:
    if args.dir is not None:
        return Path(args.dir)
    return settings_from(args).controller.dialplans_dir


def _load(directory: Path) -> FlowSet | None:
    try:
        return load_flows(directory)
    except FlowError as exc:
        for problem in exc.problems:
            print(f"contactcore: {problem}", file=sys.stderr)
        return None


def _check(args: argparse.Namespace) -> int:
    fs = _load(_directory(args))
    if fs is None:
        return 1
    for number, flow in sorted(fs.flows.items()):
        kinds = sorted({n.type for n in flow.nodes.values()})
        print(
            f"flow {number} '{flow.name}' ({flow.source}): {len(flow.nodes)} nodes, "
            f"start '{flow.start}', types: {', '.join(kinds)}"
        )
    print(
        f"ok: {len(fs.flows)} flows, {len(fs.prompts)} prompts, {len(fs.hours)} hours "
        f"in {len(fs.sources)} files"
    )
    return 0


def _prompts(args: argparse.Namespace) -> int:
    fs = _load(_directory(args))
    if fs is None:
        return 1
    settings = settings_from(args)
    builder = PromptBuilder(
        EspeakSynthesizer(speed=settings.ivr.tts_speed),
        sounds_dir=args.sounds_dir or settings.controller.sounds_dir,
        recorded_dir=args.recorded_dir or settings.ivr.recorded_prompts_dir,
        default_voice=settings.ivr.tts_voice,
    )
    report = asyncio.run(builder.build(fs.prompts))
    print(
        f"prompts in {builder.sounds_dir}: {len(report.generated)} generated, "
        f"{len(report.recorded)} from recordings, {len(report.cached)} unchanged"
    )
    return 0


def _reload(args: argparse.Namespace) -> int:
    pid_file: Path = args.pid_file
    try:
        pid = int(pid_file.read_text().strip())
    except FileNotFoundError:
        raise NotFound(
            f"flows: no pid file {pid_file}: is the controller running? (or give --pid-file)"
        ) from None
    except ValueError:
        raise ContactcoreError(f"flows: {pid_file} does not hold a process id") from None
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise NotFound(f"flows: no process {pid} (stale pid file {pid_file})") from None
    print(f"asked process {pid} to reload its flows (its log reports the result)")
    return 0
