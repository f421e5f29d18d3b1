"""`specsize bench` as a library: load, measure (runs and step times interleaved), run the peers, close the loop,
write the outputs. Results are written after every configuration, so an interrupted bench keeps what it
measured."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from specsize.bench.prompts import BenchPrompt, default_prompts, load_prompts
from specsize.bench.report import bench_json, write_csv, write_plots
from specsize.bench.runner import ConfigResult, StepTimer, measure, measure_units
from specsize.engine.loader import EngineError, find_model_dir
from specsize.engine.run import load_draft, load_target

BENCH_METHODS = ("none", "mtp", "draft", "ngram")


@dataclass
class BenchOptions:
    model: str = "tiny-r1"
    draft: str | None = None  # default: tiny-r1-draft for tiny-r1
    methods: tuple[str, ...] = ("mtp", "draft", "ngram")
    ks: tuple[int, ...] = (1, 2, 3, 4)
    prompts_file: str | None = None
    max_prompts: int = 14
    max_new_tokens: int = 128
    repeats: int = 3
    warmup: int = 1
    steps: bool = True
    peers: bool = True
    out: Path | None = None
    plot: Path | None = None
    threads: int | None = None
    compile: bool = False  # torch.compile the decoding steps of our engine (the warm-up runs compile)
    extra: dict[str, Any] = field(default_factory=dict)


def _check(o: BenchOptions) -> None:
    for m in o.methods:
        if m not in BENCH_METHODS:
            raise EngineError(f"unknown method {m!r}; choose from: {', '.join(BENCH_METHODS)}")
    if any(k < 1 for k in o.ks):
        raise EngineError(f"-k values must be >= 1, got {sorted(o.ks)}")
    if o.repeats < 1 or o.max_prompts < 1 or o.max_new_tokens < 2:
        raise EngineError("--repeats and --max-prompts must be >= 1, --max-new-tokens >= 2")
    cores = os.cpu_count() or 1
    if o.threads is not None and not 1 <= o.threads <= cores:
        raise EngineError(f"--threads must be between 1 and this machine's {cores} cores, got {o.threads}")
    for flag, folder in (("--out", o.out), ("--plot", o.plot)):
        if folder is not None:
            check_writable(flag, folder)
    if o.plot is not None and importlib.util.find_spec("matplotlib") is None:
        raise EngineError("--plot needs matplotlib: pip install 'specsize[plot]'")


def check_writable(flag: str, folder: Path) -> None:
    """Refuse an output folder the bench could not write, before a minute of measuring is lost to it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".specsize-write-check-"):
            pass
    except OSError as e:
        raise EngineError(f"{flag} {folder}: cannot write there ({e.strerror or e}); give a folder you can write "
                          "to") from None  # fmt: skip


def check_room(max_new_tokens: int, k: int, context: int, name: str) -> None:
    """A prompt needs room next to the generated tokens and the k+1 verification block."""
    if context - max_new_tokens - k - 2 < 1:
        most = context - k - 3
        raise EngineError(f"--max-new-tokens {max_new_tokens:,} with k={k} leaves no room for a prompt in {name}'s "
                          f"{context:,}-token context; give at most {most:,}")  # fmt: skip


def run_bench(o: BenchOptions, progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Run the bench; progress(message, done, total) hears of each piece of work as it starts."""
    _check(o)
    if o.threads:
        torch.set_num_threads(o.threads)
    root = find_model_dir(o.model)
    target, tok = load_target(root, compile=o.compile)
    draft_name = o.draft or ("tiny-r1-draft" if o.model == "tiny-r1" and "draft" in o.methods else None)
    draft = droot = None
    if "draft" in o.methods:
        if draft_name is None:
            raise EngineError("--method draft needs --draft DIR (a smaller model with the same tokenizer)")
        droot = find_model_dir(draft_name)
        draft = load_draft(draft_name, target, tok, compile=o.compile)
    if "mtp" in o.methods and target.mtp is None:
        raise EngineError(f"{root}: no MTP layer in this checkpoint; drop --method mtp")
    prompts: list[BenchPrompt] = (load_prompts(o.prompts_file, o.max_prompts) if o.prompts_file
                                  else default_prompts(o.max_prompts))  # fmt: skip
    check_room(o.max_new_tokens, max(o.ks), target.arch.max_position_embeddings, target.arch.name)
    limit = target.arch.max_position_embeddings - o.max_new_tokens - max(o.ks) - 2
    encoded = []
    for p in prompts:
        text = tok.apply_chat_template([{"role": "user", "content": p.text}]) if tok.chat_template else p.text
        ids = tok.encode(text, add_special=not tok.chat_template)[-limit:]  # keep the end of over-long prompts
        encoded.append((ids, p.category))
    per_method = o.extra.get("ks", {})  # method -> its k values (benchmarks/bench_speculative.py --ks)
    configs = [(m, k) for m in o.methods for k in sorted(set(per_method.get(m, o.ks)))]
    meta = {
        "model": o.model, "draft": draft_name if draft is not None else None,
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                    "torch": torch.__version__, "device": "cpu"},
        "prompts": {"source": o.prompts_file or "tiny-r1 test split", "count": len(prompts),
                    "categories": sorted({p.category for p in prompts})},
        "settings": {"max_new_tokens": o.max_new_tokens, "repeats": o.repeats, "warmup": o.warmup,
                     "greedy": True, "batch": 1, "dtype": "float32",
                     "compiled": o.compile},
    }  # fmt: skip
    results: list[ConfigResult] = []
    steps: dict | None = None
    peers = None

    def save(interrupted: bool) -> dict[str, Any]:
        report = bench_json(meta, results, steps, peers, interrupted)
        if o.out is not None:
            o.out.mkdir(parents=True, exist_ok=True)
            (o.out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
            write_csv(report, o.out / "bench.csv")
        return report

    eos = tok.eos_token_ids
    # T(n) at the runs' mean context: the prompts' mean length plus half the generated tokens
    first = encoded[0][0]
    mean_ctx = max(sum(len(ids) for ids, _ in encoded) // len(encoded) + o.max_new_tokens // 2, 16)
    context = (first * (mean_ctx // len(first) + 1))[: min(mean_ctx, target.arch.max_position_embeddings - 32)]
    meta["settings"]["step_context_tokens"] = len(context)
    timer = StepTimer(target, draft, context, configs)

    def done(res: list[ConfigResult], curve: dict | None) -> None:
        nonlocal results, steps
        results, steps = list(res), curve
        save(False)

    from specsize.bench.peers import run_peers

    peers_run = o.peers and importlib.util.find_spec("transformers") is not None
    if o.peers and not peers_run:  # transformers is a test dependency, not the engine's: say so, measure the rest
        meta["peers_skipped"] = (
            "transformers is not installed: the comparison with it is skipped (pip install transformers)"
        )
    total = measure_units(len(configs) + 1, o.repeats, o.warmup, o.steps) + (1 if peers_run else 0)
    started = 0

    def tick(message: str) -> None:
        nonlocal started
        if progress:
            progress(message, started, total)
        started += 1

    try:
        measure(target, draft, encoded, configs, o.max_new_tokens, eos, o.repeats, o.warmup, tick, done,
                timer if o.steps else None)  # fmt: skip
        if peers_run:
            tick("transformers peers")
            peers = run_peers(target, root, draft, droot, [ids for ids, _ in encoded], o.max_new_tokens, eos,
                              max(o.ks))  # fmt: skip
    except KeyboardInterrupt:
        return save(True)
    report = save(False)
    if o.plot is not None and report["configs"]:
        report["plots"] = [str(p) for p in write_plots(report, o.plot)]
    return report
