// The official `openai` npm package against the gateway's OpenAI door: one scenario per run,
// `node check.mjs SCENARIO`, with GATEWAY_URL (the door's /v1 base), MODEL and API_KEY in the
// environment. tests/test_openai_sdk_node.py sets the provider simulator's behaviour for each
// scenario, runs it and reads the JSON line it prints; any failed assertion exits non-zero.
import assert from "node:assert/strict";
import OpenAI from "openai";

const client = new OpenAI({
  baseURL: process.env.GATEWAY_URL,
  apiKey: process.env.API_KEY ?? "unused",
  maxRetries: 0,
  timeout: 20_000,
});
const model = process.env.MODEL;
const weather = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather for a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};
const ask = (text) => [{ role: "user", content: text }];

const scenarios = {
  async chat() {
    const unary = await client.chat.completions.create({ model, messages: ask("hello node") });
    assert.equal(unary.object, "chat.completion");
    assert.match(unary.choices[0].message.content, /hello node/);
    assert.equal(unary.choices[0].finish_reason, "stop");
    assert.ok(unary.usage.prompt_tokens > 0 && unary.usage.completion_tokens > 0);

    const stream = await client.chat.completions.create({
      model,
      messages: ask("one two three"),
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let role = null;
    const usages = [];
    const finishes = [];
    for await (const chunk of stream) {
      if (chunk.usage) usages.push(chunk.usage);
      for (const choice of chunk.choices) {
        role ??= choice.delta.role;
        text += choice.delta.content ?? "";
        if (choice.finish_reason) finishes.push(choice.finish_reason);
      }
    }
    assert.equal(role, "assistant");
    assert.match(text, /one two three/);
    assert.deepEqual(finishes, ["stop"]);
    assert.equal(usages.length, 1);
    return { text, usage: usages[0] };
  },

  async tools() {
    // The SDK's own stream helper assembles the tool-call fragments.
    const runner = client.chat.completions.stream({ model, messages: ask("weather in Paris and Oslo?"), tools: [weather] });
    const final = await runner.finalChatCompletion();
    const message = final.choices[0].message;
    assert.equal(final.choices[0].finish_reason, "tool_calls");
    assert.equal(message.tool_calls.length, 2);
    const cities = message.tool_calls.map((call) => JSON.parse(call.function.arguments).city);
    assert.deepEqual(cities, ["Paris", "Oslo"]);
    // The assistant message goes back as the SDK returned it, with one result per call.
    const followUp = await client.chat.completions.create({
      model,
      tools: [weather],
      messages: [
        ...ask("weather in Paris and Oslo?"),
        message,
        ...message.tool_calls.map((call, i) => ({ role: "tool", tool_call_id: call.id, content: JSON.stringify({ temp: 20 + i }) })),
      ],
    });
    assert.equal(followUp.choices[0].finish_reason, "stop");
    assert.ok(followUp.choices[0].message.content.length > 0);
    return { ids: message.tool_calls.map((call) => call.id) };
  },

  async json() {
    const answer = await client.chat.completions.create({
      model,
      messages: ask("the weather in Paris as JSON"),
      response_format: {
        type: "json_schema",
        json_schema: {
          name: "weather",
          strict: true,
          schema: {
            type: "object",
            properties: { city: { type: "string" }, temp: { type: "number" } },
            required: ["city", "temp"],
            additionalProperties: false,
          },
        },
      },
    });
    const parsed = JSON.parse(answer.choices[0].message.content);
    assert.deepEqual(parsed, { city: "Paris", temp: 21 });
    return parsed;
  },

  async rate_limit() {
    const error = await client.chat.completions.create({ model, messages: ask("hi") }).then(
      () => assert.fail("no error"),
      (error) => error,
    );
    assert.ok(error instanceof OpenAI.RateLimitError, String(error));
    assert.equal(error.status, 429);
    assert.equal(error.headers.get("retry-after"), "7");
    return { code: error.code };
  },

  async auth() {
    const error = await client.models.list().then(() => assert.fail("no error"), (error) => error);
    assert.ok(error instanceof OpenAI.AuthenticationError, String(error));
    return { code: error.code };
  },

  async not_found() {
    const error = await client.chat.completions
      .create({ model: "no-such-model", messages: ask("hi") })
      .then(() => assert.fail("no error"), (error) => error);
    assert.ok(error instanceof OpenAI.NotFoundError, String(error));
    return { code: error.code };
  },

  async mid_stream() {
    const stream = await client.chat.completions.create({ model, messages: ask("hi"), stream: true });
    let text = "";
    const error = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    })().then(() => assert.fail(`the stream ended cleanly after ${JSON.stringify(text)}`), (error) => error);
    assert.ok(error instanceof OpenAI.APIError, String(error));
    assert.ok(text.length > 0, "content came before the failure");
    return { text, message: error.message };
  },

  async embeddings() {
    // The SDK asks for base64 by default and decodes it; with `float` it takes the JSON numbers.
    const input = ["node one", "node two", "node three"];
    const embedModel = process.env.EMBEDDING_MODEL;
    const decoded = await client.embeddings.create({ model: embedModel, input });
    const floats = await client.embeddings.create({ model: embedModel, input, encoding_format: "float" });
    assert.equal(decoded.object, "list");
    assert.equal(decoded.data.length, 3);
    assert.deepEqual(decoded.data.map((d) => d.index), [0, 1, 2]);
    assert.deepEqual(decoded.data.map((d) => d.embedding), floats.data.map((d) => d.embedding));
    assert.ok(decoded.usage.prompt_tokens > 0 && decoded.usage.total_tokens === decoded.usage.prompt_tokens);
    const short = await client.embeddings.create({ model: embedModel, input: "node one", dimensions: 8 });
    assert.equal(short.data[0].embedding.length, 8);
    return { vectors: decoded.data.map((d) => d.embedding), short: short.data[0].embedding };
  },

  async cancel() {
    const stream = await client.chat.completions.create({ model, messages: ask("hi"), stream: true });
    let text = "";
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      if (text) break; // leaving the loop aborts the request
    }
    return { text };
  },
};

const name = process.argv[2];
const result = await scenarios[name]();
console.log(JSON.stringify({ scenario: name, ok: true, result }));
