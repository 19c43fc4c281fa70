"""PII and secret redaction: what is found (kinds), how (detectors), the redactor of whole texts,
the stream redactor, and a key's policy applied to its calls (policy)."""
