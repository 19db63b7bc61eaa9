"""The only code that knows the table's keys and attributes and the buckets' object keys: executions,
jobs (the engine's conditional writes), webhook deliveries, API keys, provider keys, predictions and job
outputs (docs/data-model.md). Each item has one codec here between it and its record (`items`,
`webhook_state`, the keys' modules), and the table's stream records are read here too (`stream`): no
other package reads or writes an item's typed values. It may import core and models."""
