"""The benchmark upstream: bench/static_upstream, a Go OpenAI-compatible server that costs next to
nothing per request (built with `go build` by `make bench-tools`).

The OpenAI simulator of tests/upstreams served the first benchmarks; it spent about 0.85 ms of CPU
per request, which took a third of a core away from the scaling run (the machine's second core is
shared by the upstream and the load generator) and added its own latency to every figure.

Two models answer differently: `gpt-4o-mini` ("fast") replies at once, `gpt-4o` ("paced") waits
`-inter-token` seconds before each token, so gaps between tokens can be compared end to end. Both
reply with `-words` words, streamed one word per chunk.
"""

from __future__ import annotations

import os
from pathlib import Path

API_KEY = "sk-bench"
FAST_MODEL = "gpt-4o-mini"
PACED_MODEL = "gpt-4o"
GOBIN = Path(os.environ.get("GOBIN") or Path.home() / "go" / "bin")
BINARY = GOBIN / "static-upstream"
# Every relay's pool of connections to this upstream (the gateway's provider, the minimal forwarder):
# above the largest stream-capacity step, so what limits how many streams a relay holds is the
# relay, not a pool of the default size (100), where streams past it wait to start (over HTTP/1.1
# a stream holds its connection to its end).
UPSTREAM_POOL = 4000


def upstream_argv(port: int, words: int, inter_token_s: float) -> list[str]:
    """The command that serves the upstream on 127.0.0.1:`port` (it prints "listening" when ready)."""
    if not BINARY.exists():
        raise RuntimeError(f"{BINARY} is missing: `make bench-tools` builds it from bench/static_upstream")
    return [str(BINARY), "-port", str(port), "-words", str(words), "-inter-token", str(inter_token_s)]
