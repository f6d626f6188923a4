import pytest

from contactcore.cli import build_parser, main


def test_sandbox_commands_take_an_instance() -> None:
    parser = build_parser()
    args = parser.parse_args(["sandbox", "up", "--instance", "test"])
    assert (args.sandbox_command, args.instance) == ("up", "test")
    args = parser.parse_args(["sandbox", "cli", "--instance", "x", "core", "show", "channels"])
    assert args.words == ["core", "show", "channels"]
    args = parser.parse_args(["sandbox", "cli"])
    assert (args.instance, args.words) == (None, [])


def test_bad_instance_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "status", "--instance", "Not/Valid"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("contactcore: sandbox: instance name 'Not/Valid' is not valid")
    assert err.count("\n") == 1
