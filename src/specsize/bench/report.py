"""Bench results as JSON (a stable shape), CSV, rich tables and PNG plots."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path
from typing import Any

from specsize.bench.runner import SPREAD_LIMIT, ConfigResult
from specsize.speculative import measured_speedup, round_speedup


def conditional_rates(per_pos: list[int], drafts: int) -> list[float]:
    """alpha_i = P(draft i accepted | drafts before it accepted), from the per-position counters."""
    rates, prev = [], drafts
    for n in per_pos:
        rates.append(n / prev if prev else 0.0)
        prev = n
    return rates


def _predict(res: ConfigResult, row: dict[str, Any], plain_tpot: float, steps: dict) -> None:
    """The closed loop from the replayed rounds (runner.replay_rounds): T(1) is plain decoding's replayed round,
    D and V the replayed draft and verification calls per round of this configuration."""
    replayed = steps.get("rounds") or {}
    rnd = replayed.get(res.method, {}).get(str(res.k))
    t = steps["step_times"]["target"]
    plain = replayed.get("none", {}).get("0")
    t1 = plain["verify"] if plain else t[0]
    if rnd and plain_tpot:
        alphas = row["conditional_acceptance"]
        overhead = max(plain_tpot - t1, 0.0)
        pred = round_speedup(alphas, res.k, t1, overhead, rnd["draft"], rnd["verify"])
        row["predicted_speedup"] = pred
        row["prediction_error"] = (pred - row["speedup"]) / row["speedup"] if row["speedup"] else None
        row["round_times_s"] = {"draft": rnd["draft"], "verify": rnd["verify"], "t1": t1, "spread": rnd["spread"],
                                "mismatches": rnd["mismatches"], "recompiles": rnd["recompiles"]}  # fmt: skip
        row["prediction_flagged"] = _flag(max(rnd["spread"], plain["spread"] if plain else 0.0),
                                          rnd["recompiles"] + (plain["recompiles"] if plain else 0),
                                          mismatches=rnd["mismatches"])  # fmt: skip
        runs = [r.stats for r in res.runs if r.stats.num_rounds]
        if runs:  # the same parts as the loop paid them (its own timestamps, medians over the runs): the error's split
            row["loop_round_times_s"] = {
                "draft": statistics.median(st.draft_time / st.num_rounds for st in runs),
                "verify": statistics.median(st.verify_time / st.num_rounds for st in runs),
            }
    if res.k < len(t) and plain_tpot:  # the planner's per-step round model, which plan --calibration extends
        overhead = max(plain_tpot - t[0], 0.0)
        st = steps["step_times"]
        row["step_model_speedup"] = measured_speedup(res.method, res.k, row["conditional_acceptance"], t,
                                                     st.get(res.method), overhead)  # fmt: skip


def config_json(res: ConfigResult, base: ConfigResult, steps: dict | None) -> dict[str, Any]:
    s = res.stats
    rates = res.rates
    row: dict[str, Any] = {
        "method": res.method, "k": res.k,
        "tokens_per_s": {"median": res.tokens_per_s, "min": min(rates), "max": max(rates), "runs": rates,
                         "spread": res.spread},
        "recompiles": res.recompiles,
        "flagged": _flag(res.spread, res.recompiles, base),
        "speedup": res.tokens_per_s / base.tokens_per_s if base.tokens_per_s else None,
        "e2e_tokens_per_s": statistics.median(r.e2e_tokens_per_s for r in res.runs),
        "outputs_identical": res.runs[-1].outputs == base.runs[-1].outputs,
        "num_rounds": s.num_rounds, "num_drafts": s.num_drafts, "num_draft_tokens": s.num_draft_tokens,
        "num_accepted_tokens": s.num_accepted_tokens, "num_accepted_tokens_per_pos": s.num_accepted_tokens_per_pos,
        "acceptance_per_position": [n / s.num_drafts for n in s.num_accepted_tokens_per_pos] if s.num_drafts else [],
        "conditional_acceptance": conditional_rates(s.num_accepted_tokens_per_pos, s.num_drafts),
        "draft_acceptance_rate": s.draft_acceptance_rate, "mean_acceptance_length": s.mean_acceptance_length,
        "draft_time_s": s.draft_time, "verify_time_s": s.verify_time,
        "by_category": {},
    }  # fmt: skip
    last, base_last = res.runs[-1], base.runs[-1]
    for cat, (n, t) in last.by_category.items():
        bn, bt = base_last.by_category.get(cat, (0, 0))
        rate, brate = (n / t if t else 0.0), (bn / bt if bt else 0.0)
        row["by_category"][cat] = {"tokens_per_s": rate, "speedup": rate / brate if brate else None}
    if steps and res.method != "none":
        _predict(res, row, 1 / base.tokens_per_s if base.tokens_per_s else 0.0, steps)  # the median run's
    return row


def _flag(spread_: float, recompiles: int, base: ConfigResult | None = None, mismatches: int = 0) -> str | None:
    """Why a figure is not clean: its runs (or the baseline's) spread more than SPREAD_LIMIT, graphs were
    compiled while it was timed, or a replay's outputs differed from the loop's; None when clean."""
    why = []
    if mismatches:
        why.append(f"{mismatches} replayed round(s) differ from the loop's")
    if spread_ > SPREAD_LIMIT:
        why.append(f"runs spread {spread_:.0%} (> {SPREAD_LIMIT:.0%})")
    if base is not None and base.spread > SPREAD_LIMIT:
        why.append(f"baseline runs spread {base.spread:.0%}")
    if recompiles:
        why.append(f"{recompiles} graph(s) compiled while timed")
    return "; ".join(why) or None


def bench_json(meta: dict[str, Any], results: list[ConfigResult], steps: dict | None,
               peers: dict | None, interrupted: bool) -> dict[str, Any]:  # fmt: skip
    base = results[0] if results else None
    configs = [config_json(r, base, steps) for r in results[1:]] if base else []
    out = {**meta, "baseline": None, "configs": configs, "step_times": steps["step_times"] if steps else None,
           "round_times": steps["rounds"] if steps else None, "peers": None, "interrupted": interrupted}  # fmt: skip
    if steps:
        st_spread = max(steps["step_spread"].values(), default=0.0)
        out["timing"] = {"passes": steps["passes"], "recompiles": steps["recompiles"],
                         "step_spread": steps["step_spread"],
                         "flagged": _flag(max(st_spread, *(r["spread"] for m in steps["rounds"].values()
                                                            for r in m.values())), steps["recompiles"])}  # fmt: skip
    if base:
        out["baseline"] = {"tokens_per_s": {"median": base.tokens_per_s, "min": min(base.rates),
                                            "max": max(base.rates), "runs": base.rates, "spread": base.spread},
                           "recompiles": base.recompiles, "flagged": _flag(base.spread, base.recompiles),
                           "e2e_tokens_per_s": statistics.median(r.e2e_tokens_per_s for r in base.runs)}  # fmt: skip
    if peers and base:
        ours = {"none": out["baseline"]["e2e_tokens_per_s"]}
        ours_out = {"none": base.runs[-1].outputs}
        for r in results[1:]:
            if r.k == peers["k"] and r.method in ("draft", "ngram"):
                ours[r.method] = statistics.median(x.e2e_tokens_per_s for x in r.runs)
                ours_out[r.method] = r.runs[-1].outputs
        rows = []
        for mode in ("none", "draft", "ngram"):
            if mode in peers and mode in ours:
                theirs = peers[mode]["tokens_per_s"]
                rows.append({"method": mode, "k": 0 if mode == "none" else peers["k"],
                             "specsize_tokens_per_s": ours[mode], "transformers_tokens_per_s": theirs,
                             "ratio": ours[mode] / theirs if theirs else None,
                             "same_outputs": sum(a == b for a, b in zip(peers[mode]["outputs"], ours_out[mode],
                                                                          strict=False)),
                             "prompts": len(ours_out[mode])})  # fmt: skip
        out["peers"] = {"transformers": peers["version"], "rows": rows}
    return out


CSV_FIELDS = ("method", "k", "tokens_per_s", "tokens_per_s_min", "tokens_per_s_max", "spread", "flagged", "speedup",
              "predicted_speedup", "prediction_error", "mean_acceptance_length", "draft_acceptance_rate",
              "acceptance_per_position", "draft_time_s", "verify_time_s", "outputs_identical")  # fmt: skip


def write_csv(report: dict[str, Any], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for c in report["configs"]:
            w.writerow({"method": c["method"], "k": c["k"], "tokens_per_s": c["tokens_per_s"]["median"],
                        "tokens_per_s_min": c["tokens_per_s"]["min"], "tokens_per_s_max": c["tokens_per_s"]["max"],
                        "spread": c["tokens_per_s"]["spread"], "flagged": c["flagged"] or "",
                        "speedup": c["speedup"], "predicted_speedup": c.get("predicted_speedup"),
                        "prediction_error": c.get("prediction_error"),
                        "mean_acceptance_length": c["mean_acceptance_length"],
                        "draft_acceptance_rate": c["draft_acceptance_rate"],
                        "acceptance_per_position": " ".join(f"{a:.3f}" for a in c["acceptance_per_position"]),
                        "draft_time_s": c["draft_time_s"], "verify_time_s": c["verify_time_s"],
                        "outputs_identical": c["outputs_identical"]})  # fmt: skip


def best_per_method(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    best: dict[str, dict[str, Any]] = {}
    for c in report["configs"]:
        if c["speedup"] is not None and (c["method"] not in best or c["speedup"] > best[c["method"]]["speedup"]):
            best[c["method"]] = c
    return best


def _finish(fig, ax, path: Path, xlabel: str, ylabel: str, title: str) -> Path:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


METHOD_COLORS = {"mtp": "C0", "draft": "C1", "ngram": "C2", "none": "C7"}  # matplotlib's default cycle


def method_color(method: str, index: int) -> str:
    """One colour per method, the same in every bench plot."""
    return METHOD_COLORS.get(method, f"C{3 + index % 6}")


def write_plots(report: dict[str, Any], folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, method in enumerate(sorted({c["method"] for c in report["configs"]})):
        cs = sorted((c for c in report["configs"] if c["method"] == method), key=lambda c: c["k"])
        color = method_color(method, i)  # a method's measured and predicted lines share its colour
        ax.plot([c["k"] for c in cs], [c["speedup"] for c in cs], marker="o", color=color, label=f"{method} measured")
        if all(c.get("predicted_speedup") is not None for c in cs):
            ax.plot([c["k"] for c in cs], [c["predicted_speedup"] for c in cs], linestyle="--", color=color,
                    label=f"{method} predicted")  # fmt: skip
    ax.axhline(1.0, color="grey", linewidth=0.8)
    paths = [_finish(fig, ax, folder / "speedup_vs_k.png", "k (draft tokens per round)",
                     "speedup over plain decoding", f"{report['model']}: speedup vs k")]  # fmt: skip
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (method, c) in enumerate(best_per_method(report).items()):
        ax.plot(range(1, len(c["acceptance_per_position"]) + 1), c["acceptance_per_position"], marker="o",
                color=method_color(method, i), label=f"{method} k={c['k']}")  # fmt: skip
    ax.set_ylim(0, 1)
    paths.append(_finish(fig, ax, folder / "acceptance_per_position.png", "draft position", "P(accepted)",
                         "acceptance per position (best k per method)"))  # fmt: skip
    plt.close(fig)
    return paths
