"""`specsize serve`: the batched engine (engine/batch.py) behind an OpenAI-compatible HTTP API, with vLLM's
Prometheus metrics. app.py (routes), protocol.py (request schemas, errors), scheduler.py (the engine's thread),
metrics.py (the counters). Needs the extra `specsize[serve]`."""
