"""gRPC core's "ExecuteBatchError raised in core" line (a caller gone mid-reply) is not an ERROR."""

from __future__ import annotations

import logging

import pytest

from llmgateway.observability.expected_events import GRPC_CORE_LOGGER, quiet_expected_grpc_errors


def _log_as_grpc(message: str) -> None:
    try:
        raise RuntimeError("batch failed")
    except RuntimeError:
        # grpc.aio's own call, message and all (server.pyx.pxi, _handle_exceptions)
        logging.getLogger(GRPC_CORE_LOGGER).exception(message)


def test_a_failed_batch_of_a_gone_caller_is_debug(caplog: pytest.LogCaptureFixture) -> None:
    quiet_expected_grpc_errors()
    quiet_expected_grpc_errors()  # installing twice adds one filter
    assert len(logging.getLogger(GRPC_CORE_LOGGER).filters) == 1
    batch = "ExecuteBatchError raised in core by servicer method [/llmgateway.v1.ChatService/Chat]"
    with caplog.at_level(logging.INFO):
        _log_as_grpc(batch)
    assert caplog.records == []
    with caplog.at_level(logging.DEBUG, logger=GRPC_CORE_LOGGER):
        _log_as_grpc(batch)
    assert [(r.levelname, r.exc_info) for r in caplog.records] == [("DEBUG", None)]


def test_other_grpc_errors_stay_errors(caplog: pytest.LogCaptureFixture) -> None:
    quiet_expected_grpc_errors()
    with caplog.at_level(logging.INFO):
        _log_as_grpc("Unexpected [ValueError] raised by servicer method [/llmgateway.v1.ChatService/Chat]")
    assert [r.levelname for r in caplog.records] == ["ERROR"]
