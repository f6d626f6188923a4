"""Typed models of call-flow files and their nodes (pure: no I/O).

A flow file is YAML: an entry ``number``, a ``start`` node and ``nodes`` keyed by
id; any file may also define custom ``prompts`` (text spoken by text-to-speech)
and opening ``hours`` used by ``condition`` nodes. Node types live in a registry
(:class:`NodeTypes`) so that later node kinds (speech input, callback offer) are
added by registering a model here and a handler with the runner, without
changing either one's core.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from contactcore.core.clock import known_time_zone
from contactcore.core.telephony import Verification
from contactcore.errors import ContactcoreError

MEDIA_KINDS = ("sound", "digits", "number", "tone", "prompt")
_TEMPLATE = re.compile(r"^\{[A-Za-z_][A-Za-z0-9_]*\}$")
NODE_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$")
PROMPT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
DTMF_KEYS = "0123456789*#"


class FlowError(ContactcoreError):
    """One or more flow files are invalid; each problem names the file, node and fault."""

    error_id = "ivr.flow_invalid"

    def __init__(self, problems: list[FlowProblem]) -> None:
        self.problems = problems
        first = str(problems[0]) if problems else "invalid flow"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first + more, problems=[str(p) for p in problems])


@dataclass(frozen=True)
class FlowProblem:
    file: str
    message: str
    node: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}: node '{self.node}'" if self.node else self.file
        return f"{where}: {self.message}"


def _as_media_list(value: Any) -> Any:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return value


def check_media_item(item: str) -> str:
    """Raise ValueError unless ``item`` is ``kind:value`` with a known kind."""
    kind, sep, value = item.partition(":")
    if not sep or kind not in MEDIA_KINDS:
        raise ValueError(
            f"media '{item}' must start with one of " + ", ".join(f"{k}:" for k in MEDIA_KINDS)
        )
    if not value:
        raise ValueError(f"media '{item}' has nothing after '{kind}:'")
    if _TEMPLATE.match(value):
        return item
    if kind == "digits" and not all(c in DTMF_KEYS for c in value):
        raise ValueError(f"media '{item}': digits: takes only 0-9 * # or a {{attribute}}")
    if kind == "number" and not re.fullmatch(r"-?\d+", value):
        raise ValueError(f"media '{item}': number: takes an integer or a {{attribute}}")
    if kind == "prompt" and not PROMPT_NAME.match(value):
        raise ValueError(f"media '{item}': prompt names are lower-case letters, digits, _ and -")
    return item


def _check_media(value: tuple[str, ...]) -> tuple[str, ...]:
    for item in value:
        check_media_item(item)
    return value


Media = Annotated[tuple[str, ...], BeforeValidator(_as_media_list)]


class Node(BaseModel):
    """Base of every node. Subclasses name the fields that hold media and node ids."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type: str
    media_fields: ClassVar[tuple[str, ...]] = ()
    target_fields: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _valid_media(self) -> Node:
        for name in self.media_fields:
            _check_media(getattr(self, name))
        return self

    def targets(self) -> Iterator[tuple[str, str]]:
        """(label, node id) for every node this one may go to."""
        for name in self.target_fields:
            value = getattr(self, name)
            if value is not None:
                yield name, value

    def media(self) -> Iterator[str]:
        for name in self.media_fields:
            yield from getattr(self, name)


class PlayNode(Node):
    type: Literal["play"] = "play"
    media_items: Media = Field(alias="media", min_length=1)
    next: str
    media_fields = ("media_items",)
    target_fields = ("next",)


class MenuNode(Node):
    type: Literal["menu"] = "menu"
    prompt: Media = Field(min_length=1)
    options: dict[str, str] = Field(min_length=1)
    timeout: float = Field(default=5.0, gt=0, le=120)
    retries: int = Field(default=2, ge=0, le=10)
    invalid_prompt: Media = ()
    no_input_prompt: Media = ()
    default: str
    media_fields = ("prompt", "invalid_prompt", "no_input_prompt")
    target_fields = ("default",)

    @field_validator("options", mode="before")
    @classmethod
    def _keys_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): v for k, v in value.items()}
        return value

    @field_validator("options")
    @classmethod
    def _single_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if len(key) != 1 or key not in DTMF_KEYS:
                raise ValueError(f"option '{key}' must be one key of 0-9 * #")
        return value

    def targets(self) -> Iterator[tuple[str, str]]:
        for key, target in self.options.items():
            yield f"option '{key}'", target
        yield from super().targets()


class CollectNode(Node):
    type: Literal["collect"] = "collect"
    prompt: Media = Field(min_length=1)
    store: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    min_length: int = Field(default=1, ge=1, le=64)
    max_length: int = Field(default=20, ge=1, le=64)
    finish_key: Literal["#", "*"] | None = "#"
    first_digit_timeout: float = Field(default=5.0, gt=0, le=120)
    inter_digit_timeout: float = Field(default=3.0, gt=0, le=60)
    retries: int = Field(default=2, ge=0, le=10)
    invalid_prompt: Media = ()
    no_input_prompt: Media = ()
    secure: bool = False  # keep the digits out of the timeline
    next: str
    on_failure: str | None = None
    media_fields = ("prompt", "invalid_prompt", "no_input_prompt")
    target_fields = ("next", "on_failure")

    @model_validator(mode="after")
    def _lengths(self) -> CollectNode:
        if self.min_length > self.max_length:
            raise ValueError(
                f"min_length {self.min_length} is greater than max_length {self.max_length}"
            )
        return self


class IdentifyNode(Node):
    type: Literal["identify"] = "identify"
    next: str
    not_found: str | None = None
    target_fields = ("next", "not_found")


class VerifyNode(Node):
    type: Literal["verify"] = "verify"
    account_prompt: Media = Field(min_length=1)
    pin_prompt: Media = Field(min_length=1)
    wrong_pin_prompt: Media = Field(min_length=1)
    locked_prompt: Media = Field(min_length=1)
    no_input_prompt: Media = ()
    ask_account: Literal["auto", "always"] = "auto"
    account_min_length: int = Field(default=4, ge=1, le=32)
    account_max_length: int = Field(default=12, ge=1, le=32)
    pin_min_length: int = Field(default=4, ge=1, le=16)
    pin_max_length: int = Field(default=8, ge=1, le=16)
    first_digit_timeout: float = Field(default=6.0, gt=0, le=120)
    inter_digit_timeout: float = Field(default=3.0, gt=0, le=60)
    verified: str
    failed: str
    media_fields = (
        "account_prompt",
        "pin_prompt",
        "wrong_pin_prompt",
        "locked_prompt",
        "no_input_prompt",
    )
    target_fields = ("verified", "failed")

    @model_validator(mode="after")
    def _lengths(self) -> VerifyNode:
        if self.account_min_length > self.account_max_length:
            raise ValueError("account_min_length is greater than account_max_length")
        if self.pin_min_length > self.pin_max_length:
            raise ValueError("pin_min_length is greater than pin_max_length")
        return self


class When(BaseModel):
    """A test; every field that is set must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    open: str | None = None  # name of an ``hours`` definition: true when open now
    tier: tuple[str, ...] | None = None
    verified: bool | None = None
    verification: tuple[Verification, ...] | None = None
    attribute: str | None = None
    equals: str | None = None
    one_of: tuple[str, ...] | None = Field(default=None, alias="in")
    exists: bool | None = None

    @field_validator("tier", "one_of", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _something(self) -> When:
        fields = self.model_fields_set
        if not fields:
            raise ValueError("'when' needs at least one test")
        value_tests = {"equals", "one_of", "exists"} & fields
        if value_tests and self.attribute is None:
            raise ValueError("equals/in/exists need 'attribute'")
        if self.attribute is not None and not value_tests:
            raise ValueError("'attribute' needs one of equals, in, exists")
        return self


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    when: When
    next: str


class ConditionNode(Node):
    type: Literal["condition"] = "condition"
    rules: tuple[Rule, ...] = Field(min_length=1)
    otherwise: str = Field(alias="else")
    target_fields = ("otherwise",)

    def targets(self) -> Iterator[tuple[str, str]]:
        for i, rule in enumerate(self.rules, 1):
            yield f"rule {i}", rule.next
        yield "else", self.otherwise


class SetNode(Node):
    type: Literal["set"] = "set"
    attributes: dict[str, str] = Field(default_factory=dict)
    priority: int | None = Field(default=None, ge=0, le=1000)
    skills: dict[str, int] = Field(default_factory=dict)
    next: str
    target_fields = ("next",)

    @field_validator("attributes", mode="before")
    @classmethod
    def _values_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        return value


class QueueNode(Node):
    type: Literal["queue"] = "queue"
    queue: str = Field(pattern=NODE_ID.pattern)
    priority: int | None = Field(default=None, ge=0, le=1000)
    skills: dict[str, int] = Field(default_factory=dict)
    answered: str | None = None
    overflowed: str | None = None
    closed: str | None = None
    callback: str | None = None  # the caller asked to be called back instead of waiting
    target_fields = ("answered", "overflowed", "closed", "callback")


class TransferNode(Node):
    type: Literal["transfer"] = "transfer"
    flow: str | None = None  # entry number of another flow
    number: str | None = Field(default=None, pattern=r"^\+?[0-9]{3,15}$")

    @field_validator("flow", mode="before")
    @classmethod
    def _flow_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @model_validator(mode="after")
    def _one_target(self) -> TransferNode:
        if (self.flow is None) == (self.number is None):
            raise ValueError("give exactly one of 'flow' (an entry number) or 'number'")
        return self


class HangupNode(Node):
    type: Literal["hangup"] = "hangup"
    prompt: Media = ()
    outcome: Literal["completed", "closed"] | None = None
    media_fields = ("prompt",)


NodeTypes = dict[str, type[Node]]


def builtin_node_types() -> NodeTypes:
    """A fresh registry of the built-in node types; add more with ``types[name] = Model``."""
    return {
        "play": PlayNode,
        "menu": MenuNode,
        "collect": CollectNode,
        "identify": IdentifyNode,
        "verify": VerifyNode,
        "condition": ConditionNode,
        "set": SetNode,
        "queue": QueueNode,
        "transfer": TransferNode,
        "hangup": HangupNode,
    }


class PromptDef(BaseModel):
    """A custom prompt: text for text-to-speech, unless a recording replaces it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1, max_length=2000)
    voice: str | None = None  # default voice when None

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        return {"text": value} if isinstance(value, str) else value


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


def _days(key: str) -> list[int]:
    out: list[int] = []
    for part in key.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in _DAYS or (last and last not in _DAYS):
            raise ValueError(f"day '{part}' must be mon..sun or a range like mon-fri")
        a = _DAYS.index(first)
        b = _DAYS.index(last) if last else a
        if b < a:
            raise ValueError(f"day range '{part}' goes backwards")
        out.extend(range(a, b + 1))
    return out


def _window(text: str) -> tuple[int, int]:
    m = _WINDOW.match(text.strip())
    if not m:
        raise ValueError(f"opening window '{text}' must look like 08:30-17:00")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or end > 24 * 60 or end <= start:
        raise ValueError(f"opening window '{text}' is not a time range within one day")
    return start, end


class HolidaySource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    country: str = Field(min_length=2, max_length=3)
    subdivision: str | None = None

    @model_validator(mode="after")
    def _known(self) -> HolidaySource:
        import holidays

        try:
            holidays.country_holidays(self.country, subdiv=self.subdivision)
        except NotImplementedError:
            raise ValueError(
                f"no public-holiday calendar for country '{self.country}'"
                + (f" subdivision '{self.subdivision}'" if self.subdivision else "")
            ) from None
        return self


class Hours(BaseModel):
    """Weekly opening windows in a time zone, less public holidays and closed dates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str
    weekly: dict[str, str | list[str]]
    holidays: HolidaySource | None = None
    closed_dates: tuple[date, ...] = ()
    _windows: tuple[tuple[tuple[int, int], ...], ...] = PrivateAttr(default=())

    _zone = field_validator("timezone")(known_time_zone)

    @field_validator("weekly")
    @classmethod
    def _parse_weekly(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for key, windows in value.items():
            _days(key)
            for w in [windows] if isinstance(windows, str) else windows:
                if w != "closed":
                    _window(w)
        return value

    def model_post_init(self, context: Any, /) -> None:
        per_day: list[list[tuple[int, int]]] = [[] for _ in _DAYS]
        for key, windows in self.weekly.items():
            for day in _days(key):
                for w in [windows] if isinstance(windows, str) else windows:
                    if w != "closed":
                        per_day[day].append(_window(w))
        self._windows = tuple(tuple(sorted(d)) for d in per_day)

    def windows(self, weekday: int) -> tuple[tuple[int, int], ...]:
        """Opening windows (minutes from midnight) for weekday 0=Monday."""
        return self._windows[weekday]


@dataclass(frozen=True)
class Flow:
    number: str
    name: str
    source: str
    start: str
    nodes: Mapping[str, Node]


@dataclass(frozen=True)
class FlowSet:
    """Everything loaded from a dialplans directory; immutable, swapped whole on reload."""

    flows: Mapping[str, Flow] = field(default_factory=dict)
    prompts: Mapping[str, PromptDef] = field(default_factory=dict)
    hours: Mapping[str, Hours] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
