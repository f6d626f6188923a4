"""Run SIPp (Debian package ``sip-tester``) against a sandbox instance.

Used by the end-to-end tests and handy by hand: one call returns SIPp's exit code
and its final statistics (``-trace_stat``), with errors (``-trace_err``) and,
optionally, every SIP message (``-trace_msg``) kept in a directory of the caller's.
"""

from __future__ import annotations

import csv
import re
import shutil
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from contactcore.errors import SandboxError

PCAP_DIR = Path("/usr/share/sip-tester")
_PCAP_RE = re.compile(r"dtmf_2833_[0-9a-z]+\.pcap")
_DIGIT_FILES = {"*": "star", "#": "pound"}

# SIPp exit codes (see sipp(1)).
EXIT_ALL_OK = 0
EXIT_SOME_FAILED = 1
EXIT_NO_CALLS = 99


@dataclass(frozen=True)
class SippResult:
    """How a SIPp run ended; ``stats`` is the last line of its statistics file."""

    returncode: int
    stats: dict[str, str]
    trace_dir: Path
    stdout: str = field(repr=False, default="")

    def count(self, name: str) -> int:
        """A cumulative counter, e.g. ``count("SuccessfulCall")``."""
        return int(self.stats.get(f"{name}(C)", "0") or 0)

    @property
    def successful(self) -> int:
        return self.count("SuccessfulCall")

    @property
    def failed(self) -> int:
        return self.count("FailedCall")

    def errors(self) -> str:
        """SIPp's error log (empty when it had nothing to say)."""
        return "\n".join(
            f.read_text(errors="replace") for f in sorted(self.trace_dir.glob("*errors.log"))
        )


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A port nothing uses right now (for SIPp's own SIP and media sockets)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def dtmf_pcap(digit: str) -> Path:
    name = _DIGIT_FILES.get(digit, digit)
    path = PCAP_DIR / f"dtmf_2833_{name}.pcap"
    if len(digit) != 1 or not path.is_file():
        raise SandboxError(
            f"sipp: no RFC 2833 pcap for digit {digit!r} in {PCAP_DIR}: use 0-9, * or # "
            "(apt-get install sip-tester)"
        )
    return path


def with_digit(scenario: Path, digit: str, out_dir: Path) -> Path:
    """A copy of ``scenario`` whose DTMF pcap plays ``digit``."""
    text = scenario.read_text()
    if not _PCAP_RE.search(text):
        raise SandboxError(f"sipp: {scenario} plays no dtmf_2833_*.pcap, so dtmf= has no effect")
    copy = out_dir / f"{scenario.stem}_{_DIGIT_FILES.get(digit, digit)}.xml"
    copy.write_text(_PCAP_RE.sub(dtmf_pcap(digit).name, text))
    return copy


def _last_stats(stat_file: Path) -> dict[str, str]:
    if not stat_file.is_file():
        return {}
    with stat_file.open(newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


def run_sipp(
    scenario: Path,
    *,
    target: str,
    trace_dir: Path,
    calls: int = 1,
    rate: float = 1.0,
    concurrent: int | None = None,
    service: str = "100",
    caller: str = "5551000",
    dtmf: str | None = None,
    timeout: float = 60.0,
    trace_messages: bool = False,
    extra_args: Sequence[str] = (),
) -> SippResult:
    """Place ``calls`` calls at ``rate`` per second from ``scenario`` to ``target``.

    ``target`` is ``HOST:PORT`` of the sandbox's SIP transport; ``service`` the number
    dialled; ``caller`` the From user; ``dtmf`` the key a DTMF scenario presses.
    SIPp stops after ``timeout`` seconds at the latest (counted as failure).
    """
    if shutil.which("sipp") is None:
        raise SandboxError("sipp: SIPp is not installed: apt-get install sip-tester")
    trace_dir = trace_dir.resolve()
    trace_dir.mkdir(parents=True, exist_ok=True)
    scenario = scenario.resolve()
    if not scenario.is_file():
        raise SandboxError(f"sipp: scenario {scenario} does not exist")
    if dtmf is not None:
        scenario = with_digit(scenario, dtmf, trace_dir)
    stat_file = trace_dir / f"{scenario.stem}_stats.csv"
    error_file = trace_dir / f"{scenario.stem}_errors.log"
    argv = [
        "sipp",
        "-sf", str(scenario),
        "-i", "127.0.0.1",
        "-mi", "127.0.0.1",
        "-p", str(free_udp_port()),
        "-mp", str(free_udp_port()),
        "-s", service,
        "-key", "caller", caller,
        "-m", str(calls),
        "-r", f"{rate:g}",
        "-l", str(concurrent or calls),
        "-timeout", f"{timeout:g}s",
        "-timeout_error",
        "-nostdin",
        "-trace_stat", "-stf", str(stat_file), "-fd", "1",
        "-trace_err", "-error_file", str(error_file),
    ]  # fmt: skip
    if trace_messages:
        argv += ["-trace_msg", "-message_file", str(trace_dir / f"{scenario.stem}_messages.log")]
    argv += [*extra_args, target]
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout + 15,
            cwd=trace_dir,
        )
    except subprocess.TimeoutExpired:
        raise SandboxError(
            f"sipp: did not exit within {timeout + 15:.0f} s; see {trace_dir}"
        ) from None
    return SippResult(proc.returncode, _last_stats(stat_file), trace_dir, proc.stdout + proc.stderr)
