"""Load-balancing strategies: each orders a model's candidate deployments, best first. The first
is tried first; the rest are the failover order."""

from __future__ import annotations

import random
from dataclasses import dataclass

from llmgateway.config import Strategy
from llmgateway.routing import estimate
from llmgateway.routing.upstream import Upstream
from llmgateway.v1 import chat_pb2, embeddings_pb2


@dataclass(frozen=True)
class RequestFacts:
    """What strategies may know about a request."""

    stream: bool
    prompt_tokens: int
    output_tokens: int
    # The GenAI operation (gen_ai.operation.name): "chat" or "embeddings".
    operation: str = "chat"

    @classmethod
    def of(cls, request: chat_pb2.ChatRequest, *, stream: bool) -> RequestFacts:
        """The facts of a request, as estimated before any call (estimate.py)."""
        return cls(stream, estimate.prompt_tokens(request), estimate.output_tokens(request))

    @classmethod
    def of_embedding(cls, request: embeddings_pb2.EmbedRequest) -> RequestFacts:
        """The facts of an embeddings request: its inputs' estimated tokens, no output."""
        return cls(False, estimate.embedding_tokens(request), 0, "embeddings")

    @property
    def tokens(self) -> int:
        """The call's estimated size: what it takes from a deployment's TPM until usage is known."""
        return self.prompt_tokens + self.output_tokens


class Balancer:
    """The strategy of one model, with the state it keeps between calls."""

    def __init__(self, strategy: Strategy, rng: random.Random) -> None:
        self.strategy = strategy
        self._rng = rng
        self._next = 0  # round-robin position

    def order(
        self, candidates: list[Upstream], facts: RequestFacts, upstream_name: str | None = None
    ) -> list[Upstream]:
        """Candidates best first. `upstream_name` is the name glob deployments substitute for
        `{model}` (the cost strategy prices what they would call); None when not known."""
        if len(candidates) <= 1:
            return list(candidates)
        if self.strategy == "round_robin":
            start = self._next % len(candidates)
            self._next += 1
            return candidates[start:] + candidates[:start]
        if self.strategy == "weighted":
            return self._smooth_weighted(candidates)
        if self.strategy == "least_in_flight":
            return sorted(candidates, key=lambda d: (d.in_flight, self._rng.random()))
        if self.strategy == "latency":
            return self._latency(candidates, facts.stream)
        return self._cheapest(candidates, facts, upstream_name)

    def _smooth_weighted(self, candidates: list[Upstream]) -> list[Upstream]:
        # nginx's smooth weighted round-robin: picks follow the weights exactly over a cycle and are
        # spread out within it (5:1:1 gives a a b a c a a, not a a a a a b c).
        total = 0.0
        for upstream in candidates:
            upstream.current_weight += upstream.settings.weight
            total += upstream.settings.weight
        chosen = max(candidates, key=lambda d: d.current_weight)
        chosen.current_weight -= total
        rest = sorted((d for d in candidates if d is not chosen), key=lambda d: -d.settings.weight)
        return [chosen, *rest]

    def _cheapest(
        self, candidates: list[Upstream], facts: RequestFacts, upstream_name: str | None
    ) -> list[Upstream]:
        def rank(upstream: Upstream) -> tuple[bool, float, float]:
            cost = upstream.estimated_cost(upstream_name, facts.prompt_tokens, facts.output_tokens)
            # An unknown price (neither configured nor in the built-in table) ranks after every
            # known one rather than as free: an unpriced model may be the dearest of all (a new
            # flagship, a fine-tune), and since the gateway charges it to budgets as free,
            # preferring it would also let traffic escape budgets. It stays in the failover order.
            return (cost is None, cost or 0.0, self._rng.random())

        return sorted(candidates, key=rank)

    def _latency(self, candidates: list[Upstream], stream: bool) -> list[Upstream]:
        def observed(upstream: Upstream) -> float:
            # Unmeasured deployments count as fastest, so each gets tried and measured.
            value = upstream.usual_duration(stream)
            return 0.0 if value is None else value

        # Power of two choices: the better of two random candidates, so the single fastest
        # deployment is not stampeded by every caller at once.
        first, second = self._rng.sample(candidates, 2)
        chosen = first if observed(first) <= observed(second) else second
        rest = sorted((d for d in candidates if d is not chosen), key=observed)
        return [chosen, *rest]
