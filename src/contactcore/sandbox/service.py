"""``up``, ``down``, ``status`` and ``cli`` for one sandbox instance.

Several instances run side by side from one root filesystem; each has its own
configuration and state directories (see :mod:`contactcore.sandbox.paths`) and its
own ports. Every wait has a deadline; every failure is one :class:`SandboxError` line
that says what to do.
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from contactcore.errors import SandboxError
from contactcore.sandbox import process, rootfs
from contactcore.sandbox.config import (
    RenderValues,
    default_config_dir,
    installed_config,
    needs_restart,
    render_config,
)
from contactcore.sandbox.mirror import resolve_mirror
from contactcore.sandbox.paths import (
    ASTERISK_BIN,
    SHARED_DATA,
    SOUNDS_SUBDIR,
    InstancePaths,
    check_instance_name,
)
from contactcore.sandbox.sounds import link_data_dir, sync_sounds
from contactcore.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

LOOPBACK = "127.0.0.1"
STOP_STEP_TIMEOUT = 5.0


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class SandboxConfig:
    """Everything the sandbox needs, taken from settings once."""

    root: Path
    instance: str
    suite: str
    mirror: str | None
    uid: int
    sip_port: int
    ari_port: int
    rtp_start: int
    rtp_end: int
    start_timeout: float
    ari_username: str
    ari_password: str
    ari_app: str
    ari_url: str
    sounds_dir: Path
    config_dir: Path = field(default_factory=default_config_dir)

    @classmethod
    def from_settings(cls, settings: Settings, instance: str | None = None) -> SandboxConfig:
        s = settings.sandbox
        return cls(
            root=s.root,
            instance=check_instance_name(instance or s.instance),
            suite=s.suite,
            mirror=s.mirror,
            uid=s.uid,
            sip_port=s.sip_port,
            ari_port=s.ari_port,
            rtp_start=s.rtp_start,
            rtp_end=s.rtp_end,
            start_timeout=s.start_timeout,
            ari_username=settings.ari.username,
            ari_password=settings.ari.password,
            ari_app=settings.ari.app,
            ari_url=settings.ari.url,
            sounds_dir=settings.controller.sounds_dir,
        )

    @property
    def render_values(self) -> RenderValues:
        return RenderValues(
            instance=self.instance,
            sip_port=self.sip_port,
            ari_port=self.ari_port,
            rtp_start=self.rtp_start,
            rtp_end=self.rtp_end,
            ari_username=self.ari_username,
            ari_password=self.ari_password,
            ari_app=self.ari_app,
        )

    @property
    def sandbox_ari_url(self) -> str:
        """Where this instance serves ARI (``ari.url`` should point here)."""
        return f"http://{LOOPBACK}:{self.ari_port}"


@dataclass(frozen=True)
class UpResult:
    action: str  # "started", "running", "reloaded", "restarted"
    pid: int
    version: str


@dataclass(frozen=True)
class Status:
    instance: str
    running: bool
    pid: int | None
    version: str | None
    uptime: float | None
    ari_reachable: bool
    ari_url: str
    sip_port: int
    rtp_range: tuple[int, int]
    log_dir: Path
    root: Path
    built: bool


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock so two commands never build or start the same thing at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Sandbox:
    """One instance of the Asterisk sandbox."""

    def __init__(self, config: SandboxConfig, progress: Progress = _quiet) -> None:
        self.config = config
        self.paths = InstancePaths(config.root, config.instance)
        self._progress = progress
        self._log_offset = 0

    # ---- helpers ------------------------------------------------------------------

    def say(self, message: str) -> None:
        log.debug("sandbox %s: %s", self.config.instance, message)
        self._progress(message)

    def _require_root(self) -> None:
        if os.geteuid() != 0:
            raise SandboxError(
                "sandbox: must run as root (debootstrap and chroot need it): "
                "sudo contactcore sandbox ..."
            )
        rootfs.chroot_tool()

    def _require_built(self) -> None:
        if not rootfs.is_built(self.config.root):
            raise SandboxError(
                f"sandbox: no root filesystem at {self.config.root}: "
                "run 'contactcore sandbox up' to build it"
            )

    def servers(self) -> list[int]:
        if not self.config.root.exists():
            return []
        return process.find_servers(self.config.root, str(self.paths.chroot_config_file))

    def asterisk_cli(
        self, command: str, *, timeout: float = 15.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(ASTERISK_BIN), "-C", str(self.paths.chroot_config_file), "-rx", command]
        return rootfs.run_in_chroot(self.config.root, argv, timeout=timeout, check=check)

    def ari_get(self, path: str, timeout: float = 2.0) -> tuple[int, str]:
        """(status, body) of an ARI GET; status 0 when nothing answers."""
        url = f"{self.config.sandbox_ari_url}/ari{path}"
        token = base64.b64encode(
            f"{self.config.ari_username}:{self.config.ari_password}".encode()
        ).decode()
        request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return int(response.status), response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, ""
        except (urllib.error.URLError, OSError, TimeoutError):
            return 0, ""

    def _log_tail(self, lines: int = 2) -> str:
        """The last errors Asterisk logged since this start (or its last lines)."""
        for name in ("messages", "startup.out"):
            f = self.paths.log / name
            if not f.is_file():
                continue
            with f.open("rb") as handle:
                handle.seek(self._log_offset if name == "messages" else 0)
                text = handle.read().decode(errors="replace")
            tail = [ln for ln in text.splitlines() if ln.strip()]
            errors = [ln for ln in tail if "ERROR[" in ln]
            if errors or tail:
                return " | ".join((errors or tail)[-lines:])
        return "no log output"

    # ---- build and install --------------------------------------------------------

    def ensure_built(self) -> None:
        self._require_root()
        root = self.config.root
        with _locked(root.parent / f".{root.name}.build.lock"):
            if rootfs.is_built(root):
                return
            mirror = resolve_mirror(self.config.mirror)
            rootfs.build(
                root,
                suite=self.config.suite,
                mirror=mirror,
                uid=self.config.uid,
                progress=self.say,
            )

    def _install(self, files: dict[str, str]) -> None:
        """Write the rendered configuration (only ours) and prepare the instance's dirs."""
        root = self.config.root
        rootfs.set_asterisk_ids(root, self.config.uid, self.say)
        _, gid = rootfs.read_ids(root)
        etc = self.paths.etc
        etc.mkdir(mode=0o750, exist_ok=True)
        os.chown(etc, 0, gid)
        etc.chmod(0o750)
        for stale in etc.iterdir():
            if stale.name not in files:
                stale.unlink()
        for name, text in files.items():
            tmp = etc / f".{name}.tmp"
            tmp.write_text(text)
            os.chown(tmp, 0, gid)
            tmp.chmod(0o640)
            tmp.replace(etc / name)
        dirs = " ".join(str(d) for d in self.paths.instance_dirs())
        rootfs.run_in_chroot(
            root, ["sh", "-c", f"mkdir -p {dirs} && chown -R asterisk:asterisk {dirs}"]
        )
        link_data_dir(self.paths.host(SHARED_DATA), SHARED_DATA, self.paths.data, SOUNDS_SUBDIR)
        changed = sync_sounds(self.config.sounds_dir, self.paths.sounds, (0, gid))
        if changed:
            self.say(
                f"{changed} prompt file(s) from {self.config.sounds_dir} installed as "
                "sound:contactcore/<name>"
            )

    def _check_ports(self) -> None:
        c = self.config
        for proto, port, key in (
            ("udp", c.sip_port, "SIP_PORT"),
            ("tcp", c.ari_port, "ARI_PORT"),
        ):
            if process.port_free(proto, LOOPBACK, port):
                continue
            owner = process.port_owner(proto, port)
            who = "another process"
            if owner is not None:
                pid, comm = owner
                who = f"PID {pid} ({comm})"
                found = process.sandbox_of(pid)
                if found is not None:
                    other, other_root = found
                    where = "" if other_root == str(c.root.resolve()) else f" in {other_root}"
                    who = f"PID {pid} ({comm}, sandbox instance '{other}'{where})"
            raise SandboxError(
                f"sandbox: port {port}/{proto} on {LOOPBACK} is taken by {who}: stop it, "
                f"or give instance '{c.instance}' another port (CONTACTCORE_SANDBOX__{key})"
            )
        self._check_rtp_overlap()

    def _check_rtp_overlap(self) -> None:
        c = self.config
        for etc in sorted(c.root.glob("etc/asterisk-*")):
            other = etc.name[len("asterisk-") :]
            if other == c.instance or not (etc / "rtp.conf").is_file():
                continue
            if not process.find_servers(c.root, f"/etc/{etc.name}/asterisk.conf"):
                continue
            values: dict[str, int] = {}
            for line in (etc / "rtp.conf").read_text().splitlines():
                key, _, value = line.split(";", 1)[0].partition("=")
                if key.strip() in ("rtpstart", "rtpend") and value.strip().isdigit():
                    values[key.strip()] = int(value)
            lo, hi = values.get("rtpstart", 0), values.get("rtpend", -1)
            if lo <= c.rtp_end and c.rtp_start <= hi:
                raise SandboxError(
                    f"sandbox: RTP ports {c.rtp_start}-{c.rtp_end} overlap those of running "
                    f"instance '{other}' ({lo}-{hi}): set CONTACTCORE_SANDBOX__RTP_START/_END"
                )

    # ---- up -----------------------------------------------------------------------

    def up(self) -> UpResult:
        self.ensure_built()
        files = render_config(self.config.config_dir, self.config.render_values, self.paths)
        self._warn_ari_url()
        with _locked(self.paths.lock_file):
            pids = self.servers()
            if pids:
                return self._up_running(pids[0], files)
            self._check_ports()
            self._install(files)
            pid = self._start()
            return UpResult("started", pid, self.version())

    def _warn_ari_url(self) -> None:
        parts = urlsplit(self.config.ari_url)
        if parts.port != self.config.ari_port:
            self.say(
                f"note: ari.url is {self.config.ari_url} but instance '{self.config.instance}' "
                f"serves ARI on {self.config.sandbox_ari_url}; set CONTACTCORE_ARI__URL to match"
            )

    def _up_running(self, pid: int, files: dict[str, str]) -> UpResult:
        old = installed_config(self.paths.etc)
        if old == files:
            self._install(files)  # prompts may have changed; they need no reload
            return UpResult("running", pid, self.version())
        if needs_restart(old, files):
            self.say("configuration changed in a way a reload cannot apply: restarting")
            self._stop(self.servers())
            self._check_ports()
            self._install(files)
            new_pid = self._start()
            return UpResult("restarted", new_pid, self.version())
        self._install(files)
        self.asterisk_cli("core reload")
        return UpResult("reloaded", pid, self.version())

    def _start(self) -> int:
        c = self.config
        out = self.paths.log / "startup.out"
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}
        # Nothing of this instance runs (checked under the lock): leftovers are stale.
        self.paths.pid_file.unlink(missing_ok=True)
        (self.paths.run / "asterisk.ctl").unlink(missing_ok=True)
        messages = self.paths.log / "messages"
        self._log_offset = messages.stat().st_size if messages.is_file() else 0
        argv = [
            rootfs.chroot_tool(),
            str(c.root),
            str(ASTERISK_BIN),
            "-C",
            str(self.paths.chroot_config_file),
            "-U",
            "asterisk",
            "-G",
            "asterisk",
        ]
        self.say(f"starting Asterisk (instance '{c.instance}')")
        with out.open("w") as sink:
            try:
                code = subprocess.run(
                    argv,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    timeout=30,
                ).returncode
            except subprocess.TimeoutExpired:
                raise SandboxError(
                    f"sandbox: Asterisk did not go to the background in 30 s; see {out}"
                ) from None
        if code != 0:
            raise SandboxError(
                f"sandbox: Asterisk failed to start ({code}): {self._log_tail()}; "
                f"logs in {self.paths.log}"
            )
        return self._wait_ready()

    def _wait_ready(self) -> int:
        """Wait (deadline: sandbox.start_timeout) until ARI answers 200 to our user."""
        c = self.config
        started = time.monotonic()
        deadline = started + c.start_timeout
        control = self.paths.run / "asterisk.ctl"
        pids = self.servers()
        while not pids or not control.exists():
            if not pids and time.monotonic() - started > min(5.0, c.start_timeout):
                raise SandboxError(
                    f"sandbox: Asterisk exited during start-up: {self._log_tail()}; "
                    f"logs in {self.paths.log}"
                )
            if time.monotonic() > deadline:
                raise SandboxError(
                    f"sandbox: Asterisk (pid {pids[0]}) opened no control socket within "
                    f"{c.start_timeout:.0f} s: {self._log_tail()}; logs in {self.paths.log}"
                )
            time.sleep(0.1)
            pids = self.servers()
        remaining = max(1.0, deadline - time.monotonic())
        booted = self.asterisk_cli("core waitfullybooted", timeout=remaining, check=False)
        if booted.returncode != 0 or not self.servers():
            raise SandboxError(
                f"sandbox: Asterisk did not finish booting: {self._log_tail()}; "
                f"logs in {self.paths.log}"
            )
        # Fully booted means every module is loaded: ARI answers now or never.
        ari_deadline = max(time.monotonic() + 3.0, deadline)
        status, _ = self.ari_get("/asterisk/info", timeout=1.0)
        while status == 0 and time.monotonic() < ari_deadline:
            time.sleep(0.1)
            status, _ = self.ari_get("/asterisk/info", timeout=1.0)
        if status == 200:
            return pids[0]
        if status in (401, 403):
            raise SandboxError(
                f"sandbox: ARI on {c.sandbox_ari_url} refused user '{c.ari_username}' "
                f"({status}): check ari.username/ari.password and {self.paths.etc}/ari.conf"
            )
        raise SandboxError(
            f"sandbox: Asterisk runs (pid {pids[0]}) but ARI on {c.sandbox_ari_url} "
            f"answers {status or 'nothing'}: {self._log_tail()}; logs in {self.paths.log}; "
            f"stop it with 'contactcore sandbox down --instance {c.instance}'"
        )

    # ---- down ---------------------------------------------------------------------

    def down(self) -> list[int]:
        """Stop the instance; returns the pids that were stopped (empty: was not running)."""
        self._require_root()
        with _locked(self.paths.lock_file):
            pids = self.servers()
            file_pid = process.read_pid_file(self.paths.pid_file)
            if file_pid is not None and file_pid not in pids:
                self.paths.pid_file.unlink(missing_ok=True)
            if not pids:
                return []
            self._stop(pids)
            return pids

    def _wait_gone(self, pids: Sequence[int], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(process.alive(p) for p in pids) and not self.servers():
                return True
            time.sleep(0.1)
        return False

    def _stop(self, pids: Sequence[int]) -> None:
        listed = ", ".join(map(str, pids))
        self.say(f"stopping Asterisk (instance '{self.config.instance}', pid {listed})")
        for command in ("core stop gracefully", "core stop now"):
            # The console may hang while Asterisk shuts down; the next step escalates.
            with suppress(SandboxError):
                self.asterisk_cli(command, timeout=STOP_STEP_TIMEOUT, check=False)
            if self._wait_gone(pids, STOP_STEP_TIMEOUT):
                break
            self.say(f"'{command}' did not finish in {STOP_STEP_TIMEOUT:.0f} s")
        else:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                for pid in [*pids, *self.servers()]:
                    if process.alive(pid):
                        self.say(f"sending {sig.name} to {pid}")
                        with suppress(ProcessLookupError):
                            os.kill(pid, sig)
                if self._wait_gone(pids, STOP_STEP_TIMEOUT):
                    break
        left = [p for p in pids if process.alive(p)] + self.servers()
        if left:
            raise SandboxError(
                f"sandbox: Asterisk (pid {sorted(set(left))}) is still running after "
                "SIGKILL: check it with ps and stop it by hand"
            )
        self.paths.pid_file.unlink(missing_ok=True)

    # ---- status and cli -----------------------------------------------------------

    def version(self) -> str:
        proc = self.asterisk_cli("core show version", check=False)
        text = proc.stdout.strip()
        return text.split(" built", 1)[0] if text.startswith("Asterisk") else "unknown"

    def status(self) -> Status:
        self._require_root()  # /proc/<pid>/root of Asterisk and chroot need it
        c = self.config
        pids = self.servers()
        pid = pids[0] if pids else None
        reachable = False
        version = None
        if pid is not None:
            status, body = self.ari_get("/asterisk/info")
            reachable = status == 200
            version = self.version()
            if version == "unknown" and reachable:
                version = json.loads(body).get("system", {}).get("version", "unknown")
        return Status(
            instance=c.instance,
            running=pid is not None,
            pid=pid,
            version=version,
            uptime=process.uptime_seconds(pid) if pid is not None else None,
            ari_reachable=reachable,
            ari_url=c.sandbox_ari_url,
            sip_port=c.sip_port,
            rtp_range=(c.rtp_start, c.rtp_end),
            log_dir=self.paths.log,
            root=c.root,
            built=rootfs.is_built(c.root),
        )

    def cli_argv(self, command: Sequence[str]) -> list[str]:
        """The host command line for ``asterisk -r`` (interactive) or ``-rx COMMAND``."""
        argv = [
            rootfs.chroot_tool(),
            str(self.config.root),
            str(ASTERISK_BIN),
            "-C",
            str(self.paths.chroot_config_file),
        ]
        if command:
            return [*argv, "-rx", " ".join(command)]
        return [*argv, "-r"]

    def require_running(self) -> None:
        self._require_root()
        self._require_built()
        if not self.servers():
            raise SandboxError(
                f"sandbox: instance '{self.config.instance}' is not running: "
                f"contactcore sandbox up --instance {self.config.instance}"
            )
