"""llama.cpp's `-ngl N`: N of the model's L layers (weights and their KV cache) on one GPU, the rest in system RAM
and computed by the CPU; the token embedding always stays in RAM, the output head moves to the GPU with the last
layer (llama.cpp tools/server/README.md: -ngl, --n-gpu-layers "max. number of layers to store in VRAM";
src/llama-model.cpp keeps the input layer on the CPU).

Built on the planner's own numbers, not a second model: the full-GPU memory breakdown (memory.py) and decode step
(perf.py) of the same scenario are split by layer share. Assumptions, stated here and in --explain:
- every layer holds 1/L of the layer weights and of the KV cache (R1's 3 dense layers are averaged in);
- a step reads the GPU's share of its bytes at the GPU's speed (the full-GPU step's memory time scaled), and the
  CPU's share at the host's bandwidth x HBM_EFFICIENCY x llama.cpp's host bandwidth efficiency, or at its cores x
  llama.cpp's fitted FLOP/s per core (perf_constants.LLAMACPP_CPU_FLOPS_PER_CORE) where that is slower, the CPU's
  share of a token's FLOPs counting every MoE layer's experts;
- one activation hand-off each way between the two (perf_constants.PCIE_TOKEN_HANDOFF) when both hold layers.
The n = L end reproduces the full-GPU plan exactly (a test); one published split of R1 (-ngl 8 on an RTX 3090 and
12 threads of an EPYC 9654, catalog/validation/llamacpp-gpu.json) is predicted within 2%.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from specsize.config import ModelArch
from specsize.deployment import HostCPU, build_deployment, host_flops
from specsize.engines import get_engine
from specsize.errors import PlanError
from specsize.hardware import GPU, get_gpu
from specsize.memory import memory_per_gpu
from specsize.perf_constants import HBM_EFFICIENCY, PCIE_TOKEN_HANDOFF, engine_perf
from specsize.quant import checkpoint_bytes
from specsize.scenario import Layout, Workload
from specsize.tensors import tensor_groups


@dataclass
class Split:
    n: int  # layers on the GPU
    layers: int  # L
    gpu_bytes: float  # weights + KV + activations + runtime on the GPU
    budget: float  # what llama.cpp's rule allows on the GPU
    host_bytes: float  # weights + KV in system RAM
    gpu_time: float  # s per decode step on the GPU's layers
    cpu_time: float  # s per decode step on the CPU's layers
    tpot: float  # s per output token per user

    @property
    def fits(self) -> bool:
        return self.gpu_bytes <= self.budget

    def to_json(self) -> dict[str, Any]:
        return {"gpu_layers": self.n, "layers": self.layers, "gpu_bytes": self.gpu_bytes, "budget_bytes": self.budget,
                "host_bytes": self.host_bytes, "gpu_ms": self.gpu_time * 1e3, "cpu_ms": self.cpu_time * 1e3,
                "tpot_ms": self.tpot * 1e3, "tok_s_per_user": 1 / self.tpot, "fits": self.fits}  # fmt: skip


class Splitter:
    """Every -ngl N of one scenario: the full-GPU memory and step computed once, then split by layer share."""

    def __init__(self, a: ModelArch, gpu: GPU | str, precision: str, kv_dtype: str, workload: Workload,
                 cpu: HostCPU) -> None:  # fmt: skip
        g = get_gpu(gpu) if isinstance(gpu, str) else gpu
        eng = get_engine("llamacpp")
        lay = Layout()
        self.a, self.L, self.cpu = a, a.num_layers, cpu
        m = memory_per_gpu(a, g, precision, kv_dtype, lay, workload, eng)
        by = {t.name: t.bytes for t in m.terms}
        self.budget = sum(by.values()) + m.headroom  # the engine's rule, as memory.py applies it
        self.fixed = sum(v for k, v in by.items() if k not in ("weights", "kv_cache"))  # activations, runtime
        self.kv = by["kv_cache"]
        main = [x for x in tensor_groups(a) if x.scope == "model"]
        self.embd = checkpoint_bytes([x for x in main if x.kind == "embedding"], precision)
        self.head = checkpoint_bytes([x for x in main if x.kind == "lm_head"], precision)
        self.layer_bytes = checkpoint_bytes(main, precision) - self.embd - self.head
        dep = build_deployment(a, g, precision, kv_dtype, lay, eng, cpu=cpu)
        self.step = dep.decode_step(workload.concurrency, workload.mean_context)
        # the CPU computes its layers' share of every FLOP of a token, the routed experts of every MoE layer
        # included (perf.step_time counts them all: perf.routed_flops)
        self.flops = self.step.flops
        perf = engine_perf("llamacpp")
        self.host_bw = cpu.bandwidth * HBM_EFFICIENCY * (perf.host_bw_efficiency or perf.bw_efficiency)
        self.host_flops = host_flops(cpu, perf)

    def split(self, n: int) -> Split:
        if not 0 <= n <= self.L:
            raise PlanError(f"--gpu-layers {n}: {self.a.name} has {self.L} layers; give 0 to {self.L} (or auto)")
        share = n / self.L
        on_gpu_head = self.head if n == self.L else 0.0
        gpu_bytes = share * (self.layer_bytes + self.kv) + on_gpu_head + self.fixed
        host_bytes = (1 - share) * (self.layer_bytes + self.kv) + self.embd + (self.head - on_gpu_head)
        st = self.step
        read = st.weight_bytes + st.kv_bytes  # bytes one full-GPU step reads (head included)
        gpu_read = share * (read - self.head) + on_gpu_head
        gpu_time = max(st.memory * gpu_read / read, st.compute * share) if read else 0.0
        cpu_read = read - gpu_read
        cpu_time = max(cpu_read / self.host_bw, (1 - share) * self.flops / self.host_flops) if n < self.L else 0.0
        handoff = 2 * PCIE_TOKEN_HANDOFF if 0 < n < self.L else 0.0
        tpot = gpu_time + cpu_time + st.communication + st.overhead + handoff
        return Split(n, self.L, gpu_bytes, self.budget, host_bytes, gpu_time, cpu_time, tpot)

    def largest(self) -> Split:
        """The most layers that fit on the GPU (llama.cpp's fastest split that loads)."""
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


def sentence(s: Split, gpu: str, ram_bytes: float | None) -> str:
    where = gpu.upper()
    cpu = s.cpu_time / (s.gpu_time + s.cpu_time) if s.gpu_time + s.cpu_time else 0.0
    text = (f"llama.cpp -ngl {s.n}: {s.n} of {s.layers} layers on the {where} ({s.gpu_bytes / 1e9:.1f} of "
            f"{s.budget / 1e9:.1f} GB), {s.host_bytes / 1e9:.1f} GB of weights and KV in system RAM; "
            f"{1 / s.tpot:,.1f} tok/s per user, the CPU's layers taking {cpu:.0%} of each step")  # fmt: skip
    if not s.fits:
        text += f"; does not load: the GPU is short by {(s.gpu_bytes - s.budget) / 1e9:.1f} GB"
    if ram_bytes is not None and s.host_bytes > ram_bytes:
        text += f"; host RAM short by {(s.host_bytes - ram_bytes) / 1e9:.1f} GB"
    return text + "."


DEFAULT_WEIGHTS = "q4_k_m"  # assumption: the GGUF most people offload (when --weights is not given)


def gpu_layers_report(a: ModelArch, model: str, gpu: str, precision: str, kv_dtype: str, workload: Workload,
                      cpu: HostCPU, value: str, ram_bytes: float | None, offload_experts: bool = False,
                      with_commands: bool = True) -> dict[str, Any]:  # fmt: skip
    """What `plan/fit --gpu-layers` report: the split asked for (or the largest that fits), a few others for
    comparison, the sentence, and the llama-server command with -ngl."""
    from specsize.launch import VERSIONS, commands
    from specsize.scenario import Speculative

    sp = Splitter(a, gpu, precision, kv_dtype, workload, cpu)
    chosen = resolve(value, sp)
    others = sorted({0, sp.L // 4, sp.L // 2, 3 * sp.L // 4, sp.L, sp.largest().n, chosen.n})
    out: dict[str, Any] = {
        "model": a.name, "weights": precision, "kv_cache": kv_dtype, "engine": "llamacpp", "gpu": get_gpu(gpu).id,
        "workload": {"concurrency": workload.concurrency, "input_tokens": workload.input_tokens,
                     "output_tokens": workload.output_tokens},
        "gpu_layers": chosen.to_json(), "splits": [sp.split(n).to_json() for n in others],
        "host_bandwidth_bytes_per_s": cpu.bandwidth, "host_flops": sp.host_flops, "host_cores": cpu.compute_cores,
        "answer": [sentence(chosen, get_gpu(gpu).id, ram_bytes)],
    }  # fmt: skip
    if with_commands:
        try:
            lines = commands("llamacpp", model, Layout(), 1, Speculative(), precision, kv_dtype, workload.context,
                             workload.concurrency, 1.0, offload_experts, gpu_layers=chosen.n)  # fmt: skip
        except PlanError as e:
            lines = [f"# {e}"]
        out["commands"] = {"engine": "llamacpp", "version": VERSIONS["llamacpp"],
                           "plan": f"{get_gpu(gpu).id} x 1, -ngl {chosen.n}", "lines": lines}  # fmt: skip
    return out
