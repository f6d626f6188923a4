"""Load ``dialplans/*.yaml`` into a validated :class:`FlowSet`; reload atomically.

Every problem names the file, the node and what is wrong. A reload builds a whole
new set aside and swaps one reference only when all of it is valid, so a bad
file never replaces a good flow: calls keep running on the last good set.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from contactcore.ivr.model import (
    NODE_ID,
    PROMPT_NAME,
    ConditionNode,
    Flow,
    FlowError,
    FlowProblem,
    FlowSet,
    Hours,
    Node,
    NodeTypes,
    PromptDef,
    TransferNode,
    builtin_node_types,
)

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

_TOP_KEYS = {"number", "name", "description", "start", "nodes", "prompts", "hours"}
_NUMBER = re.compile(r"^[0-9*#+]{1,32}$")


def _describe(error: Mapping[str, Any]) -> str:
    loc = ".".join(str(p) for p in error.get("loc", ()))
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return f"unknown field '{loc}'"
    if kind == "missing":
        return f"'{loc}' is required"
    msg = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"'{loc}': {msg}" if loc else msg


def _validate(
    model: type[M], data: Any, file: str, node: str | None, what: str, out: list[FlowProblem]
) -> M | None:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            out.append(FlowProblem(file, f"{what}{_describe(err)}", node))
        return None


@dataclass
class _FileResult:
    flow: Flow | None = None
    prompts: dict[str, PromptDef] = field(default_factory=dict)
    hours: dict[str, Hours] = field(default_factory=dict)


def _parse_nodes(
    raw: Any, file: str, node_types: NodeTypes, out: list[FlowProblem]
) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    if not isinstance(raw, dict) or not raw:
        out.append(FlowProblem(file, "'nodes' must be a non-empty mapping of node id -> node"))
        return nodes
    for node_id, body in raw.items():
        node_id = str(node_id)
        if not NODE_ID.match(node_id):
            out.append(FlowProblem(file, "node ids are letters, digits, _ . / -", node_id))
            continue
        if not isinstance(body, dict):
            out.append(FlowProblem(file, "must be a mapping with a 'type'", node_id))
            continue
        kind = body.get("type")
        if kind is None:
            out.append(FlowProblem(file, "has no 'type'", node_id))
            continue
        model = node_types.get(str(kind))
        if model is None:
            known = ", ".join(sorted(node_types))
            out.append(FlowProblem(file, f"unknown node type '{kind}' (known: {known})", node_id))
            continue
        node = _validate(model, body, file, node_id, "", out)
        if node is not None:
            nodes[node_id] = node
    return nodes


def _check_graph(flow: Flow, declared: set[str], out: list[FlowProblem]) -> None:
    """Dangling and unreachable nodes; ``declared`` includes nodes that failed validation."""
    if flow.start not in declared:
        out.append(FlowProblem(flow.source, f"start node '{flow.start}' is not a node"))
        return
    if flow.start not in flow.nodes:
        return  # the start node itself is invalid: already reported
    for node_id, node in flow.nodes.items():
        for label, target in node.targets():
            if target not in declared:
                out.append(
                    FlowProblem(
                        flow.source, f"{label} goes to '{target}', which is not a node", node_id
                    )
                )
    seen = {flow.start}
    todo = [flow.start]
    while todo:
        for _, target in flow.nodes[todo.pop()].targets():
            if target in flow.nodes and target not in seen:
                seen.add(target)
                todo.append(target)
    if len(flow.nodes) < len(declared):
        return  # reachability is only known once every node is valid
    for node_id in flow.nodes:
        if node_id not in seen:
            out.append(
                FlowProblem(flow.source, f"unreachable from start node '{flow.start}'", node_id)
            )


def _named(
    raw: Any, model: type[M], file: str, section: str, out: list[FlowProblem]
) -> dict[str, M]:
    result: dict[str, M] = {}
    if raw is None:
        return result
    if not isinstance(raw, dict):
        out.append(FlowProblem(file, f"'{section}' must be a mapping of name -> definition"))
        return result
    for name, body in raw.items():
        name = str(name)
        if not PROMPT_NAME.match(name):
            out.append(
                FlowProblem(
                    file, f"{section} name '{name}' must be lower-case letters, digits, _ -"
                )
            )
            continue
        value = _validate(model, body, file, None, f"{section} '{name}': ", out)
        if value is not None:
            result[name] = value
    return result


def _parse_file(path: Path, node_types: NodeTypes, out: list[FlowProblem]) -> _FileResult:
    file = str(path)
    result = _FileResult()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        out.append(FlowProblem(file, f"not valid YAML{where}: {problem}"))
        return result
    except (OSError, UnicodeDecodeError) as exc:
        out.append(FlowProblem(file, f"cannot be read: {exc}"))
        return result
    if not isinstance(data, dict):
        out.append(FlowProblem(file, "must be a YAML mapping (number, start, nodes ...)"))
        return result
    for key in sorted(set(map(str, data)) - _TOP_KEYS):
        out.append(FlowProblem(file, f"unknown top-level key '{key}'"))
    result.prompts = _named(data.get("prompts"), PromptDef, file, "prompt", out)
    result.hours = _named(data.get("hours"), Hours, file, "hours", out)
    if "nodes" not in data and "number" not in data:
        return result  # a file of shared prompts and hours only
    number = data.get("number")
    if number is None or not _NUMBER.match(str(number)):
        out.append(FlowProblem(file, "'number' (the entry number, e.g. \"100\") is required"))
        return result
    nodes = _parse_nodes(data.get("nodes"), file, node_types, out)
    if not nodes:
        return result
    start = str(data.get("start") or next(iter(nodes)))
    flow = Flow(
        number=str(number),
        name=str(data.get("name") or path.stem),
        source=file,
        start=start,
        nodes=nodes,
    )
    before = len(out)
    declared = {str(k) for k in data["nodes"]}
    _check_graph(flow, declared, out)
    if len(out) == before and len(nodes) == len(declared):
        result.flow = flow
    return result


def _merge_named(
    parts: Iterable[tuple[str, dict[str, T]]], what: str, out: list[FlowProblem]
) -> dict[str, T]:
    merged: dict[str, T] = {}
    origin: dict[str, str] = {}
    for file, items in parts:
        for name, value in items.items():
            if name in merged:
                out.append(
                    FlowProblem(file, f"{what} '{name}' is already defined in {origin[name]}")
                )
            else:
                merged[name] = value
                origin[name] = file
    return merged


def _check_references(fs: FlowSet, out: list[FlowProblem]) -> None:
    for flow in fs.flows.values():
        for node_id, node in flow.nodes.items():
            for item in node.media():
                kind, _, name = item.partition(":")
                if kind == "prompt" and not name.startswith("{") and name not in fs.prompts:
                    out.append(
                        FlowProblem(
                            flow.source,
                            f"uses prompt '{name}', which no 'prompts' section defines",
                            node_id,
                        )
                    )
            if (
                isinstance(node, TransferNode)
                and node.flow is not None
                and node.flow not in fs.flows
            ):
                out.append(
                    FlowProblem(
                        flow.source,
                        f"transfers to flow '{node.flow}', which no file defines",
                        node_id,
                    )
                )
            if isinstance(node, ConditionNode):
                for rule in node.rules:
                    hours = rule.when.open
                    if hours is not None and hours not in fs.hours:
                        out.append(
                            FlowProblem(
                                flow.source,
                                f"tests hours '{hours}', which no 'hours' section defines",
                                node_id,
                            )
                        )


def load_flows(directory: Path, node_types: NodeTypes | None = None) -> FlowSet:
    """Load and validate every ``*.yaml`` in ``directory``; raise FlowError listing all faults."""
    types = node_types if node_types is not None else builtin_node_types()
    if not directory.is_dir():
        raise FlowError([FlowProblem(str(directory), "is not a directory of flow files")])
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not files:
        raise FlowError([FlowProblem(str(directory), "holds no *.yaml flow files")])
    out: list[FlowProblem] = []
    results = [(str(p), _parse_file(p, types, out)) for p in files]
    prompts = _merge_named(((f, r.prompts) for f, r in results), "prompt", out)
    hours = _merge_named(((f, r.hours) for f, r in results), "hours", out)
    flows: dict[str, Flow] = {}
    for file, r in results:
        if r.flow is None:
            continue
        other = flows.get(r.flow.number)
        if other is not None:
            out.append(
                FlowProblem(
                    file, f"entry number '{r.flow.number}' is already used by {other.source}"
                )
            )
            continue
        flows[r.flow.number] = r.flow
    fs = FlowSet(flows=flows, prompts=prompts, hours=hours, sources=tuple(f for f, _ in results))
    _check_references(fs, out)
    if out:
        raise FlowError(out)
    if not flows:
        raise FlowError([FlowProblem(str(directory), "defines no flow (no file has 'number')")])
    return fs


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    flows: int
    problems: tuple[str, ...] = ()


class FlowRegistry:
    """The current flows of a directory; ``reload()`` swaps them only when all are valid."""

    def __init__(self, directory: Path, node_types: NodeTypes | None = None) -> None:
        self.directory = directory
        self.node_types = node_types if node_types is not None else builtin_node_types()
        self._current = FlowSet()
        self.last_problems: tuple[str, ...] = ()

    @property
    def current(self) -> FlowSet:
        return self._current

    def flow(self, number: str) -> Flow | None:
        return self._current.flows.get(number)

    def load(self) -> FlowSet:
        """First load (at start-up): raise FlowError when anything is wrong."""
        fs = load_flows(self.directory, self.node_types)
        self._current = fs
        self.last_problems = ()
        log.info("flows loaded from %s: %s", self.directory, ", ".join(sorted(fs.flows)))
        return fs

    def reload(self) -> ReloadResult:
        """Reload without raising: on failure keep the current flows and report why."""
        try:
            fs = load_flows(self.directory, self.node_types)
        except FlowError as exc:
            self.last_problems = tuple(str(p) for p in exc.problems)
            for problem in exc.problems:
                log.error("flow reload rejected, keeping the current flows: %s", problem)
            return ReloadResult(False, len(self._current.flows), self.last_problems)
        self._current = fs
        self.last_problems = ()
        log.info("flows reloaded from %s: %s", self.directory, ", ".join(sorted(fs.flows)))
        return ReloadResult(True, len(fs.flows))


def install_reload_signal(
    registry: FlowRegistry, loop: asyncio.AbstractEventLoop | None = None
) -> None:
    """Reload the flows on SIGHUP (``contactcore flows reload`` sends it)."""
    target = loop or asyncio.get_running_loop()
    target.add_signal_handler(signal.SIGHUP, registry.reload)
