package llmgateway_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	llmgateway "github.com/llmgateway/llmgateway/clients/go"
	llmgatewayv1 "github.com/llmgateway/llmgateway/clients/go/llmgateway/v1"
)

// The README's example; compiled with the tests so it cannot drift from the API.
func Example() {
	client, err := llmgateway.Dial("localhost:50051",
		llmgateway.WithInsecure(), // or WithTLS(nil) for TLS with the system roots
		llmgateway.WithAPIKey("llmgw-..."),
		llmgateway.WithTimeout(30*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	user := &llmgatewayv1.Message{
		Role:  llmgatewayv1.Role_ROLE_USER,
		Parts: []*llmgatewayv1.Part{{Kind: &llmgatewayv1.Part_Text{Text: "Hello!"}}},
	}
	var report metadata.MD
	reply, err := client.Chat(context.Background(), &llmgatewayv1.ChatRequest{
		Model: "gpt-4o-mini", Messages: []*llmgatewayv1.Message{user},
	}, grpc.Trailer(&report))
	if gwErr, ok := llmgateway.AsError(err); ok && gwErr.HasRetryDelay {
		log.Printf("%s: retry in %s", gwErr.Reason, gwErr.RetryDelay)
		return
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.GetMessage().GetParts()[0].GetText(), report.Get("x-llmgateway-provider"))

	for text, err := range client.ChatStreamText(context.Background(), &llmgatewayv1.ChatStreamRequest{
		Model: "gpt-4o-mini", Messages: []*llmgatewayv1.Message{user},
	}) {
		if err != nil {
			var gwErr *llmgateway.Error
			if errors.As(err, &gwErr) {
				log.Fatalf("stream failed: %s %s", gwErr.Code, gwErr.Reason)
			}
			log.Fatal(err)
		}
		fmt.Print(text)
	}
}
