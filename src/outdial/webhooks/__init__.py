"""Results delivery: URL safety, Standard Webhooks signing, the outbox, the sender and its routes."""
