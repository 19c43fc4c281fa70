"""The call pipeline every front door shares (gRPC today, the HTTP doors next): cheap local guards,
authentication, admission, validation and PII, the response cache, routing, and the settlement of
what the call used. It takes v1 messages and a CallerIdentity and knows nothing of any transport."""
