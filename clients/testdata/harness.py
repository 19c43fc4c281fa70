"""Start a real gateway and the upstream simulators the shared client cases need, then run a command.

    python clients/testdata/harness.py [--print-env] -- COMMAND [ARG...]

Each simulator is an OpenAI simulator (tests/upstreams/openai.py) fixed to one behaviour, so a case
picks its upstream behaviour by picking a model: `sim-ok`, `sim-limited` (429 + Retry-After),
`sim-slow` (answers after a delay, for deadlines), `sim-drip` (a long reply, one word at a time, for
cancelling mid-stream). `sim-think` is Claude with extended thinking on the Anthropic simulator
(tests/upstreams/anthropic.py), which signs its thinking and refuses it back altered or missing: it
calls a tool until a turn brings the tool's result, then answers. `echo` is the built-in echo
provider. The gateway runs as `llmgateway serve`
in its own process; the command gets its address in LLMGATEWAY_TEST_ADDR and the cases file in
LLMGATEWAY_TEST_CASES. LLMGATEWAY_TEST_FEATURES lists the gateway features the harness switched on
(cases with a `requires` the list lacks are skipped by every runner, with the reason they give).

Authentication: when the gateway can mint keys (`llmgateway keys create`), the harness creates one,
configures it, adds "auth" to the features and hands the key to the runners in
LLMGATEWAY_TEST_API_KEY; a case's own `api_key` ("" for none) replaces it. A gateway without that
command runs without auth, and the auth cases are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from tests.upstreams.anthropic import AnthropicSimulator  # noqa: E402
from tests.upstreams.base import Exchange  # noqa: E402
from tests.upstreams.openai import Behaviour, OpenAISimulator  # noqa: E402

SIM_KEY = "sk-harness"


def load_cases() -> dict[str, Any]:
    cases: dict[str, Any] = json.loads((HERE / "cases.json").read_text())
    return cases


def simulator_behaviours(cases: dict[str, Any]) -> dict[str, Behaviour]:
    sims = cases["simulators"]
    limited = sims["sim-limited"]
    return {
        "sim-ok": Behaviour(reply_text=sims["sim-ok"]["reply_text"]),
        "sim-limited": Behaviour(status=429, retry_after=str(limited["retry_after_s"])),
        "sim-slow": Behaviour(latency=sims["sim-slow"]["latency_s"]),
        "sim-drip": Behaviour(
            reply_text=sims["sim-drip"]["reply_text"], inter_token=sims["sim-drip"]["inter_token_s"]
        ),
    }


class ToolLoopSimulator(AnthropicSimulator):
    """Claude in a tool loop, for the `tool_loop` cases: a turn that ends with the tool's result gets
    the answer, any other turn the tool call. Each runner asks both turns (unary and streamed, in
    every language), so the turn is read from the request itself rather than from a queue."""

    def __init__(self, api_key: str, call: tuple[str, str], answer: str) -> None:
        super().__init__(api_key=api_key)
        self.call = call
        self.answer = answer

    async def dispatch(self, request: web.BaseRequest, exchange: Exchange, body: Any) -> web.StreamResponse:
        if request.method == "POST" and request.path == "/v1/messages" and isinstance(body, dict):
            # Taken by this request's handler before it first awaits, so no other request can.
            self.enqueue(self._behaviour(body))
        return await super().dispatch(request, exchange, body)

    def _behaviour(self, body: dict[str, Any]) -> Behaviour:
        messages = body.get("messages")
        last = messages[-1] if isinstance(messages, list) and messages else {}
        content = last.get("content") if isinstance(last, dict) else None
        answered = isinstance(content, list) and any(
            isinstance(block, dict) and block.get("type") == "tool_result" for block in content
        )
        return Behaviour(reply_text=self.answer) if answered else Behaviour(tool_calls=[self.call])


def tool_loop_simulator(cases: dict[str, Any]) -> ToolLoopSimulator:
    think = cases["simulators"]["sim-think"]
    return ToolLoopSimulator(SIM_KEY, (think["tool"], json.dumps(think["arguments"])), think["answer"])


def create_api_key() -> tuple[str, dict[str, Any]] | None:
    """(key, its auth.keys entry) from `llmgateway keys create`, or None if the gateway has no auth."""
    result = subprocess.run(
        [sys.executable, "-m", "llmgateway", "keys", "create", "--tenant", "clients", "--name", "harness"],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"API key[^:]*:\s*(\S+)", result.stdout)
    if result.returncode != 0 or found is None:
        return None
    entry_yaml = result.stdout.split("\n", 2)[2]  # after the key line and the "Add this entry" line
    entries = yaml.safe_load(entry_yaml)
    return found.group(1), entries[0]


def gateway_config(
    sims: dict[str, OpenAISimulator],
    thinker: AnthropicSimulator,
    thinking_model: str,
    key_entry: dict[str, Any] | None,
) -> dict[str, Any]:
    providers: list[dict[str, Any]] = [{"name": "echo", "type": "echo"}]
    models: list[dict[str, Any]] = [
        {"name": "echo", "deployments": [{"provider": "echo", "model": "echo-1"}]},
        # The READMEs' examples name gpt-4o-mini; test_install.py runs them as written.
        {"name": "gpt-4o-mini", "deployments": [{"provider": "echo", "model": "echo-1", "name": "readme"}]},
    ]
    for name, sim in sims.items():
        providers.append({"name": name, "type": "openai", "base_url": sim.base_url, "api_key": SIM_KEY})
        models.append({"name": name, "deployments": [{"provider": name, "model": "gpt-4o-mini"}]})
    # The tool_loop cases: a Claude model that thinks and signs its thinking.
    providers.append(
        {"name": "sim-think", "type": "anthropic", "base_url": thinker.base_url, "api_key": SIM_KEY}
    )
    models.append({"name": "sim-think", "deployments": [{"provider": "sim-think", "model": thinking_model}]})
    # The embed case: an embedding model on the sim-ok simulator.
    models.append(
        {
            "name": "sim-embed",
            "kind": "embedding",
            "deployments": [{"provider": "sim-ok", "model": "text-embedding-3-small"}],
        }
    )
    return {
        "server": {"listen": "127.0.0.1:0", "metrics_listen": None, "drain_s": 0, "grace_s": 2},
        "providers": providers,
        "models": models,
        # One attempt per call: the 429 case must reach the caller with the upstream's Retry-After.
        # Every language calls the failing simulators: breakers must not open between them.
        "routing": {
            "retry": {"max_retries": 0},
            "breaker": {"consecutive_failures": 10_000, "min_calls": 10_000},
        },
        **({"auth": {"keys": [key_entry]}} if key_entry is not None else {}),
    }


class Gateway:
    """`llmgateway serve` as a child process; `address` is what it logged."""

    def __init__(self, config: Path) -> None:
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and a file we wrote)
            [sys.executable, "-m", "llmgateway", "serve", "--config", str(config)],
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.address = ""
        self.log: list[str] = []
        ready = threading.Event()

        def read() -> None:
            assert self.process.stderr is not None
            for line in self.process.stderr:
                self.log.append(line)
                found = re.search(r"listening on (\S+:\d+)", line)
                if found and not self.address:
                    self.address = found.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(60) or not self.address:
            self.stop()
            raise SystemExit("the gateway did not start:\n" + "".join(self.log))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


def check_upstream_cancellation(sims: dict[str, OpenAISimulator]) -> int:
    """Every call a client cancelled or let expire must have been cut upstream too (no tokens paid
    for nothing): each request to sim-drip and sim-slow ends in a disconnect."""
    failed = 0
    for name in ("sim-drip", "sim-slow"):
        sim = sims[name]
        calls = len(sim.requests)
        try:
            sim.wait_for_disconnects_sync(calls, timeout=10)
        except TimeoutError as error:
            print(f"harness: {name}: {error}", flush=True)
            failed = 1
        else:
            print(f"harness: {name}: all {calls} cancelled calls were cut upstream too", flush=True)
    return failed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    cases = load_cases()
    sims: dict[str, OpenAISimulator] = {}
    thinker = tool_loop_simulator(cases)
    try:
        thinker.start()
        for name, behaviour in simulator_behaviours(cases).items():
            sim = OpenAISimulator(api_key=SIM_KEY)
            sim.behaviour = behaviour
            sim.start()
            sims[name] = sim
        created = create_api_key()
        api_key, key_entry = created if created is not None else ("", None)
        features = ["auth"] if created is not None else []
        with tempfile.TemporaryDirectory(prefix="llmgateway-harness-") as tmp:
            config = Path(tmp) / "gateway.yaml"
            config_json = gateway_config(sims, thinker, cases["simulators"]["sim-think"]["model"], key_entry)
            config.write_text(json.dumps(config_json, indent=2))  # JSON is YAML
            gateway = Gateway(config)
            try:
                env = {
                    **os.environ,
                    "LLMGATEWAY_TEST_ADDR": gateway.address,
                    "LLMGATEWAY_TEST_CASES": str(HERE / "cases.json"),
                    "LLMGATEWAY_TEST_FEATURES": ",".join(features),
                    "LLMGATEWAY_TEST_API_KEY": api_key,
                }
                print(
                    f"harness: gateway on {gateway.address} (features: {features or 'none'}); running {' '.join(command)}",
                    flush=True,
                )
                code = subprocess.run(command, env=env, check=False).returncode  # noqa: S603 (the caller's command)
                return code or check_upstream_cancellation(sims)
            finally:
                gateway.stop()
    finally:
        for sim in sims.values():
            sim.stop()
        thinker.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
