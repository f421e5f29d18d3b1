"""The answer of a plan in words: the first lines of `specsize plan`, as a person would say them.

Everything here reads the report dict (`plan --json`); no figure is computed twice, none is typed in.
Example (R1 FP8 on H200, MTP k=1, the defaults):
  "DeepSeek-R1 in FP8 needs at least 8×H200, one node; MTP adds 1.7 GB per GPU and makes one user 1.54× faster,
   1.42× at 16 users."
"""

from __future__ import annotations

from typing import Any

COMPARE_AT = 16  # the second concurrency the headline quotes a speedup at (a busy but ordinary server)
SPEC_TERMS = ("spec_weights", "spec_kv", "spec_buffers")


def users(n: int) -> str:
    return f"{n:,} user{'s' if n != 1 else ''}" if n != 1 else "one user"


def workload_words(w: dict[str, Any]) -> str:
    """'1 user, 4,096 input + 4,096 output tokens' (the header of plan and fit)."""
    c = w["concurrency"]
    return f"{c:,} user{'s' if c != 1 else ''}, {w['input_tokens']:,} input + {w['output_tokens']:,} output tokens"


def model_words(name: str) -> str:
    """The model as its authors spell it (the catalog's ORG/NAME alias), else the name given."""
    from specsize.launch import model_path

    path = model_path(name)
    return path.split("/")[-1] if "/" in path and not path.startswith(("/", ".")) else name


def _gpus(n: int, gpu: str) -> str:
    return f"{n}×{gpu.upper()}"


def _nodes(n: int) -> str:
    return "one node" if n == 1 else f"{n} nodes"


def _method(spec: str) -> str:
    """'mtp k=1' -> 'MTP'; 'draft:NAME k=4' -> 'the draft model NAME (k=4)'."""
    head, _, k = spec.partition(" ")
    m, _, name = head.partition(":")
    if m == "draft":
        return f"the draft model {name} ({k})" if name else "the draft model"
    return {"mtp": "MTP", "ngram": "n-gram lookup", "eagle": "EAGLE"}.get(m, m)


def _faster(x: float) -> str:
    return f"{x:.2f}× faster" if x >= 1 else f"{x:.2f}× as fast (slower)"


def _spec_gb(o: dict[str, Any]) -> float:
    return sum(t["bytes"] for t in o["memory_breakdown"] if t["term"] in SPEC_TERMS) / 1e9


def _at(curve: list[dict[str, Any]], c: int) -> dict[str, Any] | None:
    return next((p for p in curve if p["concurrency"] == c), None)


def speed_clause(r: dict[str, Any], g: dict[str, Any]) -> str:
    """What speculation adds and gives (or, without it, how fast one request goes)."""
    o, c = g["recommended"], r["workload"]["concurrency"]
    if r["spec"] == "none":
        verb = "gets" if c == 1 else "get"
        each = "" if c == 1 else " each"
        return f"{users(c)} {verb} {o['tok_s_per_user']:,.0f} tok/s{each} ({o['tpot_ms']:.1f} ms per token)"
    s = o["spec"]
    text = f"{_method(r['spec'])} adds {_spec_gb(o):.1f} GB per GPU and makes {users(c)} {_faster(s['speedup'])}"
    other = COMPARE_AT if c < COMPARE_AT else None
    p = _at(g["curve"], other) if other else None
    if p is not None and "speedup" in p:
        text += f", {p['speedup']:.2f}× at {other} users"
    return text


def headline(r: dict[str, Any], given: int | None = None) -> list[str]:
    """The answer in sentences: the first GPU type that fits (the one the launch command is for), why the plan
    recommends more GPUs than the minimum when it does, and, for --gpus/--nodes, whether it fits and how many
    users it holds."""
    g = next((x for x in r["gpus"] if x["fits"]), None)
    model, prec = model_words(r["model"]), r["weights"].upper()
    if g is None:
        return [f"{model} in {prec} does not fit on any GPU type asked for."]
    m, o = g["minimum"], g["recommended"]
    ctx = r["workload"]["input_tokens"] + r["workload"]["output_tokens"]
    if given is not None:
        where = f"{_gpus(m['gpus'], g['gpu'])} ({_nodes(m['nodes'])}, {m['layout']['text']})"
        first = (f"{model} in {prec} fits on {where}: up to {m['max_concurrency']:,} concurrent users of {ctx:,} "
                 f"tokens; {speed_clause(r, g)}.")  # fmt: skip
        return [first]
    out = [f"{model} in {prec} needs at least {_gpus(m['gpus'], g['gpu'])}, {_nodes(m['nodes'])}; "
           f"{speed_clause(r, g)}."]  # fmt: skip
    c = r["workload"]["concurrency"]
    room = f"room for 4× the {c:,} asked for (bursts, prefix cache)"
    lm, lo = m["layout"]["short"], o["layout"]["short"]
    if o["gpus"] != m["gpus"]:
        same_kind = m["layout"]["attention"] == o["layout"]["attention"]
        on_m, on_o = (f"{m['gpus']}", f"{o['gpus']}") if same_kind else (f"{m['gpus']} ({lm})", f"{o['gpus']} ({lo})")
        out.append(
            f"Recommended: {_gpus(o['gpus'], g['gpu'])} ({_nodes(o['nodes'])}): on {on_m} the KV cache holds "
            f"{m['max_concurrency']:,} concurrent requests of {ctx:,} tokens, on {on_o} it holds "
            f"{o['max_concurrency']:,}, {room}; the speeds below are on {o['gpus']}."
        )
    elif lm != lo:
        out.append(
            f"Recommended: {_gpus(o['gpus'], g['gpu'])} as {lo} ({o['layout']['text']}): as {lm} the KV cache holds "
            f"{m['max_concurrency']:,} concurrent requests of {ctx:,} tokens, as {lo} {o['max_concurrency']:,}, "
            f"{room}; the speeds below are {lo}'s."
        )
    return out
