"""Flow files are validated at load time; every problem names file, node and fault."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from contactcore.cli import main
from contactcore.ivr.loader import load_flows
from contactcore.ivr.model import FlowError, PlayNode

GOOD = """
number: "100"
start: hello
prompts:
  hi: "Hello."
nodes:
  hello:
    type: play
    media: [prompt:hi, "sound:beep"]
    next: bye
  bye:
    type: hangup
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def problems(directory: Path) -> list[str]:
    with pytest.raises(FlowError) as err:
        load_flows(directory)
    return [str(p) for p in err.value.problems]


def test_good_flow_loads_into_typed_nodes(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", GOOD)
    fs = load_flows(tmp_path)
    flow = fs.flows["100"]
    assert flow.start == "hello"
    node = flow.nodes["hello"]
    assert isinstance(node, PlayNode)
    assert node.media_items == ("prompt:hi", "sound:beep")
    assert fs.prompts["hi"].text == "Hello."


@pytest.mark.parametrize(
    ("body", "node", "fragment"),
    [
        ("  x:\n    type: dance\n    next: x\n", "x", "unknown node type 'dance'"),
        (
            "  x:\n    type: play\n    media: sound:a\n    next: nowhere\n",
            "x",
            "next goes to 'nowhere', which is not a node",
        ),
        (
            "  x:\n    type: play\n    media: prompt:missing\n    next: x\n",
            "x",
            "uses prompt 'missing', which no 'prompts' section defines",
        ),
        (
            "  x:\n    type: play\n    media: 'music:jazz'\n    next: x\n",
            "x",
            "media 'music:jazz' must start with one of",
        ),
        ("  x:\n    type: play\n    next: x\n", "x", "'media' is required"),
        (
            "  x:\n    type: play\n    media: sound:a\n    next: x\n    colour: red\n",
            "x",
            "unknown field 'colour'",
        ),
        (
            "  x:\n    type: menu\n    prompt: sound:a\n    options: {'12': x}\n    default: x\n",
            "x",
            "option '12' must be one key",
        ),
        (
            "  x:\n    type: menu\n    prompt: sound:a\n    options: {1: y}\n    default: x\n",
            "x",
            "option '1' goes to 'y', which is not a node",
        ),
        (
            "  x:\n    type: menu\n    prompt: sound:a\n    options: {1: x}\n    default: x\n"
            "    timeout: 0\n",
            "x",
            "'timeout': Input should be greater than 0",
        ),
        (
            "  x:\n    type: collect\n    prompt: sound:a\n    store: acct\n    min_length: 9\n"
            "    max_length: 4\n    next: x\n",
            "x",
            "min_length 9 is greater than max_length 4",
        ),
        (
            "  x:\n    type: transfer\n    flow: '555'\n",
            "x",
            "transfers to flow '555', which no file defines",
        ),
        (
            "  x:\n    type: transfer\n    flow: '1'\n    number: '+4412345'\n",
            "x",
            "exactly one of 'flow'",
        ),
        (
            "  x:\n    type: condition\n    rules:\n      - when: {open: office}\n        next: x\n"
            "    else: x\n",
            "x",
            "tests hours 'office', which no 'hours' section defines",
        ),
        (
            "  x:\n    type: condition\n    rules:\n      - when: {equals: a}\n        next: x\n"
            "    else: x\n",
            "x",
            "equals/in/exists need 'attribute'",
        ),
        (
            "  x:\n    type: hangup\n  lost:\n    type: hangup\n",
            "lost",
            "unreachable from start node 'x'",
        ),
        ("  x:\n    prompt: sound:a\n", "x", "has no 'type'"),
    ],
)
def test_node_problems_name_file_node_and_fault(
    tmp_path: Path, body: str, node: str, fragment: str
) -> None:
    path = write(tmp_path, "flow.yaml", 'number: "100"\nnodes:\n' + body)
    found = problems(tmp_path)
    assert any(p.startswith(f"{path}: node '{node}': ") and fragment in p for p in found), found


def test_start_must_be_a_node(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", GOOD.replace("start: hello", "start: nope"))
    assert problems(tmp_path) == [f"{path}: start node 'nope' is not a node"]


def test_duplicate_entry_numbers_name_both_files(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", GOOD)
    second = write(tmp_path, "b.yaml", GOOD.replace('hi: "Hello."', 'hi2: "Hi."'))
    found = problems(tmp_path)
    assert f"{second}: entry number '100' is already used by {first}" in found


def test_duplicate_prompt_names_across_files(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", GOOD)
    second = write(tmp_path, "b.yaml", "prompts:\n  hi: other text\n")
    assert problems(tmp_path) == [f"{second}: prompt 'hi' is already defined in {first}"]


def test_shared_prompts_and_hours_file(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", GOOD.replace('prompts:\n  hi: "Hello."\n', ""))
    write(
        tmp_path,
        "shared.yaml",
        """
        prompts:
          hi: {text: "Hello there.", voice: en-us}
        hours:
          office:
            timezone: Europe/Paris
            weekly: {mon-fri: ["09:00-12:00", "14:00-18:00"], sat: closed}
            holidays: {country: FR}
        """,
    )
    fs = load_flows(tmp_path)
    assert fs.prompts["hi"].voice == "en-us"
    assert fs.hours["office"].windows(0) == ((540, 720), (840, 1080))
    assert fs.hours["office"].windows(5) == ()


@pytest.mark.parametrize(
    ("hours", "fragment"),
    [
        ("timezone: Mars/Olympus\n    weekly: {mon: '08:00-09:00'}", "unknown time zone"),
        ("timezone: UTC\n    weekly: {someday: '08:00-09:00'}", "day 'someday' must be"),
        ("timezone: UTC\n    weekly: {mon: '18:00-08:00'}", "not a time range within one day"),
        (
            "timezone: UTC\n    weekly: {mon: '08:00-09:00'}\n    holidays: {country: XX}",
            "no public-holiday calendar for country 'XX'",
        ),
    ],
)
def test_hours_problems(tmp_path: Path, hours: str, fragment: str) -> None:
    path = write(tmp_path, "h.yaml", f"hours:\n  office:\n    {hours}\n")
    found = problems(tmp_path)
    assert any(p.startswith(f"{path}: hours 'office': ") and fragment in p for p in found), found


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", 'number: "100"\nnodes:\n  x: [unclosed\n')
    [problem] = problems(tmp_path)
    assert problem.startswith(f"{path}: not valid YAML at line ")


def test_unknown_top_level_key_and_missing_number(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "nodez: {}\nnodes:\n  x: {type: hangup}\n")
    found = problems(tmp_path)
    assert f"{path}: unknown top-level key 'nodez'" in found
    assert any(p.startswith(f"{path}: 'number'") for p in found)


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        'number: "1"\nnodes:\n  a: {type: play, media: "sound:x", next: b}\n'
        '  b: {type: dance}\n  c: {type: play, media: "sound:x", next: nowhere}\n',
    )
    with pytest.raises(FlowError) as err:
        load_flows(tmp_path)
    assert len(err.value.problems) >= 2
    assert "(and " in str(err.value)


def test_cli_check_prints_summary_and_fails_on_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "a.yaml", GOOD)
    assert main(["flows", "check", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "flow 100" in out
    assert "ok: 1 flows, 1 prompts" in out
    bad = write(tmp_path, "b.yaml", 'number: "200"\nnodes:\n  x: {type: dance}\n')
    assert main(["flows", "check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}: node 'x': unknown node type 'dance'" in err


def test_demo_flows_are_valid() -> None:
    demo = Path(__file__).resolve().parents[2] / "dialplans"
    fs = load_flows(demo)
    flow = fs.flows["100"]
    queues = {getattr(n, "queue", None) for n in flow.nodes.values()} - {None}
    assert queues == {"general", "billing", "support", "vip"}


def test_invalid_node_is_not_also_reported_as_missing(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.yaml",
        'number: "1"\nnodes:\n  a: {type: play, media: "sound:x", next: b}\n'
        "  b: {type: play, media: 'bogus', next: a}\n",
    )
    found = problems(tmp_path)
    assert len(found) == 1
    assert found[0].startswith(f"{path}: node 'b': ")
