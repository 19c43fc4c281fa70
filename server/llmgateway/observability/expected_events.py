"""gRPC's own log lines about events the gateway expects, moved from ERROR to DEBUG.

When a caller cancels, its deadline passes or its connection drops at the moment grpc.aio sends a
reply or the final status, the batch fails inside gRPC core before grpc.aio has marked the call as
closed by the client, and grpc.aio logs "ExecuteBatchError raised in core by servicer method [...]"
at ERROR with a traceback (its own check of `client_closed` lost the race). Nothing failed on the
gateway's side: the caller was gone. The gateway's own access log records how the call ended; this
filter keeps that expected event out of the ERROR lines operators alert on. (Writes of stream
messages never get here: interceptors/stream_closing.py ends those calls as cancelled itself.)
"""

from __future__ import annotations

import logging

GRPC_CORE_LOGGER = "grpc._cython.cygrpc"
_BATCH_FAILED = "ExecuteBatchError raised in core by servicer method"


class CallerGoneFilter(logging.Filter):
    """Downgrades grpc.aio's ExecuteBatchError line to DEBUG (handlers above DEBUG then drop it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and str(record.msg).startswith(_BATCH_FAILED):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            record.exc_info = record.exc_text = None
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def quiet_expected_grpc_errors() -> None:
    """Install the filter on gRPC core's logger, once per process."""
    logger = logging.getLogger(GRPC_CORE_LOGGER)
    if not any(isinstance(existing, CallerGoneFilter) for existing in logger.filters):
        logger.addFilter(CallerGoneFilter())
