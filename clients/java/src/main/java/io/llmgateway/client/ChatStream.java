package io.llmgateway.client;

import io.grpc.Context;
import io.grpc.StatusRuntimeException;
import io.llmgateway.v1.ChatStreamResponse;
import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * A streaming reply: iterate for the chunks ({@code for (var chunk : stream)}), or over {@link
 * #text()} for the text pieces alone; {@link #close()}
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

  /**
   * Only the reply's text, piece by piece ({@code for (String text : stream.text())}): the chunks
   * that carry none (the first, which names the model and provider; the last, with the usage;
   * reasoning and tool-call deltas) are skipped. It reads this stream: iterate one or the other.
   */
  public Iterable<String> text() {
    return () ->
        new Iterator<>() {
          private String pending;

          @Override
          public boolean hasNext() {
            while (pending == null && ChatStream.this.hasNext()) {
              String text = ChatStream.this.next().getDelta().getText();
              if (!text.isEmpty()) {
                pending = text;
              }
            }
            return pending != null;
          }

          @Override
          public String next() {
            if (!hasNext()) {
              throw new NoSuchElementException();
            }
            String text = pending;
            pending = null;
            return text;
          }
        };
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
