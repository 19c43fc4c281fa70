"""`llmgateway db upgrade | current`: the ledger database's schema from the command line."""

from __future__ import annotations

import sys

from sqlalchemy.exc import SQLAlchemyError

from llmgateway.config import LedgerSettings
from llmgateway.ledger.database import create_engine, database_url, shown
from llmgateway.ledger.schema_version import SchemaError, revisions, upgrade


def schema_command(command: str, settings: LedgerSettings) -> int:
    """Run `upgrade` or `current` against the configured database; the exit status."""
    if settings.url is None:
        print("no ledger database configured (ledger.url)", file=sys.stderr)
        return 1
    where = shown(database_url(settings))
    engine = create_engine(settings)
    try:
        if command == "upgrade":
            done = upgrade(engine)
            if done.current == done.head:
                print(f"{where}: already at {done.head}")
            else:
                print(f"{where}: upgraded from {done.current or '(empty)'} to {done.head}")
        else:
            found = revisions(engine)
            state = "current" if found.current == found.head else "NOT current"
            print(f"{where}: at {found.current or '(empty)'}; this build's head is {found.head} ({state})")
    except SchemaError as error:
        print(str(error), file=sys.stderr)
        return 1
    except SQLAlchemyError as error:
        print(f"{where}: cannot reach the database: {error.__class__.__name__}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0
