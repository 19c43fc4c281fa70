"""How many long paced streams one gateway core holds (issue 25): `make bench-streams` (and
`make bench-streams-quick`).

Every target runs as one process (one worker) on core 1; the Go load client
(bench/stream_capacity, on the generated Go client) and the upstream share core 0. The upstream
streams 200 tokens per reply, one every 20 ms, each stamped with the moment it was written, so the
client knows per token how long the target held it. K concurrent streams are held per step, and K
steps up until the added inter-token gap p99 passes 5 ms or a stream fails. Targets, in one run:

- gateway-grpc: the gateway with its features on (auth, limits, metrics, 10% tracing, access log),
  over gRPC;
- gateway-http: the same gateway's OpenAI HTTP door, the client speaking SSE;
- forwarder: bench/minimal_forwarder.py (grpc.aio in, aiohttp out, nothing else), over gRPC;
- sse-forwarder: bench/sse_forwarder.py, the minimal forwarder speaking SSE as the issue asks (the
  client speaks SSE to every target): aiohttp in and out, each event's JSON parsed and re-written;
- sse-passthrough: bench/sse_passthrough.py, aiohttp in and out passing the upstream's SSE bytes
  through unread: the least any HTTP door on aiohttp can spend per relayed token;
- litellm: LiteLLM's proxy (bench/.venv-litellm, `make bench-compare`), the client speaking SSE;
- floor-grpc-aio and floor-grpclib: bench/paced_floor.py, a ChatStream server with no upstream
  pacing its own tokens on grpc.aio and on grpclib: the ceiling of any relay on that stack;
  floor-aiohttp-sse the same as an OpenAI SSE server on aiohttp, the HTTP doors' stack.

The per-core figures are what the issue asks: the largest K held, tokens/s relayed, CPU µs per
relayed token, added gap p50/p99, TTFT p99 and RSS at that K. Results go to bench/out/ and, with
--write, into bench/STREAMS.md between markers (RESULTS.md is rewritten whole by `make bench`).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import yaml

from bench import run
from bench.doc_section import replace_section
from bench.litellm_compare import VENV as LITELLM_VENV
from bench.litellm_compare import config as litellm_config
from bench.litellm_compare import wait_ready as litellm_wait_ready
from bench.upstream import API_KEY, GOBIN, PACED_MODEL, upstream_argv
from llmgateway.auth.keys import new_key

TOKENS = 200
INTER_TOKEN_S = 0.02
MAX_ADDED_P99_MS = 5.0  # the load client's -max-added-p99 (its default)
CLIENT = GOBIN / "stream-capacity"
# Fine steps where today's targets break (LiteLLM's proxy held none of 10 streams; a one-core
# Python relay holds tens to low hundreds), then coarse ones for what an optimised relay might reach.
FULL_STEPS = [1, 2, 5, 10, 20, 30, 40, 50, 60, 70, 80, 100, 120, 150, 200, 250, 300, 400, 600, 800]
FULL_STEPS += [1200, 1600, 2400, 3200]
QUICK_STEPS = [20, 50, 100]
FLOOR_STACKS = ("grpc-aio", "grpclib", "aiohttp-sse")
FLOORS = tuple(f"floor-{stack}" for stack in FLOOR_STACKS)


@dataclass(frozen=True)
class Plan:
    steps: list[int]
    warmup_s: float
    step_s: float


FULL = Plan(FULL_STEPS, warmup_s=5.0, step_s=12.0)
QUICK = Plan(QUICK_STEPS, warmup_s=4.5, step_s=6.0)


def load(
    protocol: str, target: str, model: str, key: str | None, *, pids: list[int], plan: Plan
) -> list[dict[str, Any]]:
    """The load client's steps against one target, on core 0."""
    argv = [*run.pinned(0), str(CLIENT), "-protocol", protocol, "-target", target, "-model", model]
    argv += ["-steps", ",".join(map(str, plan.steps)), "-warmup-seconds", str(plan.warmup_s)]
    argv += ["-step-seconds", str(plan.step_s), "-cpu-pids", ",".join(map(str, pids))]
    argv += ["-inter-token-seconds", str(INTER_TOKEN_S)]
    if key:
        argv += ["-key", key]
    run.record(f"stream-capacity {protocol}", argv)
    done = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=run.ROOT)
    sys.stderr.write(done.stderr)
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def measured(
    process: subprocess.Popen[bytes], protocol: str, target: str, model: str, key: str | None, *, plan: Plan
) -> dict[str, Any]:
    """The steps against a started target, with its idle RSS (all its processes) before them."""
    pids = run.process_tree(process.pid)
    idle = sum(run.rss_mb(pid) for pid in pids)
    return {"rss_idle_mb": idle, **summary(load(protocol, target, model, key, pids=pids, plan=plan))}


def summary(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The largest K held and its figures (the step after it shows where it broke)."""
    held = [step for step in steps if step["held"]]
    best = held[-1] if held else None
    broke = next((step for step in steps if not step["held"]), None)
    return {"held": best, "broke_at": broke, "steps": steps}


def gateway_targets(upstream_url: str, plan: Plan) -> dict[str, Any]:
    key, key_id, key_hash = new_key()
    port, http_port = run.free_port(), run.free_port()
    config = run.gateway_config(
        upstream_url, features=True, key_id=key_id, key_hash=key_hash, http_port=http_port
    )
    path = run.OUT / "streams-gateway.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    argv = run.gateway_argv(path, port)
    target = run.Target("gateway", argv, port, "fast", "paced", key, http_port=http_port)
    figures: dict[str, Any] = {}
    for door in ("grpc", "http"):
        # A fresh process per door, so neither inherits the other's heap.
        target.process = run.start(argv, run.OUT / f"streams-gateway-{door}.log")
        try:
            run.wait_ready(target)
            run.wait_http_ready(target)
            if door == "grpc":
                figures["gateway-grpc"] = measured(
                    target.process, "grpc", target.address, "paced", key, plan=plan
                )
            else:
                figures["gateway-http"] = measured(
                    target.process, "sse", target.http_base, "paced", key, plan=plan
                )
        finally:
            run.stop(target.process)
    return figures


def forwarder_target(upstream_url: str, plan: Plan) -> dict[str, Any]:
    port = run.free_port()
    argv = [*run.pinned(1), run.PY, "-m", "bench.minimal_forwarder", "--listen", f"127.0.0.1:{port}"]
    argv += ["--upstream", upstream_url, "--transport", "aiohttp"]
    target = run.Target("forwarder", argv, port, "gpt-4o-mini", PACED_MODEL)
    target.process = run.start(argv, run.OUT / "streams-forwarder.log")
    try:
        run.wait_ready(target)
        return measured(target.process, "grpc", target.address, PACED_MODEL, None, plan=plan)
    finally:
        run.stop(target.process)


def sse_relay_target(module: str, upstream_url: str, plan: Plan) -> dict[str, Any]:
    """One of the bench's aiohttp relays (`python -m bench.<module>`: the SSE forwarder or the
    passthrough), measured with the client speaking SSE."""
    port = run.free_port()
    argv = [*run.pinned(1), run.PY, "-m", f"bench.{module}", "--listen", f"127.0.0.1:{port}"]
    argv += ["--upstream", upstream_url, "--key", API_KEY]
    process = run.start(argv, run.OUT / f"streams-{module.replace('_', '-')}.log")
    try:
        wait_listening(port, process)
        return measured(process, "sse", f"http://127.0.0.1:{port}/v1", PACED_MODEL, None, plan=plan)
    finally:
        run.stop(process)


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Until the port accepts a connection (the floor servers answer ChatStream only)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"nothing listens on {port}: see bench/out/") from None
            time.sleep(0.1)


def floor_target(stack: str, plan: Plan) -> dict[str, Any]:
    """The server stack alone (bench/paced_floor.py): what no relay on it can beat."""
    port = run.free_port()
    argv = [*run.pinned(1), run.PY, "-m", "bench.paced_floor", "--listen", f"127.0.0.1:{port}"]
    argv += ["--stack", stack, "--tokens", str(TOKENS), "--inter-token", str(INTER_TOKEN_S)]
    target = run.Target(f"floor-{stack}", argv, port, "paced", "paced")
    target.process = run.start(argv, run.OUT / f"streams-floor-{stack}.log")
    try:
        wait_listening(port, target.process)
        if stack == "aiohttp-sse":
            base = f"http://127.0.0.1:{port}/v1"
            return measured(target.process, "sse", base, "paced", None, plan=plan)
        return measured(target.process, "grpc", target.address, "paced", None, plan=plan)
    finally:
        run.stop(target.process)


def litellm_target(upstream_url: str, plan: Plan) -> dict[str, Any]:
    if not (LITELLM_VENV / "bin/litellm").exists():
        return {"error": "no LiteLLM venv: run `make bench-compare` once (it installs bench/.venv-litellm)"}
    path = run.OUT / "streams-litellm.yaml"
    master_key = f"sk-{secrets.token_urlsafe(32)}"
    path.write_text(yaml.safe_dump(litellm_config(upstream_url, master_key), sort_keys=False))
    port = run.free_port()
    argv = [*run.pinned(1), str(LITELLM_VENV / "bin/litellm"), "--config", str(path)]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    process = run.start(argv, run.OUT / "streams-litellm.log")
    base = f"http://127.0.0.1:{port}"
    try:
        litellm_wait_ready(base, process)
        return measured(process, "sse", f"{base}/v1", "paced", master_key, plan=plan)
    finally:
        run.stop(process)


def paced_upstream(port: int) -> subprocess.Popen[bytes]:
    argv = [*run.pinned(0), *upstream_argv(port, TOKENS, INTER_TOKEN_S), "-stamp", "-key", API_KEY]
    run.record("upstream", argv)
    process = run.start(argv, run.OUT / "streams-upstream.log")
    deadline = time.monotonic() + 20
    while "listening" not in (run.OUT / "streams-upstream.log").read_text():
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError("the upstream did not start: see bench/out/streams-upstream.log")
        time.sleep(0.1)
    return process


def _broken(step: dict[str, Any]) -> str:
    """Why a step did not hold (the load client's rule, in its order)."""
    if step["streams_failed"]:
        return f"{step['streams_failed']} failed"
    if step["added_gap_p99_ms"] > MAX_ADDED_P99_MS:
        stolen = step.get("steal_pct", 0.0)
        return f"gap p99 {step['added_gap_p99_ms']:.1f} ms" + (
            f" (steal {stolen:.0f}%)" if stolen >= 1 else ""
        )
    return f"{step.get('flowing', 0):.0%} of its tokens/s (streams waiting to start, TTFT p99 {step['ttft_p99_ms']:.0f} ms)"


def _row(name: str, figures: dict[str, Any]) -> str:
    if "error" in figures:
        return f"| {name} | {figures['error']} | | | | | | | |"
    held = figures.get("held")
    broke = figures.get("broke_at")
    why = f"K={broke['k']}: {_broken(broke)}" if broke is not None else ""
    if held is None:
        return f"| {name} | none held ({why}) | | | | | | | |"
    return (
        f"| {name} | {held['k']} | {held['tokens_per_s']:.0f} | {held['cpu_us_per_token']:.0f} | "
        f"{held['added_gap_p50_ms']:.2f} / {held['added_gap_p99_ms']:.2f} | {held['ttft_p99_ms']:.0f} | "
        f"{held['rss_mib']:.0f} | {held.get('steal_pct', 0.0):.0f} | {why or 'the largest step'} |"
    )


def table(results: dict[str, Any]) -> str:
    lines = [
        f"`make bench-streams` ({results['plan']}): {TOKENS}-token replies paced at "
        f"{INTER_TOKEN_S * 1000:.0f} ms per token; one process per target on core 1; per step K "
        "streams held (warm-up, then a measured window); a step holds when no stream fails, the "
        "added inter-token gap p99 stays ≤ 5 ms and at least 95% of K streams' tokens/s are relayed "
        "(none waits to start). Host steal: the share of the machine's CPU time its hypervisor took "
        "during the window (a step broken by it is the host's, not the target's).",
        "",
        "| target | streams held (K) | tokens/s | CPU µs per token | added gap p50 / p99 ms | TTFT p99 ms | RSS MiB | host steal % | next step |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in (
        "gateway-grpc",
        "gateway-http",
        "forwarder",
        "sse-forwarder",
        "sse-passthrough",
        "litellm",
        *FLOORS,
    ):
        if name in results["targets"]:
            lines.append(_row(name, results["targets"][name]))
    lines.append("")
    lines.append(f"Measured {results['machine']['date']} at commit {results['machine'].get('commit', '?')}.")
    for name, date in results.get("remeasured", {}).items():
        lines.append(f"{name}: measured again {date} by a second invocation (`--merge`).")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stream_capacity")
    parser.add_argument("--quick", action="store_true", help="three short steps, to try the harness")
    parser.add_argument(
        "--only",
        nargs="*",
        default=["gateway", "forwarder", "sse-forwarder", "passthrough", "litellm", "floor"],
    )
    parser.add_argument("--write", action="store_true", help="put the table into bench/STREAMS.md")
    parser.add_argument("--steps", help="comma-separated K to step through instead of the plan's")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="replace only the targets measured now in the plan's last results (the table says when)",
    )
    args = parser.parse_args()
    if not CLIENT.exists():
        raise SystemExit(f"{CLIENT} is missing: `make bench-tools` builds it")
    plan = QUICK if args.quick else FULL
    if args.steps:
        plan = Plan([int(k) for k in args.steps.split(",")], plan.warmup_s, plan.step_s)
    run.OUT.mkdir(parents=True, exist_ok=True)
    port = run.free_port()
    upstream = paced_upstream(port)
    url = f"http://127.0.0.1:{port}/v1"
    results: dict[str, Any] = {
        "plan": "quick" if args.quick else "full",
        "targets": {},
        "machine": run.machine(),
    }
    try:
        if "gateway" in args.only:
            results["targets"].update(gateway_targets(url, plan))
        if "forwarder" in args.only:
            results["targets"]["forwarder"] = forwarder_target(url, plan)
        if "sse-forwarder" in args.only:
            results["targets"]["sse-forwarder"] = sse_relay_target("sse_forwarder", url, plan)
        if "passthrough" in args.only:
            results["targets"]["sse-passthrough"] = sse_relay_target("sse_passthrough", url, plan)
        if "litellm" in args.only:
            results["targets"]["litellm"] = litellm_target(url, plan)
        for stack in FLOOR_STACKS:  # all of them (`floor`), or one by its name (`floor-grpclib`)
            if "floor" in args.only or f"floor-{stack}" in args.only:
                results["targets"][f"floor-{stack}"] = floor_target(stack, plan)
    finally:
        run.stop(upstream)
    results["commands"] = run.COMMANDS
    out = run.OUT / f"stream-capacity-{results['plan']}.json"
    if args.merge and out.exists():
        earlier = json.loads(out.read_text())
        remeasured = dict.fromkeys(results["targets"], results["machine"]["date"])
        earlier["targets"].update(results["targets"])
        earlier.setdefault("remeasured", {}).update(remeasured)
        results = earlier
    out.write_text(json.dumps(results, indent=2))
    rendered = table(results)
    print(rendered)
    if args.write:
        replace_section(run.BENCH / "STREAMS.md", f"stream-capacity-{results['plan']}", rendered)
    print(f"wrote {out.relative_to(run.ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
