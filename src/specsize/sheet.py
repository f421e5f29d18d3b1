"""The requirements sheet (`specsize plan --sheet`): for the recommended layout of each GPU type, what a
deployment needs to buy or rent — GPUs, host RAM, CPU cores, disk, network, power — without speculative
decoding, with the chosen method, and the difference, each figure with the reason for it.

Nothing here re-derives the planner: memory comes from memory.memory_per_gpu, step times from the Deployment the
plan built (perf.step_time), speculation from speculative.evaluate, the network verdicts from the same step-time
model evaluated over each standard link (sheet_network), checkpoint sizes from quant.checkpoint_bytes. What is new
is the host side (sheet_host, from the catalogs of sheet_data: engines' loading behaviour, power, storage) and the
arithmetic that turns these into a bill of materials. This module: the GPU, network and speculation sections, the
headline, and the sheet for each GPU type of a plan.
"""

from __future__ import annotations

from dataclasses import replace

from specsize.deployment import HostCPU
from specsize.engines import get_engine
from specsize.fit import fit_gpu
from specsize.hardware import get_gpu, get_link
from specsize.memory import MemoryBreakdown, memory_per_gpu
from specsize.perf import step_time
from specsize.plan import SLOW_NETWORK, GPUPlan, Plan
from specsize.scenario import Host, Speculative
from specsize.sheet_data import COMM_SHARE, ENOUGH_SLOWDOWN
from specsize.sheet_host import cpu_rows, disk_rows, host_ram_rows, power_rows
from specsize.sheet_network import (
    LINK_LABELS,
    LinkRow,
    collective_bytes,
    decode_tpot,
    link_table,
    needed_bandwidth,
    with_link,
)
from specsize.sheet_rows import Ctx, Row, Sheet
from specsize.units import GB

_MEMORY_TERMS = (
    ("weights", "weights"),
    ("spec_weights", "MTP / draft weights"),
    ("kv_cache", "KV cache"),
    ("spec_kv", "MTP / draft KV cache"),
    ("activations", "activations"),
    ("runtime", "runtime"),
    ("cuda_graphs", "CUDA graphs"),
    ("spec_buffers", "verification buffers"),
)


def _term_note(m: MemoryBreakdown, name: str) -> str:
    return next((t.note for t in m.terms if t.name == name), "")


def gpu_rows(c: Ctx, min_plain: int, min_spec: int) -> list[Row]:
    o, g, a = c.opt, c.gpu, c.p.arch
    w = c.p.workload
    rows = [
        Row(
            "GPUs",
            "text",
            *c.both(f"{o.layout.gpus} x {g.name}", f"{o.layout.gpus} x {g.name}"),
            f"{o.layout.describe()}; the fewest that fit: {min_plain} without speculation"
            + (f", {min_spec} with it" if c.spec else ""),
        ),
        Row("nodes", "count", *c.both(o.nodes, o.nodes), f"{g.gpus_per_node} GPUs per node ({_node_source(g)})"),
    ]
    for name, label in _MEMORY_TERMS:
        p0, p1 = c.m0.term(name), c.m1.term(name)
        if p0 or p1:
            rows.append(Row(f"memory per GPU: {label}", "bytes", *c.both(p0, p1), _term_note(c.m1, name)))
    rows.append(
        Row(
            "memory per GPU: total",
            "bytes",
            *c.both(c.m0.total, c.m1.total),
            f"of {c.m1.capacity / GB:,.1f} GB usable; {c.m1.budget_rule}",
        )
    )
    rows.append(
        Row(
            "concurrent requests held",
            "count",
            *c.both(c.m0.max_concurrency, c.m1.max_concurrency),
            f"at {w.context:,} tokens each (asked: {w.concurrency})",
        )
    )
    ctx_max = a.max_position_embeddings
    rows.append(
        Row(
            "context held (one request)",
            "count",
            *c.both(min(c.m0.max_context, ctx_max), min(c.m1.max_context, ctx_max)),
            f"tokens of KV room, capped at the model's {ctx_max:,}",
        )
    )
    return rows


def network_rows(c: Ctx) -> tuple[list[Row], list[LinkRow], LinkRow | None]:
    dep, b, ctx, rf = c.opt.deployment, c.p.workload.concurrency, c.ctx, c.rf
    rows = []
    intra = dep.machine.intra
    if c.gpus_per_node > 1 and intra is not None:
        note = "between the GPUs of a node"
        if not intra.id.startswith("pcie"):
            alt = get_link("pcie4" if intra.id == "nvlink3" else "pcie5")
            slow = with_link(dep, intra=alt)
            t0, t1 = decode_tpot(dep, b, ctx, c.spec, rf), decode_tpot(slow, b, ctx, c.spec, rf)
            worse = t1 / t0 - 1
            need = "required" if worse > ENOUGH_SLOWDOWN else "not critical at this concurrency"
            note = f"{need}: over {alt.name} instead decode would be {worse:.0%} slower"
        rows.append(Row("intra-node link", "text", *c.both(intra.name, intra.name), note))
    else:
        rows.append(Row("intra-node link", "text", *c.both("none", "none"), "one GPU per node"))
    if c.opt.nodes == 1:
        rows.append(
            Row(
                "inter-node link",
                "text",
                *c.both("none", "none"),
                "one node: the network only carries requests and tokens (any Ethernet)",
            )
        )
        return rows, [], None
    links = link_table(dep, b, ctx, c.spec, rf)
    pick = next(r for r in links if r.verdict == "enough")
    rows.append(
        Row(
            "inter-node link",
            "text",
            *c.both(LINK_LABELS[pick.link], LINK_LABELS[pick.link]),
            f"the slowest standard link within {ENOUGH_SLOWDOWN:.0%} of the fastest (table below)",
        )
    )
    lat = get_link(pick.link).latency
    need = [needed_bandwidth(dep, lat, b, ctx, s, rf) if s is False or c.spec else None for s in (False, True)]
    rows.append(
        Row(
            "inter-node bandwidth needed per GPU",
            "B/s",
            *c.both(need[0], need[1]),
            f"keeps inter-node communication under {COMM_SHARE:.0%} of a decode step at {lat * 1e6:.0f} us "
            "latency (TP all-reduces / EP all-to-all / PP hand-offs of the plan's layout)",
        )
    )
    rows.append(
        Row(
            f"TPOT over {LINK_LABELS[pick.link]}",
            "s",
            *c.both(pick.tpot_plain, pick.tpot_spec),
            "the plan's step-time model over this link",
        )
    )
    return rows, links, pick


def spec_rows(c: Ctx) -> list[Row]:
    """What speculative decoding itself adds, per GPU, per verification round."""
    dep, o = c.opt.deployment, c.opt
    b, ctx, k = c.p.workload.concurrency, c.ctx, c.p.spec.k
    r = o.spec
    plain = dep.decode_step(b, ctx)
    verify = dep.decode_step(b, ctx, tokens_per_seq=k + 1)
    draft_flops = draft_net = 0.0
    if dep.drafter is not None:  # the drafter's steps as speculative._draft_time takes them
        dm = dep.draft_machine or dep.machine
        first = b * (k + 1) if dep.spec.method in ("mtp", "eagle") else 2 * b
        draft_flops = (
            step_time(dep.drafter, dm, first, b, ctx).flops + (k - 1) * step_time(dep.drafter, dm, b, b, ctx).flops
        )
        ddep = replace(dep, layout=dm.layout)
        draft_net = collective_bytes(ddep, dep.drafter, first) + (k - 1) * collective_bytes(ddep, dep.drafter, b)
    extra = sum(c.m1.term(n) for n in ("spec_weights", "spec_kv", "spec_buffers"))
    moe = plain.expert_bytes > 0
    be = o.break_even
    rows = [
        Row("extra memory per GPU", "bytes", 0.0, extra, "MTP/draft weights + their KV cache + verification buffers"),
        Row(
            "tokens per step / round",
            "count",
            1.0,
            r.expected_length,
            f"E[L] = 1 + sum of acceptance products, acceptance {', '.join(f'{x:.2f}' for x in r.alphas)}",
        ),
        Row(
            "FLOPs per step / round (per GPU)",
            "FLOP",
            plain.flops,
            verify.flops + draft_flops,
            f"verification of {k + 1} tokens per sequence + "
            + (f"{k} draft step(s)" if dep.drafter is not None else "no draft step (n-gram lookup on the CPU)"),
        ),
        Row(
            "routed-expert bytes per step / round (per GPU)",
            "bytes",
            plain.expert_bytes if moe else 0.0,
            verify.expert_bytes if moe else 0.0,
            f"MoE penalty {r.moe_penalty:.2f}x: {k + 1} tokens touch more experts"
            if moe
            else "dense model: no experts",
        ),
        Row(
            "network bytes per step / round (per GPU)",
            "bytes",
            collective_bytes(dep, dep.main, b),
            collective_bytes(dep, dep.main, b * (k + 1)) + draft_net,
            "TP all-reduce / EP dispatch messages of k+1 tokens per sequence, plus the drafter's",
        ),
        Row("TPOT", "s", o.plain.tpot, r.tpot, f"concurrency {b}: round time / E[L]"),
        Row("speedup", "ratio", 1.0, r.speedup, f"best k here: {o.best.k} ({o.best.speedup:.2f}x)"),
        Row(
            "break-even concurrency",
            "text",
            "-",
            f"{be:,}" if be else f"> {o.memory.max_concurrency:,}",
            "from this concurrency speculation loses" if be else "it still pays at the KV limit",
        ),
    ]
    return rows


def _slower(slowdown: float) -> str:
    return f"make decode {1 + slowdown:.1f}x slower" if slowdown >= 1 else f"slow decode by {slowdown:.0%}"


def _headline(c: Ctx, ram: float, cores: int, disk: float, pick: LinkRow | None, links: list[LinkRow]) -> str:
    o = c.opt
    n, per = o.nodes, c.gpus_per_node
    s = f"{n} node{'s' if n > 1 else ''} of {per}x {c.gpu.name}"
    used = next((r for r in links if r.link == o.deployment.machine.inter.id), None) if pick else None
    if used is not None and used.verdict != "enough":  # the plan runs over a link asked for (--inter-node)
        s += (f", {LINK_LABELS[used.link]} between them, which would {_slower(used.slowdown)} "
              f"({LINK_LABELS[pick.link]} is enough)")  # fmt: skip
    elif pick is not None and pick.link == SLOW_NETWORK:
        s += f", {LINK_LABELS[SLOW_NETWORK]} between them (enough: little crosses nodes)"
    elif pick is not None:
        slow = next(r for r in links if r.link == SLOW_NETWORK)
        s += f", {LINK_LABELS[pick.link]} between them ({LINK_LABELS[SLOW_NETWORK]} would {_slower(slow.slowdown)})"
    disk_s = f"{disk / 1e12:.1f} TB" if disk >= 1e12 else f"{disk / GB:,.0f} GB"
    s += f", {ram / GB:,.0f} GB RAM and {cores} cores per node, {disk_s} of NVMe"
    if c.spec and o.spec:
        extra = sum(c.m1.term(n) for n in ("spec_weights", "spec_kv", "spec_buffers"))
        method = "MTP" if c.p.spec.method == "mtp" else c.p.spec.describe()
        who = "one user" if c.p.workload.concurrency == 1 else f"each of {c.p.workload.concurrency} users"
        sp = o.spec.speedup
        fast = f"{sp:.2f}x faster" if sp >= 1 else f"{1 / sp:.2f}x slower"
        s += f"; {method} adds {extra / GB:,.1f} GB per GPU and makes {who} {fast}"
    return s


def _node_source(gpu) -> str:
    return "catalog" if gpu.gpus_per_node == get_gpu(gpu.id).gpus_per_node else "one machine of the GPUs you have"


def build_sheet(
    p: Plan, g: GPUPlan, host: Host = Host(), cpu: HostCPU | None = None, repeat_fraction: float | None = None
) -> Sheet:
    """The requirements sheet for the recommended option of one GPU type of a plan."""
    from specsize.perf_constants import NGRAM_REPEAT_FRACTION

    o = g.recommended
    gpu = g.fit.gpu  # as the user's machine holds it (hardware.machine_holding)
    eng = get_engine(p.engine)
    m0 = memory_per_gpu(p.arch, gpu, p.precision, p.kv_dtype, o.layout, p.workload, eng, Speculative(), host)
    c = Ctx(
        p,
        gpu,
        o,
        m0,
        o.memory,
        host,
        cpu or HostCPU(sockets=max(host.numa_copies, 1)),
        NGRAM_REPEAT_FRACTION if repeat_fraction is None else repeat_fraction,
    )
    plain_min = fit_gpu(p.arch, gpu, p.precision, p.kv_dtype, p.workload, eng, Speculative(), host).gpus
    ram = host_ram_rows(c)
    cpus = cpu_rows(c)
    disk, storage = disk_rows(c)
    net, links, pick = network_rows(c)
    sections = [
        ("GPUs", gpu_rows(c, plain_min, g.fit.gpus)),
        ("host RAM per node", ram),
        ("CPU per node", cpus),
        ("disk per node", disk),
        ("network", net),
        ("power", power_rows(c)),
    ]
    if c.spec and o.spec:
        sections.append(("speculative decoding", spec_rows(c)))
    final = (lambda r: r.spec) if c.spec else (lambda r: r.plain)
    head = _headline(c, final(ram[-1]), int(final(cpus[-1])), final(disk[1]), pick, links)
    notes = list(o.memory.notes)
    if p.spec.method == "mtp" and not o.memory.term("spec_weights"):
        notes.append(f"the {p.precision} checkpoint stores no MTP layer (GGUF conversions drop it), so its weights "
                     "count as 0 here: MTP needs them from another checkpoint")  # fmt: skip
    if p.spec.enabled and not o.spec:
        notes.append("speculation was asked but not evaluated")
    return Sheet(g.gpu, gpu.name, head, p.spec.describe(), sections, links, storage, notes)


def sheets(
    p: Plan, host: Host = Host(), cpu: HostCPU | None = None, repeat_fraction: float | None = None
) -> list[Sheet]:
    """One sheet per GPU type of the plan that fits."""
    return [build_sheet(p, g, host, cpu, repeat_fraction) for g in p.gpus if g.recommended]
