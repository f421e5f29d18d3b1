"""Rich tables for the terminal. Rendering only: every number comes from a report dict."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table

from specsize.units import human_bytes, human_count

if TYPE_CHECKING:
    from specsize.report import FitReport

console = Console(width=None if sys.stdout.isatty() else 120)


def models_table(rows: list[dict[str, Any]]) -> None:
    t = Table(title="specsize model catalog")
    for col in ("name", "family", "params", "active", "MTP", "KV B/token", "context"):
        t.add_column(col, justify="left" if col in ("name", "family") else "right", no_wrap=True)
    for r in rows:
        t.add_row(
            r["name"],
            r["family"],
            human_count(r["params_total"]),
            human_count(r["params_active"]),
            human_count(r["params_mtp"]) if r["params_mtp"] else "-",
            f"{r['kv_bytes_per_token_bf16']:,}",
            f"{r['max_position_embeddings']:,}",
        )
    console.print(t)


def inspect_tables(r: dict[str, Any]) -> None:
    arch = r["architecture"]
    head = f"[bold]{r['name']}[/bold] ({r['family']}, {arch['attention']}"
    if "moe" in arch:
        m = arch["moe"]
        head += f", MoE {m['num_experts']} experts top-{m['top_k']} in {m['moe_layers']} layers"
    if arch["mtp_layers"]:
        head += f", {arch['mtp_layers']} MTP layer"
    console.print(head + ")")
    console.print(f"[dim]source: {r['source']}[/dim]")
    for n in r.get("notes", []):
        console.print(f"note: {n}", markup=False)

    t = Table(title="parameters by component")
    t.add_column("component")
    t.add_column("main model", justify="right")
    t.add_column("MTP module", justify="right")
    mtp = {c["name"]: c["params"] for c in r["mtp_components"]}
    names = [c["name"] for c in r["components"]] + [n for n in mtp if n not in {c["name"] for c in r["components"]}]
    main = {c["name"]: c["params"] for c in r["components"]}
    for n in names:
        t.add_row(n, f"{main[n]:,}" if n in main else "-", f"{mtp[n]:,}" if n in mtp else "-")
    t.add_row(
        "[bold]total[/bold]",
        f"[bold]{r['params_total']:,}[/bold]",
        f"[bold]{r['params_mtp']:,}[/bold]" if r["params_mtp"] else "-",
    )
    t.add_row(
        "active per token",
        f"{r['params_active']:,}",
        f"{r['params_mtp_active']:,}" if r["params_mtp"] else "-",
    )
    if r["params_mtp_stored_copies"]:
        t.add_row("stored copies (embed, head)", "-", f"{r['params_mtp_stored_copies']:,}")
    console.print(t)

    t = Table(title="checkpoint size")
    t.add_column("precision")
    t.add_column("whole checkpoint", justify="right")
    t.add_column("main model only", justify="right")
    for name, b in r["checkpoint_bytes"].items():
        t.add_row(name, human_bytes(b), human_bytes(r["main_model_bytes"][name]))
    console.print(t)

    t = Table(title="KV cache per token")
    t.add_column("KV dtype")
    t.add_column("main model", justify="right")
    t.add_column("MTP layers", justify="right")
    for d, b in r["kv_bytes_per_token"].items():
        t.add_row(d, f"{b:,} B", f"{r['mtp_kv_bytes_per_token'][d]:,} B" if arch["mtp_layers"] else "-")
    console.print(t)


def _gb(b: float) -> str:
    return f"{b / 1e9:,.1f}"


def fit_table(report: FitReport, explain: bool = False) -> None:
    """`specsize fit` in the terminal: the --weights auto sentence, one row per GPU type, the reasons for those
    that do not fit, and with explain every memory term per GPU."""
    from specsize.answer import workload_words

    if report.choice:
        console.print(report.choice.sentence(), markup=False, highlight=False, soft_wrap=True)
    w = report.workload
    words = workload_words({"concurrency": w.concurrency, "input_tokens": w.input_tokens,
                            "output_tokens": w.output_tokens})  # fmt: skip
    t = Table(title=f"{report.arch.name} {report.precision}, KV {report.kv_cache}, {words}, spec "
                    f"{report.spec.describe()}, {report.engine}")  # fmt: skip
    for col in ("GPU", "GPUs", "nodes", "layout", "weights GB", "KV GB", "spec GB", "headroom GB", "max conc.",
                "max context"):  # fmt: skip
        t.add_column(col, justify="left" if col in ("GPU", "layout") else "right", no_wrap=col == "GPU")
    for r in report.results:
        if not r.fits:
            t.add_row(r.gpu.id, "-", "-", "[red]does not fit[/red]", "", "", "", "", "", "")
            continue
        m = r.memory
        # weights: every weight on the GPU (MTP module / draft included); spec: what speculation adds, its
        # weights included, so the draft's share shows in both columns (the --explain breakdown keeps them apart)
        spec = m.term("spec_weights") + m.term("spec_kv") + m.term("spec_buffers")
        weights = m.term("weights") + m.term("spec_weights")
        t.add_row(r.gpu.id, str(r.gpus), str(r.nodes), r.layout.short(), _gb(weights),
                  _gb(m.term("kv_cache")), _gb(spec) if spec else "-", _gb(m.headroom),
                  f"{r.max_concurrency:,}", f"{r.max_context:,}")  # fmt: skip
    console.print(t)
    if any(r.fits and r.layout.short().startswith("DEP") for r in report.results):
        console.print("[dim]DEPn: attention data-parallel + expert-parallel over n GPUs.[/dim]")
    for r in report.results:
        if not r.fits:
            console.print(f"[red]{r.gpu.id}[/red]: {r.reason}")
    if explain:
        for r in report.results:
            if r.memory is None:
                continue
            m = r.memory
            e = Table(title=f"{r.gpu.id} x {r.gpus} ({r.layout.describe()}): per-GPU memory")
            e.add_column("term")
            e.add_column("GB", justify="right")
            e.add_column("what it assumes")
            for x in m.terms:
                e.add_row(x.name, f"{x.bytes / 1e9:,.3f}", x.note)
            e.add_row("capacity", _gb(m.capacity), m.budget_rule)
            if m.host_ram_needed:
                e.add_row("host RAM", _gb(m.host_ram_needed), "routed experts offloaded to the CPU")
            console.print(e)
            for n in m.notes:
                console.print(f"  note: {n}")


def _f(x: float | None, nd: int = 1) -> str:
    return "-" if x is None else f"{x:,.{nd}f}"


def _this_machine_table(m: dict[str, Any]) -> None:
    if "reason" in m:
        console.print(f"[dim]--calibration: {m['reason']}[/dim]")
        return
    mach = m["machine"]
    t = Table(title=f"this machine, measured: {m['model']}, plain {m['plain_tokens_per_s']:,.1f} tok/s, batch 1",
              box=box.SIMPLE_HEAD, pad_edge=False)  # fmt: skip
    for c in ("method", "k", "E[L]", "predicted\nspeedup", "from", "predicted\ntok/s", "measured\nspeedup"):
        t.add_column(c, justify="left" if c in ("method", "from") else "right", no_wrap=True)
    for row in m["rows"]:
        best = " (best)" if row["k"] == m["best_k"] else ""
        meas = row["measured_speedup"]
        t.add_row(m["method"], f"{row['k']}{best}", f"{row['expected_length']:.2f}", f"{row['speedup']:.2f}x",
                  row.get("from", "steps"), _f(row["tokens_per_s"]),
                  f"{meas:.2f}x" if meas is not None else "-")  # fmt: skip
    console.print(t)
    console.print(f"[dim]{m['source']}: {mach.get('cpu', '?')} {mach.get('device', '')}, {mach.get('threads', '?')} "
                  f"threads, torch {mach.get('torch', '?')}, {'compiled' if m['compiled'] else 'eager'}. predicted "
                  "from rounds: the loop's rounds at that k, replayed and timed by the bench (its own graphs); from "
                  "steps: the planner's round model on the measured step times T(n), loop overhead and acceptance; "
                  "measured: what the bench saw at that k.[/dim]")  # fmt: skip
    if m.get("timing_flagged"):
        console.print(f"[dim]the bench's step and round times are not clean figures: {m['timing_flagged']}[/dim]")
    if m.get("batched"):
        _batched_table(m)


def _batched_table(m: dict[str, Any]) -> None:
    """`--calibration serve.json` (benchmarks/bench_serve.py): the round model at every measured concurrency."""
    t = Table(title=f"this machine, measured at every concurrency: {m['model']}, {m['method']}", box=box.SIMPLE_HEAD,
              pad_edge=False)  # fmt: skip
    cols = ("conc.", "k", "E[L]", "T_C(1)\nms", "T_C(k+1)\n/T_C(1)", "loop\nms", "plain\ntok/s", "predicted\nspeedup",
            "predicted\ntok/s", "measured\nspeedup")  # fmt: skip
    for c in cols:
        t.add_column(c, justify="right", no_wrap=True)
    for r in m["batched"]:
        t.add_row(str(r["concurrency"]), str(r["k"]), f"{r['expected_length']:.2f}", f"{r['step_ms']:.2f}",
                  f"{r['verify_ratio']:.2f}", f"{r['overhead_ms']:.2f}", _f(r["plain_tokens_per_s"]),
                  f"{r['speedup']:.2f}x", _f(r["tokens_per_s"]), f"{r['measured_speedup']:.2f}x")  # fmt: skip
    console.print(t)
    console.print("[dim]learned from the file: T_C(n), one forward of C rows of n tokens (target and drafter), "
                  "the loop's own time per round and plain decode tok/s at each C; predicted: the planner's round "
                  "model on them with the acceptance (given, or measured at C); measured: the bench's speedup "
                  "at C.[/dim]")  # fmt: skip


def plan_tables(r: dict[str, Any], explain: bool = False) -> None:
    from specsize.answer import workload_words

    for sentence in r.get("answer", []):
        console.print(sentence, markup=False, highlight=False)
    w = workload_words(r["workload"])
    title = f"{r['model']} {r['weights']}, KV {r['kv_cache']}, {w}, spec {r['spec']}, {r['engine']}"
    spec = r["spec"] != "none"
    t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    cols = ["GPU", "GPUs", "layout", "nodes", "GB/\nGPU", "TTFT\nms", "TPOT\nms", "user\ntok/s", "GPU\ntok/s"]
    if spec:
        cols += ["+spec\nuser", "speed-\nup", "best k", "break-\neven"]
    for c in cols:
        t.add_column(c, justify="left" if c in ("GPU", "layout") else "right", no_wrap=True)
    for g in r["gpus"]:
        if not g["fits"]:
            t.add_row(g["gpu"], "-", "[red]does not fit[/red]", *[""] * (len(cols) - 3))
            continue
        o, m = g["recommended"], g["minimum"]
        gpus = str(o["gpus"]) if o["gpus"] == m["gpus"] else f"{m['gpus']}->{o['gpus']}"
        lo, lm = o["layout"]["short"], m["layout"]["short"]
        lay = lo if lo == lm else f"{lm}->{lo}"
        row = [g["gpu"], gpus, lay, str(o["nodes"]), _gb(o["memory_per_gpu_bytes"]), _f(o["ttft_ms"], 0),
               _f(o["tpot_ms"], 1), _f(o["tok_s_per_user"]), _f(o["tok_s_per_gpu"])]  # fmt: skip
        if spec:
            s, b = o["spec"], o["best"]
            be = o["break_even_concurrency"]
            row += [_f(s["tok_s_per_user"]), f"{s['speedup']:.2f}x", f"{b['k']} {b['speedup']:.2f}x",
                    f"{be:,}" if be else f">{o['max_concurrency']:,}"]  # fmt: skip
        t.add_row(*row)
    console.print(t)
    dep = any(g["fits"] and "DEP" in g[k]["layout"]["short"] for g in r["gpus"] for k in ("minimum", "recommended"))
    console.print(
        "[dim]GPUs, layout: minimum->recommended (KV room for 4x the concurrency) where they differ"
        + ("; DEPn: attention data-parallel + expert-parallel over n GPUs. " if dep else ". ")
        + "+spec user: tok/s per user with speculation. break-even: the concurrency from which speculation "
        "loses (>N: it still pays at the KV limit N).[/dim]"
    )
    for g in r["gpus"]:
        if not g["fits"]:
            console.print(f"[red]{g['gpu']}[/red]: {g.get('reason', '')}")
        elif "network" in g["recommended"]:
            n = g["recommended"]["network"]
            console.print(f"{g['gpu']}: {g['recommended']['nodes']} nodes; TPOT{' with ' + r['spec'] if spec else ''} "
                          f"{n['tpot_ms']:,.1f} ms over {n['inter_node']}, {n['slow_network_tpot_ms']:,.1f} ms "
                          f"over 10 GbE")  # fmt: skip
    if "this_machine" in r:
        _this_machine_table(r["this_machine"])
    if "calibration" in r:
        calibration_tables(r["calibration"])
    first = next((g for g in r["gpus"] if g["fits"]), None)
    if first:
        _curve_table(first, spec)
    if r.get("commands"):
        c = r["commands"]
        console.print(f"\n[bold]launch ({c['version']}) for {c['plan']}[/bold]")
        for line in c["lines"]:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    if explain:
        _explain(r)


def _curve_table(g: dict[str, Any], spec: bool) -> None:
    o = g["recommended"]
    t = Table(title=f"throughput vs latency: {g['gpu']} x {o['gpus']} ({o['layout']['text']})")
    cols = ["concurrency", "user tok/s", "GPU tok/s", "bound"]
    if spec:
        cols += ["+spec user", "+spec GPU", "speedup", "MoE penalty", "best k"]
    for c in cols:
        t.add_column(c, justify="right")
    for p in g["curve"]:
        row = [f"{p['concurrency']:,}", _f(p["tok_s_per_user"]), _f(p["tok_s_per_gpu"]), p["bound"]]
        if spec:
            pen = p["moe_penalty"]
            row += [_f(p["spec_tok_s_per_user"]), _f(p["spec_tok_s_per_gpu"]), f"{p['speedup']:.2f}x",
                    f"{pen:.2f}x" if pen else "-", f"{p['best_k']} {p['best_speedup']:.2f}x"]  # fmt: skip
        t.add_row(*row)
    console.print(t)


def _explain(r: dict[str, Any]) -> None:
    for g in r["gpus"]:
        if not g["fits"]:
            continue
        o = g["recommended"]
        st = o["decode_step"]
        e = Table(title=f"{g['gpu']} x {o['gpus']} ({o['layout']['text']}): one decode step and memory per GPU")
        e.add_column("term")
        e.add_column("value", justify="right")
        e.add_column("what it is")
        e.add_row(
            "memory",
            f"{st['memory_ms']:.3f} ms",
            f"{st['weight_bytes'] / 1e9:,.2f} GB weights + {st['kv_bytes'] / 1e9:,.3f} GB KV read",
        )
        e.add_row("compute", f"{st['compute_ms']:.3f} ms", f"{st['flops'] / 1e12:,.3f} TFLOP")
        e.add_row("communication", f"{st['communication_ms']:.3f} ms", "TP all-reduce / EP all-to-all / PP hand-off")
        e.add_row("overhead", f"{st['overhead_ms']:.3f} ms", "engine: step + per layer + per token")
        e.add_row("bound", st["bound"], "T = max(memory, compute) + communication + overhead")
        if "spec" in o:
            s = o["spec"]
            e.add_row("verify k+1", f"{s['verify_ms']:.3f} ms", f"acceptance {s['acceptance']}")
            e.add_row("draft", f"{s['draft_ms']:.3f} ms", f"E[L] = {s['expected_length']:.3f} tokens per round")
        for x in o["memory_breakdown"]:
            e.add_row(x["term"], f"{x['bytes'] / 1e9:,.3f} GB", x["note"])
        console.print(e)
    if r.get("host"):
        h = r["host"]
        t = Table(title="host: offloaded experts in RAM, computed by the CPU")
        for c in ("term", "value", "source"):
            t.add_column(c)
        given = "given" if h["given"] else "assumption (set --host-memory/--channels/--cores)"
        what = f"{h['memory']} x {h['channels_per_socket']} channels x {h['sockets']} socket(s)"
        t.add_row("memory bandwidth", f"{h['bandwidth_bytes_per_s'] / 1e9:,.1f} GB/s",
                  f"{what}: {h['memory_source']}; {given}")  # fmt: skip
        t.add_row(
            "CPU compute",
            f"{h['flops'] / 1e12:,.2f} TFLOP/s",
            f"{h['cores_per_socket']} cores x {h['sockets']} socket(s): {h['flops_rule']}",
        )
        t.add_row("copies of the experts", str(h["expert_copies"]), h["copies_rule"] + " (offload.py)")
        console.print(t)
    a = Table(title="assumptions and constants (perf_constants.py)")
    for c in ("constant", "value", "source"):
        a.add_column(c)
    for x in r["assumptions"]:
        a.add_row(x["name"], x["value"], x["source"])
    console.print(a)


def bench_tables(r: dict[str, Any]) -> None:
    b = r["baseline"]
    s = r["settings"]
    console.print(f"[bold]{r['model']}[/bold] on {r['machine']['cpu']} ({r['machine']['threads']} threads), "
                  f"{r['prompts']['count']} prompts ({r['prompts']['source']}), {s['max_new_tokens']} new tokens, "
                  f"greedy, median of {s['repeats']} runs{', compiled' if s.get('compiled') else ''}")  # fmt: skip
    if b:
        console.print(f"plain decoding: {b['tokens_per_s']['median']:,.1f} tok/s "
                      f"(runs {b['tokens_per_s']['min']:,.1f}-{b['tokens_per_s']['max']:,.1f})")  # fmt: skip
    t = Table(title="speculative decoding vs plain, same prompts", box=box.SIMPLE_HEAD, pad_edge=False)
    for c in ("method", "k", "tok/s", "spread", "speedup", "predicted", "error", "E[L]", "accept per pos",
              "draft s", "verify s", "same out"):  # fmt: skip
        t.add_column(c, justify="left" if c in ("method", "accept per pos") else "right", no_wrap=True)
    for c in r["configs"]:
        tps = c["tokens_per_s"]
        pred, err = c.get("predicted_speedup"), c.get("prediction_error")
        t.add_row(c["method"], str(c["k"]), f"{tps['median']:,.1f}",
                  f"{tps['min']:,.0f}-{tps['max']:,.0f}" + (" [red](!)[/red]" if c.get("flagged") else ""),
                  f"{c['speedup']:.2f}x", "-" if pred is None else f"{pred:.2f}x",
                  "-" if err is None else f"{err:+.0%}", f"{c['mean_acceptance_length']:.2f}",
                  " ".join(f"{a:.2f}" for a in c["acceptance_per_position"]), f"{c['draft_time_s']:.2f}",
                  f"{c['verify_time_s']:.2f}", "yes" if c["outputs_identical"] else "[red]NO[/red]")  # fmt: skip
    console.print(t)
    for c in (x for x in r["configs"] if x.get("flagged")):  # not clean figures (report.py's _flag)
        console.print(f"[red](!)[/red] {c['method']} k={c['k']}: {c['flagged']}")
    if (r.get("timing") or {}).get("flagged"):
        console.print(f"[red](!)[/red] step and round times: {r['timing']['flagged']}")
    if r.get("step_times"):
        st = r["step_times"]
        ctx = r["settings"].get("step_context_tokens", 64)
        e = Table(title=f"step time T(n), ms (one forward over n tokens at a {ctx}-token context; median of the "
                  "passes)", box=box.SIMPLE_HEAD)  # fmt: skip
        e.add_column("n", justify="right")
        for name in st:
            e.add_column(name, justify="right")
        for i in range(len(st["target"])):
            e.add_row(str(i + 1), *(f"{st[name][i] * 1e3:.2f}" for name in st))
        console.print(e)
    if r.get("peers_skipped"):
        console.print(f"peers: {r['peers_skipped']}", markup=False)
    if r.get("peers"):
        p = Table(title=f"specsize vs transformers {r['peers']['transformers']} (end to end, same prompts)",
                  box=box.SIMPLE_HEAD)  # fmt: skip
        for c in ("method", "k", "specsize tok/s", "transformers tok/s", "ratio", "identical outputs"):
            p.add_column(c, justify="left" if c == "method" else "right")
        for row in r["peers"]["rows"]:
            p.add_row(row["method"], str(row["k"]), f"{row['specsize_tokens_per_s']:,.1f}",
                      f"{row['transformers_tokens_per_s']:,.1f}", f"{row['ratio']:.2f}x",
                      f"{row['same_outputs']}/{row['prompts']}")  # fmt: skip
        console.print(p)
    if r.get("interrupted"):
        console.print("[yellow]interrupted: the results above are those measured so far[/yellow]")


def gpu_layers_tables(r: dict[str, Any]) -> None:
    """fit/plan --gpu-layers: the sentence, the split asked for among a few others, the llama-server command."""
    from specsize.answer import workload_words

    for sentence in r["answer"]:
        console.print(sentence, markup=False, highlight=False)
    on = f"one {r['gpu']}" if r.get("gpus", 1) == 1 else f"{r['gpus']} x {r['gpu']} (--split-mode layer)"
    name = r["engine_display"]
    t = Table(title=f"{r['model']} {r['weights']} on {on} + CPU ({name} -ngl), "
                    f"{workload_words(r['workload'])}", box=box.SIMPLE_HEAD, pad_edge=False)  # fmt: skip
    for c in ("GPU layers", "GPU GB", "RAM GB", "GPU ms", "CPU ms", "tok/s", "loads"):
        t.add_column(c, justify="right")
    for x in r["splits"]:
        mark = " <" if x["gpu_layers"] == r["gpu_layers"]["gpu_layers"] else ""
        loads = "yes" if x["fits"] else "[red]no[/red]"
        t.add_row(f"{x['gpu_layers']}{mark}", _gb(x["gpu_bytes"]), _gb(x["host_bytes"]), f"{x['gpu_ms']:.1f}",
                  f"{x['cpu_ms']:.1f}", f"{x['tok_s_per_user']:,.1f}", loads)  # fmt: skip
    console.print(t)
    console.print(
        f"[dim]GPU GB: layers, their KV and the runtime on the {'GPU' if r.get('gpus', 1) == 1 else 'busiest GPU'}"
        f" (of {_gb(r['gpu_layers']['budget_bytes'])}"
        f"); RAM GB: the other layers, their KV and the embedding; the CPU reads them at "
        f"{r['host_bandwidth_bytes_per_s'] / 1e9:,.0f} GB/s (--host-memory, --channels, --sockets) and computes "
        f"them at {r['host_flops'] / 1e9:,.0f} GFLOP/s ({r['host_cores']} cores at {name}'s fitted rate; "
        f"--cores), whichever is slower.[/dim]"
    )
    if r.get("commands"):
        c = r["commands"]
        console.print(f"\n[bold]launch ({c['version']}) for {c['plan']}[/bold]")
        for line in c["lines"]:
            console.print(line, markup=False, highlight=False, soft_wrap=True)


def calibration_tables(c: dict[str, Any]) -> None:
    """What `plan --calibration measured.jsonl` learned: acceptance, the step-time scale, and where it applies."""
    console.print(f"\n[bold]calibration[/bold]: {c['source']} ({c['points']} measured points)")
    a = c.get("acceptance")
    if a:
        rates = " ".join(f"{x:.2f}" for x in a["conditional_acceptance"])
        console.print(f"acceptance per position (conditional) {rates}, mean acceptance length "
                      f"{a['mean_acceptance_length']:.2f}, from {a['levels']} level(s): {a['how']}; "
                      "the plan uses it")  # fmt: skip
    if c.get("note"):
        console.print(c["note"])
    st = c["step_time"]
    if st["rows"]:
        t = Table(title="measured vs predicted, each point's declared deployment", box=box.SIMPLE_HEAD, pad_edge=False)
        for h in ("point", "conc.", "TPOT ms\nmeasured", "TPOT ms\npredicted", "ratio", "tok/s/GPU\nmeasured",
                  "tok/s/GPU\npredicted"):  # fmt: skip
            t.add_column(h, justify="left" if h == "point" else "right", no_wrap=True)
        for r in st["rows"]:
            t.add_row(r["id"], str(r["concurrency"]), _f(r["measured_tpot_ms"], 2), _f(r["predicted_tpot_ms"], 2),
                      f"{r['scale']:.2f}", _f(r["measured_tok_s_per_gpu"]),
                      _f(r["predicted_tok_s_per_gpu"]))  # fmt: skip
        console.print(t)
        console.print(f"step-time scale (measured / predicted TPOT): median {st['scale']:.2f}")
        for r in c.get("applied", []):
            if "reason" in r:
                console.print(f"{r['gpu']}: not calibrated ({r['reason']})")
                continue
            console.print(f"{r['gpu']}, the measured deployment at this plan's workload (concurrency "
                          f"{r['concurrency']}): TPOT {r['predicted_tpot_ms']:.2f} ms predicted (serving steady "
                          f"state; the table's, for the plan's deployment and acceptance: {r['plan_tpot_ms']:.2f} "
                          f"ms) x scale {r['scale']:.2f} "
                          f"(log-interpolated between the measured levels) = {r['calibrated_tpot_ms']:.2f} ms "
                          f"calibrated: {r['calibrated_tok_s_per_user']:,.1f} tok/s per user, "
                          f"{r['calibrated_tok_s_per_gpu']:,.1f} per GPU")  # fmt: skip
    else:
        console.print("step-time scale: none (no point the planner can predict)")
    for s in st["skipped"][:5]:
        console.print(f"[dim]not predicted: {s['id']}: {s['reason']}[/dim]")
    if len(st["skipped"]) > 5:
        console.print(f"[dim]... and {len(st['skipped']) - 5} more not predicted[/dim]")


def disagg_tables(r: dict[str, Any]) -> None:
    w = r["workload"]
    t = Table(
        title=f"{r['model']} {r['weights']} on {r['gpus']} x {r['gpu']} ({r['engine']}, spec {r['spec']}): "
        f"prefill/decode splits at {w['concurrency']} x ({w['input_tokens']:,} + {w['output_tokens']:,})"
    )
    for c in ("prefill", "decode", "GPU tok/s", "user tok/s", "TTFT ms", "TPOT ms", "bound"):
        t.add_column(c, justify="left" if c in ("prefill", "decode", "bound") else "right")
    for s in r["splits"]:
        mark = " *" if s == r["best"] else ""
        t.add_row(
            s["prefill"] + mark,
            s["decode"],
            f"{s['tok_s_per_gpu']:,.0f}",
            f"{s['tok_s_per_user']:,.1f}",
            f"{s['ttft_ms']:,.0f}",
            f"{s['tpot_ms']:.1f}",
            "prefill" if s["prefill_bound"] else "decode",
        )
    console.print(t)
    console.print(f"* chosen: {r['why']}", markup=False)
    for line in r.get("launch", []):
        console.print(line, markup=False, soft_wrap=True)
