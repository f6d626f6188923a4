"""The aiohttp application. Services come from the composition root, never built here."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from prometheus_client import CollectorRegistry

from contactcore.web import health, wfm
from contactcore.web.errors import errors_middleware
from contactcore.wfm.service import WfmService


def build_web_app(
    checks: Mapping[str, health.HealthCheck],
    registry: CollectorRegistry,
    planning: WfmService | None = None,
) -> web.Application:
    app = web.Application(middlewares=[errors_middleware])
    app[health.HEALTH_CHECKS] = checks
    app[health.METRICS_REGISTRY] = registry
    health.add_routes(app)
    if planning is not None:
        wfm.add_routes(app, planning)
    return app
