"""The OpenAPI 3.1 document, generated from the endpoint table and the pydantic models."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from contactcore.web.api import Endpoint
from contactcore.web.schemas import ErrorOut

OPENAPI_PATH = "/api/v1/openapi.json"
_PARAM = re.compile(r"{(\w+)}")
_ERRORS = {
    400: "bad input: the message names the field and why",
    401: "not logged in, or the session or token is no longer valid",
    403: "the role may not do this, or the CSRF token is missing or wrong",
    404: "no such agent, queue or task",
    409: "the change contradicts the current state",
    422: "well-formed, but refused now (e.g. a closed queue, a callback outside business hours)",
    429: "too many failed logins; see Retry-After",
    503: "a service this needs is not available on this server",
}


def _ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        schemas[name] = sub
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json_content(ref: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": ref}}}


def build_document(endpoints: list[Endpoint]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    error = _ref(ErrorOut, schemas)
    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        op: dict[str, Any] = {
            "summary": ep.summary,
            "operationId": ep.handler.__name__,
            "tags": [ep.tag],
            "x-roles": sorted(ep.roles),
        }
        params = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in _PARAM.findall(ep.path)
        ]
        params += [
            {
                "name": q,
                "in": "query",
                "required": q in ep.required_query,
                "schema": {"type": "string"},
            }
            for q in ep.query
        ]
        if params:
            op["parameters"] = params
        if ep.body is not None:
            op["requestBody"] = {"required": True, **_json_content(_ref(ep.body, schemas))}
        ok: dict[str, Any] = {"description": "done"}
        if ep.response is not None:
            ok |= _json_content(_ref(ep.response, schemas))
        responses: dict[str, Any] = {str(ep.status): ok}
        codes = [400, 404, 409] if ep.roles else [400, 401, 429]
        codes += list(ep.errors)
        if ep.roles:
            codes += [401, 403]
            op["security"] = [{"session": [], "csrf": []}, {"bearer": []}]
        else:
            op["security"] = []
        for code in ep.also_ok:  # e.g. 200 "updated" beside 201 "created"
            responses[str(code)] = ok
        for code in sorted(set(codes)):
            responses[str(code)] = {"description": _ERRORS[code], **_json_content(error)}
        op["responses"] = responses
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "contactcore API",
            "version": "1",
            "description": (
                "Log in with POST /api/v1/auth/login (session cookie + CSRF token for "
                "X-CSRF-Token on every change) or send 'Authorization: Bearer <token>'."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "cc_session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def registered(app: web.Application, endpoints: list[Endpoint]) -> list[Endpoint]:
    """The endpoints whose routes the app really has (so the document never lies)."""
    have = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None}
    return [ep for ep in endpoints if (ep.method, ep.path) in have]
