"""The HTTP edge: Powertools' resolver for submit, cancel and the provider routes, the self-routed REST
answer of the status function, CORS, entity tags, public paths, problem+json (the one place errors become
answers), the authorizer's key check and the status read. It may import core, models and storage; the
status and authorizer paths load no pydantic (docs/benchmarks.md)."""
