"""Nano-dollars (the ledger's integers) as people read them."""

from __future__ import annotations


def usd(nano_usd: int) -> str:
    """$ with enough decimals that a test call's spend (fractions of a cent) is not shown as $0."""
    if nano_usd == 0:
        return "$0"
    dollars = nano_usd / 1e9
    return f"${dollars:,.2f}" if abs(dollars) >= 100 else f"${dollars:,.6f}"
