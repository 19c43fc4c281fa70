package io.llmgateway.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.Gson;
import com.google.protobuf.Any;
import com.google.rpc.Code;
import com.google.rpc.ErrorInfo;
import com.google.rpc.RetryInfo;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Deadline;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.StreamObserver;
import io.llmgateway.v1.ChatRequest;
import io.llmgateway.v1.ChatResponse;
import io.llmgateway.v1.ChatServiceGrpc;
import io.llmgateway.v1.ChatStreamRequest;
import io.llmgateway.v1.ChatStreamResponse;
import io.llmgateway.v1.Delta;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class LlmGatewayClientTest {
  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private final FakeChat fake = new FakeChat();
  private Server server;
  private String target;

  /** Records the authorization header and the deadline of each call; fails when told to. */
  static final class FakeChat extends ChatServiceGrpc.ChatServiceImplBase {
    volatile String authorization;
    volatile Deadline deadline;
    volatile com.google.rpc.Status fail;

    @Override
    public void chat(ChatRequest request, StreamObserver<ChatResponse> responses) {
      deadline = Context.current().getDeadline();
      if (fail != null) {
        responses.onError(StatusProto.toStatusRuntimeException(fail));
        return;
      }
      responses.onNext(ChatResponse.newBuilder().setModel(request.getModel()).build());
      responses.onCompleted();
    }

    @Override
    public void chatStream(ChatStreamRequest request, StreamObserver<ChatStreamResponse> responses) {
      for (String word : new String[] {"a", "b", "c"}) {
        responses.onNext(ChatStreamResponse.newBuilder().setDelta(Delta.newBuilder().setText(word)).build());
      }
      responses.onCompleted();
    }
  }

  @BeforeEach
  void start() throws Exception {
    ServerInterceptor recordKey =
        new ServerInterceptor() {
          @Override
          public <Q, R> ServerCall.Listener<Q> interceptCall(
              ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
            fake.authorization = headers.get(AUTHORIZATION);
            return Contexts.interceptCall(Context.current(), call, headers, next);
          }
        };
    server =
        Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
            .addService(ServerInterceptors.intercept(fake, recordKey))
            .build()
            .start();
    target = "127.0.0.1:" + server.getPort();
  }

  @AfterEach
  void stop() throws Exception {
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  @Test
  void sendsTheApiKeyAndTheDefaultDeadline() {
    try (var client =
        LlmGatewayClient.builder(target).plaintext().apiKey("k-123").timeout(Duration.ofSeconds(7)).build()) {
      client.chat(LlmGatewayClient.textRequest("m", "hi"));
      assertEquals("Bearer k-123", fake.authorization);
      long left = fake.deadline.timeRemaining(TimeUnit.MILLISECONDS);
      assertTrue(left > 5000 && left <= 7000, "deadline " + left);
      client.chat(LlmGatewayClient.textRequest("m", "hi"), Duration.ofSeconds(2));
      assertTrue(fake.deadline.timeRemaining(TimeUnit.MILLISECONDS) <= 2000);
    }
  }

  @Test
  void decodesErrorDetails() {
    fake.fail =
        com.google.rpc.Status.newBuilder()
            .setCode(Code.RESOURCE_EXHAUSTED_VALUE)
            .setMessage("slow down")
            .addDetails(Any.pack(ErrorInfo.newBuilder().setReason("RATE_LIMITED").setDomain("llmgateway").build()))
            .addDetails(
                Any.pack(
                    RetryInfo.newBuilder()
                        .setRetryDelay(com.google.protobuf.Duration.newBuilder().setSeconds(1).setNanos(500_000_000))
                        .build()))
            .build();
    try (var client = LlmGatewayClient.builder(target).plaintext().build()) {
      GatewayException error =
          assertThrows(GatewayException.class, () -> client.chat(LlmGatewayClient.textRequest("m", "hi")));
      assertEquals(Status.Code.RESOURCE_EXHAUSTED, error.code());
      assertEquals("RATE_LIMITED", error.reason());
      assertEquals("llmgateway", error.domain());
      assertEquals(Duration.ofMillis(1500), error.retryDelay().orElseThrow());
    }
  }

  @Test
  void streamsAsAnIterator() {
    try (var client = LlmGatewayClient.builder(target).plaintext().build();
        var stream = client.chatStream(ChatStreamRequest.newBuilder().setModel("m").build())) {
      StringBuilder text = new StringBuilder();
      for (ChatStreamResponse chunk : stream) {
        text.append(chunk.getDelta().getText());
      }
      assertEquals("abc", text.toString());
    }
  }

  @Test
  void retryConfigIsTheSharedOne() throws Exception {
    Map<?, ?> shared = new Gson().fromJson(Files.readString(Path.of("../testdata/service_config.json")), Map.class);
    assertEquals(shared, LlmGatewayClient.RETRY_SERVICE_CONFIG);
  }
}
