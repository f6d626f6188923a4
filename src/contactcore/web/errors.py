"""The one place where our errors become HTTP statuses: JSON, never a traceback."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from contactcore.errors import Conflict, ContactcoreError, InvalidInput, NotFound, Unprocessable

log = logging.getLogger(__name__)

STATUS: tuple[tuple[type[ContactcoreError], int], ...] = (
    (InvalidInput, 400),
    (Unprocessable, 422),
    (NotFound, 404),
    (Conflict, 409),
)


def error_body(error_id: str, message: str) -> dict[str, str]:
    return {"error": error_id, "message": message}


def _allow(exc: web.HTTPException) -> dict[str, str] | None:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else None


@web.middleware
async def errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ContactcoreError as exc:
        status = next((code for cls, code in STATUS if isinstance(exc, cls)), 503)
        return web.json_response(error_body(exc.error_id, exc.message), status=status)
    except web.HTTPException as exc:
        # aiohttp's own 404/405/413 are plain text: the API answers JSON like everywhere else
        if (
            exc.status >= 400
            and request.path.startswith("/api/")
            and exc.content_type != ("application/json")
        ):
            error_id = (exc.reason or "error").lower().replace(" ", "_")
            body = error_body(error_id, f"{request.method} {request.path}: {exc.reason}")
            return web.json_response(body, status=exc.status, headers=_allow(exc))
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        body = error_body("internal", "internal error; the server log has the details")
        return web.json_response(body, status=500)
