package io.llmgateway.client;

import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * One call on grpc-java's async stub, seen as a {@link CompletableFuture}: each message goes to
 * {@code onMessage} as it arrives, the future completes with {@code result} when the call ends
 * well, or exceptionally with a {@link GatewayException}; cancelling the future cancels the call
 * (the gateway and the provider stop). grpc-java's own futures are Guava's ListenableFuture: this
 * small bridge keeps Guava out of the client's API and gives streams a future too.
 */
final class CallFuture<ReqT, RespT, R> implements ClientResponseObserver<ReqT, RespT> {
  private final CompletableFuture<R> future = new CompletableFuture<>();
  private final Consumer<RespT> onMessage;
  private final Supplier<R> result;
  private volatile ClientCallStreamObserver<ReqT> call;

  CallFuture(Consumer<RespT> onMessage, Supplier<R> result) {
    this.onMessage = onMessage;
    this.result = result;
    future.whenComplete(
        (ignored, failure) -> {
          if (future.isCancelled() && call != null) {
            call.cancel("cancelled by the caller", null);
          }
        });
  }

  /** The future the caller gets. */
  CompletableFuture<R> future() {
    return future;
  }

  @Override
  public void beforeStart(ClientCallStreamObserver<ReqT> requestStream) {
    call = requestStream;
  }

  @Override
  public void onNext(RespT message) {
    if (future.isDone()) {
      return;
    }
    try {
      onMessage.accept(message);
    } catch (RuntimeException failure) {
      // The caller's handler failed: nothing more of this reply is wanted.
      call.cancel("the message handler failed", failure);
      future.completeExceptionally(failure);
    }
  }

  @Override
  public void onError(Throwable error) {
    future.completeExceptionally(GatewayException.from(error));
  }

  @Override
  public void onCompleted() {
    future.complete(result.get());
  }
}
