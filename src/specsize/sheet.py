"""The requirements sheet (`specsize plan --sheet`): for the recommended layout of each GPU type, what a
deployment needs to buy or rent — GPUs, host RAM, CPU cores, disk, network, power — without speculative
decoding, with the chosen method, and the difference, each figure with the reason for it.

Nothing here re-derives the planner: memory comes from memory.memory_per_gpu, step times from the Deployment the
plan built (perf.step_time), speculation from speculative.evaluate, the network verdicts from the same step-time
model evaluated over each standard link, checkpoint sizes from quant.checkpoint_bytes. What is new is the host
side (sheet_data: engines' loading behaviour, power, storage) and the arithmetic that turns these into a bill of
materials.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import ceil
from typing import Any

from specsize.deployment import HostCPU
from specsize.engines import get_engine
from specsize.fit import fit_gpu
from specsize.hardware import GPU, get_gpu, get_link
from specsize.memory import MemoryBreakdown, draft_precision, memory_per_gpu
from specsize.perf import step_time
from specsize.plan import GPUPlan, Option, Plan
from specsize.quant import checkpoint_bytes
from specsize.scenario import Host, Speculative
from specsize.sheet_data import (
    COMM_SHARE,
    CPU_SOCKET_W,
    DEFAULT_STORAGE,
    DISK_HEADROOM,
    ENOUGH_SLOWDOWN,
    OFFLOAD_HOST_BASE_W,
    OS_CORES,
    OS_RAM,
    OS_RAM_DESKTOP,
    SHARD_BYTES,
    engine_host,
    get_storage,
    gpu_power,
    ram_to_buy,
    storage_options,
)
from specsize.sheet_data import assumptions as sheet_assumptions
from specsize.sheet_network import (
    LINK_LABELS,
    LinkRow,
    collective_bytes,
    decode_tpot,
    link_table,
    needed_bandwidth,
    with_link,
)
from specsize.tensors import tensor_groups
from specsize.units import GB


@dataclass
class Row:
    """One resource: its value without speculation and with it (SI units: bytes, s, W, FLOP), and why."""

    resource: str
    unit: str  # bytes | B/s | s | W | FLOP | tok/J | count | ratio | text
    plain: float | str | None
    spec: float | str | None
    note: str = ""

    @property
    def difference(self) -> float | None:
        if isinstance(self.plain, int | float) and isinstance(self.spec, int | float):
            return self.spec - self.plain
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "unit": self.unit,
            "without": self.plain,
            "with": self.spec,
            "difference": self.difference,
            "note": self.note,
        }


@dataclass
class StorageRow:
    storage: str
    name: str
    read_bandwidth: float  # bytes/s
    load_s: float
    restart_to_first_token_s: float
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "storage": self.storage,
            "name": self.name,
            "read_GB_per_s": self.read_bandwidth / GB,
            "load_s": self.load_s,
            "restart_to_first_token_s": self.restart_to_first_token_s,
            "source": self.source,
        }


@dataclass
class Sheet:
    gpu: str
    gpu_name: str
    headline: str
    spec: str  # "none" or e.g. "mtp k=1"
    sections: list[tuple[str, list[Row]]]
    links: list[LinkRow] = field(default_factory=list)
    storage: list[StorageRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def section(self, title: str) -> list[Row]:
        return next(rows for t, rows in self.sections if t == title)

    def row(self, title: str, resource: str) -> Row:
        return next(r for r in self.section(title) if r.resource == resource)

    def to_json(self) -> dict[str, Any]:
        return {
            "gpu": self.gpu,
            "gpu_name": self.gpu_name,
            "headline": self.headline,
            "spec": self.spec,
            "sections": [{"title": t, "rows": [r.to_json() for r in rows]} for t, rows in self.sections],
            "links": [x.to_json() for x in self.links],
            "storage": [x.to_json() for x in self.storage],
            "notes": self.notes,
            "assumptions": sheet_assumptions(),
        }


# --- the sections --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ctx:
    """Everything the sections read, computed once."""

    p: Plan
    gpu: GPU
    opt: Option
    m0: MemoryBreakdown  # without speculation, same layout
    m1: MemoryBreakdown  # as planned
    host: Host
    cpu: HostCPU
    rf: float

    @property
    def spec(self) -> bool:
        return self.p.spec.enabled

    @property
    def gpus_per_node(self) -> int:
        return ceil(self.opt.layout.gpus / self.opt.nodes)

    @property
    def ctx(self) -> float:
        w = self.p.workload
        return w.input_tokens + w.output_tokens / 2

    def both(self, plain, spec):
        return plain, (spec if self.spec else None)


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


def gpu_rows(c: _Ctx, min_plain: int, min_spec: int) -> list[Row]:
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
        Row("nodes", "count", *c.both(o.nodes, o.nodes), f"{g.gpus_per_node} GPUs per node (catalog)"),
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


def _checkpoint(c: _Ctx) -> tuple[float, float]:
    """(target checkpoint bytes in the chosen precision, draft checkpoint bytes or 0)."""
    a = c.p.arch
    target = checkpoint_bytes(tensor_groups(a), c.opt.deployment.precision)
    d = c.p.spec.draft if c.p.spec.method == "draft" else None
    draft = checkpoint_bytes(tensor_groups(d), draft_precision(c.opt.deployment.precision, d)) if d else 0.0
    return target, draft


def host_ram_rows(c: _Ctx) -> list[Row]:
    eh = engine_host(c.p.engine)
    per = c.gpus_per_node
    target, draft = _checkpoint(c)
    rows = []
    if eh.loading == "shard_by_shard":
        stage = per * min(SHARD_BYTES, target)
        rows.append(
            Row(
                "checkpoint loading",
                "bytes",
                *c.both(stage, max(stage, per * min(SHARD_BYTES, draft))),
                f"{eh.loading_note}: one {SHARD_BYTES / GB:.0f} GB shard in flight per GPU worker "
                f"({eh.loading_source}); a draft loads after the target, so it adds no peak",
            )
        )
    else:
        rows.append(Row("checkpoint loading", "bytes", *c.both(0.0, 0.0), f"{eh.loading_note} ({eh.loading_source})"))
    if c.gpu.unified_memory:
        rows.append(
            Row(
                "model in unified memory",
                "bytes",
                *c.both(c.m0.total, c.m1.total),
                "the GPU's memory is the machine's RAM",
            )
        )
    offload = c.m1.host_ram_needed
    rows.append(
        Row(
            "offloaded experts",
            "bytes",
            *c.both(c.m0.host_ram_needed, offload),
            "routed experts in host RAM"
            + (f", one copy per NUMA node ({c.host.numa_copies})" if c.host.numa_copies > 1 else "")
            if offload
            else "none: every weight and the KV cache are on the GPU",
        )
    )
    desktop = c.gpu.kind in ("consumer", "unified") and not c.host.offload_experts
    os_ram = (OS_RAM_DESKTOP if desktop else OS_RAM) + per * eh.server_bytes_per_gpu
    rows.append(
        Row(
            "OS and server",
            "bytes",
            *c.both(os_ram, os_ram),
            f"{(OS_RAM_DESKTOP if desktop else OS_RAM) / GB:.0f} GB OS (assumption) + "
            f"{eh.server_bytes_per_gpu / GB:.0f} GB per GPU worker ({eh.server_source})",
        )
    )
    tot0 = sum(r.plain for r in rows)
    tot1 = sum(r.spec for r in rows) if c.spec else None
    rows.append(
        Row(
            "host RAM needed per node",
            "bytes",
            tot0,
            tot1,
            f"+ {target / c.opt.nodes / GB:,.0f} GB of page cache keeps this node's checkpoint share in RAM "
            "for restarts without disk reads",
        )
    )
    rows.append(
        Row(
            "host RAM to buy per node",
            "bytes",
            ram_to_buy(tot0),
            ram_to_buy(tot1) if c.spec else None,
            "the next common size",
        )
    )
    return rows


def cpu_rows(c: _Ctx) -> list[Row]:
    eh = engine_host(c.p.engine)
    per = c.gpus_per_node
    serving = eh.cores_fixed + eh.cores_per_gpu * per
    rows = [
        Row(
            "serving processes",
            "count",
            *c.both(serving, serving),
            f"{eh.processes} ({eh.processes_source}); {eh.cores_source}",
        )
    ]
    if c.host.offload_experts:
        cpu, bw = c.cpu, c.opt.deployment.machine.host_bandwidth
        cores = cpu.cores_per_socket * cpu.sockets
        rows.append(
            Row(
                "expert compute (CPU offload)",
                "count",
                *c.both(cores, cores),
                f"{cpu.sockets} socket(s) x {cpu.cores_per_socket} cores, {cpu.channels_per_socket} channels "
                f"of {cpu.memory} per socket = {bw / GB:,.0f} GB/s: the bandwidth that sets decode speed "
                "(the plan's host; ktransformers' reference: 2 x 32-core Xeon Gold 6454S)",
            )
        )
    rows.append(Row("OS", "count", *c.both(OS_CORES, OS_CORES), "assumption"))
    if c.p.spec.method == "ngram":
        rows[0].note += "; n-gram lookup runs in the scheduler (negligible)"
    tot = sum(r.plain for r in rows)
    rows.append(Row("physical cores per node", "count", *c.both(tot, tot), "speculation runs on the GPU"))
    return rows


def disk_rows(c: _Ctx) -> tuple[list[Row], list[StorageRow]]:
    target, draft = _checkpoint(c)
    a, prec = c.p.arch, c.opt.deployment.precision.name
    mtp = checkpoint_bytes([g for g in tensor_groups(a) if g.scope != "model"], c.opt.deployment.precision)
    note = f"{a.name} in {prec}" + (f", its MTP layer ({mtp / GB:,.1f} GB) included either way" if mtp else "")
    rows = [
        Row(
            "checkpoint (the download)",
            "bytes",
            *c.both(target, target + draft),
            note + (f"; + draft {c.p.spec.draft.name}" if draft else ""),
        )
    ]
    rows.append(
        Row(
            "disk to provision per node",
            "bytes",
            *c.both(target + DISK_HEADROOM, target + draft + DISK_HEADROOM),
            f"a local copy (the cache) per node unless on shared storage, + {DISK_HEADROOM / GB:.0f} GB "
            "for the OS, the engine image and logs (assumption)",
        )
    )
    nvme = get_storage(DEFAULT_STORAGE)
    ttft = c.opt.plain.ttft
    rows.append(
        Row(
            f"load time from {nvme.name}",
            "s",
            *c.both(target / nvme.read_bandwidth, (target + draft) / nvme.read_bandwidth),
            f"each node reads the whole checkpoint at {nvme.read_bandwidth / GB:.1f} GB/s ({nvme.source}); "
            "a lower bound: engines often load slower than the disk (with PP across nodes a node reads only "
            "its stages)",
        )
    )
    rows.append(
        Row(
            "first token after a restart",
            "s",
            *c.both(target / nvme.read_bandwidth + ttft, (target + draft) / nvme.read_bandwidth + ttft),
            f"load + TTFT ({ttft * 1e3:,.0f} ms); engine start-up (CUDA graph capture, compilation) not modelled",
        )
    )
    total = target + draft if c.spec else target
    table = [
        StorageRow(s.id, s.name, s.read_bandwidth, total / s.read_bandwidth, total / s.read_bandwidth + ttft, s.source)
        for s in storage_options()
    ]
    return rows, table


def network_rows(c: _Ctx) -> tuple[list[Row], list[LinkRow], LinkRow | None]:
    dep, b, ctx, rf = c.opt.deployment, c.p.workload.concurrency, c.ctx, c.rf
    rows = []
    intra = dep.machine.intra
    if c.gpus_per_node > 1 and intra is not None:
        note = "between the GPUs of a node"
        if not intra.id.startswith("pcie"):
            alt = get_link("pcie4" if intra.id == "nvlink3" else "pcie5")
            slow = with_link(dep, intra=alt)
            t0, t1 = decode_tpot(dep, b, ctx, c.spec, rf), decode_tpot(slow, b, ctx, c.spec, rf)
            note = f"required: over {alt.name} instead decode would be {t1 / t0 - 1:.0%} slower"
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


def power_rows(c: _Ctx) -> list[Row]:
    pw = gpu_power(c.gpu.id)
    if pw is None:
        return [
            Row(
                "power",
                "text",
                *c.both("not in the power catalog", "not in the power catalog"),
                f"{c.gpu.id} has no entry in catalog/hardware/power.json",
            )
        ]
    o = c.opt
    gpus_w = pw.gpu_w * o.layout.gpus
    if c.host.offload_experts:
        host_w = OFFLOAD_HOST_BASE_W + CPU_SOCKET_W * c.cpu.sockets
        host_note = (
            f"{OFFLOAD_HOST_BASE_W} W base (assumption) + {c.cpu.sockets} x {CPU_SOCKET_W} W CPU TDP: the "
            "CPUs compute the offloaded experts"
        )
    else:
        host_w = pw.host_w_per_node * o.nodes
        host_note = f"{pw.host_w_per_node:,.0f} W per node x {o.nodes}: {pw.host_source}"
    total = gpus_w + host_w
    tok0 = o.plain.tok_s_per_gpu * o.layout.gpus
    tok1 = o.tok_s_per_gpu * o.layout.gpus
    return [
        Row("GPUs at TDP", "W", *c.both(gpus_w, gpus_w), f"{o.layout.gpus} x {pw.gpu_w:,.0f} W ({pw.gpu_source})"),
        Row("host share", "W", *c.both(host_w, host_w), host_note),
        Row(
            "power, whole deployment",
            "W",
            *c.both(total, total),
            "at TDP: an upper bound on the draw (serving often draws less)",
        ),
        Row(
            "output tokens per joule",
            "tok/J",
            *c.both(tok0 / total, tok1 / total),
            f"predicted serving throughput at concurrency {c.p.workload.concurrency} / power at TDP",
        ),
    ]


def spec_rows(c: _Ctx) -> list[Row]:
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
            f"verification of {k + 1} tokens per sequence + {k} draft step(s)",
        ),
        Row(
            "routed-expert bytes read per step / round",
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


def _headline(c: _Ctx, ram: float, cores: int, disk: float, pick: LinkRow | None, links: list[LinkRow]) -> str:
    o = c.opt
    n, per = o.nodes, c.gpus_per_node
    s = f"{n} node{'s' if n > 1 else ''} of {per}x {c.gpu.name}"
    used = next((r for r in links if r.link == o.deployment.machine.inter.id), None) if pick else None
    if used is not None and used.verdict != "enough":  # the plan runs over a link asked for (--inter-node)
        s += (f", {LINK_LABELS[used.link]} between them, which would {_slower(used.slowdown)} "
              f"({LINK_LABELS[pick.link]} is enough)")  # fmt: skip
    elif pick is not None and pick.link == "eth-10g":
        s += ", 10 GbE between them (enough: little crosses nodes)"
    elif pick is not None:
        slow = next(r for r in links if r.link == "eth-10g")
        s += f", {LINK_LABELS[pick.link]} between them (10 GbE would {_slower(slow.slowdown)})"
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


def build_sheet(
    p: Plan, g: GPUPlan, host: Host = Host(), cpu: HostCPU | None = None, repeat_fraction: float | None = None
) -> Sheet:
    """The requirements sheet for the recommended option of one GPU type of a plan."""
    from specsize.perf_constants import NGRAM_REPEAT_FRACTION

    o = g.recommended
    gpu = get_gpu(g.gpu)
    eng = get_engine(p.engine)
    m0 = memory_per_gpu(p.arch, gpu, p.precision, p.kv_dtype, o.layout, p.workload, eng, Speculative(), host)
    c = _Ctx(
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
    if p.spec.enabled and not o.spec:
        notes.append("speculation was asked but not evaluated")
    return Sheet(g.gpu, gpu.name, head, p.spec.describe(), sections, links, storage, notes)


def sheets(
    p: Plan, host: Host = Host(), cpu: HostCPU | None = None, repeat_fraction: float | None = None
) -> list[Sheet]:
    """One sheet per GPU type of the plan that fits."""
    return [build_sheet(p, g, host, cpu, repeat_fraction) for g in p.gpus if g.recommended]
