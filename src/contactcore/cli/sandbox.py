"""``contactcore sandbox up|down|status|cli``: the local Asterisk sandbox.

Asterisk 22 from Debian's packages in a cached root filesystem, run under chroot on
loopback only. ``--instance`` runs several side by side (each with its own ports).
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from contactcore.cli._common import settings_from
from contactcore.sandbox.config import render_config
from contactcore.sandbox.paths import InstancePaths
from contactcore.sandbox.service import Sandbox, SandboxConfig, Status


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sandbox",
        help="the local Asterisk sandbox (build, start, stop, console)",
        description=(
            "The local Asterisk sandbox: Asterisk 22 from Debian's packages in a cached root "
            "filesystem, run under chroot on 127.0.0.1 only. --instance runs several side by "
            "side, each with its own ports (CONTACTCORE_SANDBOX__SIP_PORT, __ARI_PORT, "
            "__RTP_START, __RTP_END)."
        ),
    )
    actions = p.add_subparsers(dest="sandbox_command", metavar="ACTION", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        a = actions.add_parser(name, help=help_text)
        a.add_argument(
            "--instance",
            default=None,
            help="instance name (default: sandbox.instance, i.e. 'default'); each has its "
            "own directories and ports",
        )
        return a

    add("up", "build the root filesystem if needed, install asterisk/, start").set_defaults(
        handler=_up
    )
    add("down", "stop Asterisk; no process of the instance is left").set_defaults(handler=_down)
    add("status", "running or not, pid, version, uptime, ARI, ports").set_defaults(handler=_status)
    c = add("cli", "run an Asterisk CLI command, or open the console without one")
    c.add_argument("words", nargs=argparse.REMAINDER, metavar="COMMAND")
    c.set_defaults(handler=_cli)
    r = add(
        "render",
        "write the instance's rendered Asterisk configuration to a folder (e.g. for a Docker "
        "image) without starting anything",
    )
    r.add_argument("--out", type=Path, required=True, help="folder to write the *.conf files to")
    r.add_argument(
        "--source", type=Path, default=None, help="the asterisk/ folder (default: the checkout's)"
    )
    r.set_defaults(handler=_render)


def _render(args: argparse.Namespace) -> int:
    config = SandboxConfig.from_settings(settings_from(args), args.instance)
    source = args.source or config.config_dir
    paths = InstancePaths(config.root, config.instance)
    files = render_config(source, config.render_values, paths)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text)
    print(f"sandbox: {len(files)} file(s) for instance {config.instance} written to {args.out}")
    return 0


def _sandbox(args: argparse.Namespace) -> Sandbox:
    config = SandboxConfig.from_settings(settings_from(args), args.instance)
    return Sandbox(config, progress=lambda line: print(f"sandbox: {line}", flush=True))


def _where(sb: Sandbox) -> str:
    c = sb.config
    return (
        f"SIP udp {c.sandbox_ari_url.split('//')[1].split(':')[0]}:{c.sip_port}, "
        f"ARI {c.sandbox_ari_url}/ari (user {c.ari_username}, app {c.ari_app}), "
        f"RTP {c.rtp_start}-{c.rtp_end}"
    )


def _up(args: argparse.Namespace) -> int:
    sb = _sandbox(args)
    result = sb.up()
    words = {
        "started": "started",
        "running": "already running (configuration unchanged)",
        "reloaded": "configuration changed: reloaded",
        "restarted": "configuration changed: restarted",
    }
    print(
        f"sandbox: instance '{sb.config.instance}' {words[result.action]}, pid {result.pid}, "
        f"{result.version}"
    )
    print(f"sandbox: {_where(sb)}")
    print(f"sandbox: logs in {sb.paths.log}/ (messages, full)")
    print(f"sandbox: console: contactcore sandbox cli --instance {sb.config.instance}")
    return 0


def _down(args: argparse.Namespace) -> int:
    sb = _sandbox(args)
    stopped = sb.down()
    if stopped:
        print(
            f"sandbox: instance '{sb.config.instance}' stopped (pid {', '.join(map(str, stopped))})"
        )
    else:
        print(f"sandbox: instance '{sb.config.instance}' was not running")
    return 0


def _format_uptime(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def print_status(st: Status) -> None:
    if st.running:
        print(
            f"instance '{st.instance}': running, pid {st.pid}, {st.version}, "
            f"up {_format_uptime(st.uptime)}"
        )
    else:
        print(f"instance '{st.instance}': not running")
    ari = "reachable" if st.ari_reachable else "not reachable"
    print(f"  ARI   {st.ari_url}/ari ({ari})")
    print(f"  SIP   udp 127.0.0.1:{st.sip_port}")
    print(f"  RTP   127.0.0.1:{st.rtp_range[0]}-{st.rtp_range[1]}")
    print(f"  logs  {st.log_dir}/")
    print(f"  root  {st.root} ({'built' if st.built else 'not built yet'})")


def _status(args: argparse.Namespace) -> int:
    st = _sandbox(args).status()
    print_status(st)
    return 0 if st.running else 3


def _cli(args: argparse.Namespace) -> int:
    sb = _sandbox(args)
    sb.require_running()
    words = [w for w in args.words if w != "--"]
    return subprocess.call(sb.cli_argv(words))
