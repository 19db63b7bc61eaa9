"""Webhook delivery at least once (docs/webhooks.md): which URLs may be called, Standard Webhooks
signatures, the SSRF-checked POST, and the enqueue/send steps. It may import core, models and storage."""
