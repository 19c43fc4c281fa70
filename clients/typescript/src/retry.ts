import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

/**
 * The recommended gRPC retry service config (the same JSON every llmgateway client uses): up to 3
 * attempts with exponential backoff, for UNAVAILABLE only. The gateway has already retried and failed
 * over upstream; a RESOURCE_EXHAUSTED carries a RetryInfo delay for the caller to honour instead.
 */
export const retryServiceConfig = {
  methodConfig: [
    {
      name: [
        { service: "llmgateway.v1.ChatService" },
        { service: "llmgateway.v1.ModelService" },
        { service: "llmgateway.v1.EmbeddingService" },
      ],
      retryPolicy: {
        maxAttempts: 3,
        initialBackoff: "0.25s",
        maxBackoff: "4s",
        backoffMultiplier: 2,
        retryableStatusCodes: ["UNAVAILABLE"],
      },
    },
  ],
} as const;

export interface RetryPolicy {
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  backoffMultiplier: number;
  retryableCodes: Code[];
}

const seconds = (value: string): number => Math.round(parseFloat(value.replace(/s$/, "")) * 1000);

/** The retry policy of a gRPC service config (its first methodConfig with one). */
export function retryPolicyOf(config: { methodConfig: readonly { retryPolicy?: object }[] }): RetryPolicy {
  const policy = config.methodConfig.find((m) => m.retryPolicy)?.retryPolicy as
    | (typeof retryServiceConfig.methodConfig)[0]["retryPolicy"]
    | undefined;
  if (!policy) {
    return { maxAttempts: 1, initialBackoffMs: 0, maxBackoffMs: 0, backoffMultiplier: 1, retryableCodes: [] };
  }
  const codes: Record<string, Code> = { UNAVAILABLE: Code.Unavailable, RESOURCE_EXHAUSTED: Code.ResourceExhausted, ABORTED: Code.Aborted };
  return {
    maxAttempts: policy.maxAttempts,
    initialBackoffMs: seconds(policy.initialBackoff),
    maxBackoffMs: seconds(policy.maxBackoff),
    backoffMultiplier: policy.backoffMultiplier,
    retryableCodes: policy.retryableStatusCodes.map((name) => codes[name]).filter((c) => c !== undefined),
  };
}

/**
 * Connect has no gRPC service-config retries, so this interceptor applies the same policy to unary
 * calls (a stream is not retried: its chunks may already have been handed out). Backoff is
 * exponential with full jitter, as in gRPC, and never outlives the call's signal.
 */
export function retryInterceptor(policy: RetryPolicy = retryPolicyOf(retryServiceConfig)): Interceptor {
  return (next) => async (req) => {
    if (req.stream) {
      return next(req);
    }
    let backoff = policy.initialBackoffMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await next(req);
      } catch (error) {
        const code = ConnectError.from(error).code;
        if (attempt >= policy.maxAttempts || !policy.retryableCodes.includes(code) || req.signal.aborted) {
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, Math.random() * backoff));
        backoff = Math.min(backoff * policy.backoffMultiplier, policy.maxBackoffMs);
      }
    }
  };
}
