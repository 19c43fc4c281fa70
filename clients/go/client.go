// Package llmgateway is a thin client for the llmgateway.v1 gRPC API.
//
// The generated stubs live in the subpackage llmgateway/v1 (import it as llmgatewayv1); this package
// adds what every caller needs on top of them: an API key sent as `authorization: Bearer KEY`, TLS or
// plaintext transport, a default deadline, the recommended retry service config, streams as Go
// iterators, and google.rpc error details decoded into *Error.
package llmgateway

import (
	"context"
	"crypto/tls"
	_ "embed"
	"errors"
	"io"
	"iter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	llmgatewayv1 "github.com/llmgateway/llmgateway/clients/go/llmgateway/v1"
)

// RetryServiceConfig is the recommended gRPC service config: up to 3 attempts with exponential
// backoff, for UNAVAILABLE only (the gateway has already retried and failed over upstream; a
// RESOURCE_EXHAUSTED carries a RetryInfo delay for the caller to honour instead).
//
//go:embed service_config.json
var RetryServiceConfig string

// Defaults applied by Dial unless an Option changes them.
const (
	DefaultTimeout       = 60 * time.Second
	DefaultStreamTimeout = 10 * time.Minute
)

type options struct {
	apiKey        string
	creds         credentials.TransportCredentials
	timeout       time.Duration
	streamTimeout time.Duration
	serviceConfig string
	dialOptions   []grpc.DialOption
}

// Option configures Dial.
type Option func(*options)

// WithAPIKey sends `authorization: Bearer KEY` on every call.
func WithAPIKey(key string) Option { return func(o *options) { o.apiKey = key } }

// WithTLS uses TLS with the given config (nil: the system roots). TLS is the default.
func WithTLS(config *tls.Config) Option {
	return func(o *options) {
		if config == nil {
			config = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		o.creds = credentials.NewTLS(config)
	}
}

// WithInsecure uses plaintext HTTP/2, for a gateway on localhost or behind a TLS-terminating proxy.
func WithInsecure() Option { return func(o *options) { o.creds = insecure.NewCredentials() } }

// WithTimeout sets the deadline given to unary calls whose context has none (0: no default).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithStreamTimeout sets the deadline given to streams whose context has none (0: no default).
func WithStreamTimeout(d time.Duration) Option { return func(o *options) { o.streamTimeout = d } }

// WithServiceConfig replaces RetryServiceConfig ("" leaves the channel without a service config).
func WithServiceConfig(json string) Option { return func(o *options) { o.serviceConfig = json } }

// WithDialOptions passes extra options to grpc.NewClient.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOptions = append(o.dialOptions, opts...) }
}

// Client is one channel to a gateway. It is safe for concurrent use; Close it when done.
type Client struct {
	conn          *grpc.ClientConn
	chat          llmgatewayv1.ChatServiceClient
	models        llmgatewayv1.ModelServiceClient
	embeddings    llmgatewayv1.EmbeddingServiceClient
	timeout       time.Duration
	streamTimeout time.Duration
}

// Dial creates a client for target ("host:port" or any gRPC target). It does not block: the
// connection is made on the first call.
func Dial(target string, opts ...Option) (*Client, error) {
	o := options{timeout: DefaultTimeout, streamTimeout: DefaultStreamTimeout, serviceConfig: RetryServiceConfig}
	WithTLS(nil)(&o)
	for _, opt := range opts {
		opt(&o)
	}
	dial := []grpc.DialOption{grpc.WithTransportCredentials(o.creds)}
	if o.serviceConfig != "" {
		dial = append(dial, grpc.WithDefaultServiceConfig(o.serviceConfig))
	}
	if o.apiKey != "" {
		dial = append(dial,
			grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
				return invoker(withKey(ctx, o.apiKey), method, req, reply, cc, callOpts...)
			}),
			grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, callOpts ...grpc.CallOption) (grpc.ClientStream, error) {
				return streamer(withKey(ctx, o.apiKey), desc, cc, method, callOpts...)
			}),
		)
	}
	conn, err := grpc.NewClient(target, append(dial, o.dialOptions...)...)
	if err != nil {
		return nil, err
	}
	return &Client{
		conn:          conn,
		chat:          llmgatewayv1.NewChatServiceClient(conn),
		models:        llmgatewayv1.NewModelServiceClient(conn),
		embeddings:    llmgatewayv1.NewEmbeddingServiceClient(conn),
		timeout:       o.timeout,
		streamTimeout: o.streamTimeout,
	}, nil
}

func withKey(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}

// Conn is the underlying channel, for the generated stubs or other services (health, reflection).
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Close closes the channel.
func (c *Client) Close() error { return c.conn.Close() }

func withDefaultDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// Chat makes one unary call. Errors are *Error (see AsError). Pass grpc.Trailer(&md) to read the
// gateway's x-llmgateway-* report, which it sends as trailing metadata.
func (c *Client) Chat(ctx context.Context, req *llmgatewayv1.ChatRequest, opts ...grpc.CallOption) (*llmgatewayv1.ChatResponse, error) {
	ctx, cancel := withDefaultDeadline(ctx, c.timeout)
	defer cancel()
	resp, err := c.chat.Chat(ctx, req, opts...)
	if err != nil {
		return nil, FromError(err)
	}
	return resp, nil
}

// ChatStream streams one reply as an iterator of chunks. The sequence ends after the last chunk, or
// with one (nil, *Error) pair when the call fails; breaking out of the loop cancels the call.
//
//	for chunk, err := range client.ChatStream(ctx, req) {
//		if err != nil { return err }
//		fmt.Print(chunk.GetDelta().GetText())
//	}
func (c *Client) ChatStream(ctx context.Context, req *llmgatewayv1.ChatStreamRequest, opts ...grpc.CallOption) iter.Seq2[*llmgatewayv1.ChatStreamResponse, error] {
	return func(yield func(*llmgatewayv1.ChatStreamResponse, error) bool) {
		ctx, cancel := withDefaultDeadline(ctx, c.streamTimeout)
		defer cancel()
		stream, err := c.chat.ChatStream(ctx, req, opts...)
		if err != nil {
			yield(nil, FromError(err))
			return
		}
		for {
			chunk, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(nil, FromError(err))
				return
			}
			if !yield(chunk, nil) {
				return
			}
		}
	}
}

// Embed returns one embedding per input, in input order. Errors are *Error (see AsError).
func (c *Client) Embed(ctx context.Context, req *llmgatewayv1.EmbedRequest, opts ...grpc.CallOption) (*llmgatewayv1.EmbedResponse, error) {
	ctx, cancel := withDefaultDeadline(ctx, c.timeout)
	defer cancel()
	resp, err := c.embeddings.Embed(ctx, req, opts...)
	if err != nil {
		return nil, FromError(err)
	}
	return resp, nil
}

// ChatStreamText streams only the reply's text, piece by piece: the chunks that carry none (the
// first, which names the model and provider; the last, with the usage; reasoning and tool-call
// deltas) are skipped. Use ChatStream for those. Errors and early exits behave as in ChatStream.
//
//	for piece, err := range client.ChatStreamText(ctx, req) {
//		if err != nil { return err }
//		fmt.Print(piece)
//	}
func (c *Client) ChatStreamText(ctx context.Context, req *llmgatewayv1.ChatStreamRequest, opts ...grpc.CallOption) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for chunk, err := range c.ChatStream(ctx, req, opts...) {
			if err != nil {
				yield("", err)
				return
			}
			if text := chunk.GetDelta().GetText(); text != "" && !yield(text, nil) {
				return
			}
		}
	}
}

// ListModels lists the models the gateway serves.
func (c *Client) ListModels(ctx context.Context, opts ...grpc.CallOption) (*llmgatewayv1.ListModelsResponse, error) {
	ctx, cancel := withDefaultDeadline(ctx, c.timeout)
	defer cancel()
	resp, err := c.models.ListModels(ctx, &llmgatewayv1.ListModelsRequest{}, opts...)
	if err != nil {
		return nil, FromError(err)
	}
	return resp, nil
}
