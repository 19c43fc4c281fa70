import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";

/** The gRPC status code names, as the gateway's docs and google.rpc.Code spell them. */
const CODE_NAMES: Record<Code, string> = {
  [Code.Canceled]: "CANCELLED",
  [Code.Unknown]: "UNKNOWN",
  [Code.InvalidArgument]: "INVALID_ARGUMENT",
  [Code.DeadlineExceeded]: "DEADLINE_EXCEEDED",
  [Code.NotFound]: "NOT_FOUND",
  [Code.AlreadyExists]: "ALREADY_EXISTS",
  [Code.PermissionDenied]: "PERMISSION_DENIED",
  [Code.ResourceExhausted]: "RESOURCE_EXHAUSTED",
  [Code.FailedPrecondition]: "FAILED_PRECONDITION",
  [Code.Aborted]: "ABORTED",
  [Code.OutOfRange]: "OUT_OF_RANGE",
  [Code.Unimplemented]: "UNIMPLEMENTED",
  [Code.Internal]: "INTERNAL",
  [Code.Unavailable]: "UNAVAILABLE",
  [Code.DataLoss]: "DATA_LOSS",
  [Code.Unauthenticated]: "UNAUTHENTICATED",
};

/** A failed call with the google.rpc details the gateway attaches decoded. */
export class GatewayError extends Error {
  override readonly name = "GatewayError";
  /** The gRPC code (Connect's enum) and its name, e.g. "RESOURCE_EXHAUSTED". */
  readonly code: Code;
  readonly codeName: string;
  /** The status message without decoration. */
  readonly rawMessage: string;
  /** google.rpc.ErrorInfo: reason (e.g. "MODEL_NOT_FOUND"), domain ("llmgateway"), metadata. */
  readonly reason: string;
  readonly domain: string;
  readonly metadata: Record<string, string>;
  /** google.rpc.RetryInfo's delay in milliseconds, undefined when the gateway sent none. */
  readonly retryDelayMs: number | undefined;
  /** The ConnectError, for other details: `error.connectError.findDetails(BadRequestSchema)`. */
  readonly connectError: ConnectError;

  constructor(connectError: ConnectError) {
    const info = connectError.findDetails(ErrorInfoSchema)[0];
    const retry = connectError.findDetails(RetryInfoSchema)[0];
    const codeName = CODE_NAMES[connectError.code] ?? "UNKNOWN";
    const reason = info?.reason ?? "";
    super(`${codeName}${reason ? " " + reason : ""}: ${connectError.rawMessage}`, { cause: connectError });
    this.code = connectError.code;
    this.codeName = codeName;
    this.rawMessage = connectError.rawMessage;
    this.reason = reason;
    this.domain = info?.domain ?? "";
    this.metadata = { ...(info?.metadata ?? {}) };
    const delay = retry?.retryDelay;
    this.retryDelayMs = delay ? Number(delay.seconds) * 1000 + Math.round(delay.nanos / 1e6) : undefined;
    this.connectError = connectError;
  }

  /** Any error thrown by a call, as a GatewayError (an AbortSignal's reason becomes CANCELLED). */
  static from(error: unknown): GatewayError {
    return error instanceof GatewayError ? error : new GatewayError(ConnectError.from(error));
  }
}
