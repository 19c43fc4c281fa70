"""The gRPC front door (grpc.aio): servicers that turn metadata into a CallerIdentity and the core's
answers and errors into messages, statuses and trailers; the interceptors every gRPC method shares
(its server span and gRPC metrics, error statuses, streams closed in their own task)."""
