// The README's example; type-checked with the package (`npm run build`) so it cannot drift.
import { GatewayClient, GatewayError, textRequest } from "../src/index.js";

export async function main(): Promise<void> {
  const client = new GatewayClient("localhost:50051", { tls: false, apiKey: "llmgw-...", timeoutMs: 30_000 });

  try {
    const reply = await client.chat(textRequest("gpt-4o-mini", "Hello!"), {
      onTrailer: (report) => console.log("served by", report.get("x-llmgateway-provider")),
    });
    console.log(reply.message?.parts[0]?.kind.value);
  } catch (error) {
    if (error instanceof GatewayError && error.retryDelayMs !== undefined) {
      console.log(`${error.reason}: retry in ${error.retryDelayMs} ms`);
    } else {
      throw error;
    }
  }

  for await (const text of client.chatStreamText(textRequest("gpt-4o-mini", "Count to ten"))) {
    process.stdout.write(text);
  }
}
