"""FlowRegistry reloads atomically: a bad file never replaces good flows."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from contactcore.cli import main
from contactcore.ivr.loader import FlowRegistry, ReloadResult, install_reload_signal
from contactcore.ivr.model import FlowError

FLOW = (
    'number: "{number}"\nnodes:\n'
    '  start: {{type: play, media: "sound:{sound}", next: end}}\n'
    "  end: {{type: hangup}}\n"
)


def flow_text(number: str = "100", sound: str = "hello-world") -> str:
    return FLOW.format(number=number, sound=sound)


def test_reload_swaps_only_a_fully_valid_set(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(flow_text())
    registry = FlowRegistry(tmp_path)
    first = registry.load()
    assert registry.flow("100") is not None

    # A good edit to one file and a bad new file: nothing of it is taken.
    (tmp_path / "a.yaml").write_text(flow_text(sound="changed"))
    bad = tmp_path / "b.yaml"
    bad.write_text('number: "200"\nnodes:\n  x: {type: play, media: "sound:a", next: gone}\n')
    result = registry.reload()
    assert not result.ok
    assert registry.current is first
    assert registry.flow("200") is None
    assert result.problems == (f"{bad}: node 'x': next goes to 'gone', which is not a node",)
    assert registry.last_problems == result.problems

    bad.write_text(flow_text("200"))
    result = registry.reload()
    assert result == ReloadResult(True, 2)
    assert registry.last_problems == ()
    node = registry.current.flows["100"].nodes["start"]
    assert list(node.media()) == ["sound:changed"]
    assert registry.flow("200") is not None


def test_first_load_raises(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("number: [\n")
    with pytest.raises(FlowError):
        FlowRegistry(tmp_path).load()


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    result = FlowRegistry(tmp_path).reload()
    assert not result.ok
    assert result.problems == (f"{tmp_path}: holds no *.yaml flow files",)


class _SignalledRegistry(FlowRegistry):
    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.reloaded = asyncio.Event()

    def reload(self) -> ReloadResult:
        result = super().reload()
        self.reloaded.set()
        return result


async def test_flows_reload_command_signals_the_controller(tmp_path: Path) -> None:
    flows = tmp_path / "dialplans"
    flows.mkdir()
    (flows / "a.yaml").write_text(flow_text())
    registry = _SignalledRegistry(flows)
    registry.load()
    loop = asyncio.get_running_loop()
    install_reload_signal(registry, loop)
    try:
        (flows / "b.yaml").write_text(flow_text("300"))
        pid_file = tmp_path / "cc.pid"
        pid_file.write_text(f"{os.getpid()}\n")
        assert main(["flows", "reload", "--pid-file", str(pid_file)]) == 0
        async with asyncio.timeout(5):
            await registry.reloaded.wait()
        assert registry.flow("300") is not None
    finally:
        loop.remove_signal_handler(signal.SIGHUP)


def test_flows_reload_without_controller(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["flows", "reload", "--pid-file", str(tmp_path / "none.pid")]) == 1
    assert "no pid file" in capsys.readouterr().err
