"""The spend ledger: one record per call, written to a database (SQLite or PostgreSQL) off the call
path, spooled to a local file while the database cannot take it, and replayed when it can."""
