"""The status page on the metrics port, judged by a real headless Chromium (Debian's, driven by
Playwright): a gateway with a SQLite ledger, two deployments on simulators of which one fails,
keys in two tenants and a known load through real gRPC; then the page's figures against /metrics
and against the ledger read back independently, its credential, its offline-ness, and a
screenshot kept in test-artifacts/."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from playwright.async_api import Browser, Page, Response, async_playwright
from playwright.async_api import Error as PlaywrightError
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from llmgateway.app import Gateway
from llmgateway.auth.keys import new_key
from llmgateway.config.ledger import sqlite_url
from llmgateway.status.access import presented_secret
from llmgateway.v1 import chat_pb2_grpc
from tests.conftest import chat_request, gateway_config, stream_request, user
from tests.ledger_rows import rows_when_settled
from tests.upstreams.openai import Behaviour, OpenAISimulator

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# Flags for a browser that must reach nothing but the page under test.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

ACME_KEY, ACME_ID, ACME_HASH = new_key()
GLOBEX_KEY, GLOBEX_ID, GLOBEX_HASH = new_key()
ADMIN_KEY, ADMIN_ID, ADMIN_HASH = new_key()
PRICE_PER_MTOK = 1000.0
# (key, good unary, good streamed, bad) calls: 5 failures in all; the breaker opens after 3.
LOAD = [(ACME_KEY, 3, 2, 2), (GLOBEX_KEY, 2, 1, 3)]
CALLS = sum(good + streamed + bad for _, good, streamed, bad in LOAD)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="make chromium installs Debian's chromium")


@pytest.fixture(scope="module")
def sims() -> Iterator[tuple[OpenAISimulator, OpenAISimulator]]:
    with OpenAISimulator(api_key=None) as good, OpenAISimulator(api_key=None) as bad:
        yield good, bad


def config(good: OpenAISimulator, bad: OpenAISimulator, ledger: Path) -> dict[str, Any]:
    def deployment(name: str, provider: str) -> dict[str, Any]:
        return {
            "name": name,
            "provider": provider,
            "model": "gpt-4o-mini",
            "input_price_per_mtok": PRICE_PER_MTOK,
            "output_price_per_mtok": PRICE_PER_MTOK,
        }

    return {
        "server": {"metrics_listen": "127.0.0.1:0", "status_page": {"enabled": True}},
        "auth": {
            "enabled": True,
            "keys": [
                {
                    "id": ACME_ID,
                    "hash": ACME_HASH,
                    "tenant": "acme",
                    "name": "search backend",
                    "policy": {"rpm": 600, "labels": {"team": "search"}, "budget": {"usd": 0.5}},
                },
                {
                    "id": GLOBEX_ID,
                    "hash": GLOBEX_HASH,
                    "tenant": "globex",
                    "policy": {"tpm": 100_000, "max_concurrent": 4, "budget": {"usd": 20, "period": "month"}},
                },
            ],
        },
        "ledger": {"url": sqlite_url(ledger), "flush_interval_s": 0.05},
        "providers": [
            {"name": "good", "type": "openai", "base_url": good.base_url},
            {"name": "bad", "type": "openai", "base_url": bad.base_url},
        ],
        "models": [
            {"name": "good", "deployments": [deployment("good-dep", "good")]},
            {"name": "bad", "deployments": [deployment("bad-dep", "bad")]},
        ],
        "routing": {
            "retry": {"max_retries": 0},
            "breaker": {"consecutive_failures": 3, "open_s": 600},
        },
    }


@pytest.fixture
async def gateway(sims: tuple[OpenAISimulator, OpenAISimulator], tmp_path: Path) -> AsyncIterator[Gateway]:
    good, bad = sims
    good.reset()
    bad.reset()
    bad.behaviour = Behaviour(status=500, error_message="the bad upstream is down")
    settings = config(good, bad, tmp_path / "ledger.db") | {
        "admin": {"keys": [{"id": ADMIN_ID, "hash": ADMIN_HASH}]}
    }
    gateway = Gateway(gateway_config(settings), rng=random.Random(7))
    await gateway.start()
    yield gateway
    await gateway.shutdown()


def base_url(gateway: Gateway) -> str:
    assert gateway.metrics_server is not None
    return f"http://127.0.0.1:{gateway.metrics_server.port}"


def basic(secret: str, user_name: str = "admin") -> str:
    return "Basic " + base64.b64encode(f"{user_name}:{secret}".encode()).decode()


async def run_load(gateway: Gateway) -> None:
    """The known load, one call after another so the breaker sees the failures in order."""
    async with grpc.aio.insecure_channel(gateway.address) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        for key, good, streamed, bad in LOAD:
            auth = (("authorization", f"Bearer {key}"),)
            for index in range(good):
                await stub.Chat(
                    chat_request("good", user(f"hello number {index}")), metadata=auth, timeout=10
                )
            for index in range(streamed):
                call = stub.ChatStream(
                    stream_request("good", user(f"stream {index} a b c")), metadata=auth, timeout=10
                )
                _ = [message async for message in call]
            for _index in range(bad):
                with pytest.raises(grpc.aio.AioRpcError):
                    await stub.Chat(chat_request("bad", user("fails")), metadata=auth, timeout=10)


def scraped(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """/metrics as sample name -> labels -> value."""
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def nearest_rank_ms(micros: list[int], share: float) -> float:
    values = sorted(micros)
    return values[max(1, math.ceil(share * len(values))) - 1] / 1000


async def table_figures(page: Page, table: str, row_attribute: str) -> dict[str, dict[str, str]]:
    """Each row of a table by its row attribute: every cell's data-figure -> data-value."""
    result: dict[str, dict[str, str]] = await page.eval_on_selector_all(
        f"#{table} tbody tr[{row_attribute}]",
        f"""rows => Object.fromEntries(rows.map(row => [row.getAttribute("{row_attribute}"),
            Object.fromEntries([...row.querySelectorAll("td[data-figure]")].map(
                cell => [cell.dataset.figure, cell.dataset.value]))]))""",
    )
    return result


async def refused(browser: Browser, url: str, password: str | None) -> list[dict[str, str]]:
    """The page's answers to a browser presenting `password` (None: nothing), all 401. Headless,
    nobody answers the login box: Chromium either shows the 401 answer or, having tried the
    credentials it was given, ends the navigation with ERR_INVALID_AUTH_CREDENTIALS."""
    credentials: Any = None if password is None else {"username": "admin", "password": password}
    context = await browser.new_context(http_credentials=credentials)
    answers: list[Response] = []
    context.on("response", lambda response: answers.append(response))  # noqa: PLW0108 - a bound method is refused
    failure = ""
    try:
        await (await context.new_page()).goto(url)
    except PlaywrightError as error:
        failure = str(error)
    assert failure == "" or "ERR_INVALID_AUTH_CREDENTIALS" in failure, failure
    assert answers and {answer.status for answer in answers} == {401}, [a.status for a in answers]
    headers = [await answer.all_headers() for answer in answers]
    await context.close()
    return headers


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    # launch() gives each run a fresh, temporary user-data-dir; nothing is downloaded.
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def test_the_page_in_a_browser_shows_what_metrics_and_the_ledger_say(
    gateway: Gateway, browser: Browser, sims: tuple[OpenAISimulator, OpenAISimulator], tmp_path: Path
) -> None:
    url = base_url(gateway)
    await run_load(gateway)
    rows = await rows_when_settled(sqlite_url(tmp_path / "ledger.db"), CALLS)
    assert len(rows) == CALLS

    # One call held in flight while the page is read.
    good, _ = sims
    good.enqueue(Behaviour(latency=30))
    channel = grpc.aio.insecure_channel(gateway.address)
    held = asyncio.ensure_future(
        chat_pb2_grpc.ChatServiceStub(channel).Chat(
            chat_request("good", user("slow")),
            metadata=(("authorization", f"Bearer {ACME_KEY}"),),
            timeout=30,
        )
    )
    try:
        async with httpx.AsyncClient() as http:
            async with asyncio.timeout(10):
                while (
                    scraped((await http.get(f"{url}/metrics")).text)["llmgateway_in_flight"].get(
                        (("method", "Chat"),)
                    )
                    != 1
                ):
                    await asyncio.sleep(0.05)

        # Without the credential: 401 with the challenge that makes a browser ask for a login.
        refusals = await refused(browser, f"{url}/status", None)
        assert refusals[0]["www-authenticate"].startswith("Basic ")
        # A wrong key (another key of the gateway, valid for calls) is refused too.
        await refused(browser, f"{url}/status", ACME_KEY)

        context = await browser.new_context(
            http_credentials={"username": "admin", "password": ADMIN_KEY},
            viewport={"width": 1400, "height": 900},
        )
        page = await context.new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        response = await page.goto(f"{url}/status")
        assert response is not None and response.status == 200
        await page.wait_for_load_state("networkidle")
        async with httpx.AsyncClient() as http:
            metrics = scraped((await http.get(f"{url}/metrics")).text)

        # Nothing but the page itself was fetched: no CDN, no font, no script.
        assert requested and all(r.startswith(f"{url}/") for r in requested), requested

        deployments = await table_figures(page, "deployments", "data-deployment")
        assert set(deployments) == {"good-dep", "bad-dep"}
        attempts = metrics["llmgateway_upstream_attempts_total"]
        for name in ("good-dep", "bad-dep"):
            shown = deployments[name]
            assert (
                float(shown["breaker_state"]) == metrics["llmgateway_breaker_state"][(("deployment", name),)]
            )
            total = sum(v for labels, v in attempts.items() if dict(labels)["deployment"] == name)
            failed = sum(
                v
                for labels, v in attempts.items()
                if dict(labels)["deployment"] == name and dict(labels)["outcome"] != "OK"
            )
            assert (int(shown["attempts"]), int(shown["failed_attempts"])) == (total, failed)
        assert deployments["bad-dep"]["breaker_state"] == "2"  # open: 3 failures in a row
        assert deployments["good-dep"]["breaker_state"] == "0"
        assert float(deployments["bad-dep"]["error_rate"]) == 1.0
        assert float(deployments["good-dep"]["error_rate"]) == 0.0
        in_flight = await table_figures(page, "in-flight", "data-method")
        assert (
            in_flight["Chat"]["in_flight"]
            == "1"
            == str(int(metrics["llmgateway_in_flight"][(("method", "Chat"),)]))
        )

        # The ledger, read back here: calls, latency and TTFT per deployment.
        for name in ("good-dep", "bad-dep"):
            mine = [row for row in rows if row["deployment"] == name]
            ok = [row for row in mine if row["status"] == "OK"]
            shown = deployments[name]
            assert int(shown["calls_last_hour"]) == len(mine)
            assert int(shown["failed_calls_last_hour"]) == len(mine) - len(ok)
            if ok:
                latencies = [row["latency_us"] for row in ok]
                assert float(shown["latency_p50_ms"]) == nearest_rank_ms(latencies, 0.5)
                assert float(shown["latency_p95_ms"]) == nearest_rank_ms(latencies, 0.95)
                ttfts = [row["ttft_us"] for row in ok if row["ttft_us"] is not None]
                assert float(shown["ttft_p95_ms"]) == nearest_rank_ms(ttfts, 0.95)
            else:
                assert shown["latency_p50_ms"] == ""
        assert int(deployments["good-dep"]["calls_last_hour"]) == sum(g + s for _, g, s, _b in LOAD)

        # Spend per tenant: the table and the chart's bars against the ledger.
        spend: dict[str, int] = {}
        for row in rows:
            spend[row["tenant"]] = spend.get(row["tenant"], 0) + row["cost_nano_usd"]
        assert spend["acme"] > 0 and spend["globex"] > 0
        tenants = await table_figures(page, "tenants", "data-tenant")
        assert {name: int(t["spend_last_day_nano_usd"]) for name, t in tenants.items()} == spend
        bars: list[dict[str, str]] = await page.eval_on_selector_all(
            "#spend-chart rect[data-tenant]", "bars => bars.map(bar => ({...bar.dataset}))"
        )
        charted: dict[str, int] = {}
        for bar in bars:
            charted[bar["tenant"]] = charted.get(bar["tenant"], 0) + int(bar["nanoUsd"])
        assert charted == {tenant: nano for tenant, nano in spend.items() if nano}  # no bar for $0
        assert await page.locator("#spend-chart").is_visible()

        # Keys: calls, tokens and spend per key, this period against the budget.
        keys = await table_figures(page, "keys", "data-key")
        assert set(keys) == {ACME_ID, GLOBEX_ID}
        for key_id in (ACME_ID, GLOBEX_ID):
            mine = [row for row in rows if row["key_id"] == key_id]
            shown = keys[key_id]
            assert int(shown["calls_last_day"]) == len(mine)
            assert int(shown["tokens_last_day"]) == sum(row["total_tokens"] for row in mine)
            assert int(shown["spend_last_day_nano_usd"]) == sum(row["cost_nano_usd"] for row in mine)
            assert int(shown["spend_this_period_nano_usd"]) == sum(row["cost_nano_usd"] for row in mine)
        acme_spend = sum(row["cost_nano_usd"] for row in rows if row["key_id"] == ACME_ID)
        assert float(keys[ACME_ID]["budget_used"]) == pytest.approx(acme_spend / 1e9 / 0.5)
        assert (keys[ACME_ID]["rpm"], keys[ACME_ID]["tpm"]) == ("600", "")
        assert (keys[GLOBEX_ID]["tpm"], keys[GLOBEX_ID]["max_concurrent"]) == ("100000", "4")

        # Never a secret: no key, no hash, anywhere in the page.
        html = await page.content()
        for secret in (ACME_KEY, GLOBEX_KEY, ADMIN_KEY, ACME_HASH, GLOBEX_HASH, ADMIN_HASH):
            assert secret not in html
            assert secret.split("$")[-1] not in html

        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "status-page.png"
        shot.unlink(missing_ok=True)
        await page.screenshot(path=str(shot), full_page=True)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.stat().st_size > 20_000  # tables and a chart, not a blank page
        await context.close()

        # /status.json: the same figures for scripts, with a Bearer token.
        async with httpx.AsyncClient() as http:
            answer = await http.get(f"{url}/status.json", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        document = answer.json()
        by_name = {d["deployment"]: d for d in document["deployments"]}
        assert by_name["bad-dep"]["breaker_state"] == 2
        assert by_name["good-dep"]["attempts"] == int(deployments["good-dep"]["attempts"])
        assert {t["tenant"]: t["total_nano_usd"] for t in document["tenants"]} == spend
        assert document["in_flight"] == {"Chat": 1, "ChatStream": 0}
    finally:
        held.cancel()
        await channel.close()


async def test_refusals_and_metrics_unchanged(gateway: Gateway) -> None:
    url = base_url(gateway)
    async with httpx.AsyncClient() as http:
        for headers in (
            {},
            {"Authorization": "Bearer"},
            {"Authorization": f"Bearer {ADMIN_KEY}x"},
            {"Authorization": "Basic !!!not-base64"},
            {"Authorization": basic(ADMIN_KEY)[:-4]},
            {"Authorization": "Digest whatever"},
            {"Authorization": basic(ACME_KEY)},  # a gateway key, not the admin credential
        ):
            for path in ("/status", "/status.json"):
                answer = await http.get(url + path, headers=headers)
                assert answer.status_code == 401, (path, headers)
                assert answer.headers["www-authenticate"].startswith('Basic realm="llmgateway status"')
                assert ADMIN_KEY not in answer.text
        answer = await http.post(url + "/status", headers={"Authorization": basic(ADMIN_KEY)})
        assert answer.status_code == 405
        answer = await http.get(url + "/status", headers={"Authorization": basic(ADMIN_KEY, "anyone")})
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert "default-src 'none'" in answer.headers["content-security-policy"]
        assert json.loads(
            (await http.get(url + "/status.json", headers={"Authorization": basic(ADMIN_KEY)})).text
        )

        # /metrics is prometheus-client's exposition, byte for byte, on its usual paths.
        for path in ("/metrics", "/"):
            scrape = await http.get(url + path)
            assert scrape.status_code == 200
            assert scrape.headers["content-type"].startswith("text/plain; version=")
            expected = generate_latest(gateway.metrics.registry)
            assert scrape.content == expected


async def test_the_page_refuses_everyone_without_admin_keys(
    sims: tuple[OpenAISimulator, OpenAISimulator], tmp_path: Path
) -> None:
    good, bad = sims
    gateway = Gateway(gateway_config(config(good, bad, tmp_path / "ledger.db")))
    await gateway.start()
    try:
        url = base_url(gateway)
        async with httpx.AsyncClient() as http:
            for secret in (ADMIN_KEY, ACME_KEY):
                answer = await http.get(f"{url}/status", headers={"Authorization": basic(secret)})
                assert answer.status_code == 401
    finally:
        await gateway.shutdown()


@pytest.mark.parametrize(
    ("header", "secret"),
    [
        (None, None),
        ("", None),
        ("Bearer abc", "abc"),
        ("bearer   abc ", "abc"),
        ("Basic " + base64.b64encode(b"admin:s3cret:with:colons").decode(), "s3cret:with:colons"),
        ("Basic " + base64.b64encode(b"no-colon").decode(), None),
        ("Basic " + base64.b64encode(b"admin:").decode(), None),
        ("Basic " + base64.b64encode(b"\xff\xfe:x").decode(), None),
        ("Basic %%%", None),
        ("Token abc", None),
    ],
)
def test_the_presented_secret(header: str | None, secret: str | None) -> None:
    assert presented_secret(header) == secret
