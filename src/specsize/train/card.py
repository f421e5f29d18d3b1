"""The model card of the bundled tiny-r1 family, rendered from the build's metrics.json."""

from __future__ import annotations


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def model_card(m: dict) -> str:
    p, losses, acc = m["parameters"], m["final_losses"], m["accuracy"]
    fams = sorted(acc["tiny-r1"])
    best_draft = max(m["draft"], key=lambda r: r["mean_acceptance_length"])
    lines = [
        "# tiny-r1 and tiny-r1-draft",
        "",
        "A miniature of the DeepSeek-R1 family for running and measuring speculative decoding offline, built",
        "from scratch by `python scripts/build_tiny_r1.py` (deterministic from its seed; "
        f"{m['total_seconds'] / 60:.0f} minutes on this project's 2-core CPU machine, training "
        f"{m['build_seconds'] / 60:.0f} of them).",
        "",
        "- **tiny-r1** — `model_type: deepseek_v3`: MLA (q_lora 96, kv_lora 64, RoPE dim 16), one dense layer then",
        "  three MoE layers of 8 routed experts (group-limited top-2 of 2 groups, sigmoid scores with DeepSeek's",
        "  bias correction) plus one shared expert, and one MTP layer at index 4 trained with DeepSeek-V3's MTP",
        "  loss (lambda = 0.3). Stored like R1: FP8 e4m3 weights with FP32 `weight_scale_inv` per 128x128 block,",
        "  `quantization_config` as in R1's config.json; embeddings, heads, norms, router and `eh_proj` in BF16.",
        "- **tiny-r1-draft** — `model_type: qwen2`, dense, 2 layers, trained on the same corpus (not distilled",
        "  from tiny-r1's outputs), BF16, same tokenizer.",
        "- **Tokenizer** — byte-level BPE trained on the corpus, digits split one by one, with R1's special",
        f"  tokens and chat template; {m['vocab']} tokens (the corpus is narrow: BPE runs out of merges there).",
        "- **Corpus** — synthetic R1-style traces (`<think>` step-by-step work `</think>` answer): column addition",
        "  and subtraction with carries, long multiplication, counting a letter by spelling, sorting and",
        "  comparing, unit conversions, word problems. Splits by question: "
        f"{m['corpus']['train']:,} train / {m['corpus']['validation']:,} validation / {m['corpus']['test']:,} test.",
        "",
        "## Measured on the test split (the shipped checkpoints, fp32 compute)",
        "",
        _row(["", "tiny-r1", "tiny-r1-draft"]),
        _row(["---", "---:", "---:"]),
        _row(
            [
                "parameters as stored (tiny-r1: main model, MTP layer and its embedding/head copies)",
                f"{p['tiny-r1']:,}",
                f"{p['tiny-r1-draft']:,}",
            ]
        ),
        _row(["training steps", losses["tiny-r1"]["steps"], losses["tiny-r1-draft"]["steps"]]),
        _row(["final validation loss", losses["tiny-r1"]["val_loss"], losses["tiny-r1-draft"]["val_loss"]]),
        _row(["final validation MTP loss", losses["tiny-r1"]["val_mtp_loss"], "-"]),
    ]
    for f in fams:
        lines.append(_row([f"exact answers: {f}", f"{acc['tiny-r1'][f]:.0%}", f"{acc['tiny-r1-draft'][f]:.0%}"]))
    lines += [
        "",
        f"Exact-answer accuracy: greedy, {m['eval_prompts_per_family']} test prompts per family.",
        "",
        f"Greedy acceptance on {m['acceptance_prompts']} held-out test prompts (tiny-r1 as the target):",
        "",
        _row(["drafter", "k", "acceptance per position", "draft acceptance rate", "mean acceptance length"]),
        _row(["---", "---:", "---", "---:", "---:"]),
    ]
    for r in m["mtp"]:
        lines.append(_row(["MTP", r["k"], " ".join(f"{a:.2f}" for a in r["acceptance_per_position"]),
                           f"{r['draft_acceptance_rate']:.2f}", f"{r['mean_acceptance_length']:.2f}"]))  # fmt: skip
    for r in m["draft"]:
        lines.append(_row(["tiny-r1-draft", r["k"], " ".join(f"{a:.2f}" for a in r["acceptance_per_position"]),
                           f"{r['draft_acceptance_rate']:.2f}", f"{r['mean_acceptance_length']:.2f}"]))  # fmt: skip
    mtp1 = m["mtp"][0]["acceptance_per_position"][0]
    lines += [
        "",
        f"Goals: MTP first-position acceptance >= 0.6 (measured {mtp1:.2f}: "
        f"{'met' if mtp1 >= 0.6 else 'not met'}); draft mean acceptance length >= 2.5 at its best k "
        f"(measured {best_draft['mean_acceptance_length']:.2f} at k = {best_draft['k']}: "
        f"{'met' if best_draft['mean_acceptance_length'] >= 2.5 else 'not met'}).",
        "",
        "Mean acceptance length counts the bonus token (vLLM's convention). Full figures: `metrics.json`.",
        "",
    ]
    return "\n".join(lines)
