package io.llmgateway.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
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
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.llmgateway.v1.ChatRequest;
import io.llmgateway.v1.ChatResponse;
import io.llmgateway.v1.ChatServiceGrpc;
import io.llmgateway.v1.ChatStreamRequest;
import io.llmgateway.v1.ChatStreamResponse;
import io.llmgateway.v1.Delta;
import io.llmgateway.v1.Usage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
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

    final CountDownLatch streamCancelled = new CountDownLatch(1);

    /**
     * As the gateway streams: a first chunk that names the provider, the text deltas, a reasoning
     * delta (no text), a last chunk with the usage alone. Model "hang" stops after the first text
     * and waits for the caller to cancel.
     */
    @Override
    public void chatStream(ChatStreamRequest request, StreamObserver<ChatStreamResponse> responses) {
      ((ServerCallStreamObserver<ChatStreamResponse>) responses).setOnCancelHandler(streamCancelled::countDown);
      responses.onNext(ChatStreamResponse.newBuilder().setProvider("fake").build());
      responses.onNext(text("a"));
      if (request.getModel().equals("hang")) {
        return;
      }
      responses.onNext(text("b"));
      responses.onNext(ChatStreamResponse.newBuilder().setDelta(Delta.newBuilder().setReasoning("hmm")).build());
      responses.onNext(text("c"));
      responses.onNext(ChatStreamResponse.newBuilder().setUsage(Usage.newBuilder().setOutputTokens(3)).build());
      responses.onCompleted();
    }

    private static ChatStreamResponse text(String text) {
      return ChatStreamResponse.newBuilder().setDelta(Delta.newBuilder().setText(text)).build();
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
      List<String> texts = new ArrayList<>();
      for (ChatStreamResponse chunk : stream) {
        texts.add(chunk.getDelta().getText());
      }
      assertEquals(List.of("", "a", "b", "", "c", ""), texts);
    }
  }

  @Test
  void streamTextSkipsTheChunksWithoutText() {
    try (var client = LlmGatewayClient.builder(target).plaintext().build();
        var stream = client.chatStream(ChatStreamRequest.newBuilder().setModel("m").build())) {
      List<String> pieces = new ArrayList<>();
      stream.text().forEach(pieces::add);
      assertEquals(List.of("a", "b", "c"), pieces);
    }
  }

  @Test
  void chatAsyncCompletesWithTheReplyOrTheGatewayError() throws Exception {
    try (var client = LlmGatewayClient.builder(target).plaintext().apiKey("k-async").build()) {
      ChatResponse reply = client.chatAsync(LlmGatewayClient.textRequest("m", "hi")).get(5, TimeUnit.SECONDS);
      assertEquals("m", reply.getModel());
      assertEquals("Bearer k-async", fake.authorization);
      assertNotNull(fake.deadline);

      fake.fail =
          com.google.rpc.Status.newBuilder()
              .setCode(Status.Code.NOT_FOUND.value())
              .addDetails(Any.pack(ErrorInfo.newBuilder().setReason("MODEL_NOT_FOUND").build()))
              .build();
      ExecutionException failed =
          assertThrows(
              ExecutionException.class,
              () -> client.chatWithHeadersAsync(LlmGatewayClient.textRequest("m", "hi"), null).get(5, TimeUnit.SECONDS));
      GatewayException error = (GatewayException) failed.getCause();
      assertEquals(Status.Code.NOT_FOUND, error.code());
      assertEquals("MODEL_NOT_FOUND", error.reason());
    }
  }

  @Test
  void chatStreamAsyncGivesEveryChunkAndTheTextAlone() throws Exception {
    try (var client = LlmGatewayClient.builder(target).plaintext().build()) {
      ChatStreamRequest request = ChatStreamRequest.newBuilder().setModel("m").build();
      List<ChatStreamResponse> chunks = new CopyOnWriteArrayList<>();
      client.chatStreamAsync(request, chunks::add).get(5, TimeUnit.SECONDS);
      assertEquals(6, chunks.size());
      assertEquals("fake", chunks.get(0).getProvider());
      List<String> pieces = new CopyOnWriteArrayList<>();
      client.chatStreamTextAsync(request, pieces::add).get(5, TimeUnit.SECONDS);
      assertEquals(List.of("a", "b", "c"), pieces);
    }
  }

  @Test
  void cancellingTheAsyncStreamCancelsTheCall() throws Exception {
    try (var client = LlmGatewayClient.builder(target).plaintext().build()) {
      CountDownLatch firstText = new CountDownLatch(1);
      CompletableFuture<Void> stream =
          client.chatStreamTextAsync(ChatStreamRequest.newBuilder().setModel("hang").build(), text -> firstText.countDown());
      assertTrue(firstText.await(5, TimeUnit.SECONDS));
      assertTrue(stream.cancel(true));
      assertTrue(fake.streamCancelled.await(5, TimeUnit.SECONDS), "the server saw no cancellation");
    }
  }

  @Test
  void retryConfigIsTheSharedOne() throws Exception {
    Map<?, ?> shared = new Gson().fromJson(Files.readString(Path.of("../testdata/service_config.json")), Map.class);
    assertEquals(shared, LlmGatewayClient.RETRY_SERVICE_CONFIG);
  }
}
