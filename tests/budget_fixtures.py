"""The budget tests' fixture: gateways on a calendar of the test's, stopped at its end. Use with
`pytest_plugins = ["tests.budget_fixtures"]`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from tests.budget_setup import Calendar, Gateways


@pytest.fixture
async def gateways_on() -> AsyncIterator[Callable[[Calendar], Gateways]]:
    """`gateways_on(calendar)`: a Gateways for the test, stopped at its end."""
    made: list[Gateways] = []

    def on(calendar: Calendar) -> Gateways:
        made.append(Gateways(calendar))
        return made[-1]

    yield on
    for gateways in made:
        await gateways.stop_all()
