"""aiohttp's TCP connector, with a protocol that resumes reading only when reading was paused.

aiohttp's `StreamReader` calls its protocol's `resume_reading` after every chunk it hands out while
its buffer is under the low-water mark, whether or not reading was paused; each call feeds the HTTP
parser an empty buffer (`data_received(b"")`) and asks the transport to resume. On a relayed stream
that is every token: about 100 bytecodes and three C calls (measured: 134.4k → 132.3k instructions
per token through the HTTP door, 2,456k → 2,375k per unary call; bench/STREAMS.md). Resuming has
work to do only while reading is paused (the parser keeps unread bytes only then: it pauses when the
protocol pauses it), so the call is passed on only then.

This reaches into aiohttp (its `ResponseHandler`, the connector's `_factory`, the protocol's pause
flags), which aiohttp does not offer as API; the lock pins aiohttp's version, and
tests/test_upstream_transports.py fails if the connector stops making this protocol or if a slow
reader no longer pauses and resumes its upstream.
"""

from __future__ import annotations

import functools
from typing import Any, cast

import aiohttp
from aiohttp.client_proto import ResponseHandler


class QuietResumeHandler(ResponseHandler):
    def resume_reading(self, resume_parser: bool = True) -> None:
        if self._reading_paused or self._buffer_paused:
            super().resume_reading(resume_parser)


class Connector(aiohttp.TCPConnector):
    """aiohttp.TCPConnector, its connections made with QuietResumeHandler."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._factory = cast(
            "functools.partial[ResponseHandler]", functools.partial(QuietResumeHandler, loop=self._loop)
        )
