"""Content-encoded upstream bodies, inflated a bounded piece at a time.

httpx's decoders (which the gateway used before its own transport seam) inflate each chunk they
are given whole: one 64 KiB chunk of a gzip bomb becomes 64 MiB or more in one call, before any size cap can look at it (a 1 MiB body that inflates to 1 GiB
raised a call's peak memory by 227 MB, and four at once held the process near a gigabyte).
zlib's `max_length` lets the decoder stop at every PIECE_BYTES of output, so the caller's cap
(max_response_bytes, max_stream_event_bytes) sees the body grow piece by piece and memory per call
stays near that cap whatever the compression ratio. gzip and deflate are what the gateway accepts
(the gateway sends `Accept-Encoding: gzip, deflate`, as httpx's client did; any other encoding is
passed on as it came, as httpx's decoders did with one they did not know).
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncGenerator
from contextlib import aclosing

from llmgateway.providers.http.failures import call_failed
from llmgateway.providers.http.transport import UpstreamResponse

PIECE_BYTES = 64 * 1024
INFLATED_ENCODINGS = frozenset({"gzip", "x-gzip", "deflate"})


def _decompressor(encoding: str, first: bytes) -> zlib._Decompress:
    if encoding != "deflate":
        return zlib.decompressobj(zlib.MAX_WBITS | 16)  # gzip header and trailer
    # "deflate" is meant to be zlib-wrapped, but servers also send raw deflate: tell by the header
    # (as httpx's own decoder does by trying one and then the other).
    wrapped = len(first) >= 2 and (first[0] & 0x0F) == 8 and ((first[0] << 8) | first[1]) % 31 == 0
    return zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)


async def inflated(
    raw: AsyncGenerator[bytes, None], encoding: str, provider: str
) -> AsyncGenerator[bytes, None]:
    """The decoded body of `raw` (gzip or deflate), in pieces of at most PIECE_BYTES; `raw` is
    closed when this ends. A corrupt body fails the call (UPSTREAM_ERROR)."""
    decoder: zlib._Decompress | None = None
    async with aclosing(raw):
        async for chunk in raw:
            data = chunk
            if decoder is None:
                decoder = _decompressor(encoding, data)
            while data:
                try:
                    piece = decoder.decompress(data, PIECE_BYTES)
                except zlib.error:
                    raise call_failed(provider, f"its {encoding} body does not decode") from None
                if piece:
                    yield piece
                data = decoder.unconsumed_tail
    if decoder is not None:
        while rest := decoder.decompress(b"", PIECE_BYTES):
            yield rest


def decoded(response: UpstreamResponse, provider: str) -> AsyncGenerator[bytes, None]:
    """The body of `response` as it arrives: gzip or deflate inflated in bounded pieces, any other
    content encoding passed on as it came."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in INFLATED_ENCODINGS:
        return inflated(response.body(), encoding, provider)
    return response.body()
