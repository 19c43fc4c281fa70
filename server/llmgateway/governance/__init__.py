"""The AdminService: keys and tenants at run time, their audit record, usage reports, and the sync
that brings every replica the database's changes (docs/admin.md). Named for the concern, not
`admin`, because `llmgateway.admin.v1` is the generated stubs' namespace package."""
