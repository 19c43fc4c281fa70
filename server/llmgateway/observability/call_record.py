"""What one call did, gathered as it runs and reported once at its end (metrics, access log).

The record lives in a context variable: the interceptor that opens it, the servicer, the router
and the stream relay all run in the call's task, so each adds what it knows without threading a
parameter through every layer.
"""

from __future__ import annotations

import contextvars
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from llmgateway.core.served import Served
from llmgateway.observability.batched_histogram import BatchedHistogram
from llmgateway.observability.metrics import GatewayMetrics
from llmgateway.v1 import chat_pb2


def new_call_id(at_ms: int | None = None) -> str:
    """32 hex digits: the wall clock's milliseconds (12; those of `at_ms` when given), then 80 random
    bits (20), as a UUIDv7 orders them (Python 3.11 has no uuid7). Ordered by time so that the
    ledger's primary key grows at its right edge: random keys put every row of a batch on a
    different page of a large table's index (measured on a 640,000-row SQLite ledger at 600
    calls/s: the writer thread's CPU 55 µs per row with random ids, 30 µs with these, its system
    time 11 times less). 80 random bits per millisecond keep ids of workers and replicas apart."""
    milliseconds = time.time_ns() // 1_000_000 if at_ms is None else at_ms
    return f"{milliseconds:012x}{os.urandom(10).hex()}"


@dataclass
class CallRecord:
    """One Chat or ChatStream call."""

    method: str
    metrics: GatewayMetrics
    frontend: str = "grpc"  # the front door the call came through (a metric label)
    started: float = field(default_factory=time.perf_counter)
    started_at: float = field(default_factory=time.time)  # wall clock (the ledger's timestamp)
    # Unique per call, made here (a caller's request_id may repeat): the ledger record's key.
    call_id: str = field(default_factory=new_call_id)
    request_id: str = ""
    requested_model: str = ""
    model: str = "unknown"  # the configured model that served (bounded: a metric label)
    provider: str = ""
    deployment: str = ""
    attempts: int = 0
    fallback_from: str = ""
    tenant: str = ""
    key_id: str = ""  # the authenticated key's id (never the key)
    labels: Mapping[str, str] = field(default_factory=dict)  # the request's, with the key's policy labels
    cache: str = "off"
    reason: str = ""  # ErrorInfo reason of a failed call
    # Why the answer ended (observability/tracing.finish_reason_name): "refusal" and
    # "content_filter" show a model declining, which is an answer, not an error.
    finish_reason: str = ""
    served: Served | None = None  # who answered (the response's x-llmgateway-* headers)
    usage: chat_pb2.Usage = field(default_factory=chat_pb2.Usage)
    # The prompt's size estimate, and the price list of the deployment last tried: what a call cut
    # before the provider reported usage is charged (charge_prompt).
    prompt_tokens: int = 0
    price: Callable[[chat_pb2.Usage], float] | None = None
    # Filled only when content logging is on; redacted before it is written.
    prompt: str | None = None
    completion: str | None = None
    upstream_wait_s: float = 0.0
    first_content_at: float | None = None
    last_content_at: float | None = None
    # The inter-token histogram's child for this call's model and provider, looked up at the first
    # content and observed in batches: `on_content` runs for every token.
    _gaps: BatchedHistogram | None = field(default=None, repr=False)

    def on_content(self) -> None:
        """A content message reached the caller: time to first token, then the gaps."""
        now = time.perf_counter()
        if self._gaps is None or self.last_content_at is None:
            self.first_content_at = now
            self.metrics.time_to_first_token.labels(self.model, self.provider).observe(now - self.started)
            self._gaps = BatchedHistogram(self.metrics.inter_token.labels(self.model, self.provider), now=now)
        else:
            self._gaps.observe(now - self.last_content_at, now)
        self.last_content_at = now

    def flush_metrics(self) -> None:
        """Add what the call gathered in batches (its token gaps) to the shared metrics."""
        if self._gaps is not None:
            self._gaps.flush()

    def charge_prompt(self) -> None:
        """A call the caller ended (cancel, deadline) after a provider had its request but before
        any usage was known: charge the prompt's estimate, which the provider will bill."""
        if not self.attempts or self.usage.total_tokens:
            return
        usage = chat_pb2.Usage(input_tokens=self.prompt_tokens, total_tokens=self.prompt_tokens)
        if self.price is not None:
            usage.cost_usd = self.price(usage)
        self.usage = usage

    @property
    def ttft_s(self) -> float | None:
        return None if self.first_content_at is None else self.first_content_at - self.started


current_call: contextvars.ContextVar[CallRecord | None] = contextvars.ContextVar(
    "llmgateway_call", default=None
)


def record() -> CallRecord | None:
    """The current call's record, if the call is being observed."""
    return current_call.get()
