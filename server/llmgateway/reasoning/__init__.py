"""Reasoning ("thinking"): what a request asks for, which deployments can honour it, how an effort
becomes a token budget, and whose signatures a provider may be sent back."""
