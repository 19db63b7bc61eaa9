"""The only code that knows the table's keys and attributes and the buckets' object keys: executions,
jobs (the engine's conditional writes), webhook deliveries, API keys, provider keys, predictions and job
outputs (docs/data-model.md). It may import core and models."""
