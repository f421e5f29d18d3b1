"""A Deployment: one model served on one layout of one GPU type by one engine, ready to answer
"how fast": TTFT, TPOT, tokens/s per user and per GPU at a concurrency. Built once (the per-layout sums over
the tensor inventory), then evaluated for many workloads cheaply (benchmarks/bench_perf.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from specsize.config import ModelArch
from specsize.drafters import draft_layout, draft_precision, eagle_head_params
from specsize.engine_builds import engine_perf_for
from specsize.engines import EngineProfile
from specsize.hardware import GPU, get_host_memory
from specsize.perf import Machine, Stack, StepTime, build_stack, make_machine, prefill_time, step_time
from specsize.perf_constants import EnginePerf
from specsize.quant import Precision, get_precision
from specsize.scenario import Host, Layout, Speculative, Workload

CPU_FLOPS_PER_CORE = 64e9  # assumption: AVX-512 FMA at ~2 GHz, halved for dequantising quantised experts
DEFAULT_CORES_PER_SOCKET = 32  # assumption when a hybrid host's cores are not given
DEFAULT_HOST_MEMORY = "ddr5-4800"  # assumption: a current dual-socket server
DEFAULT_CHANNELS_PER_SOCKET = 8  # assumption: 8 DDR5 channels per socket (Xeon SPR / EPYC Genoa use 8 or 12)


@dataclass(frozen=True)
class HostCPU:
    """The CPU side of a CPU/GPU hybrid: memory type, channels and sockets set the expert bandwidth."""

    memory: str = DEFAULT_HOST_MEMORY
    channels_per_socket: int = DEFAULT_CHANNELS_PER_SOCKET
    sockets: int = 1
    cores_per_socket: int = DEFAULT_CORES_PER_SOCKET
    threads: int | None = None  # the cores that compute (llama.cpp --threads); None: every core of every socket

    @property
    def bandwidth(self) -> float:
        return get_host_memory(self.memory).bandwidth(self.channels_per_socket, self.sockets)

    @property
    def compute_cores(self) -> int:
        cores = self.cores_per_socket * self.sockets
        return min(self.threads, cores) if self.threads else cores

    def flops_at(self, per_core: float) -> float:
        """FLOP/s of the computing cores at an engine's rate per core (EnginePerf.host_flops_per_core)."""
        return per_core * self.compute_cores


def host_flops(cpu: HostCPU, engine: EnginePerf) -> float:
    """The CPU's FLOP/s for an engine's host-side kernels: its own fitted rate per core, else the assumption."""
    return cpu.flops_at(engine.host_flops_per_core or CPU_FLOPS_PER_CORE)


def batch_tok_s_per_gpu(concurrency: int, output_tokens: int, ttft: float, tpot: float, gpus: int) -> float:
    """The plan's serving throughput: B requests each prefilled once, one after another, then decoded together
    for O steps: B O / (B TTFT + O TPOT) output tokens/s, over the GPUs. (`validate` predicts measured points
    with serving.steady_state's closed loop instead.)

    >>> batch_tok_s_per_gpu(4, 100, ttft=0.5, tpot=0.02, gpus=2)  # 400 tokens in 2 s + 2 s on 2 GPUs
    50.0
    """
    b, out = concurrency, max(output_tokens, 1)
    return b * out / (b * ttft + out * tpot) / gpus


@dataclass(frozen=True)
class Performance:
    """Plain (non-speculative) decoding of a workload on a deployment."""

    ttft: float  # s, one request's prompt
    tpot: float  # s per output token per user
    step: StepTime  # the decode step at the workload's concurrency
    concurrency: int
    gpus: int
    output_tokens: int

    @property
    def tok_s_per_user(self) -> float:
        return 1.0 / self.tpot

    @property
    def tok_s_per_gpu(self) -> float:
        return self.tok_s_per_gpu_at(self.tpot)

    def tok_s_per_gpu_at(self, tpot: float) -> float:
        """This workload's throughput per GPU when decoding runs at `tpot` (a speculative TPOT, say)."""
        return batch_tok_s_per_gpu(self.concurrency, self.output_tokens, self.ttft, tpot, self.gpus)


@dataclass(frozen=True)
class Deployment:
    arch: ModelArch
    precision: Precision
    kv_dtype: str
    layout: Layout
    engine: EngineProfile
    machine: Machine
    main: Stack
    spec: Speculative = Speculative()
    drafter: Stack | None = None  # MTP module, EAGLE head or draft model
    draft_machine: Machine | None = None

    @property
    def gpus(self) -> int:
        return self.layout.gpus

    def with_inter_node(self, link: str) -> Deployment:
        """The same deployment with another inter-node network (e.g. eth-10g instead of InfiniBand)."""
        m = make_machine(self.machine.gpu, self.layout, self.machine.engine, self.precision, link,
                         self.machine.host_bandwidth, self.machine.host_flops, self.machine.fp8_deepgemm)  # fmt: skip
        dm = self.draft_machine and replace(self.draft_machine, inter=m.inter)
        return replace(self, machine=m, draft_machine=dm)

    def decode_step(self, seqs: int, context: float, tokens_per_seq: int = 1) -> StepTime:
        return step_time(self.main, self.machine, seqs * tokens_per_seq, seqs, context)

    def ttft(self, input_tokens: int) -> float:
        return prefill_time(self.main, self.machine, input_tokens, self.engine.prefill_chunk)

    def performance(self, w: Workload) -> Performance:
        step = self.decode_step(w.concurrency, w.mean_context)
        return Performance(self.ttft(w.input_tokens), step.total, step, w.concurrency, self.gpus, w.output_tokens)


def _drafter(a, spec, prec, kv_dtype, layout, gpu, eperf, inter_node, offload) -> tuple[Stack | None, Machine | None]:
    if spec.method == "mtp":
        return build_stack(a, prec, layout, kv_dtype, scope="mtp", offload_experts=offload), None
    if spec.method == "eagle":
        tp = layout.tp
        # BF16 head + the target's lm_head: split over TP, whole on each rank under attention DP (sharding.py)
        head = (eagle_head_params(a) + a.vocab_size * a.hidden_size) * 2 / layout.attn_tp
        flops = 2 * (eagle_head_params(a) + a.vocab_size * a.hidden_size) / tp
        main = build_stack(a, prec, layout, kv_dtype)
        return Stack("eagle", 1, head, flops, kv_bytes_per_token=main.kv_bytes_per_token / a.num_layers,
                     attn_flops_decode=main.attn_flops_decode / a.num_layers, hidden=a.hidden_size,
                     vocab=a.vocab_size), None  # fmt: skip
    if spec.method == "draft" and spec.draft is not None:
        d = spec.draft
        dlayout = draft_layout(spec, layout)
        dprec = draft_precision(prec, d)
        return build_stack(d, dprec, dlayout, kv_dtype), make_machine(gpu, dlayout, eperf, dprec, inter_node)
    return None, None  # ngram: drafting is a CPU lookup (cost ~0)


def build_deployment(
    a: ModelArch,
    gpu: GPU,
    precision: str | Precision,
    kv_dtype: str,
    layout: Layout,
    engine: EngineProfile,
    spec: Speculative = Speculative(),
    host: Host = Host(),
    cpu: HostCPU | None = None,
    inter_node: str | None = None,
    perf: EnginePerf | None = None,
    fp8_deepgemm: str = "",
) -> Deployment:
    """One deployment: the model's stacks on the layout's machine (fp8_deepgemm: which FP8 GEMMs its recipe runs on
    DeepGEMM, perf.Machine.fp8_deepgemm)."""
    prec = get_precision(precision) if isinstance(precision, str) else precision
    # the engine's build for this GPU, of the release the launch commands name
    eperf = perf or engine_perf_for(engine.name, engine.release, gpu.vendor, gpu.arch)
    offload = host.offload_experts
    cpu = cpu or HostCPU(sockets=max(host.numa_copies, 1))
    machine = make_machine(gpu, layout, eperf, prec, inter_node, cpu.bandwidth if offload else 0.0,
                           host_flops(cpu, eperf) if offload else 0.0, fp8_deepgemm)  # fmt: skip
    main = build_stack(a, prec, layout, kv_dtype, offload_experts=offload)
    drafter, dmachine = _drafter(a, spec, prec, kv_dtype, layout, gpu, eperf, inter_node, offload)
    return Deployment(a, prec, kv_dtype, layout, engine, machine, main, spec, drafter, dmachine or machine)
