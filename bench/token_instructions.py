"""Instructions per relayed token: the cost of the stream path that machine load cannot move.

    python -m bench.token_instructions [--label "what changed"] [--only gateway forwarder]

`make bench-streams` times long paced streams, but on a machine shared with other work its CPU µs
per token move by tens of percent from run to run, more than most single changes to the per-token
path. Valgrind's callgrind counts the instructions a server executes (every thread), the same on
every run. Each server runs under it, relaying streams of N1 and then N2 tokens from the Go static
upstream (bench/static_upstream: a model named `gpt-4o-words-N` replies with N words, paced at
PACE_S per word so that each event arrives on its own, as in the paced benchmark, even at
valgrind's speed); the instructions per token are

    (Ir(N2 streams) - Ir(N1 streams)) / (STREAMS * (N2 - N1))

so what a stream costs once (the call, routing, settlement, the access log) cancels out, and is
reported beside it as the fixed cost per stream. A server also executes instructions while idle
(gRPC's timers, the ledger's writer): the idle rate is counted over IDLE_S with no calls and taken
off each window in proportion to its length (the N2 window is longer), and shown. Each window
starts with the counters zeroed and ends with them dumped (`callgrind_control -z` / `-d`), after a
warm-up; a stream that does not deliver exactly its N tokens, or a call that fails, stops the count
(a failed call does less work). Unary calls are counted too (`unary_per_call`, the `fast` model:
16 words at once), so a change to the stream path that costs a unary call more shows.

Targets: the gateway with every feature on (bench/run.py gateway_config features=True) through its
gRPC door (`gateway-grpc`) and its OpenAI HTTP door (`gateway-http`), one process for both; and the
minimal forwarder on the gateway's aiohttp pool (`forwarder`), as bench/stream_capacity.py runs it.

`--label` appends the figures to bench/token_steps.json, rendered as the per-token optimisation
table of bench/RESULTS.md and bench/STREAMS.md. Figures go to bench/out/token-instructions.json.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
import yaml

from bench import report, run
from bench.doc_section import replace_section
from bench.instructions import READY_TIMEOUT_S
from bench.upstream import API_KEY, FAST_MODEL, PACED_MODEL, upstream_argv
from llmgateway.auth.keys import new_key
from llmgateway.v1 import chat_pb2, chat_pb2_grpc, content_pb2

SHORT, LONG = 20, 220  # N1 and N2 tokens per stream
STREAMS = 3  # streams of each length per window, one at a time
UNARY_CALLS = 40
# The gap between paced tokens: longer than the slowest target takes to relay one under valgrind
# (about 20 ms), so each token arrives alone, as the paced benchmark's do.
PACE_S = 0.05
IDLE_S = 5.0
OUT_FILE = run.OUT / "token-instructions.json"

Calls = Callable[[str, int], None]  # (model, count): make `count` calls, checked


def _prompt() -> list[content_pb2.Message]:
    return [content_pb2.Message(role=content_pb2.ROLE_USER, parts=[content_pb2.Part(text=run.PROMPT)])]


class GrpcClient:
    """Streams and unary calls over one channel (as a client keeps one), each checked."""

    def __init__(self, address: str, api_key: str | None) -> None:
        self._channel = grpc.insecure_channel(address)
        self._stub = chat_pb2_grpc.ChatServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {api_key}"),) if api_key else None

    def streams(self, model: str, tokens: int, count: int) -> None:
        request = chat_pb2.ChatStreamRequest(model=model, messages=_prompt())
        for _ in range(count):
            texts = 0
            usage = False
            for message in self._stub.ChatStream(request, metadata=self._metadata, timeout=600):
                texts += bool(message.delta.text)
                usage = usage or message.HasField("usage")
            if texts != tokens or not usage:
                raise RuntimeError(f"a stream of {model} delivered {texts} tokens (usage: {usage})")

    def unary(self, model: str, count: int, timeout: float = 120) -> None:
        request = chat_pb2.ChatRequest(model=model, messages=_prompt())
        for _ in range(count):
            self._stub.Chat(request, metadata=self._metadata, timeout=timeout)

    def close(self) -> None:
        self._channel.close()


class HttpClient:
    """The same through an OpenAI HTTP door: SSE streams with usage, read to their `[DONE]`."""

    def __init__(self, base: str, api_key: str | None) -> None:
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=base, headers=headers, timeout=600)

    def streams(self, model: str, tokens: int, count: int) -> None:
        for _ in range(count):
            texts = 0
            done = False
            with self._http.stream(
                "POST", "/chat/completions", json=run.openai_body(model, stream=True)
            ) as answer:
                if answer.status_code != 200:
                    raise RuntimeError(f"a stream of {model} answered {answer.status_code}")
                for line in answer.iter_lines():
                    if line == "data: [DONE]":
                        done = True
                    elif line.startswith("data: "):
                        choices = json.loads(line[6:]).get("choices") or [{}]
                        texts += bool(choices[0].get("delta", {}).get("content"))
            if texts != tokens or not done:
                raise RuntimeError(f"a stream of {model} delivered {texts} tokens (done: {done})")

    def unary(self, model: str, count: int, timeout: float = 120) -> None:
        for _ in range(count):
            answer = self._http.post("/chat/completions", json=run.openai_body(model), timeout=timeout)
            if answer.status_code != 200:
                raise RuntimeError(f"a call to {model} answered {answer.status_code}: {answer.text[:200]}")

    def close(self) -> None:
        self._http.close()


class Counter:
    """A server under callgrind: windows of work between a zeroing and a dump of its counters."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.out = run.OUT / f"callgrind-tokens-{name}"
        for stale in glob.glob(f"{self.out}*"):
            os.remove(stale)
        pin = len(run.pinned(1))  # every command starts with its taskset prefix (bench/run.py)
        # Instrumented only once it has started (`instrument`): the start, uninstrumented, takes
        # seconds instead of minutes, which on a busy machine ran past any sensible wait.
        valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.out}", "--dump-line=no"]
        valgrind += ["--instr-atstart=no"]
        self.argv = [*argv[:pin], *valgrind, *argv[pin:]]
        self.process = run.start(self.argv, run.OUT / f"{name}-token-instructions.log")
        self._dumps = 0

    def instrument(self) -> None:
        self._control("--instr=on")

    def window(self, work: Callable[[], None]) -> tuple[int, float]:
        """Instructions executed while `work` ran, and its seconds."""
        self._control("-z")
        started = time.monotonic()
        work()
        seconds = time.monotonic() - started
        self._control("-d")
        self._dumps += 1
        text = Path(f"{self.out}.{self._dumps}").read_text()
        for line in text.splitlines():
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1]), seconds
        raise RuntimeError(f"no totals in {self.out}.{self._dumps}")

    def _control(self, option: str) -> None:
        subprocess.run(["callgrind_control", option, str(self.process.pid)], check=True, capture_output=True)


def wait_ready(target: run.Target, *, http: bool = False) -> None:
    """Until a call succeeds. Under valgrind on a busy machine the first call can take longer than
    bench/run.py's 2 s per try, and every abandoned try still runs in the server: so one call at
    a time, each given a minute."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        client = (
            HttpClient(target.http_base, target.api_key)
            if http
            else GrpcClient(target.address, target.api_key)
        )
        try:
            client.unary(target.fast_model, 1, timeout=60)
            return
        except (grpc.RpcError, httpx.HTTPError, RuntimeError):
            if time.monotonic() > deadline or (target.process and target.process.poll() is not None):
                raise
            time.sleep(1)
        finally:
            client.close()


def per_token(counter: Counter, streams: Callable[[int], None], unary: Callable[[], None]) -> dict[str, Any]:
    """The figures of one door of one server (warmed up already)."""
    idle, idle_s = counter.window(lambda: time.sleep(IDLE_S))
    idle_per_s = idle / idle_s
    short, short_s = counter.window(lambda: streams(SHORT))
    long, long_s = counter.window(lambda: streams(LONG))
    calls, calls_s = counter.window(unary)
    busy_short = short - idle_per_s * short_s
    busy_long = long - idle_per_s * long_s
    token = (busy_long - busy_short) / (STREAMS * (LONG - SHORT))
    return {
        # Both kept. With the idle rate left in, runs repeated within 0.1-1.3% while that rate
        # held at ~350k instructions/s; when it rose to ~950k/s (2026-12-07, the same code) the
        # figure rose by 30k per token, while the one with the idle rate taken off held within
        # 1%: that one is the figure the tables judge by (bench/report.py TOKEN_FIGURE).
        "per_token": round((long - short) / (STREAMS * (LONG - SHORT))),
        "per_token_less_idle": round(token),
        "per_stream_fixed": round(busy_short / STREAMS - SHORT * token),
        "unary_per_call": round((calls - idle_per_s * calls_s) / UNARY_CALLS),
        "idle_per_s": round(idle_per_s),
        "windows_s": [round(short_s, 1), round(long_s, 1), round(calls_s, 1)],
    }


def _measure_door(
    counter: Counter, client: GrpcClient | HttpClient, model: Callable[[int], str], fast: str
) -> dict[str, Any]:
    try:
        counter.instrument()
        client.unary(fast, 5)
        client.streams(model(SHORT), SHORT, 2)  # warm-up: first calls fill caches and pools
        return per_token(
            counter,
            lambda tokens: client.streams(model(tokens), tokens, STREAMS),
            lambda: client.unary(fast, UNARY_CALLS),
        )
    finally:
        client.close()


def gateway(upstream_url: str) -> dict[str, Any]:
    """Both doors of one gateway process, features on."""
    key, key_id, key_hash = new_key()
    port, http_port = run.free_port(), run.free_port()
    config = run.gateway_config(
        upstream_url, features=True, key_id=key_id, key_hash=key_hash, http_port=http_port
    )
    for tokens in (SHORT, LONG):
        config["models"].append(
            {
                "name": f"paced-{tokens}",
                "deployments": [{"provider": "upstream", "model": f"{PACED_MODEL}-words-{tokens}"}],
            }
        )
    path = run.OUT / "token-instructions-gateway.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    argv = run.gateway_argv(path, port)
    counter = Counter("gateway", argv)
    target = run.Target(
        "gateway", argv, port, "fast", "paced", key, http_port=http_port, process=counter.process
    )
    try:
        wait_ready(target)
        wait_ready(target, http=True)
        figures = {}
        print("counting gateway-grpc ...", flush=True)
        figures["gateway-grpc"] = _measure_door(
            counter, GrpcClient(target.address, key), lambda n: f"paced-{n}", "fast"
        )
        print("counting gateway-http ...", flush=True)
        figures["gateway-http"] = _measure_door(
            counter, HttpClient(target.http_base, key), lambda n: f"paced-{n}", "fast"
        )
        return figures
    finally:
        run.stop(counter.process)


def forwarder(upstream_url: str, transport: str = "aiohttp") -> dict[str, Any]:
    """The forwarder on the gateway's client, over aiohttp (its transport) or another one
    measured against it (bench/rust_transport.py), named `forwarder` or `forwarder-<transport>`."""
    port = run.free_port()
    argv = [*run.pinned(1), run.PY, "-m", "bench.minimal_forwarder", "--listen", f"127.0.0.1:{port}"]
    argv += ["--upstream", upstream_url, "--transport", transport]
    counter = Counter(f"forwarder-{transport}", argv)
    target = run.Target("forwarder", argv, port, FAST_MODEL, PACED_MODEL, process=counter.process)
    try:
        wait_ready(target)
        print("counting forwarder ...", flush=True)
        return {
            "forwarder" if transport == "aiohttp" else f"forwarder-{transport}": _measure_door(
                counter, GrpcClient(target.address, None), lambda n: f"{PACED_MODEL}-words-{n}", FAST_MODEL
            )
        }
    finally:
        run.stop(counter.process)


def paced_upstream(port: int) -> subprocess.Popen[bytes]:
    argv = [*run.pinned(0), *upstream_argv(port, 16, PACE_S), "-key", API_KEY]
    log = run.OUT / "token-instructions-upstream.log"
    process = run.start(argv, log)
    deadline = time.monotonic() + 20
    while "listening" not in log.read_text():
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"the upstream did not start: see {log}")
        time.sleep(0.1)
    return process


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.token_instructions")
    parser.add_argument("--label", help="append the figures to bench/token_steps.json as this step")
    parser.add_argument("--only", nargs="*", default=["gateway", "forwarder"])
    parser.add_argument(
        "--forwarder-transport",
        default="aiohttp",
        choices=["aiohttp", "pyreqwest"],
        help="the forwarder's transport (pyreqwest: installed by hand, see bench/rust_transport.py)",
    )
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind is not installed (make bench-instructions installs it)")
    run.OUT.mkdir(parents=True, exist_ok=True)
    port = run.free_port()
    upstream = paced_upstream(port)
    url = f"http://127.0.0.1:{port}/v1"
    results: dict[str, Any] = {
        "tokens": [SHORT, LONG],
        "streams": STREAMS,
        "pace_s": PACE_S,
        "unary_calls": UNARY_CALLS,
        **run.source_tree(),
        "loadavg_before": Path("/proc/loadavg").read_text().split()[:3],
        "figures": {},
    }
    try:
        if "gateway" in args.only:
            results["figures"].update(gateway(url))
        if "forwarder" in args.only:
            results["figures"].update(forwarder(url, args.forwarder_transport))
    finally:
        run.stop(upstream)
    OUT_FILE.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["figures"], indent=2))
    if args.label:
        steps = json.loads(run.TOKEN_STEPS.read_text()) if run.TOKEN_STEPS.exists() else []
        steps.append(
            {
                "label": args.label,
                "commit": results["commit"] + ("+uncommitted" if results["server_changes"] != "none" else ""),
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "figures": results["figures"],
            }
        )
        run.TOKEN_STEPS.write_text(json.dumps(steps, indent=2) + "\n")
        replace_section(run.BENCH / "STREAMS.md", "token-instructions", report.token_steps_table(steps))
        results_json = run.BENCH / "results.json"
        if results_json.exists():
            run.write_report(run.BENCH, json.loads(results_json.read_text()))
    print(f"wrote {OUT_FILE.relative_to(run.ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
