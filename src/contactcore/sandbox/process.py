"""Finding, checking and stopping an instance's Asterisk process from the host.

A pid file alone is not trusted (the root filesystem's ``/run`` is on disk and
survives reboots), so a process counts as the instance's Asterisk only when
``/proc`` says so: its root is the sandbox root and its command line names the
instance's ``asterisk.conf``. Remote consoles (``-r``/``-x``) are not the server.
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    argv: tuple[str, ...]
    root: str
    state: str


def _read_proc(pid: int) -> ProcInfo | None:
    base = PROC / str(pid)
    try:
        raw = (base / "cmdline").read_bytes()
        root = os.readlink(base / "root")
        stat = (base / "stat").read_text()
    except OSError:
        return None
    argv = tuple(a.decode(errors="replace") for a in raw.split(b"\0") if a)
    state = stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else "?"
    return ProcInfo(pid, argv, root, state)


def _is_server(info: ProcInfo, config_file: str) -> bool:
    if not info.argv or not info.argv[0].endswith("asterisk"):
        return False
    if any(a.startswith(("-r", "-R", "-x")) or a in ("-rx", "-Rx") for a in info.argv[1:]):
        return False
    args = list(info.argv[1:])
    return (
        "-C" in args
        and args.index("-C") + 1 < len(args)
        and args[args.index("-C") + 1] == config_file
    )


def find_servers(root: Path, config_file: str) -> list[int]:
    """Pids of live Asterisk servers running from ``root`` with ``config_file``."""
    want = str(root.resolve())
    pids: list[int] = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        info = _read_proc(int(entry.name))
        if info is None or info.state in ("Z", "X"):
            continue
        if info.root == want and _is_server(info, config_file):
            pids.append(info.pid)
    return sorted(pids)


def sandbox_of(pid: int) -> tuple[str, str] | None:
    """(instance, root) of a sandbox Asterisk server, from its root and its -C path."""
    info = _read_proc(pid)
    if info is None or not info.argv or not info.argv[0].endswith("asterisk"):
        return None
    args = list(info.argv)
    if "-C" in args and args.index("-C") + 1 < len(args):
        parent = Path(args[args.index("-C") + 1]).parent.name
        if parent.startswith("asterisk-"):
            return parent[len("asterisk-") :], info.root
    return None


def alive(pid: int) -> bool:
    info = _read_proc(pid)
    return info is not None and info.state not in ("Z", "X")


def start_time_ticks(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[-1].split()[19])


def uptime_seconds(pid: int) -> float | None:
    ticks = start_time_ticks(pid)
    if ticks is None:
        return None
    try:
        boot_uptime = float((PROC / "uptime").read_text().split()[0])
    except OSError:
        return None
    return max(0.0, boot_uptime - ticks / os.sysconf("SC_CLK_TCK"))


def read_pid_file(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


# ---- ports -----------------------------------------------------------------------------


def port_free(proto: str, host: str, port: int) -> bool:
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as s:
        if proto == "tcp":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _socket_inodes(proto: str, port: int) -> set[str]:
    inodes: set[str] = set()
    for table in (f"net/{proto}", f"net/{proto}6"):
        try:
            lines = (PROC / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) < 10:
                continue
            local_port = int(f[1].rsplit(":", 1)[1], 16)
            # TCP: only listening sockets (state 0A) own the port.
            if local_port == port and (proto == "udp" or f[3] == "0A"):
                inodes.add(f[9])
    return inodes


def port_owner(proto: str, port: int) -> tuple[int, str] | None:
    """(pid, command) of a process holding a local port, if /proc tells."""
    inodes = _socket_inodes(proto, port)
    if not inodes:
        return None
    targets = {f"socket:[{i}]" for i in inodes}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fd_dir = entry / "fd"
        try:
            fds = list(fd_dir.iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in targets:
                    comm = (entry / "comm").read_text().strip()
                    return int(entry.name), comm
            except OSError:
                continue
    return None
