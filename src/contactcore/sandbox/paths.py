"""Where an instance lives: inside the chroot (as Asterisk sees it) and on the host.

Inside the root filesystem ``/var/run`` is an absolute link to ``/run``: a host-side
path through it would land on the host's own ``/run``. Every host path here is built
from real directories only (``/run``, ``/var/log``, ...), never through that link.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from contactcore.errors import SandboxError

_INSTANCE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")

ASTERISK_BIN = PurePosixPath("/usr/sbin/asterisk")
SOUNDS_SUBDIR = "contactcore"
# Asterisk's shared data (sounds, music on hold, documentation) from Debian's packages.
SHARED_DATA = PurePosixPath("/usr/share/asterisk")


def check_instance_name(name: str) -> str:
    if not _INSTANCE_RE.match(name):
        raise SandboxError(
            f"sandbox: instance name {name!r} is not valid: use 1-31 characters "
            "a-z, 0-9 and '-', starting with a letter or digit (e.g. --instance test)"
        )
    return name


@dataclass(frozen=True)
class InstancePaths:
    """The directories of one instance; ``chroot_*`` as Asterisk sees them."""

    root: Path
    instance: str

    def __post_init__(self) -> None:
        check_instance_name(self.instance)

    @property
    def chroot_etc(self) -> PurePosixPath:
        return PurePosixPath(f"/etc/asterisk-{self.instance}")

    @property
    def chroot_run(self) -> PurePosixPath:
        return PurePosixPath(f"/run/asterisk-{self.instance}")

    @property
    def chroot_log(self) -> PurePosixPath:
        return PurePosixPath(f"/var/log/asterisk-{self.instance}")

    @property
    def chroot_spool(self) -> PurePosixPath:
        return PurePosixPath(f"/var/spool/asterisk-{self.instance}")

    @property
    def chroot_db(self) -> PurePosixPath:
        return PurePosixPath(f"/var/lib/asterisk-{self.instance}")

    @property
    def chroot_cache(self) -> PurePosixPath:
        return PurePosixPath(f"/var/cache/asterisk-{self.instance}")

    @property
    def chroot_config_file(self) -> PurePosixPath:
        return self.chroot_etc / "asterisk.conf"

    @property
    def chroot_recordings(self) -> PurePosixPath:
        return self.chroot_spool / "recording"

    @property
    def chroot_data(self) -> PurePosixPath:
        """The instance's ``astdatadir``: links to the shared data, beside its own prompts."""
        return PurePosixPath(f"/usr/share/asterisk-{self.instance}")

    @property
    def chroot_sounds(self) -> PurePosixPath:
        """Custom prompts: ``sound:contactcore/<name>`` finds them here (this instance's)."""
        return self.chroot_data / "sounds" / SOUNDS_SUBDIR

    def host(self, chroot_path: PurePosixPath) -> Path:
        """The host path of a path inside the root filesystem."""
        return self.root / str(chroot_path).lstrip("/")

    @property
    def etc(self) -> Path:
        return self.host(self.chroot_etc)

    @property
    def run(self) -> Path:
        return self.host(self.chroot_run)

    @property
    def log(self) -> Path:
        return self.host(self.chroot_log)

    @property
    def recordings(self) -> Path:
        return self.host(self.chroot_recordings)

    @property
    def sounds(self) -> Path:
        return self.host(self.chroot_sounds)

    @property
    def data(self) -> Path:
        return self.host(self.chroot_data)

    @property
    def pid_file(self) -> Path:
        return self.run / "asterisk.pid"

    @property
    def lock_file(self) -> Path:
        """Serialises up/down of one instance (kept beside the root, not inside it)."""
        return self.root.parent / f".{self.root.name}.{self.instance}.lock"

    def instance_dirs(self) -> list[PurePosixPath]:
        """Directories Asterisk writes to; created and owned from inside the chroot."""
        return [
            self.chroot_run,
            self.chroot_log,
            self.chroot_spool,
            self.chroot_recordings,
            self.chroot_db,
            self.chroot_cache,
        ]
