"""Greedy decoding speed of our engine, eager and with its opt-in torch.compile (--compile), vs Hugging Face
transformers `generate` (eager, its default) on the same tiny random-weight models, CPU, batch 1, side by side
in one run (same weights, same prompt, the generated tokens checked equal).
Run: python benchmarks/bench_engine.py [--tokens 128] [--threads N] [--no-compile]"""

import argparse
import copy
import tempfile
import time

import torch
import transformers

from specsize.config import parse_config
from specsize.engine.compile import compile_steps
from specsize.engine.model import Transformer, init_weights
from specsize.engine.saver import save_model

TINY = {
    "tiny deepseek_v3 (MLA + MoE 8x top-2, 4 layers, h=256)": {
        "model_type": "deepseek_v3", "hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
        "num_key_value_heads": 4, "intermediate_size": 512, "moe_intermediate_size": 128, "vocab_size": 4096,
        "max_position_embeddings": 1024, "q_lora_rank": 128, "kv_lora_rank": 64, "qk_nope_head_dim": 32,
        "qk_rope_head_dim": 16, "v_head_dim": 32, "n_routed_experts": 8, "num_experts_per_tok": 2,
        "n_shared_experts": 1, "first_k_dense_replace": 1, "n_group": 2, "topk_group": 1,
        "routed_scaling_factor": 2.5, "norm_topk_prob": True, "topk_method": "noaux_tc", "scoring_func": "sigmoid",
        "num_nextn_predict_layers": 1, "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": False},
    "tiny qwen2 (GQA 8/2 heads, 4 layers, h=256)": {
        "model_type": "qwen2", "hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 8,
        "num_key_value_heads": 2, "intermediate_size": 768, "vocab_size": 4096, "max_position_embeddings": 1024,
        "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True},
}  # fmt: skip


@torch.inference_mode()
def ours(model: Transformer, prompt: torch.Tensor, n: int) -> tuple[list[int], float]:
    t0 = time.perf_counter()
    model.setup_cache(1, prompt.shape[1] + n + 1)
    logits = model(prompt, start=0, last_only=True)
    out, pos = [], prompt.shape[1]
    tok = logits[:, -1].argmax(-1, keepdim=True)
    for _ in range(n):
        out.append(int(tok))
        tok = model(tok, start=pos)[:, -1].argmax(-1, keepdim=True)
        pos += 1
    return out, time.perf_counter() - t0


@torch.inference_mode()
def theirs(model, prompt: torch.Tensor, n: int) -> tuple[list[int], float]:
    t0 = time.perf_counter()
    g = model.generate(prompt, max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0)
    return g[0, prompt.shape[1] :].tolist(), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--no-compile", action="store_true", help="skip the compiled engine (compiling takes minutes)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    print(f"CPU, {args.threads} threads, batch 1, fp32, {args.tokens} new tokens after a 32-token prompt")
    for name, cfg in TINY.items():
        a = parse_config(cfg, "tiny", "benchmark")
        m = init_weights(Transformer(a), std=0.05, seed=0).eval()
        with tempfile.TemporaryDirectory() as d:
            save_model(m, d, cfg)
            hf = transformers.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
        m.fuse()  # inference: gate+up and MLA's q_a+kv_a as one matmul each
        prompt = torch.randint(0, a.vocab_size, (1, 32), generator=torch.Generator().manual_seed(0))
        ours(m, prompt, 8), theirs(hf, prompt, 8)  # warm-up
        runs = {"specsize": m}
        if not args.no_compile:
            runs["specsize --compile"] = compile_steps(copy.deepcopy(m))
            t0 = time.perf_counter()
            ours(runs["specsize --compile"], prompt, 8)  # compiles the one-token step
            compile_s = time.perf_counter() - t0
        b_tok, b_t = min((theirs(hf, prompt, args.tokens) for _ in range(3)), key=lambda r: r[1])
        print(f"{name}: transformers {args.tokens / b_t:,.0f} tok/s")
        for label, model in runs.items():
            a_tok, a_t = min((ours(model, prompt, args.tokens) for _ in range(3)), key=lambda r: r[1])
            same = "identical" if a_tok == b_tok else "DIFFERENT"
            extra = f"; compiled in {compile_s:.0f} s" if "compile" in label else ""
            print(
                f"  {label}: {args.tokens / a_t:,.0f} tok/s, {b_t / a_t:.2f}x transformers (best of 3; greedy "
                f"outputs {same}{extra})"
            )


if __name__ == "__main__":
    main()
