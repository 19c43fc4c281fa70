"""Tests of the Azure OpenAI upstream simulator itself, driven over real HTTP with httpx."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.test_openai_simulator import parse_sse
from tests.upstreams.azure_openai import AzureOpenAISimulator, Behaviour

KEY = "azure-sim-key"
TOKEN = "entra-token-0123456789"
VERSION = "2024-10-21"
CHAT = "/openai/deployments/gpt-4o-mini-prod/chat/completions"
REPO = Path(__file__).resolve().parent.parent
TLS = ssl.create_default_context()


@pytest.fixture(scope="module")
def sim() -> Iterator[AzureOpenAISimulator]:
    with AzureOpenAISimulator(api_key=KEY, bearer_token=TOKEN) as server:
        yield server


@pytest.fixture
def upstream(sim: AzureOpenAISimulator) -> Iterator[AzureOpenAISimulator]:
    sim.reset()
    yield sim
    sim.reset()


@pytest.fixture
def client(upstream: AzureOpenAISimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=upstream.base_url, headers={"api-key": KEY}, verify=TLS, timeout=5) as c:
        yield c


def chat(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **extra}


def post(client: httpx.Client, body: Any, version: str | None = VERSION, path: str = CHAT) -> httpx.Response:
    params = {"api-version": version} if version else {}
    return client.post(path, params=params, json=body)


def stream_events(client: httpx.Client, body: dict[str, Any], version: str = VERSION) -> list[str]:
    response = post(client, {**body, "stream": True}, version)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    return parse_sse(response.content)


# ---- happy paths ----------------------------------------------------------------------------------


def test_unary_shape_with_filter_annotations(client: httpx.Client, upstream: AzureOpenAISimulator) -> None:
    response = post(client, chat("hello there friend", model="whatever-the-caller-says"))
    assert response.status_code == 200, response.text
    assert response.headers["apim-request-id"]
    assert response.headers["x-ms-region"]
    body = response.json()
    # The deployment picks the model; `model` in the body is ignored.
    assert body["model"] == "gpt-4o-mini-2024-07-18"
    assert body["prompt_filter_results"][0]["prompt_index"] == 0
    assert body["prompt_filter_results"][0]["content_filter_results"]["hate"] == {
        "filtered": False,
        "severity": "safe",
    }
    [choice] = body["choices"]
    assert choice["message"]["content"] == "You said: hello there friend"
    assert choice["finish_reason"] == "stop"
    assert choice["content_filter_results"]["violence"] == {"filtered": False, "severity": "safe"}
    assert body["usage"]["prompt_tokens"] == 3
    recorded = upstream.requests[-1]
    assert recorded.query == {"api-version": VERSION}
    assert recorded.headers["api-key"] == KEY


def test_stream_opens_with_a_prompt_verdict_and_empty_choices(client: httpx.Client) -> None:
    events = stream_events(client, chat("one two", stream_options={"include_usage": True}))
    assert events[-1] == "[DONE]"
    opening, role, *words, finish, usage = [json.loads(e) for e in events[:-1]]
    assert opening["choices"] == [] and opening["id"] == "" and opening["model"] == ""
    assert opening["prompt_filter_results"][0]["content_filter_results"]["jailbreak"]["detected"] is False
    assert role["choices"][0]["content_filter_results"] == {}
    assert "".join(w["choices"][0]["delta"]["content"] for w in words) == "You said: one two"
    assert all(w["choices"][0]["content_filter_results"]["hate"]["filtered"] is False for w in words)
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == len(words)


def test_finish_reason_content_filter_flags_the_answer(
    client: httpx.Client, upstream: AzureOpenAISimulator
) -> None:
    upstream.behaviour = Behaviour(finish_reason="content_filter", reply_text="partial")
    choice = post(client, chat()).json()["choices"][0]
    assert choice["finish_reason"] == "content_filter"
    assert choice["content_filter_results"]["violence"] == {"filtered": True, "severity": "high"}


def test_bearer_token_is_accepted(upstream: AzureOpenAISimulator) -> None:
    with httpx.Client(base_url=upstream.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        assert post(c, chat()).status_code == 200


def test_stream_cut_counts_reply_chunks_after_both_opening_frames(
    client: httpx.Client, upstream: AzureOpenAISimulator
) -> None:
    upstream.behaviour = Behaviour(cut_after=1)
    events = stream_events(client, chat("a b c"))
    assert "[DONE]" not in events
    assert [json.loads(e)["choices"][0]["delta"].get("content") for e in events[1:]] == [
        "",
        "You",
    ]


def test_in_stream_error_event(client: httpx.Client, upstream: AzureOpenAISimulator) -> None:
    upstream.behaviour = Behaviour(stream_error_after=2, error_message="backend broke")
    events = stream_events(client, chat("a b c"))
    assert json.loads(events[-1]) == {
        "error": {"message": "backend broke", "type": "server_error", "param": None, "code": None}
    }


# ---- Azure's own rejections -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "message_start"),
    [
        ({}, "Access denied due to invalid subscription key"),
        ({"api-key": "wrong-key"}, "Access denied due to invalid subscription key"),
        ({"Authorization": "Bearer wrong"}, "Unauthorized. Access token is missing"),
    ],
)
def test_bad_credentials(upstream: AzureOpenAISimulator, headers: dict[str, str], message_start: str) -> None:
    with httpx.Client(base_url=upstream.base_url, headers=headers) as c:
        response = post(c, chat())
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"code", "message"}
    assert error["code"] == "401" and error["message"].startswith(message_start)


def test_api_version_is_required_and_checked(client: httpx.Client) -> None:
    missing = post(client, chat(), version=None)
    assert (missing.status_code, missing.json()) == (
        404,
        {"error": {"code": "404", "message": "Resource not found"}},
    )
    unknown = post(client, chat(), version="2019-01-01")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, "BadRequest")


def test_unknown_deployment_and_path(client: httpx.Client) -> None:
    response = post(client, chat(), path="/openai/deployments/nope/chat/completions")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "DeploymentNotFound"
    # The OpenAI path does not exist on a resource endpoint.
    assert post(client, chat(), path="/v1/chat/completions").status_code == 404


@pytest.mark.parametrize(
    ("version", "extra", "accepted"),
    [
        ("2024-06-01", {"max_completion_tokens": 5}, False),
        ("2024-06-01", {"max_tokens": 5}, True),
        ("2024-10-21", {"max_completion_tokens": 5}, True),
        ("2024-10-21", {"top_k": 5}, False),
        ("2024-10-21", {"store": True}, False),
        ("2025-01-01-preview", {"store": True}, True),
    ],
)
def test_fields_follow_the_api_version(
    client: httpx.Client, version: str, extra: dict[str, Any], accepted: bool
) -> None:
    response = post(client, chat(**extra), version=version)
    assert response.status_code == (200 if accepted else 400), response.text
    if not accepted:
        assert response.json()["error"]["message"].startswith("Unrecognized request argument")


def test_stream_options_need_2024_09_or_later(client: httpx.Client) -> None:
    body = chat(stream=True, stream_options={"include_usage": True})
    assert post(client, body, version="2024-06-01").status_code == 400
    assert post(client, body, version="2024-10-21").status_code == 200


@pytest.mark.parametrize(("version", "status"), [("2024-10-21", 400), ("2024-12-01-preview", 200)])
def test_developer_role_needs_a_newer_version(client: httpx.Client, version: str, status: int) -> None:
    body = {"messages": [{"role": "developer", "content": "be brief"}, {"role": "user", "content": "hi"}]}
    assert post(client, body, version=version).status_code == status


def test_forced_content_filter_error(client: httpx.Client, upstream: AzureOpenAISimulator) -> None:
    upstream.behaviour = Behaviour(status=400, error_code="content_filter")
    response = post(client, chat())
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"], error["status"]) == ("content_filter", "prompt", 400)
    assert error["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    assert "content management policy" in error["message"]


def test_rate_limit_sends_both_retry_headers(client: httpx.Client, upstream: AzureOpenAISimulator) -> None:
    upstream.behaviour = Behaviour(status=429, retry_after="3")
    response = post(client, chat())
    assert response.status_code == 429
    assert (response.headers["retry-after"], response.headers["retry-after-ms"]) == ("3", "3000")
    assert response.json() == {"error": {"code": "429", "message": "simulated error"}}


def test_standalone_entry_point() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.upstreams.azure_openai", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        base_url = line.split()[-1]
        response = httpx.post(
            base_url + CHAT, params={"api-version": VERSION}, headers={"api-key": KEY}, json=chat()
        )
        assert response.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
