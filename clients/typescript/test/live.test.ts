// The cross-language cases (clients/testdata/cases.json) against the real gateway that
// clients/testdata/harness.py starts; skipped when LLMGATEWAY_TEST_ADDR is not set.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { create, fromJson, type JsonValue } from "@bufbuild/protobuf";
import {
  ChatRequestSchema,
  ChatStreamRequestSchema,
  EmbedRequestSchema,
  FinishReason,
  GatewayClient,
  GatewayError,
  MessageSchema,
  PartSchema,
  ReasoningSchema,
  Role,
  ToolCallSchema,
  ToolResultSchema,
  type ChatStreamResponse,
  type Message,
  type Part,
  type Usage,
} from "../src/index.js";

interface Case {
  name: string;
  kind: "unary" | "stream" | "embed" | "stream_text" | "tool_loop" | "tool_loop_stream";
  requires?: string;
  skip_reason?: string;
  api_key?: string;
  deadline_ms?: number;
  cancel_after_chunks?: number;
  request: JsonValue;
  tool_result?: string;
  expect: {
    text?: string;
    finish_reason?: string;
    provider?: string;
    min_chunks?: number;
    max_chunks?: number;
    min_pieces?: number;
    min_output_tokens?: number;
    model?: string;
    embeddings?: number[][];
    min_input_tokens?: number;
    metadata?: Record<string, string>;
    reasoning_origin?: string;
    tool_name?: string;
    error?: { code: string; reason?: string; retry_delay_s?: number };
  };
}

const casesPath = process.env.LLMGATEWAY_TEST_CASES ?? new URL("../../../testdata/cases.json", import.meta.url).pathname;
const cases: Case[] = JSON.parse(readFileSync(casesPath, "utf8")).cases;
const address = process.env.LLMGATEWAY_TEST_ADDR ?? "";
const features = (process.env.LLMGATEWAY_TEST_FEATURES ?? "").split(",");
const apiKey = process.env.LLMGATEWAY_TEST_API_KEY ?? "";

function skipReason(c: Case): string | undefined {
  if (!address) return "LLMGATEWAY_TEST_ADDR is not set: run through clients/testdata/harness.py (make test-clients)";
  if (c.requires && !features.includes(c.requires)) return `requires "${c.requires}": ${c.skip_reason ?? ""}`;
  return undefined;
}

function checkError(c: Case, error: unknown): void {
  const want = c.expect.error;
  assert.ok(want, `unexpected error: ${error}`);
  assert.ok(error instanceof GatewayError, `not a GatewayError: ${error}`);
  assert.equal(error.codeName, want.code, String(error));
  if (want.reason !== undefined) assert.equal(error.reason, want.reason);
  if (want.retry_delay_s !== undefined) assert.equal(error.retryDelayMs, want.retry_delay_s * 1000);
}

function checkReply(c: Case, text: string, provider: string, finish: FinishReason, usage: Usage | undefined): void {
  const e = c.expect;
  if (e.text !== undefined) assert.equal(text, e.text);
  if (e.provider !== undefined) assert.equal(provider, e.provider);
  if (e.finish_reason !== undefined) assert.equal(`FINISH_REASON_${FinishReason[finish]}`, e.finish_reason);
  if (e.min_output_tokens !== undefined) assert.ok((usage?.outputTokens ?? 0) >= e.min_output_tokens, `usage ${usage?.outputTokens}`);
}

/** A stream read through the text-only helper: every piece is non-empty text. */
async function runStreamText(c: Case, client: GatewayClient, timeoutMs: number): Promise<void> {
  const abort = new AbortController();
  const pieces: string[] = [];
  try {
    for await (const piece of client.chatStreamText(fromJson(ChatStreamRequestSchema, c.request), { timeoutMs, signal: abort.signal })) {
      assert.ok(typeof piece === "string" && piece !== "", `the text helper yielded ${JSON.stringify(piece)}`);
      pieces.push(piece);
      if (pieces.length === c.cancel_after_chunks) abort.abort();
    }
  } catch (error) {
    checkError(c, error);
    assert.ok(pieces.length <= (c.expect.max_chunks ?? pieces.length));
    return;
  }
  assert.equal(c.expect.error, undefined, `expected an error after ${pieces.length} pieces`);
  assert.ok(pieces.length >= (c.expect.min_pieces ?? 1), `${pieces.length} pieces`);
  if (c.expect.text !== undefined) assert.equal(pieces.join(""), c.expect.text);
}

/**
 * The assistant message a stream carries, rebuilt as chat.proto's Delta says: parts in the order
 * the stream first mentions them (within one delta: reasoning, refusal, text, tool calls), each
 * part's fragments joined in order.
 */
function assemble(chunks: ChatStreamResponse[]): Message {
  const message = create(MessageSchema, { role: Role.ASSISTANT });
  const known = new Map<string, Part>();
  const part = (key: string, empty: () => Part): Part => {
    let found = known.get(key);
    if (found === undefined) {
      found = empty();
      known.set(key, found);
      message.parts.push(found);
    }
    return found;
  };
  for (const { delta } of chunks) {
    if (delta === undefined) continue;
    if (delta.reasoning || delta.reasoningSignature || delta.reasoningRedactedData || delta.reasoningOrigin) {
      const kind = part(`reasoning/${delta.reasoningIndex}`, () =>
        create(PartSchema, { kind: { case: "reasoning", value: create(ReasoningSchema) } }),
      ).kind;
      if (kind.case === "reasoning") {
        kind.value.text += delta.reasoning;
        kind.value.signature += delta.reasoningSignature;
        kind.value.redactedData += delta.reasoningRedactedData;
        kind.value.origin ||= delta.reasoningOrigin;
      }
    }
    if (delta.refusal) {
      const found = part("refusal", () => create(PartSchema, { kind: { case: "refusal", value: "" } }));
      if (found.kind.case === "refusal") found.kind.value += delta.refusal;
    }
    if (delta.text) {
      const found = part("text", () => create(PartSchema, { kind: { case: "text", value: "" } }));
      if (found.kind.case === "text") found.kind.value += delta.text;
    }
    for (const fragment of delta.toolCalls) {
      const kind = part(`tool_call/${fragment.index}`, () =>
        create(PartSchema, { kind: { case: "toolCall", value: create(ToolCallSchema) } }),
      ).kind;
      if (kind.case === "toolCall") {
        kind.value.id += fragment.id;
        kind.value.name += fragment.name;
        kind.value.argumentsJson += fragment.argumentsJsonFragment;
      }
    }
  }
  return message;
}

interface Turn {
  message: Message;
  finish: FinishReason;
  provider: string;
  usage: Usage | undefined;
}

/** Turn 1 of a tool loop: signed reasoning from the expected signer and one tool call; returns the tool's result. */
function checkToolCallTurn(c: Case, turn: Turn): Message {
  assert.equal(turn.finish, FinishReason.TOOL_CALLS);
  const signed = turn.message.parts.flatMap((p) => (p.kind.case === "reasoning" && p.kind.value.signature ? [p.kind.value] : []));
  assert.ok(signed.length > 0, "no signed reasoning");
  for (const reasoning of signed) assert.equal(reasoning.origin, c.expect.reasoning_origin);
  const calls = turn.message.parts.flatMap((p) => (p.kind.case === "toolCall" ? [p.kind.value] : []));
  assert.equal(calls.length, 1);
  assert.equal(calls[0].name, c.expect.tool_name);
  assert.ok(calls[0].id, "a tool call without an id");
  const result = create(ToolResultSchema, {
    toolCallId: calls[0].id,
    content: [{ kind: { case: "text", value: c.tool_result ?? "" } }],
  });
  return create(MessageSchema, { role: Role.TOOL, parts: [{ kind: { case: "toolResult", value: result } }] });
}

/**
 * A tool loop: turn 1 answers signed reasoning and a tool call; the assistant turn goes back exactly
 * as received with the tool's result, and turn 2 answers. Both turns unary, or both streamed.
 */
async function runToolLoop(c: Case, client: GatewayClient, timeoutMs: number): Promise<void> {
  const unary = fromJson(ChatRequestSchema, c.request);
  const streamed = fromJson(ChatStreamRequestSchema, c.request);
  const ask = async (): Promise<Turn> => {
    if (c.kind === "tool_loop") {
      const response = await client.chat(unary, { timeoutMs });
      return {
        message: response.message ?? create(MessageSchema),
        finish: response.finishReason,
        provider: response.provider,
        usage: response.usage,
      };
    }
    const chunks: ChatStreamResponse[] = [];
    for await (const chunk of client.chatStream(streamed, { timeoutMs })) chunks.push(chunk);
    assert.ok(chunks.length > 0, "an empty stream");
    const finish = [...chunks].reverse().find((ch) => ch.finishReason !== FinishReason.UNSPECIFIED)?.finishReason ?? FinishReason.UNSPECIFIED;
    return { message: assemble(chunks), finish, provider: chunks[0].provider, usage: chunks.at(-1)?.usage };
  };
  const first = await ask();
  const result = checkToolCallTurn(c, first);
  unary.messages.push(first.message, result);
  streamed.messages.push(first.message, result);
  const answer = await ask();
  const text = answer.message.parts.map((p) => (p.kind.case === "text" ? p.kind.value : "")).join("");
  checkReply(c, text, answer.provider, answer.finish, answer.usage);
}

describe("live cases", () => {
  for (const c of cases) {
    test(c.name, { skip: skipReason(c) }, async () => {
      const client = new GatewayClient(address, { tls: false, apiKey: (c.api_key ?? apiKey) || undefined });
      const timeoutMs = c.deadline_ms ?? 30_000;
      if (c.kind === "embed") {
        const response = await client.embed(fromJson(EmbedRequestSchema, c.request), { timeoutMs });
        assert.equal(response.provider, c.expect.provider);
        assert.equal(response.model, c.expect.model);
        const want = c.expect.embeddings ?? [];
        assert.deepEqual(response.embeddings.map((e) => e.index), want.map((_, i) => i));
        response.embeddings.forEach((embedding, i) => {
          assert.equal(embedding.values.length, want[i].length);
          embedding.values.forEach((value, j) => assert.ok(Math.abs(value - want[i][j]) <= 1e-6, `${i}/${j}: ${value}`));
        });
        assert.ok((response.usage?.inputTokens ?? 0) >= (c.expect.min_input_tokens ?? 0));
        return;
      }
      if (c.kind === "unary") {
        const report = new Headers();
        let response;
        try {
          response = await client.chat(fromJson(ChatRequestSchema, c.request), {
            timeoutMs,
            onTrailer: (t) => t.forEach((value, key) => report.set(key, value)),
          });
        } catch (error) {
          checkError(c, error);
          return;
        }
        assert.equal(c.expect.error, undefined, "expected an error");
        const text = response.message?.parts.map((p) => (p.kind.case === "text" ? p.kind.value : "")).join("") ?? "";
        checkReply(c, text, response.provider, response.finishReason, response.usage);
        for (const [key, value] of Object.entries(c.expect.metadata ?? {})) assert.equal(report.get(key), value, key);
        return;
      }
      if (c.kind === "stream_text") {
        await runStreamText(c, client, timeoutMs);
        return;
      }
      if (c.kind === "tool_loop" || c.kind === "tool_loop_stream") {
        await runToolLoop(c, client, timeoutMs);
        return;
      }
      const abort = new AbortController();
      const chunks: ChatStreamResponse[] = [];
      try {
        for await (const chunk of client.chatStream(fromJson(ChatStreamRequestSchema, c.request), { timeoutMs, signal: abort.signal })) {
          chunks.push(chunk);
          if (chunks.length === c.cancel_after_chunks) abort.abort();
        }
      } catch (error) {
        checkError(c, error);
        assert.ok(chunks.length <= (c.expect.max_chunks ?? chunks.length));
        return;
      }
      assert.equal(c.expect.error, undefined, `expected an error after ${chunks.length} chunks`);
      assert.ok(chunks.length >= (c.expect.min_chunks ?? 1), `${chunks.length} chunks`);
      const finish = [...chunks].reverse().find((ch) => ch.finishReason !== FinishReason.UNSPECIFIED)?.finishReason ?? FinishReason.UNSPECIFIED;
      checkReply(c, chunks.map((ch) => ch.delta?.text ?? "").join(""), chunks[0].provider, finish, chunks.at(-1)?.usage);
    });
  }
});
