"""The one place where our errors become HTTP statuses: JSON, never a traceback."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from contactcore.errors import Conflict, ContactcoreError, InvalidInput, NotFound

log = logging.getLogger(__name__)

STATUS: tuple[tuple[type[ContactcoreError], int], ...] = (
    (InvalidInput, 400),
    (NotFound, 404),
    (Conflict, 409),
)


def error_body(error_id: str, message: str) -> dict[str, str]:
    return {"error": error_id, "message": message}


@web.middleware
async def errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ContactcoreError as exc:
        status = next((code for cls, code in STATUS if isinstance(exc, cls)), 503)
        return web.json_response(error_body(exc.error_id, exc.message), status=status)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        body = error_body("internal", "internal error; the server log has the details")
        return web.json_response(body, status=500)
