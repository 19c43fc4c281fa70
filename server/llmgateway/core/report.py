"""The end of a call as operators see it: its metrics, its access-log line and its spend-ledger
record, written once from the call's outcome record, however the call ended."""

from __future__ import annotations

import logging
import time

from opentelemetry import trace

from llmgateway.ledger.recorder import Ledger
from llmgateway.observability.call_record import CallRecord
from llmgateway.observability.logging_setup import ACCESS_LOGGER
from llmgateway.reasons import Code
from llmgateway.redaction.redactor import Redactor

_access = logging.getLogger(ACCESS_LOGGER)
_CONTENT_LIMIT = 4000  # characters of prompt or answer kept in a log line
_content_redactor = Redactor()  # every kind, masked


def cost_for_people(usd: float) -> float:
    """A cost as logs show it: six significant digits, so a sum of binary fractions reads
    0.0001245, not 0.00012450000000000001. Usage.cost_usd in the proto stays exact."""
    return float(f"{usd:.6g}")


def begun(call: CallRecord) -> None:
    """The call is in flight (a gauge per method)."""
    call.metrics.in_flight.labels(call.method).inc()


def ended(call: CallRecord, code: Code, *, access_log: bool, ledger: Ledger | None = None) -> None:
    """Count, time and (when `access_log`) log a call that ended with `code`, and hand its record
    to the spend ledger: every call the core settles, whatever its door, kind or outcome, passes
    here exactly once."""
    elapsed = time.perf_counter() - call.started
    m = call.metrics
    m.in_flight.labels(call.method).dec()
    m.requests.labels(call.frontend, call.method, call.model, call.provider, code.name).inc()
    m.request_duration.labels(call.frontend, call.method, call.model).observe(elapsed)
    m.overhead.labels(call.method).observe(max(elapsed - call.upstream_wait_s, 0.0))
    call.flush_metrics()
    usage = call.usage
    if call.provider:
        for direction, count in (
            ("input", usage.input_tokens),
            ("output", usage.output_tokens),
            ("cached", usage.cached_input_tokens),
            ("cache_write", usage.cache_write_input_tokens),
            ("reasoning", usage.reasoning_tokens),
        ):
            if count:
                m.tokens.labels(call.model, call.provider, direction).inc(count)
        if usage.cost_usd:
            m.cost.labels(call.model, call.provider).inc(usage.cost_usd)
        if call.finish_reason:
            m.finishes.labels(call.model, call.provider, call.finish_reason).inc()
    if access_log:
        _log(call, code, elapsed)
    if ledger is not None:
        ledger.record(call, code.name, elapsed)


def _log(call: CallRecord, code: Code, elapsed: float) -> None:
    # The front door's server span is current: the line carries its trace id.
    span_context = trace.get_current_span().get_span_context()
    ttft = call.ttft_s
    content = {
        name: _content_redactor.redact(text[:_CONTENT_LIMIT]).text
        for name, text in (("prompt", call.prompt), ("completion", call.completion))
        if text is not None
    }
    _access.info(
        "%s %s %s",
        call.method,
        call.model,
        code.name,
        extra={
            "fields": content
            | {
                "request_id": call.request_id,
                "trace_id": format(span_context.trace_id, "032x") if span_context.is_valid else "",
                "frontend": call.frontend,
                "method": call.method,
                "tenant": call.tenant,
                "requested_model": call.requested_model,
                "model": call.model,
                "provider": call.provider,
                "deployment": call.deployment,
                "attempts": call.attempts,
                "fallback_from": call.fallback_from,
                "code": code.name,
                "reason": call.reason,
                "finish_reason": call.finish_reason,
                "latency_ms": round(elapsed * 1000, 3),
                "ttft_ms": None if ttft is None else round(ttft * 1000, 3),
                "upstream_ms": round(call.upstream_wait_s * 1000, 3),
                "input_tokens": call.usage.input_tokens,
                "output_tokens": call.usage.output_tokens,
                "cached_tokens": call.usage.cached_input_tokens,
                "cache_write_tokens": call.usage.cache_write_input_tokens,
                "reasoning_tokens": call.usage.reasoning_tokens,
                "cost_usd": cost_for_people(call.usage.cost_usd),
                "cache": call.cache,
            }
        },
    )
