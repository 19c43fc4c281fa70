"""`make bench-compare`: LiteLLM's proxy (from its own venv, bench/.venv-litellm) beside the gateway
(features on, its gRPC and HTTP doors) and the minimal forwarder, all measured in one invocation on
one upstream with the same placement and load: each server alone on core 1, ghz / hey and the stream
probe on core 0. The ratios against LiteLLM come from these figures only, never from an earlier
run's (issue 25 item 8: machines here differ by 2x from day to day)."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from typing import Any

import httpx
import yaml

from bench import run
from bench.upstream import API_KEY, FAST_MODEL, PACED_MODEL

VENV = run.BENCH / ".venv-litellm"


def litellm_version() -> str:
    done = subprocess.run(
        [str(VENV / "bin/python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def config(upstream_url: str, master_key: str) -> dict[str, Any]:
    def entry(name: str, model: str) -> dict[str, Any]:
        params = {"model": f"openai/{model}", "api_base": upstream_url, "api_key": API_KEY}
        return {"model_name": name, "litellm_params": params}

    return {
        "model_list": [entry("fast", FAST_MODEL), entry("paced", PACED_MODEL)],
        "litellm_settings": {"telemetry": False, "set_verbose": False},
        # Callers authenticate with the master key (no database): the nearest to our features-on.
        "general_settings": {"master_key": master_key},
    }


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the LiteLLM proxy exited: see bench/out/litellm.log")
        try:
            if httpx.get(f"{base}/health/liveliness", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the LiteLLM proxy was not ready within {timeout:.0f} s")


def measure(upstream_url: str, profile: run.Profile) -> dict[str, Any]:
    """The `litellm` part of results.json: every side measured here under `sides`, one after the
    other, LiteLLM last."""
    if not (VENV / "bin/litellm").exists():
        return {"error": f"{VENV.relative_to(run.ROOT)} has no litellm: run `make bench-compare`"}
    sides: dict[str, dict[str, Any]] = {}
    print("measuring the upstream directly ...", flush=True)
    sides["upstream"] = measure_upstream(upstream_url, profile)
    for target in run.targets(upstream_url):
        if target.name in ("gateway-on", "forwarder"):
            print(f"measuring {target.name} beside LiteLLM ...", flush=True)
            sides |= measure_grpc_side(target, profile)
    print("measuring LiteLLM's proxy ...", flush=True)
    litellm = measure_litellm(upstream_url, profile)
    if "error" in litellm:
        return {"error": litellm["error"], "sides": sides}
    version, command = litellm.pop("version"), litellm.pop("command")
    return {"version": version, "command": command, "sides": sides | {"litellm": litellm}}


def measure_upstream(upstream_url: str, profile: run.Profile) -> dict[str, Any]:
    """hey on the upstream at concurrency 1: the base of the added latency of this part's sides."""
    url = f"{upstream_url}/chat/completions"
    body = run.openai_body(FAST_MODEL)
    run.hey(url, body, concurrency=4, seconds=2)
    return {"unary_c1": run.hey(url, body, concurrency=1, seconds=profile.closed_s)}


def measure_grpc_side(target: run.Target, profile: run.Profile) -> dict[str, dict[str, Any]]:
    """The figures LiteLLM's are set against, for a gRPC server (and the gateway's HTTP door, in the
    same process, under `<name>-http`): concurrency 1, saturated calls with CPU per call, saturated
    streams, time to first token. Fewer than the main run's (no fixed rates, no soak), as many as
    LiteLLM's."""
    target.process = run.start(target.argv, run.OUT / f"{target.name}-compare.log")
    try:
        run.wait_ready(target)
        pid = target.process.pid
        time.sleep(1.0)
        fig: dict[str, Any] = {"rss_idle_mb": run.rss_mb(pid)}
        run.ghz(target, "Chat", concurrency=4, seconds=2)  # warm up
        fig["unary_c1"] = run.ghz(target, "Chat", concurrency=1, seconds=profile.closed_s)
        fig["unary_saturated"] = run.saturated(target, pid, "Chat", profile.closed_s)
        stream = run.saturated(target, pid, "ChatStream", profile.closed_s)
        stream["tokens_per_s"] = stream["rps"] * run.UPSTREAM_WORDS
        fig["stream_saturated"] = stream
        fig["stream_fast"] = run.stream_probe(
            "grpc", target.address, target.fast_model, profile.streams, target.api_key
        )
        measured = {target.name: fig}
        if target.http_port:
            measured[f"{target.name}-http"] = run.measure_http_door(target, pid, profile)
        return measured
    finally:
        run.stop(target.process)


def measure_litellm(upstream_url: str, profile: run.Profile) -> dict[str, Any]:
    path = run.OUT / "litellm.yaml"
    master_key = f"sk-{secrets.token_urlsafe(32)}"
    path.write_text(yaml.safe_dump(config(upstream_url, master_key), sort_keys=False))
    port = run.free_port()
    argv = [*run.pinned(1), str(VENV / "bin/litellm"), "--config", str(path)]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    # The bundled model price map, not a download (there is no internet here).
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    process = run.start(argv, run.OUT / "litellm.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        time.sleep(1.0)
        figures: dict[str, Any] = {"version": litellm_version(), "command": run.command_line(argv)}
        figures["rss_idle_mb"] = run.rss_mb(process.pid)
        url = f"{base}/v1/chat/completions"
        # The same requests as the gateway's HTTP door gets (run.measure_http_door).
        body = run.openai_body("fast")
        run.hey(url, body, concurrency=4, seconds=2, api_key=master_key)
        figures["unary_c1"] = run.hey(url, body, concurrency=1, seconds=profile.closed_s, api_key=master_key)
        figures["unary_saturated"] = run.hey_saturated(
            url, body, process.pid, profile.closed_s, api_key=master_key
        )
        stream = run.hey_saturated(
            url, run.openai_body("fast", stream=True), process.pid, profile.closed_s, api_key=master_key
        )
        stream["tokens_per_s"] = stream["rps"] * run.UPSTREAM_WORDS
        figures["stream_saturated"] = stream
        figures["stream_fast"] = run.stream_probe("http", f"{base}/v1", "fast", profile.streams, master_key)
        paced = max(10, profile.streams // 2)
        figures["stream_paced"] = run.stream_probe("http", f"{base}/v1", "paced", paced, master_key)
        time.sleep(1.0)
        figures["rss_after_load_mb"] = run.rss_mb(process.pid)
        return figures
    except (RuntimeError, subprocess.CalledProcessError) as error:
        return {"error": str(error)}
    finally:
        run.stop(process)
