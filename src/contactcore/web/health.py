"""``/healthz`` and ``/metrics``: each dependency reported on its own."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    detail: str


HealthCheck = Callable[[], Awaitable[CheckResult]]

HEALTH_CHECKS = web.AppKey("health_checks", Mapping[str, HealthCheck])
METRICS_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)
CHECK_TIMEOUT = 2.0


async def _run_check(check: HealthCheck) -> CheckResult:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            return await check()
    except TimeoutError:
        return CheckResult(False, f"no answer within {CHECK_TIMEOUT:.0f}s")
    except Exception as exc:  # a failing check is a report, not a crash of /healthz
        return CheckResult(False, f"{type(exc).__name__}: {exc}")


async def healthz(request: web.Request) -> web.Response:
    checks = request.app[HEALTH_CHECKS]
    names = list(checks)
    results = await asyncio.gather(*(_run_check(checks[n]) for n in names))
    report = {n: {"ok": r.ok, "detail": r.detail} for n, r in zip(names, results, strict=True)}
    healthy = all(r.ok for r in results)
    body = {"status": "ok" if healthy else "degraded", "checks": report}
    return web.json_response(body, status=200 if healthy else 503)


async def metrics(request: web.Request) -> web.Response:
    payload = generate_latest(request.app[METRICS_REGISTRY])
    return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
