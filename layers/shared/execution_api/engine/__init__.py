"""The engine (docs/engine.md): Step Functions runs each execution; this package holds the code its
queues call (gates, records, finish), the starter, the worker's executors and the cancel logic."""
