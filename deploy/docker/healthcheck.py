"""The image's HEALTHCHECK: exit 0 when the gateway's gRPC liveness (`grpc.health.v1`, service "")
answers SERVING, else 1. LLMGW_HEALTH_ADDRESS overrides the address (default 127.0.0.1:50051, the
built-in listener); a gateway with server.tls needs a probe of its own (plaintext only here)."""

from __future__ import annotations

import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def main() -> int:
    address = os.environ.get("LLMGW_HEALTH_ADDRESS", "127.0.0.1:50051")
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=2
            )
        except grpc.RpcError as error:
            print(f"{address}: {error.code().name}", file=sys.stderr)
            return 1
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main())
