"""Build (once) and prepare the Debian root filesystem that holds Asterisk.

Debian 12 has no Asterisk package and installing Debian testing's onto the host would
upgrade its C library, so Asterisk lives in a ``debootstrap``-made root filesystem and
runs under ``chroot``. The build goes to a temporary directory that is renamed into
place only when complete: an interrupted build is never taken for a good one.
"""

from __future__ import annotations

import contextlib
import grp
import logging
import os
import pwd
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from types import FrameType

from contactcore.errors import SandboxError

log = logging.getLogger(__name__)

PACKAGES = (
    "asterisk",
    "asterisk-modules",
    "asterisk-core-sounds-en-gsm",
    "asterisk-moh-opsound-gsm",
)
# Debian 12's debootstrap has no script for the testing suite; the sid one serves.
SCRIPT = Path("/usr/share/debootstrap/scripts/sid")
MARKER = PurePosixPath("/etc/contactcore-sandbox")
ASTERISK_USER = "asterisk"

Progress = Callable[[str], None]
HEARTBEAT = 10.0  # seconds between progress lines while debootstrap works


# Root's PATH may lack the sbin directories (e.g. `su` without `-`); look there too.
SBIN_DIRS: tuple[str, ...] = ("/usr/sbin", "/sbin")


def find_tool(name: str) -> str | None:
    """Absolute path of a system tool (chroot, debootstrap) or None."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *SBIN_DIRS])
    return shutil.which(name, path=search)


def chroot_tool() -> str:
    found = find_tool("chroot")
    if found is None:
        raise SandboxError("sandbox: chroot not found: apt-get install coreutils")
    return found


def is_built(root: Path) -> bool:
    return (root / str(MARKER).lstrip("/")).is_file() and (root / "usr/sbin/asterisk").is_file()


def run_in_chroot(
    root: Path, argv: Sequence[str], *, timeout: float = 60.0, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a command inside the root filesystem with a clean environment."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}
    try:
        proc = subprocess.run(
            [chroot_tool(), str(root), *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise SandboxError(
            f"sandbox: '{' '.join(argv)}' inside {root} did not finish in {timeout:.0f} s"
        ) from None
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise SandboxError(
            f"sandbox: '{' '.join(argv)}' inside {root} failed ({proc.returncode}): "
            + (detail[-1] if detail else "no output")
        )
    return proc


def mounts_under(path: Path) -> list[Path]:
    """Mount points below ``path`` (deepest first), e.g. /proc left by a killed build."""
    prefix = str(path.resolve()).rstrip("/") + "/"
    found: list[Path] = []
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        parts = line.split()
        if len(parts) < 2:
            continue
        point = parts[1].replace("\\040", " ")
        if point.startswith(prefix):
            found.append(Path(point))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def remove_tree(path: Path) -> None:
    """Delete a (partial) root filesystem, unmounting anything inside it first."""
    for point in mounts_under(path):
        umount = find_tool("umount") or "umount"
        subprocess.run([umount, "-l", str(point)], check=False, capture_output=True)
    if mounts_under(path):
        raise SandboxError(
            f"sandbox: {path} still has file systems mounted inside it: "
            f"unmount them (see /proc/self/mounts) and delete {path} by hand"
        )
    shutil.rmtree(path, ignore_errors=True)


def _phase(line: str) -> str | None:
    if not line.startswith("I: "):
        return None
    word = line[3:].split(" ", 1)[0]
    return {
        "Resolving": "resolving dependencies",
        "Checking": "resolving dependencies",
        "Found": "resolving dependencies",
        "Retrieving": "downloading packages",
        "Validating": "downloading packages",
        "Extracting": "extracting the base system",
        "Installing": "installing the base system",
        "Unpacking": "unpacking packages",
        "Configuring": "configuring packages",
    }.get(word)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """Kill debootstrap and everything it started; wait (bounded) until they are gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Let SIGTERM unwind like Ctrl-C so a half-built root filesystem is removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def debootstrap(
    target: Path, suite: str, mirror: str, progress: Progress, log_file: Path, timeout: float
) -> None:
    """Run debootstrap into ``target``; progress lines go to ``progress``."""
    argv = [
        find_tool("debootstrap") or "debootstrap",
        "--variant=minbase",
        "--include=" + ",".join(PACKAGES),
        suite,
        str(target),
        mirror,
        str(SCRIPT),
    ]
    progress(f"building the Asterisk root filesystem (Debian {suite}, about a minute): {target}")
    progress(f"full build log: {log_file}")
    started = time.monotonic()
    phase = ""
    count = 0
    last_report = started
    with log_file.open("w") as out:
        out.write("$ " + " ".join(argv) + "\n")
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            # Its own process group, so an interrupted build stops dpkg and friends too.
            start_new_session=True,
        )
        assert proc.stdout is not None
        watch = selectors.DefaultSelector()
        watch.register(proc.stdout, selectors.EVENT_READ)
        try:
            while True:
                elapsed = time.monotonic() - started
                if elapsed > timeout:
                    raise SandboxError(
                        f"sandbox: debootstrap did not finish in {timeout:.0f} s: check the "
                        f"network and the mirror {mirror}; log in {log_file}"
                    )
                if not watch.select(timeout=HEARTBEAT):
                    # Quiet phases (resolving, a slow download) still show signs of life.
                    progress(f"[{elapsed:4.0f} s] {phase or 'starting'}: still working")
                    continue
                line = proc.stdout.readline()
                if not line:
                    break
                out.write(line)
                now_phase = _phase(line.rstrip())
                if now_phase is None:
                    if line.startswith(("E: ", "W: ")):
                        progress(line.rstrip())
                    continue
                if now_phase != phase:
                    phase, count = now_phase, 0
                    progress(f"[{elapsed:4.0f} s] {phase}")
                    last_report = time.monotonic()
                count += 1
                if time.monotonic() - last_report >= HEARTBEAT:
                    progress(f"[{elapsed:4.0f} s] {phase}: {count} so far")
                    last_report = time.monotonic()
        except BaseException:
            _kill_group(proc)
            raise
        finally:
            watch.close()
            proc.stdout.close()
        code = proc.wait()
    if code != 0:
        tail = [ln for ln in log_file.read_text(errors="replace").splitlines() if ln.strip()]
        raise SandboxError(
            f"sandbox: debootstrap failed ({code}): {tail[-1] if tail else 'no output'}; "
            f"full log in {log_file}; if the suite lacks a package, try "
            "CONTACTCORE_SANDBOX__SUITE=sid"
        )
    progress(f"[{time.monotonic() - started:4.0f} s] base system and Asterisk installed")


def build(
    root: Path,
    *,
    suite: str,
    mirror: str,
    uid: int,
    progress: Progress,
    timeout: float = 1800.0,
) -> None:
    """Build the root filesystem at ``root`` (the caller holds the build lock)."""
    if find_tool("debootstrap") is None or not SCRIPT.is_file():
        raise SandboxError(
            "sandbox: debootstrap is missing: install it with 'apt-get install debootstrap' "
            "(or run 'make system')"
        )
    marker = root / str(MARKER).lstrip("/")
    if root.exists() and any(root.iterdir()) and not marker.is_file():
        # Never replace a directory we did not make (a mistyped sandbox.root).
        raise SandboxError(
            f"sandbox: {root} exists and is not a sandbox root filesystem: set "
            "sandbox.root (CONTACTCORE_SANDBOX__ROOT) to a new or empty directory"
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    for stale in root.parent.glob(f"{root.name}.building-*"):
        progress(f"removing an interrupted build: {stale}")
        remove_tree(stale)
    target = root.parent / f"{root.name}.building-{os.getpid()}"
    log_file = root.parent / f"{root.name}.build.log"
    try:
        with _terminate_as_interrupt():
            debootstrap(target, suite, mirror, progress, log_file, timeout)
        set_asterisk_ids(target, uid, progress)
        (target / str(MARKER).lstrip("/")).write_text(
            f"suite={suite}\nmirror={mirror}\nbuilt={time.strftime('%FT%TZ', time.gmtime())}\n"
        )
        if root.exists():
            remove_tree(root)
        target.rename(root)
    except BaseException:
        progress(f"build stopped: removing the unfinished {target}")
        remove_tree(target)
        raise
    progress(f"root filesystem ready: {root}")


def read_ids(root: Path) -> tuple[int, int]:
    """The asterisk user's uid and gid as the root filesystem defines them."""
    uid = gid = -1
    for line in (root / "etc/passwd").read_text().splitlines():
        f = line.split(":")
        if f[0] == ASTERISK_USER and len(f) > 3:
            uid = int(f[2])
    for line in (root / "etc/group").read_text().splitlines():
        f = line.split(":")
        if f[0] == ASTERISK_USER and len(f) > 2:
            gid = int(f[2])
    if uid < 0 or gid < 0:
        raise SandboxError(
            f"sandbox: {root} has no asterisk user: the build is damaged; delete {root} "
            "and run 'contactcore sandbox up' again"
        )
    return uid, gid


def check_host_id_free(uid: int) -> None:
    """The id must mean nothing on the host, or ``ps`` and signals would mix them up."""
    try:
        owner = pwd.getpwuid(uid).pw_name
    except KeyError:
        owner = None
    try:
        group = grp.getgrgid(uid).gr_name
    except KeyError:
        group = None
    if owner or group:
        holder = f"user {owner}" if owner else f"group {group}"
        raise SandboxError(
            f"sandbox: id {uid} already belongs to host {holder}: "
            "choose a free id with sandbox.uid / CONTACTCORE_SANDBOX__UID"
        )


def set_asterisk_ids(root: Path, uid: int, progress: Progress) -> None:
    """Give the chroot's asterisk user and group ``uid`` and re-own their files."""
    # Checked on every start: a host account created later with this id would make
    # ps show the wrong owner and let the two signal each other.
    check_host_id_free(uid)
    old_uid, old_gid = read_ids(root)
    if old_uid == uid and old_gid == uid:
        return
    progress(f"giving the sandbox's asterisk user and group the id {uid} (was {old_uid}/{old_gid})")
    run_in_chroot(root, ["groupmod", "-g", str(uid), ASTERISK_USER])
    run_in_chroot(root, ["usermod", "-u", str(uid), "-g", str(uid), ASTERISK_USER])
    script = (
        f"find / -xdev -uid {old_uid} -exec chown -h {uid} {{}} + ; "
        f"find / -xdev -gid {old_gid} -exec chgrp -h {uid} {{}} + ; true"
    )
    run_in_chroot(root, ["sh", "-c", script], timeout=300)
