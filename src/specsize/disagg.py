"""Prefill/decode disaggregation: choose the split of a GPU budget between a prefill pool and a decode pool for
a workload (serving.steady_state's closed loop), compare it with aggregated serving on the same GPUs, and say why.

Instances: prefill with attention-TP over one node's GPUs (a prompt's matmuls are large: TP is efficient) and
EP over the same GPUs; decode with attention data-parallel and wide EP over a group of nodes (many small
sequences: each rank holds its own, the experts spread over all). The split maximises output tokens/s per GPU
(every GPU counted); neighbouring splits are reported, so the reason is visible: one prefill instance fewer and
the prefill pool saturates (TTFT grows without bound), one more and it idles while decode loses GPUs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from specsize.config import ModelArch
from specsize.deployment import build_deployment
from specsize.engines import get_engine
from specsize.errors import PlanError
from specsize.hardware import GPU, get_link
from specsize.memory import memory_per_gpu
from specsize.scenario import Layout, Speculative, Workload
from specsize.serving import Pool, ServingPoint, kv_slots, steady_state


@dataclass(frozen=True)
class Split:
    prefill: Layout
    prefill_instances: int
    decode: Layout
    decode_instances: int
    point: ServingPoint

    @property
    def gpus(self) -> int:
        return self.prefill.gpus * self.prefill_instances + self.decode.gpus * self.decode_instances

    def row(self) -> dict[str, Any]:
        p = self.point
        return {
            "prefill": f"{self.prefill_instances} x {self.prefill.describe()}",
            "decode": f"{self.decode_instances} x {self.decode.describe()}",
            "prefill_gpus": self.prefill.gpus * self.prefill_instances,
            "decode_gpus": self.decode.gpus * self.decode_instances,
            "tok_s_per_gpu": p.tok_s_per_gpu("all"), "tok_s_per_user": p.tok_s_per_user,
            "ttft_ms": p.ttft * 1e3, "tpot_ms": p.tpot * 1e3, "prefill_bound": p.prefill_bound,
        }  # fmt: skip


def _fits(a, gpu, prec, kv, lay, w, engine, spec) -> int:
    """KV slots of one instance of `lay` at the workload's live context (serving.kv_slots, as validate counts
    them); 0 when the instance does not hold the model."""
    m = memory_per_gpu(a, gpu, prec, kv, lay, Workload(lay.attn_dp, w.context, 0),
                       engine, spec)  # fmt: skip
    return max(kv_slots(m, w.mean_context), 1) if m.fits else 0


def plan_disagg(a: ModelArch, gpu: GPU, precision: str, kv: str, w: Workload, engine: str,
                spec: Speculative = Speculative(), total_gpus: int | None = None) -> dict[str, Any]:  # fmt: skip
    """The best prefill:decode split of `total_gpus` (default: 4 nodes, or one NVL72 domain) for `w`."""
    eng = get_engine(engine)
    node = gpu.gpus_per_node if gpu.gpus_per_node <= 8 else 8
    total = total_gpus or (gpu.gpus_per_node if gpu.gpus_per_node > 8 else 4 * node)
    if total < 2 * node:
        raise PlanError(f"--disagg needs at least two instances of {node} GPUs (one prefill, one decode); "
                        f"got {total} GPUs")  # fmt: skip
    link = get_link(gpu.intra_node_link if total <= gpu.gpus_per_node else gpu.inter_node_link)
    prefill_layouts = [Layout(tp=node, ep=node)]
    decode_layouts = [Layout(tp=g, ep=g, attention="dp") for g in (node, 2 * node, 4 * node) if g <= total - node]
    ok_p = [lay for lay in prefill_layouts if _fits(a, gpu, precision, kv, lay, w, eng, Speculative())]
    if not ok_p:
        raise PlanError(f"{a.name} ({precision}) does not fit a prefill instance of {node} x {gpu.id}")
    splits: list[Split] = []
    for pl in ok_p:
        pdep = build_deployment(a, gpu, precision, kv, pl, eng)
        for dl in decode_layouts:
            cap = _fits(a, gpu, precision, kv, dl, w, eng, spec)
            if not cap:
                continue
            ddep = build_deployment(a, gpu, precision, kv, dl, eng, spec)
            for pi in range(1, total // pl.gpus):
                rest = total - pi * pl.gpus
                if rest < dl.gpus or rest % dl.gpus:
                    continue
                di = rest // dl.gpus
                point = steady_state(Pool(ddep, di, cap), w.concurrency, w.input_tokens, w.output_tokens,
                                     Pool(pdep, pi), link)  # fmt: skip
                splits.append(Split(pl, pi, dl, di, point))
    if not splits:
        raise PlanError(f"no prefill/decode split of {total} x {gpu.id} holds {a.name} ({precision})")
    best = max(splits, key=lambda s: s.point.tok_s_per_gpu("all"))
    agg_lay = Layout(tp=node, ep=node)
    agg_cap = _fits(a, gpu, precision, kv, agg_lay, w, eng, spec)
    agg = None
    if agg_cap:
        adep = build_deployment(a, gpu, precision, kv, agg_lay, eng, spec)
        agg = steady_state(Pool(adep, total // node, agg_cap), w.concurrency, w.input_tokens, w.output_tokens)
    same_decode = sorted((s for s in splits if s.decode == best.decode and s.prefill == best.prefill),
                         key=lambda s: s.prefill_instances)  # fmt: skip
    return {
        "gpu": gpu.id, "gpus": total, "workload": {"concurrency": w.concurrency, "input_tokens": w.input_tokens,
                                                   "output_tokens": w.output_tokens},
        "best": best.row(), "splits": [s.row() for s in same_decode],
        "aggregated": None if agg is None else {"layout": f"{total // node} x {agg_lay.describe()}",
                                                "tok_s_per_gpu": agg.tok_s_per_gpu("all"),
                                                "tok_s_per_user": agg.tok_s_per_user, "ttft_ms": agg.ttft * 1e3},
        "why": _why(best, same_decode, agg),
        "launch": _launch(a.name, engine, best, spec, precision),
    }  # fmt: skip


def _launch(model: str, engine: str, best: Split, spec: Speculative, precision: str) -> list[str]:
    """The engine's own spelling of the chosen split (SGLang: servers + router; TensorRT-LLM: the LLM API options
    of each pool for Dynamo / trtllm-serve); other engines: a comment."""
    from specsize.launch import sglang_disagg_commands, trtllm_extra_options

    if engine == "sglang":
        return sglang_disagg_commands(
            model, best.prefill, best.decode, best.prefill_instances, best.decode_instances, precision=precision
        )
    if engine == "trtllm":
        return [f"# {role} ({count} instance(s)) --extra_llm_api_options: {json.dumps(trtllm_extra_options(lay, sp))}"
                for role, lay, count, sp in (("prefill", best.prefill, best.prefill_instances, Speculative()),
                                             ("decode", best.decode, best.decode_instances, spec))]  # fmt: skip
    return [f"# {engine}: no disaggregated launch spelling here (SGLang and TensorRT-LLM have one)"]


def _why(best: Split, neighbours: list[Split], agg: ServingPoint | None) -> str:
    p = best.point
    i = neighbours.index(best)
    fewer, more = neighbours[max(i - 1, 0) : i], neighbours[i + 1 : i + 2]
    parts = [f"{best.prefill_instances} prefill : {best.decode_instances} decode instance(s) gives the most output "
             f"tokens/s per GPU ({p.tok_s_per_gpu('all'):,.0f})"]  # fmt: skip
    if fewer:
        f = fewer[0].point
        parts.append(
            f"{fewer[0].prefill_instances} prefill: {f.tok_s_per_gpu('all'):,.0f}"
            + (f" (the prefill pool saturates: TTFT {f.ttft * 1e3:,.0f} ms)" if f.prefill_bound else "")
        )
    if more:
        m = more[0].point
        parts.append(f"{more[0].prefill_instances} prefill: {m.tok_s_per_gpu('all'):,.0f} (fewer GPUs decode)")
    if agg is not None:
        ratio = p.tok_s_per_gpu("all") / agg.tok_s_per_gpu("all")
        parts.append(
            f"aggregated on the same GPUs: {agg.tok_s_per_gpu('all'):,.0f} ({ratio:.2f}x for disaggregation: "
            f"decode no longer pays the prefill share, {agg.tpot * 1e3:.1f} -> {p.tpot * 1e3:.1f} ms TPOT)"
        )
    return "; ".join(parts)
