"""Security: classification and redaction, tenants, the hash-chained audit log."""
