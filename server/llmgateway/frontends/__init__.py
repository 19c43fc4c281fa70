"""The gateway's front doors: each translates its transport to the core (llmgateway/core) and back."""
