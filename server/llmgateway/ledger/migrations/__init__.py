"""Alembic's scripts for the ledger's schema: env.py and one file per revision in versions/."""
