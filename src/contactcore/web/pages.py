"""The agent desktop and the supervisor console: static pages shipped in the package.

The pages hold no data; they log in through the JSON API, keep the CSRF token in
``sessionStorage`` and follow ``/api/v1/ws``. No build step: plain HTML, CSS and
JavaScript modules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path

from aiohttp import web

STATIC = Path(str(resources.files("contactcore.web").joinpath("static")))
# Same-origin only: no inline script, no third-party anything, never framed.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _page(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / name, headers=HEADERS)

    return handler


async def _home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/desktop")


async def _static_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith("/static/"):
        response.headers.update(HEADERS)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", _home)
    app.router.add_get("/desktop", _page("desktop.html"))
    app.router.add_get("/console", _page("console.html"))
    app.router.add_static("/static/", STATIC, append_version=False)
    app.on_response_prepare.append(_static_headers)
