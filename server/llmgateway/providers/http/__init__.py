"""The HTTP beneath every adapter: the transport seam and its two implementations, the client that
builds requests and caps answers, and the stream framings and pacing the adapters' base reads with."""
