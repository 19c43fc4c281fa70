"""The status page on the metrics listener: what the gateway's deployments, tenants and keys are
doing, for people who would rather look than read /metrics or query the ledger. Figures come from
the metrics registry (breakers, in-flight calls, attempts) and the ledger (latency, spend, usage);
the page is one HTML document with nothing to fetch, behind the admin credential."""
