"""What `llmgateway admin` prints: tables padded to their columns for people, the API's JSON and
usage as CSV for tools, and a refusal as its status with the fields a BadRequest names."""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Sequence
from typing import Any, cast

import grpc
from google.protobuf.json_format import MessageToJson
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from llmgateway.admin.v1 import admin_pb2


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell (hand-written: a dozen lines do not need a dependency)."""
    cells = [list(header), *[[str(cell) for cell in row] for row in rows]]
    widths = [max(len(row[index]) for row in cells) for index in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def _limits_text(item: Any) -> str:
    parts = [
        f"{name}={getattr(item, name)}" for name in ("rpm", "tpm", "max_concurrent") if item.HasField(name)
    ]
    if item.HasField("budget"):
        period = admin_pb2.BudgetPeriod.Name(item.budget.period).removeprefix("BUDGET_PERIOD_").lower()
        parts.append(f"budget=${item.budget.usd:g}/{'day' if period == 'unspecified' else period}")
    return " ".join(parts) or "-"


def _keys_table(keys: Sequence[admin_pb2.Key]) -> str:
    return _table(
        ["ID", "TENANT", "NAME", "SOURCE", "STATE", "MODELS", "LIMITS", "TAGS"],
        [
            [
                key.id,
                key.tenant,
                key.name or "-",
                admin_pb2.Source.Name(key.source).removeprefix("SOURCE_").lower(),
                "revoked" if key.revoked else "revoking" if key.HasField("revoke_time") else "active",
                ",".join(key.policy.models) or "*",
                _limits_text(key.policy),
                ",".join(f"{k}={v}" for k, v in sorted(key.tags.items())) or "-",
            ]
            for key in keys
        ],
    )


def _tenants_table(tenants: Sequence[admin_pb2.Tenant]) -> str:
    return _table(
        ["NAME", "SOURCE", "STATE", "LIMITS"],
        [
            [
                t.name,
                admin_pb2.Source.Name(t.source).removeprefix("SOURCE_").lower(),
                "disabled" if t.disabled else "active",
                _limits_text(t),
            ]
            for t in tenants
        ],
    )


_USAGE_GROUPS = ("tenant", "key_id", "tag_value", "model", "provider")
_USAGE_SUMS = (
    "calls",
    "failed_calls",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "reasoning_tokens",
    "total_tokens",
)


def usage_rows(
    response: admin_pb2.GetUsageResponse, *, with_total: bool
) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of a usage report: the grouped columns present, sums, cost; the total last."""
    rows = list(response.rows)
    groups = [name for name in _USAGE_GROUPS if any(getattr(row, name) for row in rows)]
    timed = any(row.HasField("period_start") for row in rows)
    header = [*(["period_start"] if timed else []), *groups, *_USAGE_SUMS, "cost_usd"]

    def line(row: admin_pb2.UsageRow, label: str | None = None) -> list[Any]:
        start = (
            [row.period_start.ToDatetime(datetime.UTC).isoformat() if row.HasField("period_start") else ""]
            if timed
            else []
        )
        cells = [*start, *(getattr(row, name) for name in groups)]
        if label is not None and cells:
            cells[0] = label
        return [
            *cells,
            *(getattr(row, name) for name in _USAGE_SUMS),
            f"{row.cost_nano_usd / 1e9:.9f}".rstrip("0").rstrip("."),
        ]

    if not groups and not timed:
        return header, [line(response.total)]  # ungrouped: the one row is the total
    body = [line(row) for row in rows]
    if with_total:
        body.append(line(response.total, "TOTAL"))
    return header, body


def printed(answer: Message, *, as_json: bool, as_csv: bool) -> str:
    """An answer as `llmgateway admin` prints it: JSON, CSV (usage), or a table."""
    if as_json:
        return MessageToJson(answer, preserving_proto_field_name=True)
    if isinstance(answer, admin_pb2.GetUsageResponse):
        header, rows = usage_rows(answer, with_total=not as_csv)
        if as_csv:
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
            return out.getvalue().rstrip("\n")
        return _table(header, rows)
    if isinstance(answer, admin_pb2.CreateKeyResponse | admin_pb2.RotateKeyResponse):
        return f"{_keys_table([answer.key])}\n\nAPI key (shown once, store it now): {answer.secret}"
    if isinstance(answer, admin_pb2.ListKeysResponse):
        return _keys_table(answer.keys)
    if hasattr(answer, "key"):
        return _keys_table([answer.key])
    if isinstance(answer, admin_pb2.ListTenantsResponse):
        return _tenants_table(answer.tenants)
    if hasattr(answer, "tenant"):
        return _tenants_table([answer.tenant])
    assert isinstance(answer, admin_pb2.ListAuditEventsResponse)
    events = answer.events
    return _table(
        ["ID", "TIME", "ACTOR", "ACTION", "TARGET"],
        [[e.id, e.time.ToDatetime(datetime.UTC).isoformat(), e.actor, e.action, e.target] for e in events],
    )


def failure(error: grpc.RpcError) -> str:
    """The status as a line, with the fields a BadRequest names."""
    call = cast(grpc.Call, error)  # a failed call's RpcError is also its Call
    status = rpc_status.from_call(call)
    lines = [f"{call.code().name}: {call.details()}"]
    for detail in status.details if status is not None else ():
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            lines += [f"  {v.field}: {v.description}" for v in bad.field_violations]
    return "\n".join(lines)
