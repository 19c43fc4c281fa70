"""GetUsage and `llmgateway admin usage`: the ledger summed over a time range, grouped by tenant,
key, tag, model, provider and day or hour (in a time zone), with rows and totals equal to sums of
the ledger's rows taken independently here; the CLI's table and CSV carry the same figures."""

from __future__ import annotations

import asyncio
import csv
import datetime
import io
import random
import uuid
import zoneinfo
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2

from llmgateway.admin.v1 import admin_pb2
from llmgateway.app import Gateway
from llmgateway.cli import main
from llmgateway.ledger.schema import calls
from tests.admin_support import ADMIN, ADMIN_KEY, Stubs, admin_config
from tests.conftest import StartGateway
from tests.rich_status import rich_status

pytest_plugins = ["tests.postgres_fixtures", "tests.admin_fixtures"]

D = admin_pb2.UsageDimension
# 2026-03-28 12:00 UTC: the range below crosses Europe/Paris's change to summer time (03-29).
START = datetime.datetime(2026, 3, 28, 12, tzinfo=datetime.UTC)
HOURS = 48


def _ledger_rows(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Calls spread over two days, tenants, keys, models, tags; odd costs, some failures."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        started = START + datetime.timedelta(minutes=rng.randrange(HOURS * 60))
        tokens_in, tokens_out = rng.randrange(1, 5000), rng.randrange(0, 3000)
        tags = rng.choice([{"cost_centre": "cc-1"}, {"cost_centre": "cc-2"}, {}])
        rows.append(
            {
                "call_id": uuid.uuid4().hex,
                "started_ms": int(started.timestamp() * 1000) + rng.randrange(1000),
                "request_id": "r",
                "frontend": "grpc",
                "method": "Chat",
                "key_id": rng.choice(["k1", "k2", "k3"]),
                "tenant": rng.choice(["acme", "globex"]),
                "tags": tags,
                "requested_model": "m",
                "model": rng.choice(["gpt-4o", "claude"]),
                "provider": rng.choice(["openai", "anthropic"]),
                "deployment": "d",
                "attempts": 1,
                "fallback_from": "",
                "status": rng.choice(["OK", "OK", "OK", "UNAVAILABLE"]),
                "reason": "",
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
                "cached_input_tokens": rng.randrange(0, tokens_in),
                "cache_write_input_tokens": (writes := rng.randrange(0, tokens_in)),
                # None: the provider did not break its writes down by lifetime.
                "cache_write_1h_input_tokens": rng.choice([None, rng.randrange(0, writes + 1)]),
                "reasoning_tokens": rng.randrange(0, tokens_out + 1),
                "total_tokens": tokens_in + tokens_out,
                "cost_nano_usd": rng.randrange(0, 10**9),
                "latency_us": 1000,
                "ttft_us": None,
                "cache": "off",
            }
        )
    return rows


def _insert(url: str, rows: list[dict[str, Any]]) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.insert(calls), rows)
    engine.dispose()


def _stamp(moment: datetime.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _expected(
    rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], tuple[Any, ...]]
) -> dict[tuple[Any, ...], dict[str, int]]:
    sums: dict[tuple[Any, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        group = sums[key(row)]
        group["calls"] += 1
        group["failed_calls"] += row["status"] != "OK"
        for name in (
            "input_tokens",
            "output_tokens",
            "cached_input_tokens",
            "cache_write_input_tokens",
            "cache_write_1h_input_tokens",
            "reasoning_tokens",
            "total_tokens",
            "cost_nano_usd",
        ):
            group[name] += row[name] or 0
    return sums


def _figures(row: admin_pb2.UsageRow) -> dict[str, int]:
    return {
        name: getattr(row, name)
        for name in (
            "calls",
            "failed_calls",
            "input_tokens",
            "output_tokens",
            "cached_input_tokens",
            "cache_write_input_tokens",
            "cache_write_1h_input_tokens",
            "reasoning_tokens",
            "total_tokens",
            "cost_nano_usd",
        )
    }


@pytest.fixture
async def reporting(
    start_gateway: StartGateway, ledger: dict[str, Any], stubs: Callable[[Gateway], Stubs]
) -> tuple[Gateway, Stubs, list[dict[str, Any]]]:
    gateway = await start_gateway(admin_config(ledger))
    rows = _ledger_rows(600)
    # Outside the range, which must not count: just before and at its end.
    outside = _ledger_rows(20, seed=8)
    for index, row in enumerate(outside):
        row["started_ms"] = (
            int(START.timestamp() * 1000) - 1
            if index % 2
            else int(START.timestamp() * 1000) + HOURS * 3_600_000
        )
    await asyncio.to_thread(_insert, ledger["url"], rows + outside)
    return gateway, stubs(gateway), rows


def _request(**fields: Any) -> admin_pb2.GetUsageRequest:
    return admin_pb2.GetUsageRequest(
        start_time=_stamp(START), end_time=_stamp(START + datetime.timedelta(hours=HOURS)), **fields
    )


async def test_grouped_usage_matches_the_ledger_exactly(
    reporting: tuple[Gateway, Stubs, list[dict[str, Any]]],
) -> None:
    _, client, rows = reporting
    total = _expected(rows, lambda row: ())[()]
    answer = await client.admin.GetUsage(_request(), metadata=ADMIN)
    assert _figures(answer.total) == dict(total)
    assert [_figures(row) for row in answer.rows] == [dict(total)]
    assert answer.total.cost_usd == pytest.approx(total["cost_nano_usd"] / 1e9)

    answer = await client.admin.GetUsage(
        _request(
            group_by=[
                D.USAGE_DIMENSION_TENANT,
                D.USAGE_DIMENSION_KEY,
                D.USAGE_DIMENSION_MODEL,
                D.USAGE_DIMENSION_PROVIDER,
            ]
        ),
        metadata=ADMIN,
    )
    expected = _expected(rows, lambda row: (row["tenant"], row["key_id"], row["model"], row["provider"]))
    assert {(r.tenant, r.key_id, r.model, r.provider): _figures(r) for r in answer.rows} == {
        k: dict(v) for k, v in expected.items()
    }
    assert [(r.tenant, r.key_id, r.model, r.provider) for r in answer.rows] == sorted(expected)
    assert _figures(answer.total) == dict(total)

    answer = await client.admin.GetUsage(
        _request(group_by=[D.USAGE_DIMENSION_TAG], tag="cost_centre", tenant="acme"), metadata=ADMIN
    )
    acme = [row for row in rows if row["tenant"] == "acme"]
    expected = _expected(acme, lambda row: (row["tags"].get("cost_centre", ""),))
    assert {(r.tag_value,): _figures(r) for r in answer.rows} == {k: dict(v) for k, v in expected.items()}
    assert _figures(answer.total) == dict(_expected(acme, lambda row: ())[()])


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "Asia/Kolkata"])
async def test_days_and_hours_are_those_of_the_time_zone(
    reporting: tuple[Gateway, Stubs, list[dict[str, Any]]], zone: str
) -> None:
    _, client, rows = reporting
    tz = zoneinfo.ZoneInfo(zone)

    def local_start(row: dict[str, Any], hourly: bool) -> int:
        local = datetime.datetime.fromtimestamp(row["started_ms"] / 1000, tz)
        start = local.replace(minute=0, second=0, microsecond=0)
        if not hourly:
            start = start.replace(hour=0)
        return int(start.timestamp() * 1000)

    for dimension, hourly in ((D.USAGE_DIMENSION_DAY, False), (D.USAGE_DIMENSION_HOUR, True)):
        answer = await client.admin.GetUsage(
            _request(group_by=[dimension, D.USAGE_DIMENSION_MODEL], time_zone=zone), metadata=ADMIN
        )

        def by_period(row: dict[str, Any], hourly: bool = hourly) -> tuple[Any, ...]:
            return (local_start(row, hourly), row["model"])

        expected = _expected(rows, by_period)
        got = {(r.period_start.ToMilliseconds(), r.model): _figures(r) for r in answer.rows}
        assert got == {k: dict(v) for k, v in expected.items()}
    days = await client.admin.GetUsage(
        _request(group_by=[D.USAGE_DIMENSION_DAY], time_zone=zone), metadata=ADMIN
    )
    # 48 hours from noon UTC touch three local calendar days in each of these zones.
    assert len(days.rows) == 3


async def test_bad_usage_requests_name_the_field(
    reporting: tuple[Gateway, Stubs, list[dict[str, Any]]],
) -> None:
    _, client, _ = reporting
    for request, field in (
        (admin_pb2.GetUsageRequest(), "start_time"),
        (_request(time_zone="Mars/Olympus"), "time_zone"),
        (_request(group_by=[D.USAGE_DIMENSION_TAG]), "tag"),
        (_request(group_by=[D.USAGE_DIMENSION_DAY, D.USAGE_DIMENSION_HOUR]), "group_by[1]"),
        (admin_pb2.GetUsageRequest(start_time=_stamp(START), end_time=_stamp(START)), "end_time"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await client.admin.GetUsage(request, metadata=ADMIN)
        status = rich_status(raised.value)
        assert status.code == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in status.detail(error_details_pb2.BadRequest).field_violations] == [field]


async def test_the_cli_prints_the_same_figures_as_a_table_and_as_csv(
    reporting: tuple[Gateway, Stubs, list[dict[str, Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    gateway, _, rows = reporting
    base = ["admin", "--address", f"127.0.0.1:{gateway.port}", "--admin-key", ADMIN_KEY, "usage"]
    window = ["--since", START.isoformat(), "--until", (START + datetime.timedelta(hours=HOURS)).isoformat()]
    code = await asyncio.to_thread(
        main, [*base, *window, "--tenant", "acme", "--group-by", "model,day", "--csv"]
    )
    out = capsys.readouterr().out
    assert code == 0
    table = list(csv.DictReader(io.StringIO(out)))
    acme = [row for row in rows if row["tenant"] == "acme"]

    def day(row: dict[str, Any]) -> str:
        moment = datetime.datetime.fromtimestamp(row["started_ms"] / 1000, datetime.UTC)
        return moment.replace(hour=0, minute=0, second=0, microsecond=0).isoformat()

    expected = _expected(acme, lambda row: (day(row), row["model"]))
    assert {(line["period_start"], line["model"]): int(line["total_tokens"]) for line in table} == {
        k: v["total_tokens"] for k, v in expected.items()
    }
    assert sum(int(line["calls"]) for line in table) == len(acme)
    cost = sum(row["cost_nano_usd"] for row in acme)
    assert sum(round(float(line["cost_usd"]) * 1e9) for line in table) == cost

    code = await asyncio.to_thread(main, [*base, *window, "--tenant", "acme"])
    out = capsys.readouterr().out
    assert code == 0
    header, *lines = out.splitlines()
    assert header.split()[:2] == ["calls", "failed_calls"]
    assert len(lines) == 1 and int(lines[0].split()[0]) == len(acme)

    code = await asyncio.to_thread(main, [*base, *window, "--group-by", "tenant"])
    out = capsys.readouterr().out
    assert code == 0
    *_, total = out.splitlines()
    assert total.split()[:2] == ["TOTAL", str(len(rows))]
