package io.llmgateway.client;

import com.google.gson.Gson;
import io.grpc.ChannelCredentials;
import io.grpc.ClientInterceptor;
import io.grpc.Context;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.MetadataUtils;
import io.llmgateway.v1.ChatRequest;
import io.llmgateway.v1.ChatResponse;
import io.llmgateway.v1.ChatServiceGrpc;
import io.llmgateway.v1.ChatStreamRequest;
import io.llmgateway.v1.EmbedRequest;
import io.llmgateway.v1.EmbedResponse;
import io.llmgateway.v1.EmbeddingServiceGrpc;
import io.llmgateway.v1.ChatStreamResponse;
import io.llmgateway.v1.ListModelsRequest;
import io.llmgateway.v1.ListModelsResponse;
import io.llmgateway.v1.ModelServiceGrpc;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * A thin client for the llmgateway.v1 gRPC API: one channel, an API key sent as {@code
 * authorization: Bearer KEY}, TLS by default, default deadlines, the recommended retry service
 * config, streams as iterators (of chunks, or of the text alone), every call also without blocking
 * ({@code chatAsync}, {@code chatStreamAsync}: {@link CompletableFuture}s) and {@link
 * GatewayException} for failures.
 *
 * <pre>{@code
 * try (var client = LlmGatewayClient.builder("localhost:50051").plaintext().apiKey("sk-...").build()) {
 *   ChatResponse reply = client.chat(LlmGatewayClient.textRequest("gpt-4o-mini", "Hello!"));
 * }
 * }</pre>
 */
public final class LlmGatewayClient implements AutoCloseable {
  /** The recommended gRPC service config: 3 attempts, exponential backoff, UNAVAILABLE only. */
  public static final Map<String, ?> RETRY_SERVICE_CONFIG = loadServiceConfig();

  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private final ManagedChannel channel;
  private final ChatServiceGrpc.ChatServiceBlockingStub chat;
  private final ChatServiceGrpc.ChatServiceStub chatAsync;
  private final ModelServiceGrpc.ModelServiceBlockingStub models;
  private final EmbeddingServiceGrpc.EmbeddingServiceBlockingStub embeddings;
  private final Duration timeout;
  private final Duration streamTimeout;

  private LlmGatewayClient(Builder builder) {
    ManagedChannelBuilder<?> channelBuilder = Grpc.newChannelBuilder(builder.target, builder.credentials);
    if (builder.serviceConfig != null) {
      channelBuilder.defaultServiceConfig(builder.serviceConfig).enableRetry();
    }
    List<ClientInterceptor> interceptors = new ArrayList<>();
    if (builder.apiKey != null) {
      Metadata headers = new Metadata();
      headers.put(AUTHORIZATION, "Bearer " + builder.apiKey);
      interceptors.add(MetadataUtils.newAttachHeadersInterceptor(headers));
    }
    channel = channelBuilder.intercept(interceptors).build();
    chat = ChatServiceGrpc.newBlockingStub(channel);
    chatAsync = ChatServiceGrpc.newStub(channel);
    models = ModelServiceGrpc.newBlockingStub(channel);
    embeddings = EmbeddingServiceGrpc.newBlockingStub(channel);
    timeout = builder.timeout;
    streamTimeout = builder.streamTimeout;
  }

  /** A builder for a gateway at {@code target} ("host:port" or any gRPC target). */
  public static Builder builder(String target) {
    return new Builder(target);
  }

  /**
   * A reply and the gateway's report (x-llmgateway-provider, x-llmgateway-model, ...): the response
   * metadata, headers and trailers together (the gateway sends its report as trailers).
   */
  public record Reply(ChatResponse response, Metadata headers) {
    /** One entry of the report, or null. */
    public String header(String name) {
      return headers.get(Metadata.Key.of(name, Metadata.ASCII_STRING_MARSHALLER));
    }
  }

  /** One unary call with the default deadline. */
  public ChatResponse chat(ChatRequest request) {
    return chatWithHeaders(request, timeout).response();
  }

  /** One unary call with the given deadline (null: none). */
  public ChatResponse chat(ChatRequest request, Duration deadline) {
    return chatWithHeaders(request, deadline).response();
  }

  /** One unary call, with the gateway's report. */
  public Reply chatWithHeaders(ChatRequest request, Duration deadline) {
    AtomicReference<Metadata> headers = new AtomicReference<>();
    AtomicReference<Metadata> trailers = new AtomicReference<>();
    try {
      ChatResponse response =
          withDeadline(chat, deadline)
              .withInterceptors(MetadataUtils.newCaptureMetadataInterceptor(headers, trailers))
              .chat(request);
      return new Reply(response, report(headers.get(), trailers.get()));
    } catch (StatusRuntimeException error) {
      throw GatewayException.from(error);
    }
  }

  /** Streams one reply with the default stream deadline. */
  public ChatStream chatStream(ChatStreamRequest request) {
    return chatStream(request, streamTimeout);
  }

  /** Streams one reply with the given deadline (null: none). */
  public ChatStream chatStream(ChatStreamRequest request, Duration deadline) {
    Context.CancellableContext context = Context.current().withCancellation();
    try {
      Iterator<ChatStreamResponse> chunks =
          context.call(() -> withDeadline(chat, deadline).chatStream(request));
      return new ChatStream(context, chunks);
    } catch (StatusRuntimeException error) {
      context.cancel(null);
      throw GatewayException.from(error);
    } catch (Exception error) {
      context.cancel(null);
      throw new IllegalStateException(error);
    }
  }

  /**
   * One unary call without blocking, with the default deadline: the future completes with the
   * reply, or exceptionally with a {@link GatewayException}; cancelling it cancels the call.
   */
  public CompletableFuture<ChatResponse> chatAsync(ChatRequest request) {
    return chatAsync(request, timeout);
  }

  /** {@link #chatAsync(ChatRequest)} with the given deadline (null: none). */
  public CompletableFuture<ChatResponse> chatAsync(ChatRequest request, Duration deadline) {
    AtomicReference<ChatResponse> reply = new AtomicReference<>();
    CallFuture<ChatRequest, ChatResponse, ChatResponse> call = new CallFuture<>(reply::set, reply::get);
    withDeadline(chatAsync, deadline).chat(request, call);
    return call.future();
  }

  /** {@link #chatAsync(ChatRequest, Duration)} with the gateway's report, as chatWithHeaders. */
  public CompletableFuture<Reply> chatWithHeadersAsync(ChatRequest request, Duration deadline) {
    AtomicReference<Metadata> headers = new AtomicReference<>();
    AtomicReference<Metadata> trailers = new AtomicReference<>();
    AtomicReference<ChatResponse> reply = new AtomicReference<>();
    CallFuture<ChatRequest, ChatResponse, Reply> call =
        new CallFuture<>(reply::set, () -> new Reply(reply.get(), report(headers.get(), trailers.get())));
    withDeadline(chatAsync, deadline)
        .withInterceptors(MetadataUtils.newCaptureMetadataInterceptor(headers, trailers))
        .chat(request, call);
    return call.future();
  }

  /**
   * Streams one reply without blocking, with the default stream deadline: {@code onChunk} gets
   * each chunk as it arrives (on a gRPC thread); the future completes when the stream ends, or
   * exceptionally with a {@link GatewayException} (or what {@code onChunk} threw, which cancels
   * the call); cancelling the future cancels the call.
   */
  public CompletableFuture<Void> chatStreamAsync(ChatStreamRequest request, Consumer<ChatStreamResponse> onChunk) {
    return chatStreamAsync(request, streamTimeout, onChunk);
  }

  /** {@link #chatStreamAsync(ChatStreamRequest, Consumer)} with the given deadline (null: none). */
  public CompletableFuture<Void> chatStreamAsync(
      ChatStreamRequest request, Duration deadline, Consumer<ChatStreamResponse> onChunk) {
    CallFuture<ChatStreamRequest, ChatStreamResponse, Void> call = new CallFuture<>(onChunk, () -> null);
    withDeadline(chatAsync, deadline).chatStream(request, call);
    return call.future();
  }

  /**
   * {@link #chatStreamAsync(ChatStreamRequest, Consumer)} for the text alone: {@code onText} gets
   * each piece of the reply's text; the chunks that carry none are skipped.
   */
  public CompletableFuture<Void> chatStreamTextAsync(ChatStreamRequest request, Consumer<String> onText) {
    return chatStreamTextAsync(request, streamTimeout, onText);
  }

  /** {@link #chatStreamTextAsync(ChatStreamRequest, Consumer)} with the given deadline (null: none). */
  public CompletableFuture<Void> chatStreamTextAsync(
      ChatStreamRequest request, Duration deadline, Consumer<String> onText) {
    return chatStreamAsync(
        request,
        deadline,
        chunk -> {
          String text = chunk.getDelta().getText();
          if (!text.isEmpty()) {
            onText.accept(text);
          }
        });
  }

  /** The same request for ChatStream (the two messages share their fields and numbers). */
  public static ChatStreamRequest toStreamRequest(ChatRequest request) {
    try {
      return ChatStreamRequest.parseFrom(request.toByteString());
    } catch (com.google.protobuf.InvalidProtocolBufferException impossible) {
      throw new IllegalArgumentException(impossible);
    }
  }

  /** A ChatRequest with one user message. */
  public static ChatRequest textRequest(String model, String text) {
    return ChatRequest.newBuilder()
        .setModel(model)
        .addMessages(
            io.llmgateway.v1.Message.newBuilder()
                .setRole(io.llmgateway.v1.Role.ROLE_USER)
                .addParts(io.llmgateway.v1.Part.newBuilder().setText(text)))
        .build();
  }

  /** One embedding per input, in input order, with the default deadline. */
  public EmbedResponse embed(EmbedRequest request) {
    return embed(request, timeout);
  }

  /** One embedding per input, in input order, with the given deadline (null: none). */
  public EmbedResponse embed(EmbedRequest request, Duration deadline) {
    try {
      return withDeadline(embeddings, deadline).embed(request);
    } catch (StatusRuntimeException error) {
      throw GatewayException.from(error);
    }
  }

  /** The models the gateway serves. */
  public ListModelsResponse listModels() {
    try {
      return withDeadline(models, timeout).listModels(ListModelsRequest.getDefaultInstance());
    } catch (StatusRuntimeException error) {
      throw GatewayException.from(error);
    }
  }

  /** The channel, for the generated stubs or other services (health, reflection). */
  public ManagedChannel channel() {
    return channel;
  }

  @Override
  public void close() {
    channel.shutdown();
    try {
      if (!channel.awaitTermination(5, TimeUnit.SECONDS)) {
        channel.shutdownNow();
      }
    } catch (InterruptedException interrupted) {
      channel.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  /** The response metadata, headers and trailers together (either may be null). */
  private static Metadata report(Metadata headers, Metadata trailers) {
    Metadata report = new Metadata();
    if (headers != null) {
      report.merge(headers);
    }
    if (trailers != null) {
      report.merge(trailers);
    }
    return report;
  }

  private static <S extends io.grpc.stub.AbstractStub<S>> S withDeadline(S stub, Duration deadline) {
    return deadline == null ? stub : stub.withDeadlineAfter(deadline.toNanos(), TimeUnit.NANOSECONDS);
  }

  @SuppressWarnings("unchecked")
  private static Map<String, ?> loadServiceConfig() {
    try (InputStream in = LlmGatewayClient.class.getResourceAsStream("service_config.json")) {
      if (in == null) {
        throw new IllegalStateException("service_config.json is missing from the jar");
      }
      return new Gson().fromJson(new InputStreamReader(in, StandardCharsets.UTF_8), Map.class);
    } catch (IOException error) {
      throw new UncheckedIOException(error);
    }
  }

  /** Options of {@link LlmGatewayClient}; TLS with the JVM's roots unless told otherwise. */
  public static final class Builder {
    private final String target;
    private ChannelCredentials credentials = TlsChannelCredentials.create();
    private String apiKey;
    private Duration timeout = Duration.ofSeconds(60);
    private Duration streamTimeout = Duration.ofMinutes(10);
    private Map<String, ?> serviceConfig = RETRY_SERVICE_CONFIG;

    private Builder(String target) {
      this.target = target;
    }

    /** Sends {@code authorization: Bearer KEY} on every call. */
    public Builder apiKey(String apiKey) {
      this.apiKey = apiKey;
      return this;
    }

    /** Plaintext HTTP/2, for a local gateway or one behind a TLS-terminating proxy. */
    public Builder plaintext() {
      this.credentials = InsecureChannelCredentials.create();
      return this;
    }

    /**
     * TLS with your own roots or a client certificate (mTLS), e.g. {@code
     * TlsChannelCredentials.newBuilder().trustManager(caFile).keyManager(cert, key).build()}.
     */
    public Builder tls(ChannelCredentials credentials) {
      this.credentials = credentials;
      return this;
    }

    /** The deadline of unary calls that give none (null: none). Default 60 s. */
    public Builder timeout(Duration timeout) {
      this.timeout = timeout;
      return this;
    }

    /** The deadline of streams that give none (null: none). Default 10 min. */
    public Builder streamTimeout(Duration streamTimeout) {
      this.streamTimeout = streamTimeout;
      return this;
    }

    /** Replaces the retry service config (null: no service config, no retries). */
    public Builder serviceConfig(Map<String, ?> serviceConfig) {
      this.serviceConfig = serviceConfig;
      return this;
    }

    public LlmGatewayClient build() {
      return new LlmGatewayClient(this);
    }
  }
}
