"""The engine (docs/engine.md): Step Functions runs each execution; this package holds the code its
queues call (gates, records, finish), the starter, the worker and its executors, fetching a media job's
inputs, and the cancel logic. It may import core, models, storage and
media; it reaches providers only through one lazy import (selection.provider_executor), since the
providers package builds on the engine's executor contract."""
