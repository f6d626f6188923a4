"""Workforce planning over HTTP: the staffing table of a queue, as JSON or as a chart."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from aiohttp import web

from contactcore.errors import InvalidInput
from contactcore.wfm.service import WfmService
from contactcore.wfm.staffing import MODELS, StaffingTargets

WFM_SERVICE = web.AppKey("wfm_service", WfmService)


def _number(query: web.Request, name: str, default: float | None) -> float | None:
    raw = query.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise InvalidInput(f"{name}: '{raw}' is not a number", field=name) from None


def _targets(request: web.Request) -> StaffingTargets:
    model = request.query.get("model", "c")
    if model not in MODELS:
        raise InvalidInput(f"model: use one of {', '.join(MODELS)}", field="model")
    shrinkage = request.query.get("shrinkage", "0")
    try:
        shrink = Decimal(shrinkage)
    except InvalidOperation:
        raise InvalidInput(f"shrinkage: '{shrinkage}' is not a number", field="shrinkage") from None
    if not Decimal(0) <= shrink < Decimal(1):
        raise InvalidInput("shrinkage: must be at least 0 and below 1", field="shrinkage")
    targets = StaffingTargets(
        model=model,
        target_sl=_number(request, "target_sl", 0.8) or 0.8,
        threshold_seconds=_number(request, "threshold_seconds", 20.0) or 0.0,
        max_occupancy=_number(request, "max_occupancy", 1.0) or 1.0,
        shrinkage=shrink,
        patience_seconds=_number(request, "patience_seconds", None),
        max_abandon=_number(request, "max_abandon", None),
        concurrency=int(_number(request, "concurrency", 1) or 1),
        deadline_seconds=_number(request, "deadline_seconds", None),
    )
    targets.check()
    return targets


async def staffing(request: web.Request) -> web.Response:
    """GET /api/v1/wfm/staffing?queue=general&days=1[&from=YYYY-MM-DD][&format=svg]..."""
    queue = request.query.get("queue")
    if not queue:
        raise InvalidInput("queue: required (a queue name, e.g. general)", field="queue")
    days = int(_number(request, "days", 1) or 1)
    if not 1 <= days <= 62:
        raise InvalidInput("days: must be 1 to 62", field="days")
    first = request.query.get("from")
    try:
        first_day = date.fromisoformat(first) if first else None
    except ValueError:
        raise InvalidInput(f"from: '{first}' is not a date (YYYY-MM-DD)", field="from") from None
    plan = await request.app[WFM_SERVICE].staffing(
        queue, first_day, days, _targets(request), request.query.get("channel")
    )
    if request.query.get("format") == "svg":
        return web.Response(text=plan.svg(), content_type="image/svg+xml")
    return web.json_response(plan.to_data())


def add_routes(app: web.Application, service: WfmService) -> None:
    app[WFM_SERVICE] = service
    app.router.add_get("/api/v1/wfm/staffing", staffing)
