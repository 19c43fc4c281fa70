"""A call its caller ends (cancel, deadline) or a shutdown cuts while a provider is working on it,
before any usage is known, is charged the prompt (CallRecord.charge_prompt): the provider bills it.
An upstream failure is not charged."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from llmgateway.core.shutdown import cut_as_error
from llmgateway.errors import GatewayError
from llmgateway.observability.call_record import CallRecord
from llmgateway.reasons import Reason


@contextmanager
def prompt_charged_if_cut(call: CallRecord) -> Iterator[None]:
    """Around the router's call; a shutdown's cut becomes the error SHUTTING_DOWN
    (llmgateway/shutdown.py)."""
    try:
        with cut_as_error():
            yield
    except (asyncio.CancelledError, GeneratorExit):
        call.charge_prompt()
        raise
    except GatewayError as error:
        if error.reason in (Reason.DEADLINE_EXCEEDED, Reason.SHUTTING_DOWN):
            call.charge_prompt()
        raise
