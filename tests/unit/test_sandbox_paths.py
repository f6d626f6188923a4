from pathlib import Path, PurePosixPath

import pytest

from contactcore.errors import SandboxError
from contactcore.sandbox.paths import InstancePaths, check_instance_name


def test_each_instance_has_its_own_directories() -> None:
    root = Path("/srv/rootfs")
    a = InstancePaths(root, "default")
    b = InstancePaths(root, "test")
    dirs_a = [a.chroot_etc, *a.instance_dirs()]
    dirs_b = [b.chroot_etc, *b.instance_dirs()]
    assert not set(dirs_a) & set(dirs_b)
    assert all("test" in str(d) for d in dirs_b)
    assert a.chroot_config_file == PurePosixPath("/etc/asterisk-default/asterisk.conf")
    assert a.chroot_recordings == PurePosixPath("/var/spool/asterisk-default/recording")
    assert a.lock_file != b.lock_file


def test_host_paths_never_go_through_var_run() -> None:
    p = InstancePaths(Path("/srv/rootfs"), "dev")
    assert p.run == Path("/srv/rootfs/run/asterisk-dev")
    assert p.pid_file == Path("/srv/rootfs/run/asterisk-dev/asterisk.pid")
    assert p.log == Path("/srv/rootfs/var/log/asterisk-dev")
    assert p.sounds == Path("/srv/rootfs/usr/share/asterisk-dev/sounds/contactcore")
    # The lock lives beside the root filesystem, so deleting the root never loses it.
    assert p.lock_file.parent == Path("/srv")


@pytest.mark.parametrize("name", ["default", "test", "e2e-1", "a"])
def test_good_instance_names(name: str) -> None:
    assert check_instance_name(name) == name


@pytest.mark.parametrize("name", ["", "Dev", "-x", "a/b", "../etc", "x" * 40, "a b"])
def test_bad_instance_names(name: str) -> None:
    with pytest.raises(SandboxError, match="instance name"):
        InstancePaths(Path("/srv/rootfs"), name)
