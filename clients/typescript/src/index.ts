/**
 * A thin client for the llmgateway.v1 gRPC API on Connect's gRPC transport for Node.js: API key,
 * TLS, default deadlines, retries, streams as async iterables and typed errors. The generated
 * messages and service descriptors are exported too (`ChatService`, `ChatRequestSchema`, ...).
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { createClient, type CallOptions, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { SecureClientSessionOptions } from "node:http2";
import {
  ChatRequestSchema,
  ChatService,
  ChatStreamRequestSchema,
  type ChatResponse,
  type ChatStreamResponse,
} from "../gen/llmgateway/v1/chat_pb.js";
import { MessageSchema, Role } from "../gen/llmgateway/v1/content_pb.js";
import { EmbedRequestSchema, EmbeddingService, type EmbedResponse } from "../gen/llmgateway/v1/embeddings_pb.js";
import { ModelService, type ListModelsResponse } from "../gen/llmgateway/v1/models_pb.js";
import { GatewayError } from "./errors.js";
import { retryInterceptor, retryPolicyOf, retryServiceConfig } from "./retry.js";

export * from "../gen/llmgateway/v1/chat_pb.js";
export * from "../gen/llmgateway/v1/content_pb.js";
export * from "../gen/llmgateway/v1/embeddings_pb.js";
export * from "../gen/llmgateway/v1/models_pb.js";
export { GatewayError } from "./errors.js";
export { retryInterceptor, retryPolicyOf, retryServiceConfig, type RetryPolicy } from "./retry.js";

export interface GatewayClientOptions {
  /** Sent as `authorization: Bearer KEY` on every call. */
  apiKey?: string;
  /** true (default): TLS with Node's roots; false: plaintext; or TLS options (ca, cert, key, servername). */
  tls?: boolean | SecureClientSessionOptions;
  /** Default deadline of unary calls (ms; 0: none). Default 60 s. */
  timeoutMs?: number;
  /** Default deadline of streams (ms; 0: none). Default 10 min. */
  streamTimeoutMs?: number;
  /** The gRPC service config whose retry policy unary calls follow; null: no retries. */
  serviceConfig?: typeof retryServiceConfig | null;
  /** More Connect interceptors (tracing, logging, ...), run after the API key is set. */
  interceptors?: Interceptor[];
}

export type ChatRequestInit = MessageInitShape<typeof ChatRequestSchema>;
export type ChatStreamRequestInit = MessageInitShape<typeof ChatStreamRequestSchema>;
export type EmbedRequestInit = MessageInitShape<typeof EmbedRequestSchema>;

function bearer(apiKey: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${apiKey}`);
    return next(req);
  };
}

/** A client of the gateway at `address` ("host:port"); its HTTP/2 connection closes when idle. */
export class GatewayClient {
  readonly chatService: Client<typeof ChatService>;
  readonly modelService: Client<typeof ModelService>;
  readonly embeddingService: Client<typeof EmbeddingService>;
  private readonly timeoutMs: number;
  private readonly streamTimeoutMs: number;

  constructor(address: string, options: GatewayClientOptions = {}) {
    const tls = options.tls ?? true;
    const interceptors: Interceptor[] = [];
    if (options.apiKey) interceptors.push(bearer(options.apiKey));
    const serviceConfig = options.serviceConfig === undefined ? retryServiceConfig : options.serviceConfig;
    if (serviceConfig) interceptors.push(retryInterceptor(retryPolicyOf(serviceConfig)));
    interceptors.push(...(options.interceptors ?? []));
    const transport = createGrpcTransport({
      baseUrl: `${tls === false ? "http" : "https"}://${address}`,
      nodeOptions: typeof tls === "object" ? tls : {},
      interceptors,
    });
    this.chatService = createClient(ChatService, transport);
    this.modelService = createClient(ModelService, transport);
    this.embeddingService = createClient(EmbeddingService, transport);
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.streamTimeoutMs = options.streamTimeoutMs ?? 600_000;
  }

  private withDeadline(options: CallOptions | undefined, fallback: number): CallOptions {
    return { ...options, timeoutMs: options?.timeoutMs ?? (fallback > 0 ? fallback : undefined) };
  }

  /**
   * One unary call. Rejects with GatewayError. Pass `onTrailer` to read the gateway's x-llmgateway-*
   * report, which it sends as trailing metadata.
   */
  async chat(request: ChatRequestInit, options?: CallOptions): Promise<ChatResponse> {
    try {
      return await this.chatService.chat(create(ChatRequestSchema, request), this.withDeadline(options, this.timeoutMs));
    } catch (error) {
      throw GatewayError.from(error);
    }
  }

  /**
   * Stream one reply: `for await (const chunk of client.chatStream(req)) ...`. Throws GatewayError;
   * pass `signal` (an AbortController's) to cancel, or break out of the loop.
   */
  async *chatStream(request: ChatStreamRequestInit, options?: CallOptions): AsyncGenerator<ChatStreamResponse> {
    try {
      yield* this.chatService.chatStream(create(ChatStreamRequestSchema, request), this.withDeadline(options, this.streamTimeoutMs));
    } catch (error) {
      throw GatewayError.from(error);
    }
  }

  /** One embedding per input, in input order. Rejects with GatewayError. */
  async embed(request: EmbedRequestInit, options?: CallOptions): Promise<EmbedResponse> {
    try {
      return await this.embeddingService.embed(create(EmbedRequestSchema, request), this.withDeadline(options, this.timeoutMs));
    } catch (error) {
      throw GatewayError.from(error);
    }
  }

  /**
   * Stream only the reply's text, piece by piece: `for await (const text of client.chatStreamText(req))`.
   * The chunks that carry none (the first, which names the model and provider; the last, with the
   * usage; reasoning and tool-call deltas) are skipped: use chatStream() for those. Errors and
   * cancelling as in chatStream().
   */
  async *chatStreamText(request: ChatStreamRequestInit, options?: CallOptions): AsyncGenerator<string> {
    for await (const chunk of this.chatStream(request, options)) {
      const text = chunk.delta?.text ?? "";
      if (text !== "") yield text;
    }
  }

  async listModels(options?: CallOptions): Promise<ListModelsResponse> {
    try {
      return await this.modelService.listModels({}, this.withDeadline(options, this.timeoutMs));
    } catch (error) {
      throw GatewayError.from(error);
    }
  }
}

/** A request of one user message, usable for chat() and chatStream() alike. */
export interface TextRequest {
  model: string;
  messages: MessageInitShape<typeof MessageSchema>[];
}

/** A request with one user message. */
export function textRequest(model: string, text: string): TextRequest {
  return { model, messages: [{ role: Role.USER, parts: [{ kind: { case: "text", value: text } }] }] };
}
