import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { GatewayError, retryInterceptor, retryPolicyOf, retryServiceConfig } from "../src/index.js";

test("google.rpc details decode into GatewayError", () => {
  const connectError = new ConnectError("slow down", Code.ResourceExhausted, undefined, [
    { desc: ErrorInfoSchema, value: { reason: "RATE_LIMITED", domain: "llmgateway", metadata: { k: "v" } } },
    { desc: RetryInfoSchema, value: { retryDelay: create(DurationSchema, { seconds: 1n, nanos: 500_000_000 }) } },
  ]);
  const error = GatewayError.from(connectError);
  assert.equal(error.codeName, "RESOURCE_EXHAUSTED");
  assert.equal(error.reason, "RATE_LIMITED");
  assert.equal(error.domain, "llmgateway");
  assert.deepEqual(error.metadata, { k: "v" });
  assert.equal(error.retryDelayMs, 1500);
  assert.equal(error.rawMessage, "slow down");
});

test("an error without details has an empty reason and no delay", () => {
  const error = GatewayError.from(new ConnectError("gone", Code.Canceled));
  assert.equal(error.codeName, "CANCELLED");
  assert.equal(error.reason, "");
  assert.equal(error.retryDelayMs, undefined);
});

test("the retry config is the shared one", () => {
  const shared = JSON.parse(readFileSync(new URL("../../../testdata/service_config.json", import.meta.url), "utf8"));
  assert.deepEqual(JSON.parse(JSON.stringify(retryServiceConfig)), shared);
  const policy = retryPolicyOf(retryServiceConfig);
  assert.equal(policy.maxAttempts, 3);
  assert.equal(policy.initialBackoffMs, 250);
  assert.deepEqual(policy.retryableCodes, [Code.Unavailable]);
});

test("unary calls are retried on UNAVAILABLE only, up to maxAttempts", async () => {
  const policy = { ...retryPolicyOf(retryServiceConfig), initialBackoffMs: 1, maxBackoffMs: 2 };
  const attempts = (code: Code) => {
    let calls = 0;
    const next = async () => {
      calls++;
      throw new ConnectError("no", code);
    };
    const call = retryInterceptor(policy)(next as never);
    const req = { stream: false, signal: new AbortController().signal } as never;
    return call(req).then(
      () => assert.fail("resolved"),
      () => calls,
    );
  };
  assert.equal(await attempts(Code.Unavailable), 3);
  assert.equal(await attempts(Code.ResourceExhausted), 1);
});
