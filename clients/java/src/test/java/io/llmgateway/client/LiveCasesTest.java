package io.llmgateway.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
import io.llmgateway.v1.ChatStreamRequest;
import io.llmgateway.v1.ChatStreamResponse;
import io.llmgateway.v1.EmbedRequest;
import io.llmgateway.v1.EmbedResponse;
import io.llmgateway.v1.Embedding;
import io.llmgateway.v1.FinishReason;
import io.llmgateway.v1.Part;
import io.llmgateway.v1.Usage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
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
