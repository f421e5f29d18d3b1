"""`specsize plan --sheet` on consumer and workstation hardware: R1 with its experts in host RAM, a distill with
its draft on one card; each figure against a published figure or a hand calculation with its source."""

import json

import pytest

from specsize.quant import checkpoint_bytes, get_precision
from specsize.resolve import load_model
from specsize.tensors import tensor_groups
from tests.sheets import GB, R1_4090_KTRANSFORMERS, row, run, sheet_json

# --- R1 Q4_K_M on one RTX 4090 with the experts in host RAM (ktransformers) ------------------------------------------


def test_r1_q4_offload_on_a_4090():
    _, s = sheet_json(
        *R1_4090_KTRANSFORMERS,
        "--spec",
        "none",
    )
    assert s["spec"] == "none" and all(r["with"] is None for sec in s["sections"] for r in sec["rows"])
    # Ollama deepseek-r1:671b (Q4_K_M): about 404 GB
    assert row(s, "disk per node", "checkpoint (the download)")["without"] == pytest.approx(404 * GB, rel=0.05)
    # ktransformers DeepseekR1_V3_tutorial.md: Q4_K_M runs with 382 GB of DRAM on one socket
    experts = row(s, "host RAM per node", "offloaded experts")["without"]
    assert experts == pytest.approx(382 * GB, rel=0.05)
    f = json.loads(
        run(
            "fit",
            "deepseek-r1",
            "--gpu",
            "rtx-4090",
            "--weights",
            "q4_k_m",
            "--engine",
            "ktransformers",
            "--offload-experts",
            "--json",
        )
    )
    assert experts == pytest.approx(f["results"][0]["host_ram_bytes"])  # what `specsize fit` reports
    need = row(s, "host RAM per node", "host RAM needed per node")["without"]
    assert need == pytest.approx(experts + 8 * GB + 2 * GB)  # + OS + server by hand
    assert row(s, "host RAM per node", "host RAM to buy per node")["without"] == 512 * GB
    # cores: 2 serving + 32 expert threads (the plan's host: one 32-core socket) + 2 OS
    assert row(s, "CPU per node", "physical cores per node")["without"] == 36
    # power: 450 W (RTX 4090 TGP) + 200 W host base + 270 W (Xeon Gold 6454S TDP)
    assert row(s, "power", "power, whole deployment")["without"] == 450 + 200 + 270
    assert s["headline"] == ("1 node of 1x NVIDIA GeForce RTX 4090, 512 GB RAM and 36 cores per node, 506 GB of NVMe")


def test_dual_socket_offload_doubles_the_experts():
    """ktransformers with USE_NUMA keeps one copy of the experts per socket: about 1 TB on two sockets
    (reference/deepseek-r1.md, ktransformers tutorial)."""
    _, one = sheet_json(
        *R1_4090_KTRANSFORMERS,
        "--spec",
        "none",
    )
    _, two = sheet_json(
        *R1_4090_KTRANSFORMERS,
        "--spec",
        "none",
        "--sockets",
        "2",
    )
    e1 = row(one, "host RAM per node", "offloaded experts")["without"]
    assert row(two, "host RAM per node", "offloaded experts")["without"] == pytest.approx(2 * e1)
    assert row(two, "host RAM per node", "host RAM to buy per node")["without"] == 1024 * GB
    assert row(two, "CPU per node", "physical cores per node")["without"] == 2 + 64 + 2


# --- the 32B distill on one RTX 4090 with the 1.5B draft (llama.cpp) ----------------------------------------------


@pytest.fixture(scope="module")
def distill():
    return sheet_json(
        "deepseek-r1-distill-qwen-32b",
        "--gpu",
        "rtx-4090",
        "--engine",
        "llamacpp",
        "--weights",
        "q4_k_m",
        "--spec",
        "draft:deepseek-r1-distill-qwen-1.5b:4",
    )


def test_distill_download_is_target_plus_draft(distill):
    _, s = distill
    ckpt = row(s, "disk per node", "checkpoint (the download)")
    assert ckpt["without"] == pytest.approx(20 * GB, rel=0.05)  # Ollama deepseek-r1:32b (Q4_K_M): 20 GB
    assert ckpt["difference"] == pytest.approx(1.1 * GB, rel=0.05)  # Ollama deepseek-r1:1.5b (Q4_K_M): 1.1 GB
    # llama.cpp loads the draft GGUF onto the GPU but its input embedding, which stays in host RAM (src/llama-model.cpp:
    # "very little benefit to offloading the input layer"): R1-Distill-Qwen-1.5B's 151,936 x 1,536 token_embd, Q4_K
    embd = checkpoint_bytes([g for g in tensor_groups(load_model("r1-distill-qwen-1.5b")) if g.kind == "embedding"],
                            get_precision("q4_k_m"))  # fmt: skip
    assert embd == pytest.approx(151936 * 1536 * 4.5 / 8)  # Q4_K: 144 bytes per 256 weights
    assert row(s, "GPUs", "memory per GPU: MTP / draft weights")["with"] == pytest.approx(ckpt["difference"] - embd)


def test_distill_host_power_and_speculation(distill):
    d, s = distill
    # llama.cpp memory-maps the GGUF: no staging; 4 GB desktop OS + 1 GB llama-server -> 8 GB to buy
    assert row(s, "host RAM per node", "host RAM needed per node")["with"] == pytest.approx(5 * GB)
    assert row(s, "host RAM per node", "host RAM to buy per node")["with"] == 8 * GB
    assert row(s, "power", "power, whole deployment")["with"] == 450 + 150  # 4090 TGP + desktop host share
    # E[L] for k = 4 at acceptance 0.75: (1 - 0.75^5) / (1 - 0.75) (Leviathan et al. 2023, eq. 1)
    assert row(s, "speculative decoding", "tokens per step / round")["with"] == pytest.approx((1 - 0.75**5) / 0.25)
    assert row(s, "speculative decoding", "routed-expert bytes per step / round (per GPU)")["with"] == 0  # dense
    o = d["gpus"][0]["recommended"]
    assert row(s, "speculative decoding", "speedup")["with"] == pytest.approx(o["spec"]["speedup"])
    # the draft's KV costs the target context: fewer tokens fit with it
    ctx = row(s, "GPUs", "context held (one request)")
    assert ctx["with"] < ctx["without"]
    assert "draft:deepseek-r1-distill-qwen-1.5b k=4 adds" in s["headline"]


def test_mtp_on_a_gguf_says_the_layer_is_missing():
    # the GGUF recipe drops R1's MTP layer (tests/test_quant.py): the sheet must not present 0 GB as MTP's cost
    _, s = sheet_json(
        *R1_4090_KTRANSFORMERS,
        "--spec",
        "mtp:1",
    )
    assert any("stores no MTP layer" in n for n in s["notes"])
