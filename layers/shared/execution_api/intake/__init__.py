"""Accepting a plan (POST /api/execute): the body parsed and the plan built once, every whole-plan rule,
Idempotency-Key, and the submission that stores the execution as pending. It may import core, models,
storage, webhooks (the URL rules) and providers (the model catalog)."""
