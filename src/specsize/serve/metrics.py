"""The server's Prometheus metrics, with vLLM's names and meanings (vLLM v1, vllm/v1/metrics/loggers.py and
docs/design/metrics.md; the labels are vLLM's `model_name` and `engine`):

- vllm:num_requests_running / vllm:num_requests_waiting (gauges): sequences in a slot / queued for one;
- vllm:prompt_tokens_total / vllm:generation_tokens_total (counters): prefilled prompt tokens (the chat
  template included) and generated tokens;
- vllm:time_to_first_token_seconds (histogram): arrival to the first generated token, per request;
- vllm:inter_token_latency_seconds (histogram): time between a request's consecutive outputs, one observation
  per round that gave it tokens (a speculative round emits several tokens at once, as in vLLM);
- vllm:spec_decode_num_drafts_total: rounds in which a request was given drafts; ..._num_draft_tokens_total:
  draft tokens proposed; ..._num_accepted_tokens_total: draft tokens accepted (bonus tokens excluded);
  ..._num_accepted_tokens_per_pos_total{position="i"}: rounds whose draft at position i (0-based) was
  accepted. Mean acceptance length = 1 + accepted / drafts.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from specsize.engine.generate import SpecStats

# Bucket edges in seconds: vLLM's own (vllm/v1/metrics/loggers.py, PrometheusStatLogger, vLLM 0.11-0.12), so that
# dashboards built for vLLM read ours unchanged. ITL adds three edges under vLLM's first (10 ms), ours: a tiny model
# on a laptop steps in 1-10 ms, and without them every inter-token latency would fall in one bucket.
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
                40.0, 80.0, 160.0, 640.0, 2560.0)  # fmt: skip
ITL_BUCKETS = (0.001, 0.0025, 0.005,  # ours, below vLLM's first edge
               0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
               80.0)  # fmt: skip


class Metrics:
    """One registry per server (tests start several in one process). Counters are fed deltas of each
    request's SpecStats, so /metrics is exactly the sum over the requests' own counters."""

    def __init__(self, model_name: str, num_spec_tokens: int = 0):
        self.registry = r = CollectorRegistry()
        labels = {"model_name": model_name, "engine": "0"}
        names = list(labels)

        def counter(name, doc, extra=()):
            return Counter(name, doc, [*names, *extra], registry=r)

        self.running = Gauge("vllm:num_requests_running", "Requests in a slot, decoding.", names, registry=r)
        self.waiting = Gauge("vllm:num_requests_waiting", "Requests waiting for a slot.", names, registry=r)
        self.prompt_tokens = counter("vllm:prompt_tokens", "Prefilled prompt tokens.")
        self.generation_tokens = counter("vllm:generation_tokens", "Generated tokens.")
        self.ttft = Histogram("vllm:time_to_first_token_seconds", "Time to first token.", names,
                              buckets=TTFT_BUCKETS, registry=r)  # fmt: skip
        self.itl = Histogram("vllm:inter_token_latency_seconds", "Time between a request's outputs.", names,
                             buckets=ITL_BUCKETS, registry=r)  # fmt: skip
        self.drafts = counter("vllm:spec_decode_num_drafts", "Rounds with drafts (per request).")
        self.draft_tokens = counter("vllm:spec_decode_num_draft_tokens", "Draft tokens proposed.")
        self.accepted = counter("vllm:spec_decode_num_accepted_tokens", "Draft tokens accepted.")
        self.per_pos = counter("vllm:spec_decode_num_accepted_tokens_per_pos", "Accepted drafts at a position.",
                               ("position",))  # fmt: skip
        self.labels = labels
        for m in (self.running, self.waiting, self.prompt_tokens, self.generation_tokens, self.ttft, self.itl,
                  self.drafts, self.draft_tokens, self.accepted):  # fmt: skip
            m.labels(**labels)  # exported at zero from the start
        for i in range(num_spec_tokens):  # as vLLM, one series per draft position
            self.per_pos.labels(**labels, position=str(i))

    def set_load(self, running: int, waiting: int) -> None:
        self.running.labels(**self.labels).set(running)
        self.waiting.labels(**self.labels).set(waiting)

    def observe_stats(self, new: SpecStats, old: SpecStats) -> None:
        """Add what a request's counters gained since `old` (a copy the caller keeps)."""
        lab = self.labels
        self.generation_tokens.labels(**lab).inc(new.num_generated_tokens - old.num_generated_tokens)
        self.drafts.labels(**lab).inc(new.num_drafts - old.num_drafts)
        self.draft_tokens.labels(**lab).inc(new.num_draft_tokens - old.num_draft_tokens)
        self.accepted.labels(**lab).inc(new.num_accepted_tokens - old.num_accepted_tokens)
        for i, n in enumerate(new.num_accepted_tokens_per_pos):
            before = old.num_accepted_tokens_per_pos[i] if i < len(old.num_accepted_tokens_per_pos) else 0
            if n > before or i >= len(old.num_accepted_tokens_per_pos):
                self.per_pos.labels(**lab, position=str(i)).inc(n - before)
