package llmgateway

// Version is this module's release (clients/VERSION, stamped by clients/release/versions.py); its
// tag is clients/go/v<Version>.
const Version = "0.2.0"
