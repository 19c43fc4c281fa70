package io.llmgateway.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.gson.Gson;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.protobuf.util.JsonFormat;
import io.grpc.Status;
import io.llmgateway.v1.ChatRequest;
import io.llmgateway.v1.ChatResponse;
import io.llmgateway.v1.ChatStreamRequest;
import io.llmgateway.v1.ChatStreamResponse;
import io.llmgateway.v1.Delta;
import io.llmgateway.v1.EmbedRequest;
import io.llmgateway.v1.EmbedResponse;
import io.llmgateway.v1.Embedding;
import io.llmgateway.v1.FinishReason;
import io.llmgateway.v1.Message;
import io.llmgateway.v1.Part;
import io.llmgateway.v1.Reasoning;
import io.llmgateway.v1.Role;
import io.llmgateway.v1.ToolCall;
import io.llmgateway.v1.ToolCallDelta;
import io.llmgateway.v1.ToolResult;
import io.llmgateway.v1.Usage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The cross-language cases (clients/testdata/cases.json) against the real gateway that
 * clients/testdata/harness.py starts; skipped when LLMGATEWAY_TEST_ADDR is not set.
 */
class LiveCasesTest {
  private static final String ADDRESS = System.getenv().getOrDefault("LLMGATEWAY_TEST_ADDR", "");
  /** The kinds that run a second time through the async API (chatAsync, chatStream*Async). */
  private static final List<String> ASYNC_KINDS =
      List.of("unary", "stream", "stream_text", "tool_loop", "tool_loop_stream");
  private static final List<String> FEATURES =
      Arrays.asList(System.getenv().getOrDefault("LLMGATEWAY_TEST_FEATURES", "").split(","));

  @TestFactory
  Stream<DynamicTest> liveCases() throws Exception {
    String path =
        System.getenv().getOrDefault("LLMGATEWAY_TEST_CASES", System.getenv("LLMGATEWAY_TEST_CASES_DEFAULT"));
    JsonObject file = new Gson().fromJson(Files.readString(Path.of(path)), JsonObject.class);
    List<DynamicTest> tests = new ArrayList<>();
    for (JsonElement element : file.getAsJsonArray("cases")) {
      JsonObject c = element.getAsJsonObject();
      tests.add(DynamicTest.dynamicTest(c.get("name").getAsString(), () -> run(c)));
      if (ASYNC_KINDS.contains(c.get("kind").getAsString())) {
        tests.add(DynamicTest.dynamicTest(c.get("name").getAsString() + " (async)", () -> runAsync(c)));
      }
    }
    return tests.stream();
  }

  private static String string(JsonObject object, String key) {
    return object.has(key) ? object.get(key).getAsString() : null;
  }

  private void run(JsonObject c) throws Exception {
    assumeTrue(!ADDRESS.isEmpty(), "LLMGATEWAY_TEST_ADDR is not set: run through clients/testdata/harness.py");
    String requires = string(c, "requires");
    assumeTrue(
        requires == null || FEATURES.contains(requires),
        () -> "requires \"" + requires + "\": " + string(c, "skip_reason"));
    JsonObject expect = c.getAsJsonObject("expect");
    Duration deadline = Duration.ofMillis(c.has("deadline_ms") ? c.get("deadline_ms").getAsLong() : 30_000);
    var builder = LlmGatewayClient.builder(ADDRESS).plaintext();
    String key =
        c.has("api_key") ? c.get("api_key").getAsString() : System.getenv().getOrDefault("LLMGATEWAY_TEST_API_KEY", "");
    if (!key.isEmpty()) {
      builder.apiKey(key);
    }
    try (LlmGatewayClient client = builder.build()) {
      if (c.get("kind").getAsString().equals("embed")) {
        EmbedRequest.Builder request = EmbedRequest.newBuilder();
        JsonFormat.parser().merge(c.get("request").toString(), request);
        checkEmbeddings(expect, client.embed(request.build(), deadline));
        return;
      }
      String kind = c.get("kind").getAsString();
      if (kind.startsWith("tool_loop")) {
        boolean streamed = kind.equals("tool_loop_stream");
        runToolLoop(
            c,
            request -> {
              if (!streamed) {
                ChatResponse response = client.chat(request, deadline);
                return new Turn(
                    response.getMessage(), response.getFinishReason(), response.getProvider(), response.getUsage());
              }
              List<ChatStreamResponse> chunks = new ArrayList<>();
              try (ChatStream stream = client.chatStream(LlmGatewayClient.toStreamRequest(request), deadline)) {
                stream.forEach(chunks::add);
              }
              return streamedTurn(chunks);
            });
        return;
      }
      if (c.get("kind").getAsString().equals("stream_text")) {
        ChatStreamRequest.Builder request = ChatStreamRequest.newBuilder();
        JsonFormat.parser().merge(c.get("request").toString(), request);
        int cancelAfter = c.has("cancel_after_chunks") ? c.get("cancel_after_chunks").getAsInt() : -1;
        List<String> pieces = new ArrayList<>();
        try (ChatStream stream = client.chatStream(request.build(), deadline)) {
          Runnable read =
              () -> {
                for (String piece : stream.text()) {
                  pieces.add(piece);
                  if (pieces.size() == cancelAfter) {
                    stream.cancel();
                  }
                }
              };
          if (expect.has("error")) {
            checkError(expect, assertThrows(GatewayException.class, read::run));
          } else {
            read.run();
          }
        }
        checkPieces(expect, pieces);
        return;
      }
      if (c.get("kind").getAsString().equals("unary")) {
        ChatRequest.Builder request = ChatRequest.newBuilder();
        JsonFormat.parser().merge(c.get("request").toString(), request);
        if (expect.has("error")) {
          checkError(expect, assertThrows(GatewayException.class, () -> client.chat(request.build(), deadline)));
          return;
        }
        LlmGatewayClient.Reply reply = client.chatWithHeaders(request.build(), deadline);
        var response = reply.response();
        String text = response.getMessage().getPartsList().stream().map(Part::getText).collect(Collectors.joining());
        checkReply(expect, text, response.getProvider(), response.getFinishReason(), response.getUsage());
        if (expect.has("metadata")) {
          for (Map.Entry<String, JsonElement> header : expect.getAsJsonObject("metadata").entrySet()) {
            assertEquals(header.getValue().getAsString(), reply.header(header.getKey()), header.getKey());
          }
        }
        return;
      }
      ChatStreamRequest.Builder request = ChatStreamRequest.newBuilder();
      JsonFormat.parser().merge(c.get("request").toString(), request);
      int cancelAfter = c.has("cancel_after_chunks") ? c.get("cancel_after_chunks").getAsInt() : -1;
      List<ChatStreamResponse> chunks = new ArrayList<>();
      try (ChatStream stream = client.chatStream(request.build(), deadline)) {
        Runnable read =
            () -> {
              for (ChatStreamResponse chunk : stream) {
                chunks.add(chunk);
                if (chunks.size() == cancelAfter) {
                  stream.cancel();
                }
              }
            };
        if (expect.has("error")) {
          checkError(expect, assertThrows(GatewayException.class, read::run));
          if (expect.has("max_chunks")) {
            assertTrue(chunks.size() <= expect.get("max_chunks").getAsInt(), chunks.size() + " chunks");
          }
          return;
        }
        read.run();
      }
      int minChunks = expect.has("min_chunks") ? expect.get("min_chunks").getAsInt() : 1;
      assertTrue(chunks.size() >= minChunks, chunks.size() + " chunks");
      String text = chunks.stream().map(chunk -> chunk.getDelta().getText()).collect(Collectors.joining());
      FinishReason finish = FinishReason.FINISH_REASON_UNSPECIFIED;
      for (ChatStreamResponse chunk : chunks) {
        if (chunk.getFinishReason() != FinishReason.FINISH_REASON_UNSPECIFIED) {
          finish = chunk.getFinishReason();
        }
      }
      checkReply(expect, text, chunks.get(0).getProvider(), finish, chunks.get(chunks.size() - 1).getUsage());
    }
  }

  private static void checkEmbeddings(JsonObject expect, EmbedResponse response) {
    assertEquals(expect.get("provider").getAsString(), response.getProvider());
    assertEquals(expect.get("model").getAsString(), response.getModel());
    var want = expect.getAsJsonArray("embeddings");
    assertEquals(want.size(), response.getEmbeddingsCount());
    for (int i = 0; i < want.size(); i++) {
      Embedding embedding = response.getEmbeddings(i);
      assertEquals(i, embedding.getIndex());
      var values = want.get(i).getAsJsonArray();
      assertEquals(values.size(), embedding.getValuesCount());
      for (int j = 0; j < values.size(); j++) {
        assertEquals(values.get(j).getAsDouble(), embedding.getValues(j), 1e-6, "embedding " + i + " value " + j);
      }
    }
    assertTrue(response.getUsage().getInputTokens() >= expect.get("min_input_tokens").getAsInt());
  }

  /**
   * The case again through the async API: chatWithHeadersAsync, chatStreamAsync or
   * chatStreamTextAsync; cancelling is cancelling the returned future.
   */
  private void runAsync(JsonObject c) throws Exception {
    assumeTrue(!ADDRESS.isEmpty(), "LLMGATEWAY_TEST_ADDR is not set: run through clients/testdata/harness.py");
    String requires = string(c, "requires");
    assumeTrue(
        requires == null || FEATURES.contains(requires),
        () -> "requires \"" + requires + "\": " + string(c, "skip_reason"));
    JsonObject expect = c.getAsJsonObject("expect");
    Duration deadline = Duration.ofMillis(c.has("deadline_ms") ? c.get("deadline_ms").getAsLong() : 30_000);
    var builder = LlmGatewayClient.builder(ADDRESS).plaintext();
    String key =
        c.has("api_key") ? c.get("api_key").getAsString() : System.getenv().getOrDefault("LLMGATEWAY_TEST_API_KEY", "");
    if (!key.isEmpty()) {
      builder.apiKey(key);
    }
    String kind = c.get("kind").getAsString();
    try (LlmGatewayClient client = builder.build()) {
      if (kind.startsWith("tool_loop")) {
        boolean streamed = kind.equals("tool_loop_stream");
        runToolLoop(
            c,
            request -> {
              if (!streamed) {
                ChatResponse response = client.chatAsync(request, deadline).get(60, TimeUnit.SECONDS);
                return new Turn(
                    response.getMessage(), response.getFinishReason(), response.getProvider(), response.getUsage());
              }
              List<ChatStreamResponse> chunks = new CopyOnWriteArrayList<>();
              client
                  .chatStreamAsync(LlmGatewayClient.toStreamRequest(request), deadline, chunks::add)
                  .get(60, TimeUnit.SECONDS);
              return streamedTurn(chunks);
            });
        return;
      }
      if (kind.equals("unary")) {
        ChatRequest.Builder request = ChatRequest.newBuilder();
        JsonFormat.parser().merge(c.get("request").toString(), request);
        CompletableFuture<LlmGatewayClient.Reply> call = client.chatWithHeadersAsync(request.build(), deadline);
        if (expect.has("error")) {
          checkError(expect, failureOf(call));
          return;
        }
        LlmGatewayClient.Reply reply = call.get(60, TimeUnit.SECONDS);
        var response = reply.response();
        String text = response.getMessage().getPartsList().stream().map(Part::getText).collect(Collectors.joining());
        checkReply(expect, text, response.getProvider(), response.getFinishReason(), response.getUsage());
        if (expect.has("metadata")) {
          for (Map.Entry<String, JsonElement> header : expect.getAsJsonObject("metadata").entrySet()) {
            assertEquals(header.getValue().getAsString(), reply.header(header.getKey()), header.getKey());
          }
        }
        return;
      }
      ChatStreamRequest.Builder request = ChatStreamRequest.newBuilder();
      JsonFormat.parser().merge(c.get("request").toString(), request);
      int cancelAfter = c.has("cancel_after_chunks") ? c.get("cancel_after_chunks").getAsInt() : -1;
      List<ChatStreamResponse> chunks = new CopyOnWriteArrayList<>();
      List<String> pieces = new CopyOnWriteArrayList<>();
      AtomicReference<CompletableFuture<Void>> call = new AtomicReference<>();
      CountDownLatch started = new CountDownLatch(1);
      if (kind.equals("stream_text")) {
        call.set(
            client.chatStreamTextAsync(
                request.build(),
                deadline,
                piece -> {
                  pieces.add(piece);
                  cancelAfter(started, call, pieces.size(), cancelAfter);
                }));
      } else {
        call.set(
            client.chatStreamAsync(
                request.build(),
                deadline,
                chunk -> {
                  chunks.add(chunk);
                  cancelAfter(started, call, chunks.size(), cancelAfter);
                }));
      }
      started.countDown();
      if (expect.has("error")) {
        checkError(expect, failureOf(call.get()));
        int received = kind.equals("stream_text") ? pieces.size() : chunks.size();
        if (expect.has("max_chunks")) {
          assertTrue(received <= expect.get("max_chunks").getAsInt(), received + " received");
        }
        return;
      }
      call.get().get(60, TimeUnit.SECONDS);
      if (kind.equals("stream_text")) {
        checkPieces(expect, pieces);
        return;
      }
      int minChunks = expect.has("min_chunks") ? expect.get("min_chunks").getAsInt() : 1;
      assertTrue(chunks.size() >= minChunks, chunks.size() + " chunks");
      String text = chunks.stream().map(chunk -> chunk.getDelta().getText()).collect(Collectors.joining());
      FinishReason finish = FinishReason.FINISH_REASON_UNSPECIFIED;
      for (ChatStreamResponse chunk : chunks) {
        if (chunk.getFinishReason() != FinishReason.FINISH_REASON_UNSPECIFIED) {
          finish = chunk.getFinishReason();
        }
      }
      checkReply(expect, text, chunks.get(0).getProvider(), finish, chunks.get(chunks.size() - 1).getUsage());
    }
  }

  /** A turn's answer, whether it came whole or streamed. */
  private record Turn(Message message, FinishReason finish, String provider, Usage usage) {}

  /** One turn of a tool loop, through one of the client's APIs. */
  private interface Asker {
    Turn ask(ChatRequest request) throws Exception;
  }

  /**
   * A tool loop: turn 1 answers signed reasoning and a tool call; the assistant turn goes back
   * exactly as received with the tool's result, and turn 2 answers.
   */
  private static void runToolLoop(JsonObject c, Asker asker) throws Exception {
    ChatRequest.Builder request = ChatRequest.newBuilder();
    JsonFormat.parser().merge(c.get("request").toString(), request);
    Turn first = asker.ask(request.build());
    Message result = checkToolCallTurn(c, first);
    request.addMessages(first.message()).addMessages(result);
    Turn answer = asker.ask(request.build());
    String text = answer.message().getPartsList().stream().map(Part::getText).collect(Collectors.joining());
    checkReply(c.getAsJsonObject("expect"), text, answer.provider(), answer.finish(), answer.usage());
  }

  /** Turn 1 of a tool loop: signed reasoning from the expected signer and one tool call; returns the tool's result. */
  private static Message checkToolCallTurn(JsonObject c, Turn turn) {
    JsonObject expect = c.getAsJsonObject("expect");
    assertEquals(FinishReason.FINISH_REASON_TOOL_CALLS, turn.finish());
    List<Reasoning> signed =
        turn.message().getPartsList().stream()
            .filter(part -> part.hasReasoning() && !part.getReasoning().getSignature().isEmpty())
            .map(Part::getReasoning)
            .toList();
    assertFalse(signed.isEmpty(), "no signed reasoning in " + turn.message());
    for (Reasoning reasoning : signed) {
      assertEquals(expect.get("reasoning_origin").getAsString(), reasoning.getOrigin());
    }
    List<ToolCall> calls =
        turn.message().getPartsList().stream().filter(Part::hasToolCall).map(Part::getToolCall).toList();
    assertEquals(1, calls.size(), calls.toString());
    assertEquals(expect.get("tool_name").getAsString(), calls.get(0).getName());
    assertFalse(calls.get(0).getId().isEmpty(), "a tool call without an id");
    ToolResult result =
        ToolResult.newBuilder()
            .setToolCallId(calls.get(0).getId())
            .addContent(Part.newBuilder().setText(c.get("tool_result").getAsString()))
            .build();
    return Message.newBuilder().setRole(Role.ROLE_TOOL).addParts(Part.newBuilder().setToolResult(result)).build();
  }

  private static Turn streamedTurn(List<ChatStreamResponse> chunks) {
    assertFalse(chunks.isEmpty(), "an empty stream");
    FinishReason finish = FinishReason.FINISH_REASON_UNSPECIFIED;
    for (ChatStreamResponse chunk : chunks) {
      if (chunk.getFinishReason() != FinishReason.FINISH_REASON_UNSPECIFIED) {
        finish = chunk.getFinishReason();
      }
    }
    return new Turn(assemble(chunks), finish, chunks.get(0).getProvider(), chunks.get(chunks.size() - 1).getUsage());
  }

  /**
   * The assistant message a stream carries, rebuilt as chat.proto's Delta says: parts in the order
   * the stream first mentions them (within one delta: reasoning, refusal, text, tool calls), each
   * part's fragments joined in order.
   */
  private static Message assemble(List<ChatStreamResponse> chunks) {
    Map<String, Part.Builder> parts = new LinkedHashMap<>(); // in the order of first mention
    for (ChatStreamResponse chunk : chunks) {
      if (!chunk.hasDelta()) {
        continue;
      }
      Delta delta = chunk.getDelta();
      if (!delta.getReasoning().isEmpty()
          || !delta.getReasoningSignature().isEmpty()
          || !delta.getReasoningRedactedData().isEmpty()
          || !delta.getReasoningOrigin().isEmpty()) {
        Reasoning.Builder reasoning =
            parts
                .computeIfAbsent(
                    "reasoning/" + delta.getReasoningIndex(),
                    key -> Part.newBuilder().setReasoning(Reasoning.getDefaultInstance()))
                .getReasoningBuilder();
        reasoning
            .setText(reasoning.getText() + delta.getReasoning())
            .setSignature(reasoning.getSignature() + delta.getReasoningSignature())
            .setRedactedData(reasoning.getRedactedData() + delta.getReasoningRedactedData());
        if (reasoning.getOrigin().isEmpty()) {
          reasoning.setOrigin(delta.getReasoningOrigin());
        }
      }
      if (!delta.getRefusal().isEmpty()) {
        Part.Builder part = parts.computeIfAbsent("refusal", key -> Part.newBuilder().setRefusal(""));
        part.setRefusal(part.getRefusal() + delta.getRefusal());
      }
      if (!delta.getText().isEmpty()) {
        Part.Builder part = parts.computeIfAbsent("text", key -> Part.newBuilder().setText(""));
        part.setText(part.getText() + delta.getText());
      }
      for (ToolCallDelta fragment : delta.getToolCallsList()) {
        ToolCall.Builder call =
            parts
                .computeIfAbsent(
                    "tool_call/" + fragment.getIndex(),
                    key -> Part.newBuilder().setToolCall(ToolCall.getDefaultInstance()))
                .getToolCallBuilder();
        call.setId(call.getId() + fragment.getId())
            .setName(call.getName() + fragment.getName())
            .setArgumentsJson(call.getArgumentsJson() + fragment.getArgumentsJsonFragment());
      }
    }
    Message.Builder message = Message.newBuilder().setRole(Role.ROLE_ASSISTANT);
    parts.values().forEach(message::addParts);
    return message.build();
  }

  /** Cancels the call once {@code received} reaches {@code after} (the future is set by then). */
  private static void cancelAfter(
      CountDownLatch started, AtomicReference<CompletableFuture<Void>> call, int received, int after) {
    if (received != after) {
      return;
    }
    try {
      started.await();
    } catch (InterruptedException interrupted) {
      Thread.currentThread().interrupt();
    }
    call.get().cancel(true);
  }

  /**
   * How an async call failed, as a GatewayException: a cancelled future is the async form of
   * CANCELLED (the harness checks that the upstream call was cut too).
   */
  private static GatewayException failureOf(CompletableFuture<?> call) throws Exception {
    try {
      call.get(60, TimeUnit.SECONDS);
    } catch (ExecutionException failed) {
      if (failed.getCause() instanceof GatewayException error) {
        return error;
      }
      throw failed;
    } catch (CancellationException cancelled) {
      return GatewayException.from(Status.CANCELLED.withDescription("the future was cancelled").asRuntimeException());
    }
    throw new AssertionError("expected the call to fail");
  }

  /** A stream read through a text-only helper: every piece is non-empty text. */
  private static void checkPieces(JsonObject expect, List<String> pieces) {
    for (String piece : pieces) {
      assertTrue(piece != null && !piece.isEmpty(), "the text helper gave an empty piece");
    }
    if (expect.has("error")) {
      if (expect.has("max_chunks")) {
        assertTrue(pieces.size() <= expect.get("max_chunks").getAsInt(), pieces.size() + " pieces");
      }
      return;
    }
    int minPieces = expect.has("min_pieces") ? expect.get("min_pieces").getAsInt() : 1;
    assertTrue(pieces.size() >= minPieces, pieces.size() + " pieces");
    if (expect.has("text")) {
      assertEquals(expect.get("text").getAsString(), String.join("", pieces));
    }
  }

  private static void checkError(JsonObject expect, GatewayException error) {
    JsonObject want = expect.getAsJsonObject("error");
    assertEquals(Status.Code.valueOf(want.get("code").getAsString()), error.code(), error.toString());
    if (want.has("reason")) {
      assertEquals(want.get("reason").getAsString(), error.reason());
    }
    if (want.has("retry_delay_s")) {
      Duration want_delay = Duration.ofMillis(Math.round(want.get("retry_delay_s").getAsDouble() * 1000));
      assertEquals(want_delay, error.retryDelay().orElse(null));
    }
  }

  private static void checkReply(JsonObject expect, String text, String provider, FinishReason finish, Usage usage) {
    if (expect.has("text")) {
      assertEquals(expect.get("text").getAsString(), text);
    }
    if (expect.has("provider")) {
      assertEquals(expect.get("provider").getAsString(), provider);
    }
    if (expect.has("finish_reason")) {
      assertEquals(expect.get("finish_reason").getAsString(), finish.name());
    }
    if (expect.has("min_output_tokens")) {
      assertNotNull(usage);
      assertTrue(usage.getOutputTokens() >= expect.get("min_output_tokens").getAsInt(), usage.toString());
    }
  }
}
