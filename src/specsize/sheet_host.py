"""The host side of the requirements sheet: RAM, CPU cores, disk and power per node, from the engine's documented
loading behaviour and processes (catalog/engine_host.json), the plan's memory breakdown, the checkpoint size in the
chosen precision, and the power and storage catalogs."""

from __future__ import annotations

from specsize.drafters import draft_precision
from specsize.measured_power import MeasuredEfficiency, measured_efficiency
from specsize.quant import checkpoint_bytes
from specsize.sheet_data import (
    CPU_SOCKET_W,
    DEFAULT_STORAGE,
    DISK_HEADROOM,
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
from specsize.sheet_rows import Ctx, Row, StorageRow
from specsize.tensors import tensor_groups
from specsize.units import GB


def _checkpoint(c: Ctx) -> tuple[float, float]:
    """(target checkpoint bytes in the chosen precision, draft checkpoint bytes or 0)."""
    a = c.p.arch
    target = checkpoint_bytes(tensor_groups(a), c.opt.deployment.precision)
    d = c.p.spec.draft if c.p.spec.method == "draft" else None
    draft = checkpoint_bytes(tensor_groups(d), draft_precision(c.opt.deployment.precision, d)) if d else 0.0
    return target, draft


def host_ram_rows(c: Ctx) -> list[Row]:
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
    have = ""
    if c.host.ram_bytes is not None:  # --ram: the plan checks the experts alone; here everything counts
        need = tot1 if c.spec else tot0
        gap = c.host.ram_bytes - need
        have = f"--ram {c.host.ram_bytes / GB:,.0f} GB: " + (
            "enough; " if gap >= 0 else f"short by {-gap / GB:,.1f} GB once the OS and server are counted; "
        )
    rows.append(
        Row(
            "host RAM needed per node",
            "bytes",
            tot0,
            tot1,
            f"{have}+ {target / c.opt.nodes / GB:,.0f} GB of page cache keeps this node's checkpoint share in RAM "
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


def cpu_rows(c: Ctx) -> list[Row]:
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
    tot = sum(r.plain for r in rows)
    why = {"none": "", "ngram": "n-gram lookup runs in the scheduler on the CPU: negligible"}.get(
        c.p.spec.method, "speculation adds no CPU work: the drafter runs on the GPU"
    )
    rows.append(Row("physical cores per node", "count", *c.both(tot, tot), why))
    return rows


def disk_rows(c: Ctx) -> tuple[list[Row], list[StorageRow]]:
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


def power_rows(c: Ctx) -> list[Row]:
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
        measured_power_row(c),
    ]


def _measured_note(label: str, e: MeasuredEfficiency | None) -> str:
    if e is None:
        return f"{label}: no run with measured power"
    lo, hi = e.concurrency
    return f"{label}: median of {e.points} runs ({e.matched}, concurrency {lo}-{hi}; {e.low:.3f}-{e.high:.3f} tok/J)"


def measured_power_row(c: Ctx) -> Row:
    """Measured output tokens per joule of the bundled corpus's runs with avg_power_w on this GPU (engine and
    weights where they match): output tok/s per GPU / measured W per GPU, next to the plan's figure at TDP."""
    gpu, engine, weights = c.gpu.id, c.p.engine, c.opt.deployment.precision.name
    plain = measured_efficiency(gpu, engine, weights, "none")
    spec = measured_efficiency(gpu, engine, weights, c.p.spec.method) if c.spec else None
    if plain is None and spec is None:
        return Row(
            "measured output tokens per joule",
            "text",
            *c.both("no measured point", "no measured point"),
            f"the bundled corpus (InferenceX) has no run with measured power on {gpu}",
        )
    notes = [_measured_note("without", plain)]
    if c.spec:
        notes.append(_measured_note(f"with {c.p.spec.method}", spec))
    return Row(
        "measured output tokens per joule",
        "tok/J",
        *c.both(plain.median if plain else "no measured point", spec.median if spec else "no measured point"),
        "InferenceX runs, output tok/s per GPU / measured W per GPU; " + "; ".join(notes),
    )
