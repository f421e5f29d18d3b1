"""What `specsize inspect`, `models`, `fit` and `plan` report: `fit` as a typed FitReport (rendered by
render.fit_table, turned into a dict only for --json), the others as plain dicts (the --json output)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from specsize.config import ModelArch
from specsize.fit import FitResult
from specsize.kvcache import KV_DTYPE_BYTES, kv_bytes_per_token, mtp_kv_bytes_per_token
from specsize.params import count_params
from specsize.plan import SLOW_NETWORK
from specsize.precision_choice import Choice
from specsize.quant import PRECISIONS, checkpoint_bytes
from specsize.scenario import Host, Speculative, Workload
from specsize.tensors import tensor_groups


def architecture_summary(a: ModelArch) -> dict[str, Any]:
    s: dict[str, Any] = {
        "hidden_size": a.hidden_size,
        "num_layers": a.num_layers,
        "num_heads": a.num_heads,
        "num_kv_heads": a.num_kv_heads,
        "head_dim": a.head_dim,
        "vocab_size": a.vocab_size,
        "max_position_embeddings": a.max_position_embeddings,
        "tie_word_embeddings": a.tie_word_embeddings,
        "rope": {"theta": a.rope.theta, "type": a.rope.type, "factor": a.rope.factor},
        "attention": "MLA" if a.mla else ("MHA" if a.num_kv_heads == a.num_heads else "GQA"),
    }
    if a.mla:
        s["mla"] = {
            "q_lora_rank": a.mla.q_lora_rank,
            "kv_lora_rank": a.mla.kv_lora_rank,
            "qk_nope_head_dim": a.mla.qk_nope_head_dim,
            "qk_rope_head_dim": a.mla.qk_rope_head_dim,
            "v_head_dim": a.mla.v_head_dim,
        }
    if a.moe:
        s["moe"] = {
            "num_experts": a.moe.num_experts,
            "top_k": a.moe.top_k,
            "expert_intermediate_size": a.moe.expert_intermediate_size,
            "shared_intermediate_size": a.moe.shared_intermediate_size,
            "moe_layers": a.num_moe_layers,
            "scoring_func": a.moe.scoring_func,
            "topk_method": a.moe.topk_method,
        }
    s["mtp_layers"] = a.num_mtp_layers
    return s


def inspect_report(a: ModelArch) -> dict[str, Any]:
    groups = tensor_groups(a)
    p = count_params(a)
    main = [g for g in groups if g.scope == "model"]
    return {
        "name": a.name,
        "family": a.family,
        "source": a.source,
        "notes": list(a.notes),
        "architecture": architecture_summary(a),
        "params_total": p.total,
        "params_active": p.active,
        "params_mtp": p.mtp,
        "params_mtp_active": p.mtp_active,
        "params_mtp_stored_copies": p.mtp_stored_copies,
        "components": [{"name": n, "params": c} for n, c in p.components],
        "mtp_components": [{"name": n, "params": c} for n, c in p.mtp_components],
        # the whole checkpoint as stored (MTP layer and its copies included) and the main model alone
        "checkpoint_bytes": {name: round(checkpoint_bytes(groups, prec)) for name, prec in PRECISIONS.items()},
        "main_model_bytes": {name: round(checkpoint_bytes(main, prec)) for name, prec in PRECISIONS.items()},
        "kv_bytes_per_token": {d: kv_bytes_per_token(a, d) for d in KV_DTYPE_BYTES},
        "mtp_kv_bytes_per_token": {d: mtp_kv_bytes_per_token(a, d) for d in KV_DTYPE_BYTES},
    }


def model_row(a: ModelArch) -> dict[str, Any]:
    p = count_params(a)
    return {
        "name": a.name,
        "family": a.family,
        "params_total": p.total,
        "params_active": p.active,
        "params_mtp": p.mtp,
        "kv_bytes_per_token_bf16": kv_bytes_per_token(a, "bf16"),
        "max_position_embeddings": a.max_position_embeddings,
        "notes": list(a.notes),
    }


@dataclass(frozen=True)
class FitReport:
    """What `specsize fit` found: per GPU type the fewest GPUs that serve the model (FitResult)."""

    arch: ModelArch
    precision: str
    kv_cache: str
    engine: str
    workload: Workload
    spec: Speculative
    results: list[FitResult]
    choice: Choice | None  # --weights auto: what it chose and why

    def to_json(self) -> dict[str, Any]:
        w = self.workload
        return {
            "model": self.arch.name, "weights": self.precision, "kv_cache": self.kv_cache, "engine": self.engine,
            "workload": {"concurrency": w.concurrency, "input_tokens": w.input_tokens,
                         "output_tokens": w.output_tokens},
            "spec": self.spec.describe(), "results": [fit_row(r) for r in self.results],
            "weights_choice": self.choice.to_json() if self.choice else None,
        }  # fmt: skip


def fit_report(a: ModelArch, gpus: list[str], weights: str | None, kv_cache: str, w: Workload, engine: str,
               sp: Speculative, host: Host) -> FitReport:  # fmt: skip
    """`specsize fit`: the precision (--weights, auto, or the checkpoint's own), then every GPU type's fit."""
    from specsize.fit import fit_all
    from specsize.input_checks import check_draft_tp
    from specsize.precision_choice import resolve_weights

    prec, choice = resolve_weights(weights, a, gpus, engine, kv_cache, w, sp, host)
    results = fit_all(a, gpus, prec, kv_cache, w, engine, sp, host)
    for r in results:
        if r.fits:
            check_draft_tp(sp, r.layout, engine)
    return FitReport(a, prec, kv_cache, engine, w, sp, results, choice)


def fit_row(r: FitResult) -> dict[str, Any]:
    """One FitResult as the JSON row of `specsize fit` (bytes are per GPU, the most loaded one)."""
    row: dict[str, Any] = {"gpu": r.gpu.id, "gpu_name": r.gpu.name, "engine": r.engine, "fits": r.fits}
    if r.layout is not None:
        row.update(min_gpus=r.gpus if r.fits else None, gpus_tried=r.gpus, nodes=r.nodes,
                   layout=_layout_json(r.layout))  # fmt: skip
    if r.memory is not None:
        m = r.memory
        row.update(
            capacity_bytes=m.capacity, memory_fraction=m.fraction, budget_rule=m.budget_rule,
            headroom_bytes=m.headroom, max_concurrency=r.max_concurrency if r.fits else 0,
            max_context=r.max_context if r.fits else 0, host_ram_bytes=m.host_ram_needed,
            breakdown=[{"term": t.name, "bytes": t.bytes, "note": t.note} for t in m.terms], notes=m.notes,
        )  # fmt: skip
    if r.reason:
        row["reason"] = r.reason
    return row


# --- plan -------------------------------------------------------------------------------------------------------


def _layout_json(lay) -> dict[str, Any]:
    return {"tp": lay.tp, "pp": lay.pp, "ep": lay.ep, "dp": lay.dp, "attention": lay.attention,
            "text": lay.describe(), "short": lay.short()}  # fmt: skip


def _spec_json(r, plain) -> dict[str, Any]:
    return {
        "k": r.k, "acceptance": [round(a, 4) for a in r.alphas], "expected_length": round(r.expected_length, 4),
        "tpot_ms": r.tpot * 1e3, "tok_s_per_user": 1 / r.tpot,
        "tok_s_per_gpu": plain.tok_s_per_gpu_at(r.tpot), "speedup": r.speedup,
        "verify_ms": r.verify * 1e3, "draft_ms": r.draft * 1e3, "round_overhead_ms": r.overhead * 1e3,
        "moe_penalty": r.moe_penalty,
    }  # fmt: skip


def option_json(o) -> dict[str, Any]:
    st = o.plain.step
    row: dict[str, Any] = {
        "layout": _layout_json(o.layout), "gpus": o.layout.gpus, "nodes": o.nodes,
        "memory_per_gpu_bytes": o.memory.total, "headroom_bytes": o.memory.headroom,
        "max_concurrency": o.memory.max_concurrency, "ttft_ms": o.plain.ttft * 1e3, "tpot_ms": o.plain.tpot * 1e3,
        "tok_s_per_user": o.plain.tok_s_per_user, "tok_s_per_gpu": o.plain.tok_s_per_gpu,
        "decode_step": {"bound": st.bound, "memory_ms": st.memory * 1e3, "compute_ms": st.compute * 1e3,
                        "communication_ms": st.communication * 1e3, "overhead_ms": st.overhead * 1e3,
                        "weight_bytes": st.weight_bytes, "kv_bytes": st.kv_bytes, "flops": st.flops},
        "memory_breakdown": [{"term": t.name, "bytes": t.bytes, "note": t.note} for t in o.memory.terms],
    }  # fmt: skip
    if o.spec:
        row["spec"] = _spec_json(o.spec, o.plain)
        row["best"] = _spec_json(o.best, o.plain)
        row["break_even_concurrency"] = o.break_even
    if o.slow_network_tpot is not None:
        m = o.deployment.machine
        row["network"] = {"inter_node": m.inter.id if m.inter else None, "slow_network": SLOW_NETWORK,
                          "slow_network_tpot_ms": o.slow_network_tpot * 1e3, "tpot_ms": o.tpot * 1e3}  # fmt: skip
    return row


def curve_json(points) -> list[dict[str, Any]]:
    rows = []
    for p in points:
        r = {"concurrency": p.concurrency, "tok_s_per_user": p.plain.tok_s_per_user,
             "tok_s_per_gpu": p.plain.tok_s_per_gpu, "bound": p.plain.step.bound}  # fmt: skip
        if p.spec:
            s = _spec_json(p.spec, p.plain)
            r.update(spec_tok_s_per_user=s["tok_s_per_user"], spec_tok_s_per_gpu=s["tok_s_per_gpu"],
                     speedup=p.spec.speedup, moe_penalty=p.spec.moe_penalty, best_k=p.best.k,
                     best_speedup=p.best.speedup)  # fmt: skip
        rows.append(r)
    return rows


def plan_report(p, commands: dict[str, Any] | None = None) -> dict[str, Any]:
    from specsize.perf_constants import assumptions

    w = p.workload
    gpus = []
    for g in p.gpus:
        row: dict[str, Any] = {"gpu": g.gpu, "fits": g.fit.fits}
        if not g.recommended:
            row["reason"] = g.fit.reason
        else:
            row.update(minimum=option_json(g.minimum), recommended=option_json(g.recommended),
                       curve=curve_json(g.curve))  # fmt: skip
        gpus.append(row)
    return {
        "model": p.arch.name, "weights": p.precision, "kv_cache": p.kv_dtype, "engine": p.engine,
        "workload": {"concurrency": w.concurrency, "input_tokens": w.input_tokens, "output_tokens": w.output_tokens},
        "spec": p.spec.describe(), "gpus": gpus, "commands": commands, "assumptions": assumptions(),
    }  # fmt: skip
