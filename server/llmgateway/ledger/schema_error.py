"""The refusal of a ledger schema, in a module of its own: the command line catches it without
loading the database libraries (a supervisor whose ledger is off never needs them)."""

from __future__ import annotations


class SchemaError(Exception):
    """The database's schema is not one this build may write to; the message says what to do."""
