package io.llmgateway.client;

import io.grpc.Context;
import io.grpc.StatusRuntimeException;
import io.llmgateway.v1.ChatStreamResponse;
import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * A streaming reply: iterate for the chunks ({@code for (var chunk : stream)}); {@link #close()}
 * (or try-with-resources) cancels the call if it has not finished. Failures throw
 * {@link GatewayException} from {@code hasNext()} / {@code next()}.
 */
public final class ChatStream implements Iterable<ChatStreamResponse>, Iterator<ChatStreamResponse>, AutoCloseable {
  private final Context.CancellableContext context;
  private final Iterator<ChatStreamResponse> chunks;

  ChatStream(Context.CancellableContext context, Iterator<ChatStreamResponse> chunks) {
    this.context = context;
    this.chunks = chunks;
  }

  @Override
  public Iterator<ChatStreamResponse> iterator() {
    return this;
  }

  @Override
  public boolean hasNext() {
    try {
      return chunks.hasNext();
    } catch (StatusRuntimeException error) {
      throw GatewayException.from(error);
    }
  }

  @Override
  public ChatStreamResponse next() {
    if (!hasNext()) {
      throw new NoSuchElementException();
    }
    try {
      return chunks.next();
    } catch (StatusRuntimeException error) {
      throw GatewayException.from(error);
    }
  }

  /** Cancels the call; the next hasNext() throws GatewayException CANCELLED. */
  public void cancel() {
    context.cancel(null);
  }

  @Override
  public void close() {
    cancel();
  }
}
