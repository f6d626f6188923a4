"""``contactcore wfm ...``: workforce planning from the command line.

``erlang`` and ``backtest`` need nothing but their arguments; ``import``, ``rebuild``,
``forecast`` and ``staffing`` keep interval statistics in a CSV store (``--store``).
A bad argument is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import math
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from contactcore.errors import InvalidInput

if TYPE_CHECKING:
    from contactcore.wfm.forecast import Forecast, Series
    from contactcore.wfm.service import StaffingPlan, WfmService

# The wfm modules (numpy, scipy, statsmodels) are imported by the handlers, not here:
# every ``contactcore`` command loads this module to build its parser.
MODELS = ("c", "a", "chat", "deferred")
EXIT_USAGE = 2
FORMATS = ("table", "csv", "json")


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line (the full usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def _number(
    name: str,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        bad = (low is not None and (value < low or (low_open and value == low))) or (
            high is not None and (value > high or (high_open and value == high))
        )
        if bad:
            lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
            hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
            rng = (
                f"in {lo}, {hi}"
                if low is not None and high is not None
                else (f"{'>' if low_open else '>='} {low:g}" if low is not None else f"<= {high:g}")
            )
            raise argparse.ArgumentTypeError(f"must be {rng}, got {text}")
        return value

    parse.__name__ = name
    return parse


def _fraction_text(name: str) -> Callable[[str], str]:
    """Keep shrinkage as text so that it is used as the exact decimal typed."""

    def parse(text: str) -> str:
        check = _number(name, 0.0, 1.0, high_open=True)
        check(text)
        return text

    parse.__name__ = name
    return parse


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "wfm",
        help="workforce planning: Erlang calculator, forecasts, staffing",
        description=(
            "Workforce planning: interval statistics, forecasts of volume and handle time, "
            "and agents required per interval (Erlang C and A, chat, deferred work)."
        ),
    )
    wsub = p.add_subparsers(
        dest="wfm_command", metavar="SUBCOMMAND", required=True, parser_class=_OneLineParser
    )
    _register_erlang(wsub)
    _register_backtest(wsub)
    _register_generate(wsub)
    _register_import(wsub)
    _register_rebuild(wsub)
    _register_forecast(wsub)
    _register_staffing(wsub)


def _add_format(p: argparse.ArgumentParser, default: str = "table") -> None:
    p.add_argument(
        "--format", choices=FORMATS, default=default, help=f"output format (default: {default})"
    )


def _add_targets(p: argparse.ArgumentParser, *, with_model_choices: Sequence[str]) -> None:
    p.add_argument(
        "--model",
        choices=with_model_choices,
        default="c",
        help="c: Erlang C; a: Erlang A (with abandonment)"
        + (
            "; chat: concurrent chats; deferred: email/tasks with a deadline"
            if len(with_model_choices) > 2
            else ""
        )
        + " (default: c)",
    )
    p.add_argument(
        "--target-sl",
        type=_number("target-sl", 0.0, 1.0, high_open=True),
        default=0.8,
        help="service level target, a fraction (default: 0.8)",
    )
    p.add_argument(
        "--threshold-seconds",
        type=_number("threshold-seconds", 0.0),
        default=20.0,
        help="answered within this many seconds counts as in service level (default: 20)",
    )
    p.add_argument(
        "--max-occupancy",
        type=_number("max-occupancy", 0.0, 1.0, low_open=True),
        default=1.0,
        help="cap on agent occupancy, a fraction (default: 1, no cap)",
    )
    p.add_argument(
        "--shrinkage",
        type=_fraction_text("shrinkage"),
        default="0",
        help="fraction of paid time not available for work (default: 0)",
    )
    p.add_argument(
        "--patience-seconds",
        type=_number("patience-seconds", 0.0, low_open=True),
        default=None,
        help="mean caller patience for --model a",
    )
    p.add_argument(
        "--max-abandon",
        type=_number("max-abandon", 0.0, 1.0),
        default=None,
        help="cap on the probability of abandonment for --model a",
    )


# --- erlang --------------------------------------------------------------------------------


def _register_erlang(wsub: argparse._SubParsersAction[_OneLineParser]) -> None:
    p = wsub.add_parser(
        "erlang",
        help="agents needed for one interval (Erlang C or A)",
        description=(
            "Agents needed for one interval. raw_agents is the fewest agents meeting the "
            "service level (and the occupancy and abandonment caps); agents_after_shrinkage "
            "the fewest M with M x (1 - shrinkage) >= raw_agents, computed exactly. Metrics "
            "are those at raw_agents; service level counts all offered calls (for Erlang A, "
            "abandoners are failures). Example: contactcore wfm erlang --calls 100 "
            "--interval-seconds 1800 --aht-seconds 180 --target-sl 0.8 --threshold-seconds 20 "
            "--shrinkage 0.3 --format json"
        ),
    )
    p.add_argument(
        "--calls", type=_number("calls", 0.0), required=True, help="calls offered in the interval"
    )
    p.add_argument(
        "--interval-seconds",
        type=_number("interval-seconds", 0.0, low_open=True),
        required=True,
        help="length of the interval, e.g. 1800",
    )
    p.add_argument(
        "--aht-seconds",
        type=_number("aht-seconds", 0.0, low_open=True),
        required=True,
        help="average handle time (talk + hold + wrap-up)",
    )
    _add_targets(p, with_model_choices=("c", "a"))
    _add_format(p)
    p.set_defaults(handler=_guard(_run_erlang))


def _guard(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Invalid input found after parsing is still a usage error: one line, status 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except InvalidInput as exc:
            print(f"contactcore wfm {args.wfm_command}: {exc}", file=sys.stderr)
            return EXIT_USAGE

    return run


def _run_erlang(args: argparse.Namespace) -> int:
    from contactcore.wfm.erlang import (
        agents_after_shrinkage,
        raw_agents_erlang_a,
        raw_agents_erlang_c,
        traffic_erlangs,
    )

    if args.model == "a" and args.patience_seconds is None:
        raise InvalidInput("--model a needs --patience-seconds")
    if args.model == "a":
        m = raw_agents_erlang_a(
            args.calls,
            args.interval_seconds,
            args.aht_seconds,
            args.patience_seconds,
            args.target_sl,
            args.threshold_seconds,
            args.max_occupancy,
            args.max_abandon,
        )
    else:
        m = raw_agents_erlang_c(
            args.calls,
            args.interval_seconds,
            args.aht_seconds,
            args.target_sl,
            args.threshold_seconds,
            args.max_occupancy,
        )
    out: dict[str, Any] = {
        "model": args.model,
        "traffic_erlangs": traffic_erlangs(args.calls, args.aht_seconds, args.interval_seconds),
        "raw_agents": m.agents,
        "agents_after_shrinkage": agents_after_shrinkage(m.agents, args.shrinkage),
        "service_level": m.service_level,
        "probability_of_waiting": m.probability_of_waiting,
        "asa_seconds": m.asa_seconds,
        "occupancy": m.occupancy,
    }
    if args.model == "a":
        out["probability_abandon"] = m.probability_abandon
    _emit([out], args.format, single=True)
    return 0


# --- output --------------------------------------------------------------------------------


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _emit(rows: list[dict[str, Any]], fmt: str, *, single: bool = False) -> None:
    rows = [{k: _clean(v) for k, v in r.items()} for r in rows]
    if fmt == "json":
        print(json.dumps(rows[0] if single else rows, indent=None if single else 1))
        return
    if not rows:
        return
    cols = list(rows[0])
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if r[c] is None else r[c] for c in cols])
        sys.stdout.write(buf.getvalue())
        return
    if single:
        width = max(len(c) for c in cols)
        for c in cols:
            print(f"{c:<{width}}  {_fmt(rows[0][c])}")
        return
    cells = [[_fmt(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True)))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}".rstrip("0").rstrip(".") if abs(v) < 1e6 else f"{v:.0f}"
    return str(v)


# --- CSV history ---------------------------------------------------------------------------


def _add_csv_columns(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument(
        "--csv",
        type=_existing_file,
        required=required,
        metavar="FILE",
        help="history export: one row per interval, any regular interval, gaps allowed",
    )
    p.add_argument(
        "--time-column",
        default="start",
        help="column with the interval start, ISO 8601 (default: start)",
    )
    p.add_argument(
        "--count-column",
        default="offered",
        help="column with the number offered (default: offered)",
    )
    p.add_argument("--aht-column", default=None, help="column with the average handle time")
    p.add_argument(
        "--queue-column", default=None, help="column naming the queue, when the file holds several"
    )
    p.add_argument("--queue-value", default=None, help="keep rows of this queue only")


def _read_csv_series(args: argparse.Namespace) -> Series:
    from contactcore.wfm.forecast import series_from_points

    path: Path = args.csv
    points: list[tuple[datetime, float, float | None]] = []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        wanted = [args.time_column, args.count_column]
        if args.aht_column:
            wanted.append(args.aht_column)
        if args.queue_column:
            wanted.append(args.queue_column)
        for col in wanted:
            if col not in header:
                raise InvalidInput(f"{path}: no column {col!r} (columns: {', '.join(header)})")
        for line, rec in enumerate(reader, start=2):
            if (
                args.queue_column
                and args.queue_value
                and rec[args.queue_column] != args.queue_value
            ):
                continue
            try:
                at = datetime.fromisoformat(rec[args.time_column].strip())
                count = float(rec[args.count_column])
                aht_text = rec[args.aht_column].strip() if args.aht_column else ""
                aht = float(aht_text) if aht_text else None
            except ValueError as exc:
                raise InvalidInput(f"{path}:{line}: {exc}") from None
            points.append((at, count, aht))
    return series_from_points(points)


# --- backtest ------------------------------------------------------------------------------


def _register_backtest(wsub: argparse._SubParsersAction[_OneLineParser]) -> None:
    p = wsub.add_parser(
        "backtest",
        help="forecast accuracy on held-out days vs seasonal naive",
        description=(
            "Hold out the last D days of a history export, forecast them from the rest and "
            "print WAPE and MAPE of the model and of the seasonal-naive baseline (the same "
            "interval one week earlier). Missing intervals count as zero volume."
        ),
    )
    _add_csv_columns(p, required=True)
    p.add_argument(
        "--horizon-days",
        type=_positive_int,
        required=True,
        help="days held out at the end of the history",
    )
    _add_country(p)
    _add_format(p)
    p.set_defaults(handler=_guard(_run_backtest))


def _run_backtest(args: argparse.Namespace) -> int:
    from contactcore.wfm.forecast import backtest

    _settle(args)
    series = _read_csv_series(args)
    bt = backtest(series, args.horizon_days, args.country or None)
    _emit(
        [
            {
                "model": bt.model,
                "wape": bt.wape,
                "baseline_wape": bt.baseline_wape,
                "mape": bt.mape,
                "baseline_mape": bt.baseline_mape,
                "aht_wape": bt.aht_wape,
                "horizon_days": bt.horizon_days,
                "train_days": bt.train_days,
                "missing_days": bt.missing_days,
                "interval_seconds": bt.interval_seconds,
            }
        ],
        args.format,
        single=True,
    )
    return 0


# --- generate ------------------------------------------------------------------------------


def _register_generate(wsub: argparse._SubParsersAction[_OneLineParser]) -> None:
    p = wsub.add_parser(
        "generate",
        help="write a realistic demo history (intervals CSV, optionally interactions)",
        description=(
            "Simulate a contact center: non-homogeneous Poisson arrivals with weekly and daily "
            "patterns and quieter holidays, lognormal handle times, impatient callers. Writes "
            "interval statistics as CSV (columns start, queue_id, offered, aht_seconds, ...), "
            "ready for 'wfm backtest --csv' and 'wfm import'."
        ),
    )
    p.add_argument("--out", type=Path, required=True, help="interval statistics CSV to write")
    p.add_argument(
        "--interactions",
        type=Path,
        default=None,
        help="also write the interactions (for 'wfm rebuild --interactions')",
    )
    p.add_argument("--days", type=_positive_int, default=70, help="days of history (default: 70)")
    p.add_argument(
        "--start", type=_day, default=None, help="first day (default: --days before today)"
    )
    p.add_argument("--queues", default="sales", help="comma-separated queue names (default: sales)")
    p.add_argument(
        "--daily-volume",
        type=_number("daily-volume", 0.0, low_open=True),
        default=1500.0,
        help="calls on an ordinary Wednesday (default: 1500)",
    )
    p.add_argument(
        "--aht-seconds",
        type=_number("aht-seconds", 0.0, low_open=True),
        default=240.0,
        help="mean handle time (default: 240)",
    )
    p.add_argument("--interval-seconds", type=_positive_int, default=900)
    p.add_argument("--country", default="US")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(handler=_guard(_run_generate))


def _run_generate(args: argparse.Namespace) -> int:
    from contactcore.wfm.csvstore import write_summaries
    from contactcore.wfm.generator import DemoQueue, generate
    from contactcore.wfm.intervals import compute

    start = args.start or (date.today() - timedelta(days=args.days))
    names = [q.strip() for q in args.queues.split(",") if q.strip()]
    if not names:
        raise InvalidInput("--queues names no queue")
    queues = [
        DemoQueue(
            name, daily_volume=args.daily_volume * (1.0 + 0.25 * i), aht_seconds=args.aht_seconds
        )
        for i, name in enumerate(names)
    ]
    items = generate(
        queues,
        start,
        args.days,
        country=args.country,
        seed=args.seed,
        interval_seconds=args.interval_seconds,
    )
    rows = compute(items, args.interval_seconds, 20.0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "start",
                "queue_id",
                "channel",
                "offered",
                "answered",
                "abandoned",
                "answered_in_sl",
                "aht_seconds",
                "average_time_to_abandon",
            ]
        )
        for r in rows:
            w.writerow(
                [
                    _iso(r.start),
                    r.queue_id,
                    r.channel,
                    r.offered,
                    r.answered,
                    r.abandoned,
                    r.answered_in_sl,
                    "" if r.aht_seconds is None else round(r.aht_seconds, 3),
                    ""
                    if r.average_time_to_abandon is None
                    else round(r.average_time_to_abandon, 3),
                ]
            )
    if args.interactions:
        write_summaries(args.interactions, items)
    print(
        f"wrote {len(rows)} intervals of {len(items)} interactions to {args.out}", file=sys.stderr
    )
    return 0


def _iso(epoch: float) -> str:
    return (datetime(1970, 1, 1) + timedelta(seconds=epoch)).isoformat()


# --- store-backed commands -----------------------------------------------------------------


def _add_store(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        type=Path,
        default=None,
        help="keep interval statistics in this CSV file instead of the configured database "
        "(default: setting wfm.store; unset: the database)",
    )
    p.add_argument(
        "--interval-seconds",
        type=_positive_int,
        default=None,
        help="statistics interval (default: setting wfm.interval_seconds, 900)",
    )
    _add_country(p)
    p.add_argument(
        "--history-days",
        type=_positive_int,
        default=None,
        help="days of history a forecast uses (default: setting wfm.history_days, 70)",
    )


def _add_country(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--country",
        default=None,
        help="public holidays of this country, '' for none (default: setting wfm.country, US)",
    )


def _settle(args: argparse.Namespace) -> None:
    """Fill options not given from the settings ([wfm] in the file, CONTACTCORE_WFM__*)."""
    from contactcore.cli._common import settings_from

    wanted = ("store", "interval_seconds", "country", "history_days")
    if getattr(args, "settled", False):
        return
    args.settled = True
    wfm = settings_from(args).wfm
    for key in wanted:
        if hasattr(args, key) and getattr(args, key) is None:
            setattr(args, key, getattr(wfm, key))


@asynccontextmanager
async def _open_service(
    args: argparse.Namespace, interactions: Path | None = None
) -> AsyncIterator[WfmService]:
    """The service over the configured database, or over a CSV store with ``--store``."""
    from contactcore.wfm.csvstore import CsvHistory, CsvIntervalStore
    from contactcore.wfm.service import WfmConfig, WfmService

    _settle(args)
    config = WfmConfig(
        interval_seconds=args.interval_seconds,
        country=args.country or None,
        history_days=args.history_days,
    )
    file_history = CsvHistory(interactions) if interactions else None
    if args.store is not None:
        yield WfmService(CsvIntervalStore(args.store), file_history, config)
        return
    from contactcore.adapters.db import open_database, require_head
    from contactcore.adapters.db.wfm_store import SqlHistory, SqlIntervalStore
    from contactcore.cli._common import settings_from

    url = settings_from(args).database.url
    await require_head(url)
    db = await open_database(url)
    try:
        # Statistics are kept by queue name, as routing and the call flows name queues.
        history = file_history or SqlHistory(db.engine)
        yield WfmService(SqlIntervalStore(db.engine), history, config)
    finally:
        await db.close()


def _register_import(wsub: argparse._SubParsersAction[_OneLineParser]) -> None:
    p = wsub.add_parser(
        "import",
        help="load a history export as the interval statistics of a queue",
        description="Load a CSV export from another system as the history of one queue "
        "(replacing the stored intervals of the days it covers).",
    )
    _add_csv_columns(p, required=True)
    p.add_argument("--queue", required=True, help="queue to store the history under")
    p.add_argument("--channel", default="voice", help="channel (default: voice)")
    _add_store(p)
    p.set_defaults(handler=_guard(_run_import))


def _run_import(args: argparse.Namespace) -> int:
    series = _read_csv_series(args)

    async def go() -> int:
        async with _open_service(args) as svc:
            return await svc.import_series(args.queue, args.channel, series)

    n = asyncio.run(go())
    print(
        f"imported {n} intervals ({series.days} days, {series.interval_seconds} s) "
        f"into queue {args.queue}",
        file=sys.stderr,
    )
    return 0


def _register_rebuild(wsub: argparse._SubParsersAction[_OneLineParser]) -> None:
    p = wsub.add_parser(
        "rebuild",
        help="recompute interval statistics from the interaction history",
        description="Recompute interval statistics from scratch from the interactions.",
    )
    p.add_argument(
        "--interactions",
        type=_existing_file,
        default=None,
        metavar="FILE",
        help="interaction history file (as written by 'wfm generate --interactions'); "
        "default: the interactions in the database",
    )
    p.add_argument(
        "--from",
        dest="from_day",
        type=_day,
        default=None,
        help="first day to rebuild (default: --history-days before --to)",
    )
    p.add_argument(
        "--to",
        dest="to_day",
        type=_day,
        default=None,
        help="day after the last one to rebuild (default: tomorrow)",
    )
    p.add_argument("--queue", default=None, help="only this queue (default: all)")
    _add_store(p)
    p.set_defaults(handler=_guard(_run_rebuild))


def _run_rebuild(args: argparse.Namespace) -> int:
    from contactcore.wfm.csvstore import CsvHistory

    if args.interactions:
        start, end = CsvHistory(args.interactions).span()
    else:
        _settle(args)
        last = args.to_day or date.today() + timedelta(days=1)
        first = args.from_day or last - timedelta(days=args.history_days)
        start = datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp()
        end = datetime(last.year, last.month, last.day, tzinfo=UTC).timestamp()
        if end <= start:
            raise InvalidInput("--to must be after --from")

    async def go() -> int:
        async with _open_service(args, args.interactions) as svc:
            return await svc.rebuild(start, end, args.queue)

    n = asyncio.run(go())
    print(f"rebuilt {n} intervals", file=sys.stderr)
    return 0


def _add_period(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--queue", default=None, help="queue name or id (history in the database, or --store)"
    )
    p.add_argument("--channel", default=None, help="channel of the queue (default: all)")
    _add_csv_columns(p, required=False)
    p.add_argument(
        "--start",
        type=_day,
        default=None,
        help="first day to plan (default: the day after the history)",
    )
    p.add_argument("--days", type=_positive_int, default=7, help="days to plan (default: 7)")
    _add_store(p)


def _register_forecast(wsub: argparse._SubParsersAction[_OneLineParser]) -> None:
    p = wsub.add_parser(
        "forecast",
        help="volume and handle time per interval for the next days",
        description="Forecast volume and AHT per interval from a queue's history (--queue, "
        "from the store) or from a history export (--csv).",
    )
    _add_period(p)
    _add_format(p)
    p.set_defaults(handler=_guard(_run_forecast))


def _run_forecast(args: argparse.Namespace) -> int:
    from contactcore.wfm.service import _forecast_from

    _settle(args)
    if args.csv:
        fc = _forecast_from(_read_csv_series(args), args.start, args.days, args.country or None)
    else:
        _need_queue(args)

        async def go() -> Forecast:
            async with _open_service(args) as svc:
                return await svc.forecast(args.queue, args.start, args.days, args.channel)

        fc = asyncio.run(go())
    rows = [
        {
            "start": st.isoformat(),
            "volume": round(float(v), 3),
            "aht_seconds": None if math.isnan(a) else round(float(a), 3),
        }
        for st, v, a in zip(fc.starts(), fc.volume, fc.aht, strict=True)
    ]
    _emit(rows, args.format)
    print(f"model: {fc.model}", file=sys.stderr)
    return 0


def _need_queue(args: argparse.Namespace) -> None:
    if not args.queue:
        raise InvalidInput("give --queue (history in the store) or --csv FILE")


def _register_staffing(wsub: argparse._SubParsersAction[_OneLineParser]) -> None:
    p = wsub.add_parser(
        "staffing",
        help="agents required per interval for a forecast period",
        description="Forecast a queue and compute agents per interval: before and after "
        "shrinkage, with the expected service level, probability of waiting, ASA, occupancy "
        "and (Erlang A) probability of abandonment. Erlang A estimates patience from the "
        "history's abandonment unless --patience-seconds is given.",
    )
    _add_period(p)
    _add_targets(p, with_model_choices=MODELS)
    p.add_argument(
        "--concurrency",
        type=_positive_int,
        default=1,
        help="chats one agent works at once (--model chat)",
    )
    p.add_argument(
        "--deadline-seconds",
        type=_number("deadline-seconds", 0.0, low_open=True),
        default=None,
        help="response deadline (--model deferred)",
    )
    p.add_argument(
        "--svg", type=Path, default=None, help="also write a chart of volume vs agents required"
    )
    _add_format(p)
    p.set_defaults(handler=_guard(_run_staffing))


def _run_staffing(args: argparse.Namespace) -> int:
    from contactcore.wfm.service import StaffingPlan, _forecast_from
    from contactcore.wfm.staffing import StaffingTargets, staff

    targets = StaffingTargets(
        model=args.model,
        target_sl=args.target_sl,
        threshold_seconds=args.threshold_seconds,
        max_occupancy=args.max_occupancy,
        shrinkage=args.shrinkage,
        patience_seconds=args.patience_seconds,
        max_abandon=args.max_abandon,
        concurrency=args.concurrency,
        deadline_seconds=args.deadline_seconds,
    )
    _settle(args)
    if args.csv:
        fc = _forecast_from(_read_csv_series(args), args.start, args.days, args.country or None)
        if targets.model == "a" and targets.patience_seconds is None:
            raise InvalidInput("with --csv, --model a needs --patience-seconds")
        plan = StaffingPlan(
            args.queue_value or args.csv.stem,
            None,
            fc,
            targets,
            staff(fc.volume, fc.aht, fc.interval_seconds, targets),
        )
    else:
        _need_queue(args)

        async def go() -> StaffingPlan:
            async with _open_service(args) as svc:
                return await svc.staffing(args.queue, args.start, args.days, targets, args.channel)

        plan = asyncio.run(go())
    data = plan.to_data()
    if args.format == "json":
        print(json.dumps(data, indent=1))
    else:
        _emit(data["intervals"], args.format)
    if args.svg:
        args.svg.write_text(plan.svg())
    return 0
