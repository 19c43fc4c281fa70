"""GetUsage: the spend ledger summed over a time range, grouped by tenant, key, tag, model,
provider and day or hour — one SQL GROUP BY over ledger_calls, whose integer columns (tokens,
nano-dollars) make every sum exact, so rows and total agree with the ledger to the last unit.

Days and hours are in a time zone, which SQLite cannot compute in: the query groups by quarter
hours (every zone's offset from UTC is a whole number of quarter hours), and the quarter hours are
folded into the zone's local days or hours here. Only a grouping by day or hour pays for that."""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgateway.admin.v1 import admin_pb2
from llmgateway.errors import FieldViolation, invalid_argument
from llmgateway.governance import messages
from llmgateway.ledger.schema import calls

_QUARTER_HOUR_MS = 15 * 60 * 1000
_NANO = 1_000_000_000
D = admin_pb2.UsageDimension
_COLUMNS = {
    D.USAGE_DIMENSION_TENANT: ("tenant", calls.c.tenant),
    D.USAGE_DIMENSION_KEY: ("key_id", calls.c.key_id),
    D.USAGE_DIMENSION_MODEL: ("model", calls.c.model),
    D.USAGE_DIMENSION_PROVIDER: ("provider", calls.c.provider),
}
_TIME = (D.USAGE_DIMENSION_DAY, D.USAGE_DIMENSION_HOUR)
_SUMS = (
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "cache_write_1h_input_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_nano_usd",
)


@dataclass
class _Sums:
    calls: int = 0
    failed_calls: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_SUMS, 0))

    def add(self, row: Any) -> None:
        self.calls += int(row["calls"])
        self.failed_calls += int(row["failed_calls"] or 0)
        for name in _SUMS:
            # int(): PostgreSQL's sum of a bigint is a numeric (a Decimal), exact all the same.
            self.tokens[name] += int(row[name] or 0)

    def row(self, **group: Any) -> admin_pb2.UsageRow:
        row = admin_pb2.UsageRow(**group, calls=self.calls, failed_calls=self.failed_calls)
        for name, value in self.tokens.items():
            setattr(row, name, value)
        row.cost_usd = self.tokens["cost_nano_usd"] / _NANO
        return row


@dataclass(frozen=True)
class _Grouping:
    columns: list[tuple[str, Any]]
    time: int | None  # DAY or HOUR
    zone: datetime.tzinfo


def _grouping(request: admin_pb2.GetUsageRequest) -> _Grouping:
    violations: list[FieldViolation] = []
    columns: list[tuple[str, Any]] = []
    time: int | None = None
    for index, dimension in enumerate(dict.fromkeys(request.group_by)):
        if dimension in _COLUMNS:
            columns.append(_COLUMNS[dimension])
        elif dimension == D.USAGE_DIMENSION_TAG:
            if not request.tag:
                violations.append(FieldViolation("tag", "grouping by tag needs the tag's name"))
            columns.append(("tag_value", calls.c.tags[request.tag].as_string()))
        elif dimension in _TIME:
            if time is not None:
                violations.append(FieldViolation(f"group_by[{index}]", "group by day or by hour, not both"))
            time = dimension
        else:
            violations.append(FieldViolation(f"group_by[{index}]", "not a dimension"))
    try:
        zone: datetime.tzinfo = zoneinfo.ZoneInfo(request.time_zone) if request.time_zone else datetime.UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        violations.append(FieldViolation("time_zone", "not an IANA time zone, e.g. Europe/Paris"))
        zone = datetime.UTC
    if violations:
        raise invalid_argument(violations)
    return _Grouping(columns, time, zone)


def _period_start(quarter_ms: int, time: int, zone: datetime.tzinfo) -> int:
    local = datetime.datetime.fromtimestamp(quarter_ms / 1000, zone)
    start = local.replace(minute=0, second=0, microsecond=0)
    if time == D.USAGE_DIMENSION_DAY:
        start = start.replace(hour=0)
    # Through UTC: the local start's own offset (a DST change may lie between it and the call).
    return int(start.astimezone(datetime.UTC).timestamp() * 1000)


def usage(engine: Engine, request: admin_pb2.GetUsageRequest, now_ms: int) -> admin_pb2.GetUsageResponse:
    if not request.HasField("start_time"):
        raise invalid_argument([FieldViolation("start_time", "required")])
    start_ms = request.start_time.ToMilliseconds()
    end_ms = request.end_time.ToMilliseconds() if request.HasField("end_time") else now_ms
    if end_ms <= start_ms:
        raise invalid_argument([FieldViolation("end_time", "must be after start_time")])
    grouping = _grouping(request)
    keys: list[Any] = [column.label(name) for name, column in grouping.columns]
    if grouping.time is not None:
        keys.append((calls.c.started_ms - calls.c.started_ms % _QUARTER_HOUR_MS).label("quarter_ms"))
    query = sa.select(
        *keys,
        sa.func.count().label("calls"),
        sa.func.sum(sa.case((calls.c.status != "OK", 1), else_=0)).label("failed_calls"),
        *(sa.func.sum(calls.c[name]).label(name) for name in _SUMS),
    ).where(calls.c.started_ms >= start_ms, calls.c.started_ms < end_ms)
    for name, value in (("tenant", request.tenant), ("key_id", request.key_id), ("model", request.model)):
        if value:
            query = query.where(calls.c[name] == value)
    if keys:
        query = query.group_by(*keys)
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    groups: dict[tuple[Any, ...], _Sums] = {}
    total = _Sums()
    for row in rows:
        group = tuple(row[name] or "" for name, _ in grouping.columns)
        if grouping.time is not None:
            group += (_period_start(int(row["quarter_ms"]), grouping.time, grouping.zone),)
        groups.setdefault(group, _Sums()).add(row)
        total.add(row)
    names = [name for name, _ in grouping.columns]
    result = []
    for group in sorted(groups):
        fields: dict[str, Any] = dict(zip(names, group, strict=False))
        if grouping.time is not None:
            fields["period_start"] = messages.timestamp(group[-1])
        result.append(groups[group].row(**fields))
    if not keys:
        result = [total.row()] if total.calls else []
    return admin_pb2.GetUsageResponse(rows=result, total=total.row())
