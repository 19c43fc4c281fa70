"""Reading the audit record: every admin change, newest first (changes.py writes it)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgateway.admin.v1 import admin_pb2
from llmgateway.errors import FieldViolation, invalid_argument
from llmgateway.governance import messages
from llmgateway.governance.pages import Page
from llmgateway.ledger.schema import admin_audit_events as events


def list_events(
    engine: Engine, request: admin_pb2.ListAuditEventsRequest
) -> admin_pb2.ListAuditEventsResponse:
    page = Page.of(request.page_size, request.page_token)
    query = sa.select(events).order_by(events.c.id.desc())
    if page.after:
        if not page.after.isdigit():
            raise invalid_argument([FieldViolation("page_token", "not a token this gateway gave")])
        query = query.where(events.c.id < int(page.after))
    if request.target:
        query = query.where(events.c.target == request.target)
    with engine.connect() as connection:
        rows = connection.execute(query.limit(page.size + 1)).mappings().all()
    found = [
        admin_pb2.AuditEvent(
            id=row["id"],
            time=messages.timestamp(row["time_ms"]),
            actor=row["actor"],
            action=row["action"],
            target_type=row["target_type"],
            target=row["target"],
            before=messages.as_struct(row["before"]) if row["before"] is not None else None,
            after=messages.as_struct(row["after"]) if row["after"] is not None else None,
        )
        for row in rows
    ]
    shown, token = page.cut(found, lambda event: str(event.id))
    return admin_pb2.ListAuditEventsResponse(events=shown, next_page_token=token)
