"""Where a key's current budget period began, for its spend against its budget: the same period
the limits admit by (limits/budget_periods.py: calendar periods in the budget's time zone, else
`budgets.time_zone`)."""

from __future__ import annotations

from llmgateway.config import ApiKeySettings, GatewayConfig
from llmgateway.limits.budget_periods import budget_zone, period_containing

DAY_MS = 86_400_000


def period_start_ms(config: GatewayConfig, key: ApiKeySettings, now_ms: int) -> int:
    """The start of the key's budget period holding `now_ms`; without a budget, the start of the
    day in the default time zone."""
    budget = key.policy.budget
    zone = budget_zone(budget, config.budgets.time_zone)
    period = period_containing(budget.period if budget else "day", zone, now_ms / 1000)
    return int(period.start * 1000)
