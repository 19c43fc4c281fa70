package io.llmgateway.client;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.ErrorInfo;
import com.google.rpc.RetryInfo;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/** A failed call, with the google.rpc details the gateway attaches decoded. */
public final class GatewayException extends RuntimeException {
  private final Status.Code code;
  private final String reason;
  private final String domain;
  private final Map<String, String> metadata;
  private final Duration retryDelay;
  private final com.google.rpc.Status status;

  private GatewayException(
      Status.Code code,
      String message,
      String reason,
      String domain,
      Map<String, String> metadata,
      Duration retryDelay,
      com.google.rpc.Status status,
      Throwable cause) {
    super(code + (reason.isEmpty() ? "" : " " + reason) + ": " + message, cause);
    this.code = code;
    this.reason = reason;
    this.domain = domain;
    this.metadata = metadata;
    this.retryDelay = retryDelay;
    this.status = status;
  }

  /** Converts any exception a call threw; a GatewayException is returned as is. */
  public static GatewayException from(Throwable error) {
    if (error instanceof GatewayException gatewayException) {
      return gatewayException;
    }
    Status status = Status.fromThrowable(error);
    String message = status.getDescription() == null ? "" : status.getDescription();
    com.google.rpc.Status details = StatusProto.fromThrowable(error);
    String reason = "";
    String domain = "";
    Map<String, String> metadata = Map.of();
    Duration retryDelay = null;
    if (details != null) {
      for (Any detail : details.getDetailsList()) {
        try {
          if (detail.is(ErrorInfo.class)) {
            ErrorInfo info = detail.unpack(ErrorInfo.class);
            reason = info.getReason();
            domain = info.getDomain();
            metadata = Map.copyOf(info.getMetadataMap());
          } else if (detail.is(RetryInfo.class)) {
            com.google.protobuf.Duration delay = detail.unpack(RetryInfo.class).getRetryDelay();
            retryDelay = Duration.ofSeconds(delay.getSeconds(), delay.getNanos());
          }
        } catch (InvalidProtocolBufferException malformed) {
          // A detail that does not parse is left out; the code and message still stand.
        }
      }
    }
    return new GatewayException(
        status.getCode(), message, reason, domain, metadata, retryDelay, details, error);
  }

  /** The gRPC status code. */
  public Status.Code code() {
    return code;
  }

  /** google.rpc.ErrorInfo's reason, e.g. "MODEL_NOT_FOUND"; empty when the gateway sent none. */
  public String reason() {
    return reason;
  }

  /** google.rpc.ErrorInfo's domain ("llmgateway"); empty when the gateway sent none. */
  public String domain() {
    return domain;
  }

  /** google.rpc.ErrorInfo's metadata. */
  public Map<String, String> metadata() {
    return metadata;
  }

  /** google.rpc.RetryInfo's delay, when the gateway sent one. */
  public Optional<Duration> retryDelay() {
    return Optional.ofNullable(retryDelay);
  }

  /** The whole google.rpc.Status (null when the error carried none), for the other details. */
  public com.google.rpc.Status status() {
    return status;
  }
}
