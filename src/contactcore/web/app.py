"""The aiohttp application. Services come from the composition root, never built here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from aiohttp import web
from prometheus_client import CollectorRegistry

from contactcore.acd.service import RoutingService
from contactcore.callback.service import CallbackService
from contactcore.channels.voice_transfer import VoiceTransfers
from contactcore.core.auth import SUPERVISORS
from contactcore.core.desk import DeskHistory
from contactcore.core.ports import EventFeed
from contactcore.web import api, desk, health, live, openapi, pages, wfm
from contactcore.web.auth import AUTH, Auth, auth_middleware
from contactcore.web.errors import errors_middleware
from contactcore.wfm.service import WfmService


@dataclass(frozen=True, slots=True)
class ApiServices:
    """What the JSON API needs; ``feed`` (the live event stream) enables ``/api/v1/ws``;
    without ``transfers`` a transfer request answers 503."""

    auth: Auth
    routing: RoutingService
    desk: DeskHistory
    feed: EventFeed | None = None
    callbacks: CallbackService | None = None
    transfers: VoiceTransfers | None = None
    timezone: str = "UTC"  # where the centre's day ("today") begins


API_ENDPOINTS: web.AppKey[tuple[api.Endpoint, ...]] = web.AppKey("api_endpoints")


async def openapi_document(request: web.Request) -> web.Response:
    table = request.app[API_ENDPOINTS]
    endpoints = openapi.registered(request.app, list(table))
    return web.json_response(openapi.build_document(endpoints))


def _add_api(app: web.Application, services: ApiServices, planning: WfmService | None) -> None:
    app[AUTH] = services.auth
    app[api.ROUTING] = services.routing
    if services.callbacks is not None:
        app[api.CALLBACKS] = services.callbacks
    if services.transfers is not None:
        app[api.TRANSFERS] = services.transfers
    app[desk.DESK] = services.desk
    app[desk.DAY_ZONE] = ZoneInfo(services.timezone)
    endpoints = list(api.ENDPOINTS)
    endpoints.append(
        api.Endpoint(
            "GET",
            openapi.OPENAPI_PATH,
            openapi_document,
            "This document",
            api.EVERYONE,
            tag="meta",
        )
    )
    if planning is not None:
        app[wfm.WFM_SERVICE] = planning
        endpoints.append(
            api.Endpoint(
                "GET",
                "/api/v1/wfm/staffing",
                wfm.staffing,
                "Staffing table of a queue (JSON, or an SVG chart with format=svg)",
                SUPERVISORS,
                tag="wfm",
                query=(
                    "queue", "days", "from", "channel", "format", "model", "target_sl",
                    "threshold_seconds", "max_occupancy", "shrinkage", "patience_seconds",
                    "max_abandon", "concurrency", "deadline_seconds",
                ),
                required_query=("queue",),
            )
        )  # fmt: skip
    if services.feed is not None:
        app[live.LIVE_HUB] = live.LiveHub(services.feed)
        app.cleanup_ctx.append(live.hub_lifetime)
        app.on_shutdown.append(live.close_sockets)
        endpoints.append(
            api.Endpoint(
                "GET",
                "/api/v1/ws",
                live.websocket,
                "WebSocket of routing events (supervisors: all; agents: their own)",
                api.EVERYONE,
                tag="live",
            )
        )
    app[API_ENDPOINTS] = tuple(endpoints)
    for ep in endpoints:
        app.router.add_route(ep.method, ep.path, api.guarded(ep))


def build_web_app(
    checks: Mapping[str, health.HealthCheck],
    registry: CollectorRegistry,
    planning: WfmService | None = None,
    services: ApiServices | None = None,
) -> web.Application:
    """Without ``services`` only health, metrics and (unauthenticated) planning are served."""
    middlewares = [errors_middleware] if services is None else [errors_middleware, auth_middleware]
    app = web.Application(middlewares=middlewares)
    app[health.HEALTH_CHECKS] = checks
    app[health.METRICS_REGISTRY] = registry
    health.add_routes(app)
    if services is not None:
        _add_api(app, services, planning)
        pages.add_routes(app)
    elif planning is not None:
        wfm.add_routes(app, planning)
    return app
