package llmgateway_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	llmgateway "github.com/llmgateway/llmgateway/clients/go"
	llmgatewayv1 "github.com/llmgateway/llmgateway/clients/go/llmgateway/v1"
)

// fakeChat records what the client sent and answers from fixed data.
type fakeChat struct {
	llmgatewayv1.UnimplementedChatServiceServer
	auth     []string
	deadline time.Duration
	fail     error
}

func (f *fakeChat) Chat(ctx context.Context, req *llmgatewayv1.ChatRequest) (*llmgatewayv1.ChatResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.auth = md.Get("authorization")
	if d, ok := ctx.Deadline(); ok {
		f.deadline = time.Until(d)
	}
	if f.fail != nil {
		return nil, f.fail
	}
	return &llmgatewayv1.ChatResponse{Model: req.GetModel()}, nil
}

func (f *fakeChat) ChatStream(req *llmgatewayv1.ChatStreamRequest, stream grpc.ServerStreamingServer[llmgatewayv1.ChatStreamResponse]) error {
	// As the gateway streams: a first chunk that names the provider, the text deltas, a reasoning
	// delta (no text), and a last chunk with the usage alone.
	chunks := []*llmgatewayv1.ChatStreamResponse{
		{Provider: "fake", Model: req.GetModel()},
		{Delta: &llmgatewayv1.Delta{Text: "a"}},
		{Delta: &llmgatewayv1.Delta{Text: "b"}},
		{Delta: &llmgatewayv1.Delta{Reasoning: "hmm"}},
		{Delta: &llmgatewayv1.Delta{Text: "c"}},
		{Usage: &llmgatewayv1.Usage{OutputTokens: 3}},
	}
	for _, chunk := range chunks {
		if err := stream.Send(chunk); err != nil {
			return err
		}
	}
	return nil
}

func serve(t *testing.T, fake *fakeChat) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer()
	llmgatewayv1.RegisterChatServiceServer(server, fake)
	go func() { _ = server.Serve(lis) }()
	t.Cleanup(server.Stop)
	return lis.Addr().String()
}

func TestAPIKeyAndDefaultDeadline(t *testing.T) {
	fake := &fakeChat{}
	client, err := llmgateway.Dial(serve(t, fake), llmgateway.WithInsecure(), llmgateway.WithAPIKey("k-123"), llmgateway.WithTimeout(7*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.Chat(context.Background(), &llmgatewayv1.ChatRequest{Model: "m"}); err != nil {
		t.Fatal(err)
	}
	if len(fake.auth) != 1 || fake.auth[0] != "Bearer k-123" {
		t.Fatalf("authorization = %v", fake.auth)
	}
	if fake.deadline <= 5*time.Second || fake.deadline > 7*time.Second {
		t.Fatalf("deadline = %v, want about 7s", fake.deadline)
	}
	// A deadline of the caller's own wins over the default.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := client.Chat(ctx, &llmgatewayv1.ChatRequest{Model: "m"}); err != nil {
		t.Fatal(err)
	}
	if fake.deadline > 2*time.Second {
		t.Fatalf("deadline = %v, want at most 2s", fake.deadline)
	}
}

func TestErrorDetailsDecoded(t *testing.T) {
	st, _ := status.New(codes.ResourceExhausted, "slow down").WithDetails(
		&errdetails.ErrorInfo{Reason: "RATE_LIMITED", Domain: "llmgateway", Metadata: map[string]string{"k": "v"}},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(1500 * time.Millisecond)},
	)
	client, err := llmgateway.Dial(serve(t, &fakeChat{fail: st.Err()}), llmgateway.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	_, err = client.Chat(context.Background(), &llmgatewayv1.ChatRequest{})
	gwErr, ok := llmgateway.AsError(err)
	if !ok {
		t.Fatalf("not an *Error: %v", err)
	}
	if gwErr.Code != codes.ResourceExhausted || gwErr.Reason != "RATE_LIMITED" || gwErr.Domain != "llmgateway" ||
		gwErr.Metadata["k"] != "v" || !gwErr.HasRetryDelay || gwErr.RetryDelay != 1500*time.Millisecond {
		t.Fatalf("decoded %+v", gwErr)
	}
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("status.Code sees %v", status.Code(err))
	}
}

func TestStreamIsAnIterator(t *testing.T) {
	client, err := llmgateway.Dial(serve(t, &fakeChat{}), llmgateway.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var texts []string
	for chunk, err := range client.ChatStream(context.Background(), &llmgatewayv1.ChatStreamRequest{}) {
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, chunk.GetDelta().GetText())
	}
	if !slices.Equal(texts, []string{"", "a", "b", "", "c", ""}) {
		t.Fatalf("chunks' text = %q", texts)
	}
}

func TestStreamTextSkipsTheChunksWithoutText(t *testing.T) {
	client, err := llmgateway.Dial(serve(t, &fakeChat{}), llmgateway.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var pieces []string
	for piece, err := range client.ChatStreamText(context.Background(), &llmgatewayv1.ChatStreamRequest{}) {
		if err != nil {
			t.Fatal(err)
		}
		pieces = append(pieces, piece)
	}
	if !slices.Equal(pieces, []string{"a", "b", "c"}) {
		t.Fatalf("pieces = %q", pieces)
	}
}

func TestRetryServiceConfigMatchesTheSharedOne(t *testing.T) {
	shared, err := os.ReadFile("../testdata/service_config.json")
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := json.Unmarshal(shared, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(llmgateway.RetryServiceConfig), &got); err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(want)
	gotJSON, _ := json.Marshal(got)
	if string(wantJSON) != string(gotJSON) {
		t.Fatalf("RetryServiceConfig differs from clients/testdata/service_config.json: run make gen-clients")
	}
}
