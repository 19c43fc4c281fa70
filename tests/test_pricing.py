"""Prices of prompt-cache reads and writes: the built-in family rates, the config's own, and the
cost arithmetic (uncached input, reads, writes and output each at their own rate)."""

from __future__ import annotations

from dataclasses import astuple

import pydantic
import pytest

from llmgateway.config import DeploymentSettings, ProviderSettings
from llmgateway.providers.echo import EchoProvider
from llmgateway.routing.deployments import Deployment
from llmgateway.routing.pricing import FREE, Prices, cost_usd, known_prices, prices_for
from llmgateway.v1 import chat_pb2


def listed(model: str, **prices: float) -> Prices:
    found = known_prices(
        DeploymentSettings.model_validate({"provider": "p", "model": model, **prices}), model
    )
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        # Claude: reads 0.1x input, 5-minute writes 1.25x, 1-hour writes 2x; on Bedrock too.
        ("claude-sonnet-4-5-20250929", Prices(3.0, 15.0, 0.3, 3.75, 6.0)),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", Prices(3.0, 15.0, 0.3, 3.75, 6.0)),
        # OpenAI and Gemini cache on their own: writes cost what input costs, reads are discounted.
        ("gpt-4o-mini", Prices(0.15, 0.60, 0.075, 0.15, 0.15)),
        ("gpt-4.1", Prices(2.0, 8.0, 0.5, 2.0, 2.0)),
        ("gpt-5", Prices(1.25, 10.0, 0.125, 1.25, 1.25)),
        ("gemini-2.5-flash", Prices(0.30, 2.50, 0.03, 0.30, 0.30)),
        ("gemini-2.0-flash", Prices(0.10, 0.40, 0.025, 0.10, 0.10)),
    ],
)
def test_built_in_cache_rates(model: str, expected: Prices) -> None:
    assert astuple(listed(model)) == pytest.approx(astuple(expected))


def test_configured_cache_rates_win_and_unset_ones_follow_the_family() -> None:
    prices = listed("claude-sonnet-4-5", input_price_per_mtok=2.0, output_price_per_mtok=10.0,
                    cache_read_price_per_mtok=0.05)  # fmt: skip
    assert astuple(prices) == pytest.approx((2.0, 10.0, 0.05, 2.5, 4.0))
    every = listed(
        "in-house",
        input_price_per_mtok=1.0,
        output_price_per_mtok=2.0,
        cache_read_price_per_mtok=0.1,
        cache_write_price_per_mtok=1.5,
        cache_write_1h_price_per_mtok=3.0,
    )
    assert every == Prices(1.0, 2.0, 0.1, 1.5, 3.0)


def test_an_unknown_family_assumes_no_cache_discount() -> None:
    assert listed("in-house", input_price_per_mtok=1.0, output_price_per_mtok=2.0) == Prices(
        1.0, 2.0, 1.0, 1.0, 1.0
    )
    assert known_prices(DeploymentSettings(provider="p", model="in-house"), "in-house") is None


def test_negative_cache_prices_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError):
        DeploymentSettings(provider="p", model="m", cache_read_price_per_mtok=-1)


SONNET = Prices(3.0, 15.0, 0.3, 3.75, 6.0)


def usage(input_tokens: int, output: int, reads: int = 0, writes: int = 0) -> chat_pb2.Usage:
    return chat_pb2.Usage(
        input_tokens=input_tokens,
        output_tokens=output,
        cached_input_tokens=reads,
        cache_write_input_tokens=writes,
    )


def test_reads_are_cheaper_and_writes_dearer_than_plain_input() -> None:
    plain = cost_usd(SONNET, usage(10_000, 100))
    written = cost_usd(SONNET, usage(10_000, 100, writes=9_000))
    read = cost_usd(SONNET, usage(10_000, 100, reads=9_000))
    assert plain == pytest.approx((10_000 * 3.0 + 100 * 15.0) / 1e6)
    assert written == pytest.approx((1_000 * 3.0 + 9_000 * 3.75 + 100 * 15.0) / 1e6)
    assert read == pytest.approx((1_000 * 3.0 + 9_000 * 0.3 + 100 * 15.0) / 1e6)
    assert read < plain < written


def test_one_hour_writes_use_their_own_rate() -> None:
    assert cost_usd(SONNET, usage(1_000, 0, writes=1_000), long_cache_writes=True) == pytest.approx(0.006)
    assert cost_usd(SONNET, usage(1_000, 0, writes=1_000)) == pytest.approx(0.00375)


def test_writes_split_by_lifetime_are_each_charged_at_their_rate() -> None:
    """A provider that splits its writes (Anthropic, Bedrock): each lifetime at its own rate, whatever
    the request asked; without the split, a request with a 1-hour breakpoint pays 1 hour for all."""
    split = usage(3_000, 0, writes=3_000)
    split.cache_write_1h_input_tokens = 1_000
    expected = (1_000 * 6.0 + 2_000 * 3.75) / 1e6
    assert cost_usd(SONNET, split, long_cache_writes=True) == pytest.approx(expected)
    assert cost_usd(SONNET, split) == pytest.approx(expected)
    split.cache_write_1h_input_tokens = 0  # said, and none at 1 hour: all at 5 minutes
    assert cost_usd(SONNET, split, long_cache_writes=True) == pytest.approx(3_000 * 3.75 / 1e6)
    split.cache_write_1h_input_tokens = 5_000  # more than were written (never seen): capped
    assert cost_usd(SONNET, split) == pytest.approx(3_000 * 6.0 / 1e6)


def test_reads_and_writes_never_make_uncached_input_negative() -> None:
    # A provider that reports more cache tokens than input (never seen) is charged for what it reported.
    assert cost_usd(SONNET, usage(10, 0, reads=20)) == pytest.approx(20 * 0.3 / 1e6)
    assert cost_usd(FREE, usage(10_000, 10_000, reads=5_000, writes=5_000)) == 0.0


def test_an_answers_model_is_priced_as_prices_for_says_and_few_names_are_kept() -> None:
    settings = DeploymentSettings.model_validate({"provider": "p", "model": "gpt-4o"})
    deployment = Deployment(settings, EchoProvider("p"), ProviderSettings(name="p", type="echo"))
    # Looked up again from the memo, and for names it no longer takes: the same prices either way.
    for _ in range(2):
        assert deployment.answer_prices("gpt-4o-2024-08-06", "m") == prices_for(settings, "gpt-4o-2024-08-06")
        assert deployment.answer_prices("claude-sonnet-4-5", "m") == prices_for(settings, "claude-sonnet-4-5")
        assert deployment.answer_prices("made-up", "m") == FREE
        # An answer that names no model is priced as the model sent upstream.
        assert deployment.answer_prices("", "m") == prices_for(settings, "gpt-4o")
    # An upstream answering with endless names cannot grow the memo without bound.
    for number in range(1000):
        assert deployment.answer_prices(f"gpt-4o-mini-{number}", "m") == listed("gpt-4o-mini")
    assert len(deployment._answer_prices) == 32
