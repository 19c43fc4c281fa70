"""The benchmark upstream: the OpenAI simulator from tests/upstreams with fixed behaviours.

Two models answer differently: `gpt-4o-mini` ("fast") replies at once, `gpt-4o` ("paced") waits
`--inter-token` seconds before each token, so gaps between tokens can be compared end to end. Both
reply with `--words` words, streamed one word per chunk. The simulator records each request for
tests; over a long benchmark that list would only grow, so it is emptied every second.

    python -m bench.upstream --port 18000 [--words 16] [--inter-token 0.002]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from tests.upstreams.base import Exchange, serve_until_signalled
from tests.upstreams.openai import Behaviour, OpenAISimulator

API_KEY = "sk-bench"
FAST_MODEL = "gpt-4o-mini"
PACED_MODEL = "gpt-4o"


def reply_text(words: int) -> str:
    return " ".join(f"word{i}" for i in range(words))


class BenchUpstream(OpenAISimulator):
    """Picks the behaviour from the requested model (set just before the simulator reads it)."""

    def __init__(self, port: int, by_model: dict[str, Behaviour]) -> None:
        super().__init__(api_key=API_KEY, port=port)
        self.by_model = by_model

    async def dispatch(self, request: web.BaseRequest, exchange: Exchange, body: Any) -> web.StreamResponse:
        model = body.get("model") if isinstance(body, dict) else None
        self.behaviour = self.by_model.get(str(model), self.by_model[FAST_MODEL])
        return await super().dispatch(request, exchange, body)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.upstream")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--words", type=int, default=16)
    parser.add_argument("--inter-token", type=float, default=0.002, help="seconds between paced tokens")
    args = parser.parse_args(argv)

    text = reply_text(args.words)
    behaviours = {
        FAST_MODEL: Behaviour(reply_text=text),
        PACED_MODEL: Behaviour(reply_text=text, inter_token=args.inter_token),
    }
    sim = BenchUpstream(args.port, behaviours)
    # Under load the request log would grow without bound: nobody reads it here.
    return serve_until_signalled(sim, on_tick=sim.requests.clear)


if __name__ == "__main__":
    sys.exit(main())
