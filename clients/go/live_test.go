package llmgateway_test

// The cross-language cases (clients/testdata/cases.json) against the real gateway that
// clients/testdata/harness.py starts; skipped when LLMGATEWAY_TEST_ADDR is not set.

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	llmgateway "github.com/llmgateway/llmgateway/clients/go"
	llmgatewayv1 "github.com/llmgateway/llmgateway/clients/go/llmgateway/v1"
)

type liveCase struct {
	Name              string          `json:"name"`
	Kind              string          `json:"kind"`
	Requires          string          `json:"requires"`
	SkipReason        string          `json:"skip_reason"`
	APIKey            *string         `json:"api_key"`
	DeadlineMS        int             `json:"deadline_ms"`
	CancelAfterChunks int             `json:"cancel_after_chunks"`
	Request           json.RawMessage `json:"request"`
	ToolResult        string          `json:"tool_result"`
	Expect            struct {
		Text            string            `json:"text"`
		FinishReason    string            `json:"finish_reason"`
		Provider        string            `json:"provider"`
		Model           string            `json:"model"`
		MinChunks       int               `json:"min_chunks"`
		MinPieces       int               `json:"min_pieces"`
		MaxChunks       int               `json:"max_chunks"`
		MinOutputTokens int32             `json:"min_output_tokens"`
		MinInputTokens  int32             `json:"min_input_tokens"`
		Embeddings      [][]float64       `json:"embeddings"`
		Metadata        map[string]string `json:"metadata"`
		ReasoningOrigin string            `json:"reasoning_origin"`
		ToolName        string            `json:"tool_name"`
		Error           *struct {
			Code        string   `json:"code"`
			Reason      string   `json:"reason"`
			RetryDelayS *float64 `json:"retry_delay_s"`
		} `json:"error"`
	} `json:"expect"`
}

func loadCases(t *testing.T) []liveCase {
	path := os.Getenv("LLMGATEWAY_TEST_CASES")
	if path == "" {
		path = "../testdata/cases.json"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []liveCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	return file.Cases
}

func TestLiveCases(t *testing.T) {
	addr := os.Getenv("LLMGATEWAY_TEST_ADDR")
	if addr == "" {
		t.Skip("LLMGATEWAY_TEST_ADDR is not set: run through clients/testdata/harness.py (make test-clients)")
	}
	features := strings.Split(os.Getenv("LLMGATEWAY_TEST_FEATURES"), ",")
	for _, c := range loadCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			if c.Requires != "" && !slices.Contains(features, c.Requires) {
				t.Skipf("requires %q: %s", c.Requires, c.SkipReason)
			}
			opts := []llmgateway.Option{llmgateway.WithInsecure()}
			key := os.Getenv("LLMGATEWAY_TEST_API_KEY")
			if c.APIKey != nil {
				key = *c.APIKey
			}
			if key != "" {
				opts = append(opts, llmgateway.WithAPIKey(key))
			}
			client, err := llmgateway.Dial(addr, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if c.DeadlineMS > 0 {
				ctx, cancel = context.WithTimeout(context.Background(), time.Duration(c.DeadlineMS)*time.Millisecond)
			}
			defer cancel()
			switch c.Kind {
			case "unary":
				runUnary(ctx, t, client, c)
			case "stream":
				runStream(ctx, cancel, t, client, c)
			case "embed":
				runEmbed(ctx, t, client, c)
			case "stream_text":
				runStreamText(ctx, cancel, t, client, c)
			case "tool_loop", "tool_loop_stream":
				runToolLoop(ctx, t, client, c)
			default:
				t.Fatalf("unknown kind %q", c.Kind)
			}
		})
	}
}

func runUnary(ctx context.Context, t *testing.T, client *llmgateway.Client, c liveCase) {
	req := &llmgatewayv1.ChatRequest{}
	if err := protojson.Unmarshal(c.Request, req); err != nil {
		t.Fatal(err)
	}
	var report metadata.MD
	resp, err := client.Chat(ctx, req, grpc.Trailer(&report))
	if checkError(t, c, err) {
		return
	}
	text := ""
	for _, part := range resp.GetMessage().GetParts() {
		text += part.GetText()
	}
	checkReply(t, c, text, resp.GetProvider(), resp.GetFinishReason(), resp.GetUsage())
	for key, want := range c.Expect.Metadata {
		if got := report.Get(key); len(got) != 1 || got[0] != want {
			t.Errorf("trailer %s = %v, want %q", key, got, want)
		}
	}
}

func runEmbed(ctx context.Context, t *testing.T, client *llmgateway.Client, c liveCase) {
	req := &llmgatewayv1.EmbedRequest{}
	if err := protojson.Unmarshal(c.Request, req); err != nil {
		t.Fatal(err)
	}
	resp, err := client.Embed(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetProvider() != c.Expect.Provider || resp.GetModel() != c.Expect.Model {
		t.Errorf("served by %s/%s, want %s/%s", resp.GetProvider(), resp.GetModel(), c.Expect.Provider, c.Expect.Model)
	}
	if len(resp.GetEmbeddings()) != len(c.Expect.Embeddings) {
		t.Fatalf("%d embeddings, want %d", len(resp.GetEmbeddings()), len(c.Expect.Embeddings))
	}
	for i, embedding := range resp.GetEmbeddings() {
		if embedding.GetIndex() != int32(i) {
			t.Errorf("embedding %d has index %d", i, embedding.GetIndex())
		}
		want := c.Expect.Embeddings[i]
		if len(embedding.GetValues()) != len(want) {
			t.Fatalf("embedding %d has %d values, want %d", i, len(embedding.GetValues()), len(want))
		}
		for j, value := range embedding.GetValues() {
			if math.Abs(float64(value)-want[j]) > 1e-6 {
				t.Errorf("embedding %d value %d = %v, want %v", i, j, value, want[j])
			}
		}
	}
	if resp.GetUsage().GetInputTokens() < c.Expect.MinInputTokens {
		t.Errorf("input tokens %d, want at least %d", resp.GetUsage().GetInputTokens(), c.Expect.MinInputTokens)
	}
}

func runStream(ctx context.Context, cancel context.CancelFunc, t *testing.T, client *llmgateway.Client, c liveCase) {
	req := &llmgatewayv1.ChatStreamRequest{}
	if err := protojson.Unmarshal(c.Request, req); err != nil {
		t.Fatal(err)
	}
	var chunks []*llmgatewayv1.ChatStreamResponse
	var streamErr error
	for chunk, err := range client.ChatStream(ctx, req) {
		if err != nil {
			streamErr = err
			break
		}
		chunks = append(chunks, chunk)
		if c.CancelAfterChunks > 0 && len(chunks) == c.CancelAfterChunks {
			cancel()
		}
	}
	if c.Expect.MaxChunks > 0 && len(chunks) > c.Expect.MaxChunks {
		t.Errorf("%d chunks after cancelling, want at most %d", len(chunks), c.Expect.MaxChunks)
	}
	if checkError(t, c, streamErr) {
		return
	}
	if len(chunks) < c.Expect.MinChunks {
		t.Fatalf("%d chunks, want at least %d", len(chunks), c.Expect.MinChunks)
	}
	text := ""
	finish := llmgatewayv1.FinishReason_FINISH_REASON_UNSPECIFIED
	for _, chunk := range chunks {
		text += chunk.GetDelta().GetText()
		if chunk.GetFinishReason() != llmgatewayv1.FinishReason_FINISH_REASON_UNSPECIFIED {
			finish = chunk.GetFinishReason()
		}
	}
	last := chunks[len(chunks)-1]
	checkReply(t, c, text, chunks[0].GetProvider(), finish, last.GetUsage())
}

// runStreamText reads a stream through the text-only helper: every piece is non-empty text.
func runStreamText(ctx context.Context, cancel context.CancelFunc, t *testing.T, client *llmgateway.Client, c liveCase) {
	req := &llmgatewayv1.ChatStreamRequest{}
	if err := protojson.Unmarshal(c.Request, req); err != nil {
		t.Fatal(err)
	}
	var pieces []string
	var streamErr error
	for piece, err := range client.ChatStreamText(ctx, req) {
		if err != nil {
			streamErr = err
			break
		}
		if piece == "" {
			t.Errorf("the text helper yielded an empty piece")
		}
		pieces = append(pieces, piece)
		if c.CancelAfterChunks > 0 && len(pieces) == c.CancelAfterChunks {
			cancel()
		}
	}
	if c.Expect.MaxChunks > 0 && len(pieces) > c.Expect.MaxChunks {
		t.Errorf("%d pieces after cancelling, want at most %d", len(pieces), c.Expect.MaxChunks)
	}
	if checkError(t, c, streamErr) {
		return
	}
	if len(pieces) < max(c.Expect.MinPieces, 1) {
		t.Fatalf("%d pieces, want at least %d", len(pieces), c.Expect.MinPieces)
	}
	if text := strings.Join(pieces, ""); c.Expect.Text != "" && text != c.Expect.Text {
		t.Errorf("text %q, want %q", text, c.Expect.Text)
	}
}

// runToolLoop runs a tool_loop case: turn 1 answers signed reasoning and a tool call; the
// assistant turn goes back exactly as received with the tool's result, and turn 2 answers. Both
// turns unary, or both streamed (turn 1's message then assembled from the deltas).
func runToolLoop(ctx context.Context, t *testing.T, client *llmgateway.Client, c liveCase) {
	unary := &llmgatewayv1.ChatRequest{}
	streamed := &llmgatewayv1.ChatStreamRequest{}
	for _, request := range []proto.Message{unary, streamed} {
		if err := protojson.Unmarshal(c.Request, request); err != nil {
			t.Fatal(err)
		}
	}
	ask := func() (*llmgatewayv1.Message, llmgatewayv1.FinishReason, string, *llmgatewayv1.Usage) {
		if c.Kind != "tool_loop_stream" {
			resp, err := client.Chat(ctx, unary)
			if err != nil {
				t.Fatal(err)
			}
			return resp.GetMessage(), resp.GetFinishReason(), resp.GetProvider(), resp.GetUsage()
		}
		var chunks []*llmgatewayv1.ChatStreamResponse
		for chunk, err := range client.ChatStream(ctx, streamed) {
			if err != nil {
				t.Fatal(err)
			}
			chunks = append(chunks, chunk)
		}
		if len(chunks) == 0 {
			t.Fatal("an empty stream")
		}
		finish := llmgatewayv1.FinishReason_FINISH_REASON_UNSPECIFIED
		for _, chunk := range chunks {
			if chunk.GetFinishReason() != llmgatewayv1.FinishReason_FINISH_REASON_UNSPECIFIED {
				finish = chunk.GetFinishReason()
			}
		}
		return assemble(chunks), finish, chunks[0].GetProvider(), chunks[len(chunks)-1].GetUsage()
	}
	first, finish, _, _ := ask()
	result := checkToolCallTurn(t, c, first, finish)
	unary.Messages = append(unary.Messages, first, result)
	streamed.Messages = append(streamed.Messages, first, result)
	answer, finish, provider, usage := ask()
	text := ""
	for _, part := range answer.GetParts() {
		text += part.GetText()
	}
	checkReply(t, c, text, provider, finish, usage)
}

// checkToolCallTurn checks turn 1 of a tool loop (signed reasoning from the expected signer, one
// tool call) and returns the tool's result for that call.
func checkToolCallTurn(t *testing.T, c liveCase, message *llmgatewayv1.Message, finish llmgatewayv1.FinishReason) *llmgatewayv1.Message {
	t.Helper()
	if finish != llmgatewayv1.FinishReason_FINISH_REASON_TOOL_CALLS {
		t.Fatalf("finish reason %s, want FINISH_REASON_TOOL_CALLS", finish)
	}
	signed := 0
	var calls []*llmgatewayv1.ToolCall
	for _, part := range message.GetParts() {
		if reasoning := part.GetReasoning(); reasoning != nil && reasoning.GetSignature() != "" {
			signed++
			if reasoning.GetOrigin() != c.Expect.ReasoningOrigin {
				t.Errorf("reasoning signed by %q, want %q", reasoning.GetOrigin(), c.Expect.ReasoningOrigin)
			}
		}
		if call := part.GetToolCall(); call != nil {
			calls = append(calls, call)
		}
	}
	if signed == 0 {
		t.Fatalf("no signed reasoning in %v", message)
	}
	if len(calls) != 1 || calls[0].GetName() != c.Expect.ToolName || calls[0].GetId() == "" {
		t.Fatalf("tool calls %v, want one call of %s with an id", calls, c.Expect.ToolName)
	}
	result := &llmgatewayv1.ToolResult{
		ToolCallId: calls[0].GetId(),
		Content:    []*llmgatewayv1.Part{{Kind: &llmgatewayv1.Part_Text{Text: c.ToolResult}}},
	}
	return &llmgatewayv1.Message{
		Role:  llmgatewayv1.Role_ROLE_TOOL,
		Parts: []*llmgatewayv1.Part{{Kind: &llmgatewayv1.Part_ToolResult{ToolResult: result}}},
	}
}

// assemble rebuilds the assistant message a stream carries, as chat.proto's Delta says: parts in
// the order the stream first mentions them (within one delta: reasoning, refusal, text, tool
// calls), each part's fragments joined in order.
func assemble(chunks []*llmgatewayv1.ChatStreamResponse) *llmgatewayv1.Message {
	message := &llmgatewayv1.Message{Role: llmgatewayv1.Role_ROLE_ASSISTANT}
	type slot struct {
		kind  string
		index int32
	}
	known := map[slot]*llmgatewayv1.Part{}
	part := func(kind string, index int32, empty func() *llmgatewayv1.Part) *llmgatewayv1.Part {
		if known[slot{kind, index}] == nil {
			known[slot{kind, index}] = empty()
			message.Parts = append(message.Parts, known[slot{kind, index}])
		}
		return known[slot{kind, index}]
	}
	for _, chunk := range chunks {
		delta := chunk.GetDelta()
		if delta == nil {
			continue
		}
		if delta.GetReasoning() != "" || delta.GetReasoningSignature() != "" ||
			delta.GetReasoningRedactedData() != "" || delta.GetReasoningOrigin() != "" {
			empty := func() *llmgatewayv1.Part {
				return &llmgatewayv1.Part{Kind: &llmgatewayv1.Part_Reasoning{Reasoning: &llmgatewayv1.Reasoning{}}}
			}
			reasoning := part("reasoning", delta.GetReasoningIndex(), empty).GetReasoning()
			reasoning.Text += delta.GetReasoning()
			reasoning.Signature += delta.GetReasoningSignature()
			reasoning.RedactedData += delta.GetReasoningRedactedData()
			if reasoning.Origin == "" {
				reasoning.Origin = delta.GetReasoningOrigin()
			}
		}
		if delta.GetRefusal() != "" {
			empty := func() *llmgatewayv1.Part { return &llmgatewayv1.Part{Kind: &llmgatewayv1.Part_Refusal{}} }
			refusal := part("refusal", 0, empty).Kind.(*llmgatewayv1.Part_Refusal)
			refusal.Refusal += delta.GetRefusal()
		}
		if delta.GetText() != "" {
			empty := func() *llmgatewayv1.Part { return &llmgatewayv1.Part{Kind: &llmgatewayv1.Part_Text{}} }
			text := part("text", 0, empty).Kind.(*llmgatewayv1.Part_Text)
			text.Text += delta.GetText()
		}
		for _, fragment := range delta.GetToolCalls() {
			empty := func() *llmgatewayv1.Part {
				return &llmgatewayv1.Part{Kind: &llmgatewayv1.Part_ToolCall{ToolCall: &llmgatewayv1.ToolCall{}}}
			}
			call := part("tool_call", fragment.GetIndex(), empty).GetToolCall()
			call.Id += fragment.GetId()
			call.Name += fragment.GetName()
			call.ArgumentsJson += fragment.GetArgumentsJsonFragment()
		}
	}
	return message
}

// checkError reports whether the case expected an error, after checking it against err.
func checkError(t *testing.T, c liveCase, err error) bool {
	t.Helper()
	want := c.Expect.Error
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return false
	}
	gwErr, ok := llmgateway.AsError(err)
	if !ok {
		t.Fatalf("want %s, got %v", want.Code, err)
	}
	var wantCode codes.Code
	if err := wantCode.UnmarshalJSON([]byte(`"` + want.Code + `"`)); err != nil {
		t.Fatal(err)
	}
	if gwErr.Code != wantCode {
		t.Fatalf("code %s, want %s (%v)", gwErr.Code, want.Code, err)
	}
	if want.Reason != "" && gwErr.Reason != want.Reason {
		t.Errorf("reason %q, want %q", gwErr.Reason, want.Reason)
	}
	if want.RetryDelayS != nil {
		if !gwErr.HasRetryDelay || gwErr.RetryDelay != time.Duration(*want.RetryDelayS*float64(time.Second)) {
			t.Errorf("retry delay %v (present %v), want %vs", gwErr.RetryDelay, gwErr.HasRetryDelay, *want.RetryDelayS)
		}
	}
	return true
}

func checkReply(t *testing.T, c liveCase, text, provider string, finish llmgatewayv1.FinishReason, usage *llmgatewayv1.Usage) {
	t.Helper()
	e := c.Expect
	if e.Text != "" && text != e.Text {
		t.Errorf("text %q, want %q", text, e.Text)
	}
	if e.Provider != "" && provider != e.Provider {
		t.Errorf("provider %q, want %q", provider, e.Provider)
	}
	if e.FinishReason != "" && finish.String() != e.FinishReason {
		t.Errorf("finish reason %s, want %s", finish, e.FinishReason)
	}
	if e.MinOutputTokens > 0 && usage.GetOutputTokens() < e.MinOutputTokens {
		t.Errorf("usage %v, want at least %d output tokens", usage, e.MinOutputTokens)
	}
}
