"""The aiohttp application. Services come from the composition root, never built here."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from prometheus_client import CollectorRegistry

from contactcore.web import health


def build_web_app(
    checks: Mapping[str, health.HealthCheck], registry: CollectorRegistry
) -> web.Application:
    app = web.Application()
    app[health.HEALTH_CHECKS] = checks
    app[health.METRICS_REGISTRY] = registry
    health.add_routes(app)
    return app
