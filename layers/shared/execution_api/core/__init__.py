"""The small common core every other package stands on: domain errors, limits, the one timestamp form
(clock), settings and how a function reads them, the AWS clients and the Powertools logger/metrics/tracer
made once per container, which AWS failures are worth a retry, exact JSON, an SQS body read as json.loads
reads it, credential sealing with KMS, which worker runs an operation, and which URLs the service may call
out to with the one SSRF-checked connection that calls them (destinations, egress). It imports nothing
else of execution_api (docs/architecture.md)."""
