"""State shared by every configuration and, with Redis, every replica: the limits and budgets, the
response cache, the one Redis client they share and how its reachability is tracked."""
