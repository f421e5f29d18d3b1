"""llama.cpp's `-ngl N`: N of the model's L layers (weights and their KV cache) on one GPU or split over G GPUs, the
rest in system RAM and computed by the CPU; the token embedding always stays in RAM, the output head moves to the
last GPU with the last layer (llama.cpp tools/server/README.md: -ngl, --n-gpu-layers "max. number of layers to store
in VRAM"; src/llama-model.cpp keeps the input layer on the CPU).

Several GPUs (--split-mode layer, --tensor-split even by default between equal GPUs): the N offloaded layers are the
model's LAST N (src/llama-model.cpp, load_tensors: i_gpu_start = n_layer - n_gpu_layers; layers below it go to the
CPU), split over the GPUs as sharding.llamacpp_gpu_layer_split says; each GPU holds its layers' weights and KV plus
its own compute buffer and runtime (the full-GPU plan's per-GPU terms). A token runs the CPU's layers first, then
GPU 0, 1, ... in turn: at batch 1 the layer split is a pipeline, so the GPUs' times add up (the same sum as one GPU
holding all N layers) plus the activation hand-offs between them (the full-GPU plan's PP hand-off, perf.step_time).
At a batch of B > 1 the GPUs still run in turn, each over the whole batch (the one-GPU step's share), for N < L:
llama.cpp turns its pipeline parallelism (PR #6017: ubatches of one batch overlapped over the GPUs) on only when
every layer and the output are offloaded (src/llama-context.cpp: n_gpu_layers > n_layer); N = L is the full-GPU
plan's pipeline step (perf.py: B/G per micro-batch), which for a decode step of B <= 512 tokens (one ubatch) is
optimistic. The CPU's part takes the whole batch.

Built on the planner's own numbers, not a second model: the full-GPU memory breakdown (memory.py) and decode step
(perf.py) of the same scenario are split by layer share. Assumptions, stated here and in --explain:
- every layer holds 1/L of the layer weights and of the KV cache (R1's 3 dense layers are averaged in);
- a step reads the GPU's share of its bytes at the GPU's speed (the full-GPU step's memory time scaled), and the
  CPU's share at the host's bandwidth x HBM_EFFICIENCY x llama.cpp's host bandwidth efficiency, or at its cores x
  the engine's fitted FLOP/s per core (perf_constants.LLAMACPP_CPU_FLOPS_PER_CORE; ik_llama.cpp's own,
  IK_LLAMACPP_CPU_FLOPS_PER_CORE) where that is slower, the CPU's share of a token's FLOPs counting every MoE
  layer's experts;
- one activation hand-off each way between the CPU and the GPUs (perf_constants.PCIE_TOKEN_HANDOFF) when both hold
  layers, and one between consecutive GPUs that hold layers (the full-GPU plan's pipeline hop).
The n = L end reproduces the full-GPU plan on the same G GPUs exactly (a test); one published split of R1 (-ngl 8 on
an RTX 3090 and 12 threads of an EPYC 9654, catalog/validation/llamacpp-gpu.json) is predicted within 2%.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from specsize.config import ModelArch
from specsize.deployment import HostCPU, build_deployment, host_flops
from specsize.engines import get_engine
from specsize.errors import PlanError
from specsize.hardware import GPU, get_gpu, machine_holding
from specsize.memory import memory_per_gpu
from specsize.perf_constants import HBM_EFFICIENCY, PCIE_TOKEN_HANDOFF, engine_perf
from specsize.quant import checkpoint_bytes, get_precision
from specsize.scenario import Layout, Workload
from specsize.sharding import (
    kv_bytes_per_gpu,
    llamacpp_busiest_weights,
    llamacpp_gpu_layer_split,
    llamacpp_layer_output_bytes,
    llamacpp_output_gpu,
)
from specsize.tensors import tensor_groups


@dataclass
class Split:
    n: int  # layers on the GPUs
    layers: int  # L
    gpu_bytes: float  # weights + KV + activations + runtime on the busiest GPU
    budget: float  # what llama.cpp's rule allows on one GPU
    host_bytes: float  # weights + KV in system RAM
    gpu_time: float  # s per decode step on the GPUs' layers (all GPUs, one after another)
    cpu_time: float  # s per decode step on the CPU's layers
    tpot: float  # s per output token per user
    per_gpu: tuple[int, ...] = ()  # layers on each GPU (llama.cpp's layer split)

    @property
    def fits(self) -> bool:
        return self.gpu_bytes <= self.budget

    @property
    def ngl(self) -> int:
        """llama.cpp's -ngl for this split: every layer offloaded is -ngl 99, which also puts the output layer on a
        GPU (load_tensors: act_gpu_layers = min(n_gpu_layers, n_layer + 1)); -ngl L would leave it on the CPU."""
        return 99 if self.n == self.layers else self.n

    def to_json(self) -> dict[str, Any]:
        return {"gpu_layers": self.n, "ngl": self.ngl, "layers": self.layers, "layers_per_gpu": list(self.per_gpu),
                "gpu_bytes": self.gpu_bytes, "budget_bytes": self.budget,
                "host_bytes": self.host_bytes, "gpu_ms": self.gpu_time * 1e3, "cpu_ms": self.cpu_time * 1e3,
                "tpot_ms": self.tpot * 1e3, "tok_s_per_user": 1 / self.tpot, "fits": self.fits}  # fmt: skip


class Splitter:
    """Every -ngl N of one scenario on `gpus` GPUs: the full-GPU memory and step on those GPUs computed once (the
    planner's llama.cpp layout for them: TP1 PPg, its layer split), then split by layer share."""

    def __init__(self, a: ModelArch, gpu: GPU | str, precision: str, kv_dtype: str, workload: Workload,
                 cpu: HostCPU, gpus: int = 1, engine: str = "llamacpp") -> None:  # fmt: skip
        g = get_gpu(gpu) if isinstance(gpu, str) else gpu
        eng = get_engine(engine)
        if not isinstance(gpus, int) or not 1 <= gpus <= eng.max_gpus:
            raise PlanError(f"{gpus} GPUs: {eng.display} splits layers over 1 to {eng.max_gpus} GPUs of one machine")
        g = machine_holding(g, gpus)  # a person's machine holds all G cards (one node: no inter-node hand-off)
        if gpus > g.gpus_per_node:
            raise PlanError(f"{gpus} GPUs: one {g.id} machine holds {g.gpus_per_node}, and llama.cpp's layer split "
                            "runs on the GPUs of one machine")  # fmt: skip
        lay = Layout(pp=gpus)
        self.a, self.L, self.cpu, self.gpus, self.layout = a, a.num_layers, cpu, gpus, lay
        m = memory_per_gpu(a, g, precision, kv_dtype, lay, workload, eng)
        by = {t.name: t.bytes for t in m.terms}
        self.budget = sum(by.values()) + m.headroom  # the engine's rule, as memory.py applies it (one GPU)
        self.fixed = sum(v for k, v in by.items() if k not in ("weights", "kv_cache"))  # activations, runtime
        # the whole model's KV (all L layers), split below by layer share
        self.kv = kv_bytes_per_gpu(a, kv_dtype, Layout(), workload.concurrency, workload.context, a.num_layers)
        main = [x for x in tensor_groups(a) if x.scope == "model"]
        self.embd = checkpoint_bytes([x for x in main if x.kind == "embedding"], precision)
        self.head = checkpoint_bytes([x for x in main if x.kind == "lm_head"], precision)
        self.layer_bytes = checkpoint_bytes(main, precision) - self.embd - self.head
        self.split_bytes = llamacpp_layer_output_bytes(a, get_precision(precision), lay, main)
        dep = build_deployment(a, g, precision, kv_dtype, lay, eng, cpu=cpu)
        self.step = dep.decode_step(workload.concurrency, workload.mean_context)
        # the CPU's layers run the whole batch on one device: its share comes from the one-device step (the same
        # step when gpus == 1)
        one = dep if gpus == 1 else build_deployment(a, g, precision, kv_dtype, Layout(), eng, cpu=cpu)
        self.step_one = self.step if gpus == 1 else one.decode_step(workload.concurrency, workload.mean_context)
        # the CPU computes its layers' share of every FLOP of a token, the routed experts of every MoE layer
        # included (perf.step_time counts them all: perf.routed_flops)
        self.flops = self.step_one.flops
        perf = engine_perf(eng.name)
        self.host_bw = cpu.bandwidth * HBM_EFFICIENCY * (perf.host_bw_efficiency or perf.bw_efficiency)
        self.host_flops = host_flops(cpu, perf)

    def gpu_memory(self, counts: list[int], head_on_gpu: bool) -> float:
        """The busiest GPU, as memory.py counts a layer split: the most weights (the output head on its GPU,
        sharding.llamacpp_output_gpu) plus the most layers' KV, plus each GPU's own activations and runtime."""
        if self.gpus == 1:
            head = self.head if head_on_gpu else 0.0
            return counts[0] / self.L * (self.layer_bytes + self.kv) + head + self.fixed
        per, output = self.split_bytes  # memory.py's own layer and output bytes (sharding.py)
        weights = llamacpp_busiest_weights(counts, per, output, llamacpp_output_gpu(self.L, self.gpus)
                                           if head_on_gpu else None)  # fmt: skip
        return weights + max(counts) * self.kv / self.L + self.fixed

    def split(self, n: int) -> Split:
        if not 0 <= n <= self.L:
            raise PlanError(f"--gpu-layers {n}: {self.a.name} has {self.L} layers; give 0 to {self.L} (or auto)")
        share = n / self.L
        counts = llamacpp_gpu_layer_split(n, self.L, self.gpus)
        on_gpu_head = self.head if n == self.L else 0.0
        gpu_bytes = self.gpu_memory(counts, n == self.L)
        host_bytes = (1 - share) * (self.layer_bytes + self.kv) + self.embd + (self.head - on_gpu_head)
        one = self.step_one
        # every layer offloaded: the full-GPU plan's (pipelined) step; fewer: the GPUs in turn over the whole batch
        st = self.step if n == self.L else one
        read = st.weight_bytes + st.kv_bytes  # bytes one step reads (head included)
        gpu_read = share * (read - self.head) + on_gpu_head
        gpu_time = max(st.memory * gpu_read / read, st.compute * share) if read else 0.0
        read_one = one.weight_bytes + one.kv_bytes  # the same on one device, whole batch
        cpu_read = read_one - (share * (read_one - self.head) + on_gpu_head)
        cpu_time = max(cpu_read / self.host_bw, (1 - share) * self.flops / self.host_flops) if n < self.L else 0.0
        handoff = 2 * PCIE_TOKEN_HANDOFF if 0 < n < self.L else 0.0
        # between GPUs: every layer offloaded, the full-GPU plan's hand-offs (one per stage, the last back to the
        # first for the next token); fewer, the chain CPU -> GPU 0 -> ... -> the last GPU in use -> CPU crosses
        # one GPU-to-GPU hop fewer than the GPUs in use (the CPU's two hand-offs above)
        used = sum(1 for c in counts if c)
        hop = self.step.communication / self.gpus
        comm = self.step.communication if n == self.L or self.gpus == 1 else hop * max(0, used - 1)
        tpot = gpu_time + cpu_time + comm + st.overhead + handoff
        return Split(n, self.L, gpu_bytes, self.budget, host_bytes, gpu_time, cpu_time, tpot, tuple(counts))

    def largest(self) -> Split:
        """The most layers that fit on every GPU (llama.cpp's fastest split that loads)."""
        for n in range(self.L, -1, -1):
            s = self.split(n)
            if s.fits:
                return s
        return self.split(0)


def resolve(value: str | None, splitter: Splitter) -> Split | None:
    """--gpu-layers N | auto (the largest N that fits) | not given (None)."""
    if value is None:
        return None
    if str(value).lower() == "auto":
        return splitter.largest()
    try:
        n = int(value)
    except ValueError:
        raise PlanError(f"--gpu-layers takes a number of layers or auto, got {value!r}") from None
    return splitter.split(n)


def sentence(s: Split, gpu: str, ram_bytes: float | None, gpus: int = 1, engine: str = "llamacpp") -> str:
    where = gpu.upper() if gpus == 1 else f"{gpus} x {gpu.upper()} ({'+'.join(map(str, s.per_gpu))})"
    of = "" if gpus == 1 else " per GPU, the busiest"
    cpu = s.cpu_time / (s.gpu_time + s.cpu_time) if s.gpu_time + s.cpu_time else 0.0
    name = get_engine(engine).display
    text = (f"{name} -ngl {s.ngl}: {s.n} of {s.layers} layers on the {where} ({s.gpu_bytes / 1e9:.1f} of "
            f"{s.budget / 1e9:.1f} GB{of}), {s.host_bytes / 1e9:.1f} GB of weights and KV in system RAM; "
            f"{1 / s.tpot:,.1f} tok/s per user, the CPU's layers taking {cpu:.0%} of each step")  # fmt: skip
    if not s.fits:
        text += f"; does not load: the {'GPU' if gpus == 1 else 'busiest GPU'} is short by " \
                f"{(s.gpu_bytes - s.budget) / 1e9:.1f} GB"  # fmt: skip
    if ram_bytes is not None and s.host_bytes > ram_bytes:
        text += f"; host RAM short by {(s.host_bytes - ram_bytes) / 1e9:.1f} GB"
    return text + "."


DEFAULT_WEIGHTS = "q4_k_m"  # assumption: the GGUF most people offload (when --weights is not given)


def gpu_layers_report(a: ModelArch, model: str, gpu: str, precision: str, kv_dtype: str, workload: Workload,
                      cpu: HostCPU, value: str, ram_bytes: float | None, offload_experts: bool = False,
                      with_commands: bool = True, gpus: int = 1, engine: str = "llamacpp"
                      ) -> dict[str, Any]:  # fmt: skip
    """What `plan/fit --gpu-layers` report: the split asked for (or the largest that fits), a few others for
    comparison, the sentence, and the llama-server command with -ngl (and --split-mode layer on several GPUs)."""
    from specsize.launch import VERSIONS, commands
    from specsize.scenario import Speculative

    sp = Splitter(a, gpu, precision, kv_dtype, workload, cpu, gpus, engine)
    chosen = resolve(value, sp)
    others = sorted({0, sp.L // 4, sp.L // 2, 3 * sp.L // 4, sp.L, sp.largest().n, chosen.n})
    out: dict[str, Any] = {
        "model": a.name, "weights": precision, "kv_cache": kv_dtype, "engine": engine,
        "engine_display": get_engine(engine).display, "gpu": get_gpu(gpu).id,
        "gpus": gpus,
        "workload": {"concurrency": workload.concurrency, "input_tokens": workload.input_tokens,
                     "output_tokens": workload.output_tokens},
        "gpu_layers": chosen.to_json(), "splits": [sp.split(n).to_json() for n in others],
        "host_bandwidth_bytes_per_s": cpu.bandwidth, "host_flops": sp.host_flops, "host_cores": cpu.compute_cores,
        "answer": [sentence(chosen, get_gpu(gpu).id, ram_bytes, gpus, engine)],
    }  # fmt: skip
    if with_commands:
        # every layer offloaded is -ngl 99: llama.cpp puts the output layer on a GPU only when -ngl exceeds the
        # layer count (load_tensors: act_gpu_layers = min(n_gpu_layers, n_layer + 1))
        ngl = None if chosen.n == sp.L else chosen.n
        try:
            lines = commands(engine, model, sp.layout, 1, Speculative(), precision, kv_dtype, workload.context,
                             workload.concurrency, 1.0, offload_experts, gpu_layers=ngl)  # fmt: skip
        except PlanError as e:
            lines = [f"# {e}"]
        out["commands"] = {"engine": engine, "version": VERSIONS[engine],
                           "plan": f"{get_gpu(gpu).id} x {gpus}, -ngl {chosen.ngl}", "lines": lines}  # fmt: skip
    return out


def suggestion(a: ModelArch, gpu: str, gpus: int, precision: str, kv_dtype: str, workload: Workload, cpu: HostCPU,
               command: list[str], ram_bytes: float | None = None, engine: str = "llamacpp") -> str:  # fmt: skip
    """What `plan --engine llamacpp` (or ik_llamacpp) adds where the model does not fit in VRAM: the most layers
    that load on the GPUs with -ngl (the rest in system RAM), its predicted speed, and the command that plans it
    (`command`: the user's plan command without --gpu-layers)."""
    g = get_gpu(gpu)
    s = Splitter(a, g, precision, kv_dtype, workload, cpu, gpus, engine).largest()
    if s.n == 0 or not s.fits or g.unified_memory:  # no layer loads, or the GPU's memory is the RAM already
        return ""
    on = g.id.upper() if gpus == 1 else f"{gpus} x {g.id.upper()}"
    name = get_engine(engine).display
    text = (f"{name} can still run it with the rest in system RAM: -ngl {s.n} loads {s.n} of {s.layers} layers "
            f"on the {on}, {s.host_bytes / 1e9:.1f} GB of weights and KV in RAM, {1 / s.tpot:,.1f} tok/s per user "
            "predicted")  # fmt: skip
    if ram_bytes is not None and s.host_bytes > ram_bytes:
        text += f" (host RAM short by {(s.host_bytes - ram_bytes) / 1e9:.1f} GB)"
    return f"{text}; plan it: {shlex.join([*command, '--gpu-layers', 'auto'])}"
