"""The serving event loop: uvloop by default, the stdlib loop when configured."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from llmgateway.config import ServerSettings
from llmgateway.process import event_loop


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_default_is_uvloop() -> None:
    assert ServerSettings().event_loop == "uvloop"
    assert event_loop.run(_loop_module(), "uvloop").startswith("uvloop")


def test_asyncio_can_be_chosen() -> None:
    assert event_loop.run(_loop_module(), "asyncio").startswith("asyncio")


def test_unknown_loop_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="event_loop"):
        ServerSettings.model_validate({"event_loop": "trio"})


def test_sniffio_is_installed() -> None:
    # httpcore (under httpx) imports sniffio on every request and, when it is missing, pays for a
    # failed import each time: a quarter of the minimal forwarder's CPU in bench/profiles.
    assert importlib.util.find_spec("sniffio") is not None
