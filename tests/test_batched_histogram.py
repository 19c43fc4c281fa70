"""The batched inter-token histogram exposes exactly what prometheus_client's own observe would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from llmgateway.observability.batched_histogram import BatchedHistogram

BOUNDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 1, 10)
# Bounds themselves (a value on a bound is in that bucket), between them, zero and past the last.
VALUES = [0.0, 0.001, 0.0010001, 0.004, 0.005, 0.02, 0.025, 0.07, 0.1, 0.5, 1.0, 9.99, 10.0, 11.0, 3600.0]


def histogram() -> tuple[CollectorRegistry, Histogram]:
    registry = CollectorRegistry()
    return registry, Histogram("gaps_seconds", "gaps", ["model"], buckets=BOUNDS, registry=registry)


def test_a_flushed_batch_exposes_what_observe_does() -> None:
    expected_registry, expected = histogram()
    for value in VALUES:
        expected.labels("m").observe(value)
    registry, batched_metric = histogram()
    batched = BatchedHistogram(batched_metric.labels("m"), now=0.0)
    for value in VALUES:
        batched.observe(value, now=0.5)  # within the first second: nothing shared yet
    assert b'gaps_seconds_count{model="m"} 0.0' in generate_latest(registry)
    batched.flush()
    assert _without_created(generate_latest(registry)) == _without_created(generate_latest(expected_registry))
    batched.flush()  # nothing new: nothing added twice
    assert _without_created(generate_latest(registry)) == _without_created(generate_latest(expected_registry))


def test_a_long_stream_shares_its_gaps_every_second_without_waiting_for_its_end() -> None:
    registry, metric = histogram()
    batched = BatchedHistogram(metric.labels("m"), now=100.0)
    batched.observe(0.02, now=100.4)
    batched.observe(0.02, now=101.0)  # a second after it began: shared
    assert b'gaps_seconds_count{model="m"} 2.0' in generate_latest(registry)
    batched.observe(0.03, now=101.5)
    assert b'gaps_seconds_count{model="m"} 2.0' in generate_latest(registry)
    batched.observe(0.02, now=102.0)
    text = generate_latest(registry)
    assert b'gaps_seconds_count{model="m"} 4.0' in text
    assert b'gaps_seconds_bucket{le="0.025",model="m"} 3.0' in text


def _without_created(text: bytes) -> list[bytes]:
    return [line for line in text.splitlines() if b"_created" not in line]
