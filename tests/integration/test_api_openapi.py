"""The OpenAPI document matches the code: routes, request examples and real responses."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from contactcore.acd.model import AgentConfig, Presence, TaskSpec
from contactcore.errors import Conflict, NotFound
from contactcore.testing.api_env import ApiEnv, api_env

pytestmark = pytest.mark.integration

METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture
async def env(sqlite_url: str, redis_url: str, redis_prefix: str) -> AsyncIterator[ApiEnv]:
    async with api_env(sqlite_url, redis_url, redis_prefix, with_feed=True) as e:
        yield e


def validator(doc: dict[str, Any], ref: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator({"components": doc["components"], **ref})


async def document(env: ApiEnv, headers: dict[str, str]) -> dict[str, Any]:
    resp = await env.client.get("/api/v1/openapi.json", headers=headers)
    assert resp.status == 200
    doc: dict[str, Any] = await resp.json()
    return doc


async def test_every_route_is_documented_and_every_documented_route_exists(env: ApiEnv) -> None:
    headers = {"Authorization": f"Bearer {await env.token('agent1001')}"}
    doc = await document(env, headers)
    assert doc["openapi"].startswith("3.1")
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    registered = {
        (r.method, r.resource.canonical)
        for r in env.client.app.router.routes()  # type: ignore[union-attr]
        if r.resource is not None and r.resource.canonical.startswith("/api/v1/")
    }
    assert documented == registered
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert method in METHODS
            assert op["summary"], (method, path)
            assert op["responses"], (method, path)
            for name in [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]:
                assert "{" + name + "}" in path
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


async def desk_state(
    env: ApiEnv, path: str, example: dict[str, Any], n: int
) -> tuple[dict[str, str], dict[str, Any]]:
    """An offer for a reject example, a task in wrap-up for a wrap-up example (others:
    the example as it is); both for agent1001, as a fresh chat task in an open queue."""
    if not path.endswith(("/reject", "/wrapup")):
        return {}, example
    aid, tid = env.ids["agent1001"], f"tk_doc_chat{n}"
    with contextlib.suppress(Conflict, NotFound):
        await env.routing.withdraw("tk_doc")  # a waiting call would be offered first
    await env.routing.set_queue_open("general", True)  # an earlier example closed it
    member = await env.staff.member(aid)
    assert member is not None  # an earlier example may have logged the agent out
    config = AgentConfig(id=aid, skills=member.skills, capacity=member.capacities)
    await env.routing.login(config, Presence.AVAILABLE)
    await env.routing.enqueue(TaskSpec(id=tid, channel="chat", queue="general"))
    assert tid in [o.task_id for o in await env.routing.route()]
    if path.endswith("/wrapup"):
        await env.routing.accept(tid, aid)
        await env.routing.finish(tid, aid)
        return {"task_id": tid}, example | {"task_id": tid}
    return {"task_id": tid}, example


async def test_request_examples_validate_and_are_accepted_by_the_server(env: ApiEnv) -> None:
    """Each documented example passes the published schema, then the real endpoint."""
    await env.hold_call("agent1003", "tk_held")  # the transfer example needs a call in hand
    await env.routing.enqueue(TaskSpec(id="tk_doc", channel="voice", queue="general"))
    headers = {"Authorization": f"Bearer {await env.token('supervisor')}"}
    doc = await document(env, headers)
    values = {"agent_id": env.ids["agent1001"], "name": "general", "task_id": "tk_doc"}
    tried = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            body = op.get("requestBody")
            if body is None:
                continue
            ref = body["content"]["application/json"]["schema"]
            schema = doc["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
            examples = schema.get("examples")
            assert examples, f"{method} {path}: the body model has no example"
            for example in examples:
                errors = list(validator(doc, ref).iter_errors(example))
                assert not errors, (method, path, example, errors)
                state, example = await desk_state(env, path, example, tried)
                where = values | state
                if path.endswith("/transfer"):
                    where = {**where, "agent_id": env.ids["agent1003"]}
                resp = await env.client.request(
                    method, path.format(**where), json=example, headers=headers
                )
                assert resp.status < 300, (method, path, example, await resp.text())
                tried += 1
    assert tried >= 10


async def test_real_responses_match_the_documented_schemas(env: ApiEnv) -> None:
    await env.routing.enqueue(TaskSpec(id="tk_resp", channel="voice", queue="general"))
    headers = {"Authorization": f"Bearer {await env.token('admin')}"}
    aid = env.ids["agent1002"]
    put = await env.client.put(
        f"/api/v1/agents/{aid}/presence", json={"presence": "available"}, headers=headers
    )
    assert put.status == 200
    doc = await document(env, headers)
    checked = 0
    for path, ops in doc["paths"].items():
        op = ops.get("get")
        if op is None:
            continue
        content = op["responses"]["200"].get("content")
        if content is None or "{" in path:
            continue
        resp = await env.client.get(path, headers=headers)
        assert resp.status == 200, path
        errors = list(
            validator(doc, content["application/json"]["schema"]).iter_errors(await resp.json())
        )
        assert not errors, (path, errors)
        checked += 1
    assert checked >= 3
    # error bodies too
    bad = await env.client.put(
        f"/api/v1/agents/{aid}/presence", json={"presence": "asleep"}, headers=headers
    )
    assert bad.status == 400
    error_ref = {"$ref": "#/components/schemas/ErrorOut"}
    assert not list(validator(doc, error_ref).iter_errors(await bad.json()))
