"""Generation on real providers (Replicate, fal, ElevenLabs): the model map (catalog), one client module per
provider, which API key a job uses (keys), the executor that submits predictions with callbacks, and what
settles them (docs/providers.md). Light on purpose: intake imports the catalog. It may import core, models,
storage and engine (the executor contract it implements)."""
