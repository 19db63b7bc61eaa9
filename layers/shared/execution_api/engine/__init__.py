"""The engine (SPEC section 11): Step Functions runs each execution; this package holds the code its
queues call (gates, records, finish), the starter, the worker's executors and the cancel logic."""
