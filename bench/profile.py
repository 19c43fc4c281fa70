"""Flame graphs of a server under saturated load: py-spy samples the process while ghz drives it.

    python -m bench.profile [--target gateway-on|gateway-off|forwarder|forwarder-aiohttp] [--method Chat|ChatStream]
                            [--door grpc|http] [--seconds 20] [--native] [--label before-uvloop]

`--door http` drives a gateway's OpenAI HTTP door with hey instead (`POST /v1/chat/completions`,
`"stream": true` for ChatStream) and names the files <target>-http-<method>.

`--paced K` profiles the per-token path instead (issue 25): K streams held at once by the
stream-capacity client (bench/stream_capacity.py), 200 tokens each paced at 20 ms by the stamped
upstream, through the gRPC or the HTTP door; the files are named <target>[-http]-paced<K>.

Writes bench/profiles/<target>-<method>[-<label>].svg (kept in git: the evidence behind each
optimisation in bench/RESULTS.md) and <stem>.txt, the hottest functions by self and inclusive share.
Placement is the benchmark's: the server alone on core 1, ghz and the upstream on core 0.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from bench.run import (
    OUT,
    ROOT,
    SATURATED_CONCURRENCY,
    build_protoset,
    free_port,
    ghz,
    hey,
    openai_body,
    start,
    stop,
    targets,
    upstream_server,
    wait_http_ready,
    wait_ready,
)

PROFILES = ROOT / "bench" / "profiles"
PY_SPY = Path(sys.executable).parent / "py-spy"
TOP_N = 40


def top_functions(collapsed: Path, limit: int = TOP_N) -> str:
    """Self and inclusive sample shares per function, from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} samples", "", "self %   function"]
    lines += [f"{100 * n / total:6.1f}   {frame}" for frame, n in own.most_common(limit)]
    lines += ["", "incl %   function"]
    lines += [f"{100 * n / total:6.1f}   {frame}" for frame, n in inclusive.most_common(limit)]
    return "\n".join(lines) + "\n"


def record(pid: int, stem: str, args: argparse.Namespace) -> None:
    """py-spy's flame graph, then its raw stacks and the summary of them, of `pid`."""
    collapsed = OUT / f"{stem}.collapsed"
    argv = [str(PY_SPY), "record", "--pid", str(pid), "--rate", str(args.rate)]
    argv += ["--duration", str(args.seconds)]
    # Native stacks need the process paused while sampling; Python-only sampling does not.
    argv += ["--native"] if args.native else ["--nonblocking"]
    # py-spy writes one format per run, and only one sampler can attach at a time: the picture
    # first, then the stacks for the text summary, both under the same load.
    subprocess.run([*argv, "--format", "flamegraph", "-o", str(PROFILES / f"{stem}.svg")], check=True)
    subprocess.run([*argv, "--format", "raw", "-o", str(collapsed)], check=True)
    (PROFILES / f"{stem}.txt").write_text(top_functions(collapsed))


def paced_profile(args: argparse.Namespace) -> int:
    """K long paced streams through the gateway (features on) or the forwarder, profiled."""
    from bench import stream_capacity  # noqa: PLC0415 (only this mode needs it)

    door = "-http" if args.door == "http" else ""
    stem = f"{args.target}{door}-paced{args.paced}" + (f"-{args.label}" if args.label else "")
    port = free_port()
    upstream = stream_capacity.paced_upstream(port)
    url = f"http://127.0.0.1:{port}/v1"
    plan = stream_capacity.Plan([args.paced], warmup_s=3.0, step_s=2 * args.seconds + 4)
    try:
        target = next(t for t in targets(url) if t.name == args.target)
        target.process = start(target.argv, OUT / f"{target.name}.log")
        try:
            wait_ready(target)
            pids = [target.process.pid]
            if args.door == "http":
                wait_http_ready(target)
                where, protocol = target.http_base, "sse"
            else:
                where, protocol = target.address, "grpc"
            load = threading.Thread(
                target=stream_capacity.load,
                args=(protocol, where, target.paced_model, target.api_key),
                kwargs={"pids": pids, "plan": plan},
                daemon=True,
            )
            load.start()
            time.sleep(plan.warmup_s + 2)
            record(target.process.pid, stem, args)
            load.join()
        finally:
            stop(target.process)
    finally:
        stop(upstream)
    print(f"wrote bench/profiles/{stem}.svg and .txt")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument(
        "--target",
        default="gateway-on",
        choices=["gateway-on", "gateway-off", "forwarder", "forwarder-aiohttp"],
    )
    parser.add_argument("--method", default="Chat", choices=["Chat", "ChatStream"])
    parser.add_argument("--door", default="grpc", choices=["grpc", "http"], help="a gateway's door to load")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--native", action="store_true", help="include C frames (grpc core, uvloop)")
    parser.add_argument("--label", default="", help="suffix for the file names, e.g. before-orjson")
    parser.add_argument("--paced", type=int, default=0, help="K paced long streams instead of ghz/hey")
    args = parser.parse_args()
    if args.paced:
        return paced_profile(args)
    OUT.mkdir(parents=True, exist_ok=True)
    PROFILES.mkdir(parents=True, exist_ok=True)
    build_protoset()
    door = "-http" if args.door == "http" else ""
    stem = f"{args.target}{door}-{args.method}" + (f"-{args.label}" if args.label else "")
    with upstream_server(free_port()) as url:
        target = next(t for t in targets(url) if t.name == args.target)
        if args.door == "http" and target.http_port is None:
            parser.error(f"{args.target} has no HTTP door")
        target.process = start(target.argv, OUT / f"{target.name}.log")
        try:
            wait_ready(target)
            seconds = 2 * args.seconds + 6
            if args.door == "http":
                wait_http_ready(target)
                completions = f"{target.http_base}/chat/completions"
                body = openai_body(target.fast_model, stream=args.method == "ChatStream")
                hey(completions, body, concurrency=4, seconds=2, api_key=target.api_key)  # warm up
                load = threading.Thread(
                    target=hey,
                    args=(completions, body),
                    kwargs={
                        "concurrency": SATURATED_CONCURRENCY,
                        "seconds": seconds,
                        "api_key": target.api_key,
                    },
                    daemon=True,
                )
            else:
                ghz(target, args.method, concurrency=4, seconds=2)  # warm up
                load = threading.Thread(
                    target=ghz,
                    args=(target, args.method),
                    kwargs={"concurrency": SATURATED_CONCURRENCY, "seconds": seconds},
                    daemon=True,
                )
            load.start()
            time.sleep(2)
            record(target.process.pid, stem, args)
            load.join()
        finally:
            stop(target.process)
    print(f"wrote bench/profiles/{stem}.svg and .txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
