package io.llmgateway.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * Chat completions against any configured model.
 * Errors are never returned in-band: every failure is a gRPC status whose details carry a
 * google.rpc.ErrorInfo (domain "llmgateway", reason in UPPER_SNAKE_CASE) and, where they apply,
 * RetryInfo, QuotaFailure, BadRequest or ResourceInfo.
 * </pre>
 */
@io.grpc.stub.annotations.GrpcGenerated
public final class ChatServiceGrpc {

  private ChatServiceGrpc() {}

  public static final java.lang.String SERVICE_NAME = "llmgateway.v1.ChatService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<io.llmgateway.v1.ChatRequest,
      io.llmgateway.v1.ChatResponse> getChatMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "Chat",
      requestType = io.llmgateway.v1.ChatRequest.class,
      responseType = io.llmgateway.v1.ChatResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.llmgateway.v1.ChatRequest,
      io.llmgateway.v1.ChatResponse> getChatMethod() {
    io.grpc.MethodDescriptor<io.llmgateway.v1.ChatRequest, io.llmgateway.v1.ChatResponse> getChatMethod;
    if ((getChatMethod = ChatServiceGrpc.getChatMethod) == null) {
      synchronized (ChatServiceGrpc.class) {
        if ((getChatMethod = ChatServiceGrpc.getChatMethod) == null) {
          ChatServiceGrpc.getChatMethod = getChatMethod =
              io.grpc.MethodDescriptor.<io.llmgateway.v1.ChatRequest, io.llmgateway.v1.ChatResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "Chat"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.v1.ChatRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.v1.ChatResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ChatServiceMethodDescriptorSupplier("Chat"))
              .build();
        }
      }
    }
    return getChatMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.llmgateway.v1.ChatStreamRequest,
      io.llmgateway.v1.ChatStreamResponse> getChatStreamMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ChatStream",
      requestType = io.llmgateway.v1.ChatStreamRequest.class,
      responseType = io.llmgateway.v1.ChatStreamResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
  public static io.grpc.MethodDescriptor<io.llmgateway.v1.ChatStreamRequest,
      io.llmgateway.v1.ChatStreamResponse> getChatStreamMethod() {
    io.grpc.MethodDescriptor<io.llmgateway.v1.ChatStreamRequest, io.llmgateway.v1.ChatStreamResponse> getChatStreamMethod;
    if ((getChatStreamMethod = ChatServiceGrpc.getChatStreamMethod) == null) {
      synchronized (ChatServiceGrpc.class) {
        if ((getChatStreamMethod = ChatServiceGrpc.getChatStreamMethod) == null) {
          ChatServiceGrpc.getChatStreamMethod = getChatStreamMethod =
              io.grpc.MethodDescriptor.<io.llmgateway.v1.ChatStreamRequest, io.llmgateway.v1.ChatStreamResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ChatStream"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.v1.ChatStreamRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.v1.ChatStreamResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ChatServiceMethodDescriptorSupplier("ChatStream"))
              .build();
        }
      }
    }
    return getChatStreamMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.llmgateway.v1.CountTokensRequest,
      io.llmgateway.v1.CountTokensResponse> getCountTokensMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "CountTokens",
      requestType = io.llmgateway.v1.CountTokensRequest.class,
      responseType = io.llmgateway.v1.CountTokensResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.llmgateway.v1.CountTokensRequest,
      io.llmgateway.v1.CountTokensResponse> getCountTokensMethod() {
    io.grpc.MethodDescriptor<io.llmgateway.v1.CountTokensRequest, io.llmgateway.v1.CountTokensResponse> getCountTokensMethod;
    if ((getCountTokensMethod = ChatServiceGrpc.getCountTokensMethod) == null) {
      synchronized (ChatServiceGrpc.class) {
        if ((getCountTokensMethod = ChatServiceGrpc.getCountTokensMethod) == null) {
          ChatServiceGrpc.getCountTokensMethod = getCountTokensMethod =
              io.grpc.MethodDescriptor.<io.llmgateway.v1.CountTokensRequest, io.llmgateway.v1.CountTokensResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "CountTokens"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.v1.CountTokensRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.v1.CountTokensResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ChatServiceMethodDescriptorSupplier("CountTokens"))
              .build();
        }
      }
    }
    return getCountTokensMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static ChatServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ChatServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ChatServiceStub>() {
        @java.lang.Override
        public ChatServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ChatServiceStub(channel, callOptions);
        }
      };
    return ChatServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports all types of calls on the service
   */
  public static ChatServiceBlockingV2Stub newBlockingV2Stub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ChatServiceBlockingV2Stub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ChatServiceBlockingV2Stub>() {
        @java.lang.Override
        public ChatServiceBlockingV2Stub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ChatServiceBlockingV2Stub(channel, callOptions);
        }
      };
    return ChatServiceBlockingV2Stub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static ChatServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ChatServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ChatServiceBlockingStub>() {
        @java.lang.Override
        public ChatServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ChatServiceBlockingStub(channel, callOptions);
        }
      };
    return ChatServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static ChatServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ChatServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ChatServiceFutureStub>() {
        @java.lang.Override
        public ChatServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ChatServiceFutureStub(channel, callOptions);
        }
      };
    return ChatServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * Chat completions against any configured model.
   * Errors are never returned in-band: every failure is a gRPC status whose details carry a
   * google.rpc.ErrorInfo (domain "llmgateway", reason in UPPER_SNAKE_CASE) and, where they apply,
   * RetryInfo, QuotaFailure, BadRequest or ResourceInfo.
   * </pre>
   */
  public interface AsyncService {

    /**
     * <pre>
     * Generates one complete assistant message.
     * </pre>
     */
    default void chat(io.llmgateway.v1.ChatRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.v1.ChatResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getChatMethod(), responseObserver);
    }

    /**
     * <pre>
     * Generates an assistant message as a stream: the first message names id, model and
     * provider; then deltas of text, reasoning and tool-call fragments; the finish reason on the
     * last content message; usage on the final message; then status OK. A stream cut after the
     * first message ends with a non-OK status whose details include a StreamInterruption.
     * </pre>
     */
    default void chatStream(io.llmgateway.v1.ChatStreamRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.v1.ChatStreamResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getChatStreamMethod(), responseObserver);
    }

    /**
     * <pre>
     * Counts the input tokens a Chat call with these messages and tools would use, asking the
     * provider where it has a counting endpoint (Anthropic, Gemini, Bedrock) and otherwise a local
     * tokenizer, in which case the answer is marked as an estimate.
     * </pre>
     */
    default void countTokens(io.llmgateway.v1.CountTokensRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.v1.CountTokensResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getCountTokensMethod(), responseObserver);
    }
  }

  /**
   * Base class for the server implementation of the service ChatService.
   * <pre>
   * Chat completions against any configured model.
   * Errors are never returned in-band: every failure is a gRPC status whose details carry a
   * google.rpc.ErrorInfo (domain "llmgateway", reason in UPPER_SNAKE_CASE) and, where they apply,
   * RetryInfo, QuotaFailure, BadRequest or ResourceInfo.
   * </pre>
   */
  public static abstract class ChatServiceImplBase
      implements io.grpc.BindableService, AsyncService {

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return ChatServiceGrpc.bindService(this);
    }
  }

  /**
   * A stub to allow clients to do asynchronous rpc calls to service ChatService.
   * <pre>
   * Chat completions against any configured model.
   * Errors are never returned in-band: every failure is a gRPC status whose details carry a
   * google.rpc.ErrorInfo (domain "llmgateway", reason in UPPER_SNAKE_CASE) and, where they apply,
   * RetryInfo, QuotaFailure, BadRequest or ResourceInfo.
   * </pre>
   */
  public static final class ChatServiceStub
      extends io.grpc.stub.AbstractAsyncStub<ChatServiceStub> {
    private ChatServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ChatServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ChatServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * Generates one complete assistant message.
     * </pre>
     */
    public void chat(io.llmgateway.v1.ChatRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.v1.ChatResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getChatMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Generates an assistant message as a stream: the first message names id, model and
     * provider; then deltas of text, reasoning and tool-call fragments; the finish reason on the
     * last content message; usage on the final message; then status OK. A stream cut after the
     * first message ends with a non-OK status whose details include a StreamInterruption.
     * </pre>
     */
    public void chatStream(io.llmgateway.v1.ChatStreamRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.v1.ChatStreamResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncServerStreamingCall(
          getChannel().newCall(getChatStreamMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Counts the input tokens a Chat call with these messages and tools would use, asking the
     * provider where it has a counting endpoint (Anthropic, Gemini, Bedrock) and otherwise a local
     * tokenizer, in which case the answer is marked as an estimate.
     * </pre>
     */
    public void countTokens(io.llmgateway.v1.CountTokensRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.v1.CountTokensResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getCountTokensMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * A stub to allow clients to do synchronous rpc calls to service ChatService.
   * <pre>
   * Chat completions against any configured model.
   * Errors are never returned in-band: every failure is a gRPC status whose details carry a
   * google.rpc.ErrorInfo (domain "llmgateway", reason in UPPER_SNAKE_CASE) and, where they apply,
   * RetryInfo, QuotaFailure, BadRequest or ResourceInfo.
   * </pre>
   */
  public static final class ChatServiceBlockingV2Stub
      extends io.grpc.stub.AbstractBlockingStub<ChatServiceBlockingV2Stub> {
    private ChatServiceBlockingV2Stub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ChatServiceBlockingV2Stub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ChatServiceBlockingV2Stub(channel, callOptions);
    }

    /**
     * <pre>
     * Generates one complete assistant message.
     * </pre>
     */
    public io.llmgateway.v1.ChatResponse chat(io.llmgateway.v1.ChatRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getChatMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Generates an assistant message as a stream: the first message names id, model and
     * provider; then deltas of text, reasoning and tool-call fragments; the finish reason on the
     * last content message; usage on the final message; then status OK. A stream cut after the
     * first message ends with a non-OK status whose details include a StreamInterruption.
     * </pre>
     */
    @io.grpc.ExperimentalApi("https://github.com/grpc/grpc-java/issues/10918")
    public io.grpc.stub.BlockingClientCall<?, io.llmgateway.v1.ChatStreamResponse>
        chatStream(io.llmgateway.v1.ChatStreamRequest request) {
      return io.grpc.stub.ClientCalls.blockingV2ServerStreamingCall(
          getChannel(), getChatStreamMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Counts the input tokens a Chat call with these messages and tools would use, asking the
     * provider where it has a counting endpoint (Anthropic, Gemini, Bedrock) and otherwise a local
     * tokenizer, in which case the answer is marked as an estimate.
     * </pre>
     */
    public io.llmgateway.v1.CountTokensResponse countTokens(io.llmgateway.v1.CountTokensRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getCountTokensMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do limited synchronous rpc calls to service ChatService.
   * <pre>
   * Chat completions against any configured model.
   * Errors are never returned in-band: every failure is a gRPC status whose details carry a
   * google.rpc.ErrorInfo (domain "llmgateway", reason in UPPER_SNAKE_CASE) and, where they apply,
   * RetryInfo, QuotaFailure, BadRequest or ResourceInfo.
   * </pre>
   */
  public static final class ChatServiceBlockingStub
      extends io.grpc.stub.AbstractBlockingStub<ChatServiceBlockingStub> {
    private ChatServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ChatServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ChatServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * Generates one complete assistant message.
     * </pre>
     */
    public io.llmgateway.v1.ChatResponse chat(io.llmgateway.v1.ChatRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getChatMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Generates an assistant message as a stream: the first message names id, model and
     * provider; then deltas of text, reasoning and tool-call fragments; the finish reason on the
     * last content message; usage on the final message; then status OK. A stream cut after the
     * first message ends with a non-OK status whose details include a StreamInterruption.
     * </pre>
     */
    public java.util.Iterator<io.llmgateway.v1.ChatStreamResponse> chatStream(
        io.llmgateway.v1.ChatStreamRequest request) {
      return io.grpc.stub.ClientCalls.blockingServerStreamingCall(
          getChannel(), getChatStreamMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Counts the input tokens a Chat call with these messages and tools would use, asking the
     * provider where it has a counting endpoint (Anthropic, Gemini, Bedrock) and otherwise a local
     * tokenizer, in which case the answer is marked as an estimate.
     * </pre>
     */
    public io.llmgateway.v1.CountTokensResponse countTokens(io.llmgateway.v1.CountTokensRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getCountTokensMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do ListenableFuture-style rpc calls to service ChatService.
   * <pre>
   * Chat completions against any configured model.
   * Errors are never returned in-band: every failure is a gRPC status whose details carry a
   * google.rpc.ErrorInfo (domain "llmgateway", reason in UPPER_SNAKE_CASE) and, where they apply,
   * RetryInfo, QuotaFailure, BadRequest or ResourceInfo.
   * </pre>
   */
  public static final class ChatServiceFutureStub
      extends io.grpc.stub.AbstractFutureStub<ChatServiceFutureStub> {
    private ChatServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ChatServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ChatServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * Generates one complete assistant message.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.llmgateway.v1.ChatResponse> chat(
        io.llmgateway.v1.ChatRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getChatMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Counts the input tokens a Chat call with these messages and tools would use, asking the
     * provider where it has a counting endpoint (Anthropic, Gemini, Bedrock) and otherwise a local
     * tokenizer, in which case the answer is marked as an estimate.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.llmgateway.v1.CountTokensResponse> countTokens(
        io.llmgateway.v1.CountTokensRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getCountTokensMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_CHAT = 0;
  private static final int METHODID_CHAT_STREAM = 1;
  private static final int METHODID_COUNT_TOKENS = 2;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final AsyncService serviceImpl;
    private final int methodId;

    MethodHandlers(AsyncService serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_CHAT:
          serviceImpl.chat((io.llmgateway.v1.ChatRequest) request,
              (io.grpc.stub.StreamObserver<io.llmgateway.v1.ChatResponse>) responseObserver);
          break;
        case METHODID_CHAT_STREAM:
          serviceImpl.chatStream((io.llmgateway.v1.ChatStreamRequest) request,
              (io.grpc.stub.StreamObserver<io.llmgateway.v1.ChatStreamResponse>) responseObserver);
          break;
        case METHODID_COUNT_TOKENS:
          serviceImpl.countTokens((io.llmgateway.v1.CountTokensRequest) request,
              (io.grpc.stub.StreamObserver<io.llmgateway.v1.CountTokensResponse>) responseObserver);
          break;
        default:
          throw new AssertionError();
      }
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public io.grpc.stub.StreamObserver<Req> invoke(
        io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        default:
          throw new AssertionError();
      }
    }
  }

  public static final io.grpc.ServerServiceDefinition bindService(AsyncService service) {
    return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
        .addMethod(
          getChatMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.llmgateway.v1.ChatRequest,
              io.llmgateway.v1.ChatResponse>(
                service, METHODID_CHAT)))
        .addMethod(
          getChatStreamMethod(),
          io.grpc.stub.ServerCalls.asyncServerStreamingCall(
            new MethodHandlers<
              io.llmgateway.v1.ChatStreamRequest,
              io.llmgateway.v1.ChatStreamResponse>(
                service, METHODID_CHAT_STREAM)))
        .addMethod(
          getCountTokensMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.llmgateway.v1.CountTokensRequest,
              io.llmgateway.v1.CountTokensResponse>(
                service, METHODID_COUNT_TOKENS)))
        .build();
  }

  private static abstract class ChatServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    ChatServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return io.llmgateway.v1.ChatProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("ChatService");
    }
  }

  private static final class ChatServiceFileDescriptorSupplier
      extends ChatServiceBaseDescriptorSupplier {
    ChatServiceFileDescriptorSupplier() {}
  }

  private static final class ChatServiceMethodDescriptorSupplier
      extends ChatServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final java.lang.String methodName;

    ChatServiceMethodDescriptorSupplier(java.lang.String methodName) {
      this.methodName = methodName;
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.MethodDescriptor getMethodDescriptor() {
      return getServiceDescriptor().findMethodByName(methodName);
    }
  }

  private static volatile io.grpc.ServiceDescriptor serviceDescriptor;

  public static io.grpc.ServiceDescriptor getServiceDescriptor() {
    io.grpc.ServiceDescriptor result = serviceDescriptor;
    if (result == null) {
      synchronized (ChatServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new ChatServiceFileDescriptorSupplier())
              .addMethod(getChatMethod())
              .addMethod(getChatStreamMethod())
              .addMethod(getCountTokensMethod())
              .build();
        }
      }
    }
    return result;
  }
}
