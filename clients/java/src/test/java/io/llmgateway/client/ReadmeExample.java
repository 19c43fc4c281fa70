package io.llmgateway.client;

import io.llmgateway.v1.ChatResponse;
import io.llmgateway.v1.ChatStreamRequest;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/** The README's example; compiled with the tests so it cannot drift from the API. */
final class ReadmeExample {
  private ReadmeExample() {}

  public static void main(String[] args) {
    try (LlmGatewayClient client =
        LlmGatewayClient.builder("localhost:50051")
            .plaintext() // or .tls(TlsChannelCredentials.newBuilder().trustManager(caFile).build())
            .apiKey("llmgw-...")
            .timeout(Duration.ofSeconds(30))
            .build()) {
      try {
        LlmGatewayClient.Reply reply =
            client.chatWithHeaders(LlmGatewayClient.textRequest("gpt-4o-mini", "Hello!"), Duration.ofSeconds(30));
        ChatResponse response = reply.response();
        System.out.println(response.getMessage().getParts(0).getText() + " via " + reply.header("x-llmgateway-provider"));
      } catch (GatewayException e) {
        System.out.println(e.code() + " " + e.reason() + " retry in " + e.retryDelay().orElse(Duration.ZERO));
      }

      ChatStreamRequest count = LlmGatewayClient.toStreamRequest(LlmGatewayClient.textRequest("gpt-4o-mini", "Count"));
      try (ChatStream stream = client.chatStream(count)) {
        for (String text : stream.text()) {
          System.out.print(text);
        }
      }

      CompletableFuture<ChatResponse> later = client.chatAsync(LlmGatewayClient.textRequest("gpt-4o-mini", "Later"));
      client.chatStreamAsync(count, chunk -> System.out.print(chunk.getDelta().getText())).join();
      System.out.println(later.join().getMessage().getParts(0).getText());
    }
  }
}
