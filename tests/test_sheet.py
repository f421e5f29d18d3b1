"""`specsize plan --sheet` as a user drives it (CliRunner), each figure checked against a published figure or a
hand calculation with its source, and the network verdicts against the planner's own step-time model."""

import json

import pytest
from click.testing import CliRunner

from specsize.cli import cli
from specsize.resolve import load_model
from tests.sheets import GB, R1_4090_KTRANSFORMERS, row, run, sheet_json

# --- R1 FP8 on 8 x H200 (SGLang, MTP k=1: the embedded default) ----------------------------------------------------


@pytest.fixture(scope="module")
def h200():
    return sheet_json("deepseek-r1", "--gpu", "h200")


def test_h200_gpus_and_memory_match_the_plan(h200):
    d, s = h200
    o = d["gpus"][0]["recommended"]
    assert s["gpu"] == "h200" and s["spec"] == "mtp k=1"
    assert row(s, "GPUs", "nodes")["with"] == 1 and row(s, "GPUs", "GPUs")["with"].startswith("8 x ")
    total = row(s, "GPUs", "memory per GPU: total")
    assert total["with"] == pytest.approx(o["memory_per_gpu_bytes"])  # the plan's own breakdown, same layout
    spec_terms = sum(t["bytes"] for t in o["memory_breakdown"] if t["term"].startswith("spec_"))
    assert total["difference"] == pytest.approx(spec_terms)  # speculation's memory is exactly its three terms
    assert row(s, "speculative decoding", "extra memory per GPU")["with"] == pytest.approx(spec_terms)
    assert row(s, "GPUs", "concurrent requests held")["with"] == o["max_concurrency"]


def test_h200_disk_is_the_published_checkpoint(h200):
    _, s = h200
    ckpt = row(s, "disk per node", "checkpoint (the download)")
    # deepseek-ai/DeepSeek-R1 model.safetensors.index.json total_size: 688,586,727,753 bytes (163 shards)
    assert ckpt["without"] == pytest.approx(688_586_727_753, rel=0.001)
    assert ckpt["difference"] == 0  # MTP ships inside the checkpoint: nothing more to download
    # load time by hand: bytes / 7.0 GB/s (catalog nvme-gen4); first token adds the plan's TTFT
    load = row(s, "disk per node", "load time from NVMe PCIe 4.0 SSD")["without"]
    assert load == pytest.approx(ckpt["without"] / 7.0e9)
    assert row(s, "disk per node", "disk to provision per node")["without"] == pytest.approx(ckpt["without"] + 100e9)


def test_h200_host_ram_cpu_and_power_by_hand(h200):
    d, s = h200
    # host RAM: 8 workers x one 5 GB shard + 8 GB OS + 8 x 4 GB per worker = 80 GB; the next common size is 96 GB
    assert row(s, "host RAM per node", "host RAM needed per node")["with"] == pytest.approx(80 * GB)
    assert row(s, "host RAM per node", "host RAM to buy per node")["with"] == pytest.approx(96 * GB)
    # cores: tokenizer + detokenizer + one scheduler per GPU (8) + 2 for the OS
    assert row(s, "CPU per node", "physical cores per node")["with"] == 12
    # power: 8 x 700 W (H200 SXM TDP) + (10.2 kW DGX H200 max - 5.6 kW) = 10.2 kW, the DGX H200 datasheet's maximum
    assert row(s, "power", "GPUs at TDP")["with"] == 8 * 700
    assert row(s, "power", "power, whole deployment")["with"] == 10_200
    o = d["gpus"][0]["recommended"]
    tpj = row(s, "power", "output tokens per joule")
    assert tpj["without"] == pytest.approx(o["tok_s_per_gpu"] * 8 / 10_200)
    assert tpj["with"] == pytest.approx(o["spec"]["tok_s_per_gpu"] * 8 / 10_200)


def test_h200_is_one_node_with_nvlink(h200):
    _, s = h200
    assert s["links"] == []  # one node: no inter-node table
    assert row(s, "network", "inter-node link")["with"] == "none"
    assert "NVLink 4" in row(s, "network", "intra-node link")["with"]
    assert s["headline"].startswith("1 node of 8x NVIDIA H200")


def test_h200_speculation_line_agrees_with_the_plan(h200):
    d, s = h200
    o = d["gpus"][0]["recommended"]
    sp = row(s, "speculative decoding", "speedup")["with"]
    assert sp == pytest.approx(o["spec"]["speedup"])
    assert f"makes one user {sp:.2f}x faster" in s["headline"]
    extra = row(s, "speculative decoding", "extra memory per GPU")["with"]
    assert f"MTP adds {extra / GB:,.1f} GB per GPU" in s["headline"]
    experts = row(s, "speculative decoding", "routed-expert bytes per step / round (per GPU)")
    assert experts["with"] / experts["without"] == pytest.approx(o["spec"]["moe_penalty"])
    assert row(s, "speculative decoding", "tokens per step / round")["with"] == pytest.approx(1.85)  # 1 + 0.85
    assert row(s, "speculative decoding", "break-even concurrency")["with"] == f"> {o['max_concurrency']:,}"


# --- R1 FP8 on 2 x 8 x H100: the network --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def h100():
    return sheet_json("deepseek-r1", "--gpu", "h100-sxm")


def test_h100_link_tpots_are_the_plans_tpots_over_each_link(h100):
    """The sheet's TPOT per link equals `plan --inter-node LINK`'s speculative TPOT: the same step-time model."""
    _, s = h100
    assert [x["link"] for x in s["links"]] == [
        "eth-10g",
        "eth-25g",
        "eth-100g",
        "ib-hdr",
        "roce-400g",
        "ib-ndr",
        "ib-xdr",
    ]
    for x in s["links"]:
        d = json.loads(run("plan", "deepseek-r1", "--gpu", "h100-sxm", "--inter-node", x["link"], "--json"))
        o = d["gpus"][0]["recommended"]
        assert x["tpot_ms_with"] == pytest.approx(o["spec"]["tpot_ms"], rel=1e-9)
        assert x["tpot_ms_without"] == pytest.approx(o["tpot_ms"], rel=1e-9)


def test_h100_verdicts_follow_from_the_tpots(h100):
    d, s = h100
    best = min(x["tpot_ms_with"] for x in s["links"])
    for x in s["links"]:
        assert x["slowdown"] == pytest.approx(x["tpot_ms_with"] / best - 1)
        if x["slowdown"] <= 0.05:
            assert x["verdict"] == "enough"
        elif x["slowdown"] >= 1.0:
            assert x["verdict"].startswith("unusable")
        else:
            assert x["verdict"] == f"slows decode by {x['slowdown']:.0%}"
    ten = next(x for x in s["links"] if x["link"] == "eth-10g")
    # the plan's own 10 GbE figure (network.slow_network_tpot_ms) is the same number
    assert ten["tpot_ms_with"] == pytest.approx(d["gpus"][0]["recommended"]["network"]["slow_network_tpot_ms"])
    assert f"10 GbE would slow decode by {ten['slowdown']:.0%}" in s["headline"]
    assert ten["verdict"] != "enough"
    pick = row(s, "network", "inter-node link")["with"]
    assert s["headline"].startswith(f"2 nodes of 8x NVIDIA H100 SXM 80GB, {pick} between them")


def test_h100_needed_bandwidth_keeps_the_stated_share():
    """At the bandwidth the sheet says is needed, the inter-node share of TPOT is 10%; 10% less bandwidth exceeds it."""
    from specsize.hardware import Link, get_link
    from specsize.plan import plan
    from specsize.scenario import parse_spec
    from specsize.sheet_network import inter_node_share, needed_bandwidth

    a = load_model("deepseek-r1")
    p = plan(a, ["h100-sxm"], spec=parse_spec("mtp:1", a))
    dep = p.gpus[0].recommended.deployment
    lat = get_link("ib-hdr").latency
    bw = needed_bandwidth(dep, lat, 1, 6144, True, 0.3)
    assert inter_node_share(dep, Link("x", "", bw, lat), 1, 6144, True, 0.3) == pytest.approx(0.10, abs=1e-3)
    assert inter_node_share(dep, Link("x", "", 0.9 * bw, lat), 1, 6144, True, 0.3) > 0.10
    # IB HDR (25 GB/s per GPU) is far above it: its verdict is "enough"; 10 GbE's 1.25 GB/s per node is not
    assert get_link("ib-hdr").bandwidth > bw


def test_h100_power_is_two_dgx_h100(h100):
    _, s = h100
    # 16 x 700 W + 2 x 4,600 W = 20.4 kW: two DGX H100 at their datasheet maximum of ~10.2 kW each
    assert row(s, "power", "power, whole deployment")["with"] == 2 * 10_200
    assert row(s, "disk per node", "disk to provision per node")["with"] == pytest.approx(
        688_586_727_753 + 100e9, rel=0.001
    )


# --- formats and edges ---------------------------------------------------------------------------------------------


def test_markdown_reads_as_an_answer():
    out = run("plan", "deepseek-r1", "--gpu", "h100-sxm", "--format", "markdown")
    assert out.startswith("### Requirements: deepseek-r1 fp8")
    assert "\x1b[" not in out  # no terminal colours in a document
    assert "| resource | without speculation | with mtp k=1 | difference | why |" in out
    assert "**2 nodes of 8x NVIDIA H100 SXM 80GB" in out
    assert "| 10 Gigabit Ethernet (per node) |" in out and "slows decode by" in out


def test_terminal_sheet_and_plain_plan_json_unchanged():
    out = run("plan", "deepseek-r1", "--gpu", "h200", "--sheet")
    assert "h200: 1 node of 8x NVIDIA H200" in out and "host RAM per node" in out
    assert "sheets" not in json.loads(run("plan", "deepseek-r1", "--gpu", "h200", "--json"))


def test_a_gpu_without_power_figures_says_so():
    _, s = sheet_json("deepseek-r1", "--gpu", "apple-m3-ultra", "--weights", "q4_k_m", "--engine", "llamacpp")
    assert row(s, "power", "power")["without"] == "not in the power catalog"
    assert row(s, "host RAM per node", "model in unified memory")["without"] > 400 * GB


def test_bad_format_is_one_line():
    r = CliRunner().invoke(cli, ["plan", "--format", "pdf"])
    assert r.exit_code == 2 and "Traceback" not in r.output and "'pdf' is not one of" in r.output


def test_pipeline_across_nodes_needs_little_network():
    """vLLM without speculation puts TP in the node and PP across nodes: one hand-off of B x hidden BF16 values per
    stage per step crosses the network, so even 10 GbE is enough; the TPOT is the plan's over that link."""
    d, s = sheet_json("deepseek-r1", "--gpu", "h100-sxm", "--engine", "vllm", "--spec", "none")
    assert d["gpus"][0]["recommended"]["layout"]["pp"] == 2
    ten = next(x for x in s["links"] if x["link"] == "eth-10g")
    assert ten["verdict"] == "enough" and ten["tpot_ms_with"] is None
    p = json.loads(
        run(
            "plan",
            "deepseek-r1",
            "--gpu",
            "h100-sxm",
            "--engine",
            "vllm",
            "--spec",
            "none",
            "--inter-node",
            "eth-10g",
            "--json",
        )
    )
    assert ten["tpot_ms_without"] == pytest.approx(p["gpus"][0]["recommended"]["tpot_ms"], rel=1e-9)
    assert "10 GbE between them (enough" in s["headline"]


def test_values_render_in_their_units():
    from specsize.sheet_render import fmt_difference, fmt_value

    assert fmt_value("bytes", 688_586_727_753) == "688.6 GB"
    assert fmt_value("bytes", 1.2e12) == "1.20 TB"
    assert fmt_value("bytes", 9.4e6) == "9.4 MB"
    assert fmt_value("bytes", 0.0) == "0"
    assert fmt_value("s", 0.0106) == "10.6 ms" and fmt_value("s", 98.37) == "98.4 s"
    assert fmt_value("W", 20_400) == "20.4 kW" and fmt_value("W", 920) == "920 W"
    assert fmt_value("B/s", 6.4e8) == "0.64 GB/s"
    assert fmt_value("count", 12) == "12" and fmt_value("count", 1.85) == "1.85"
    assert fmt_difference({"unit": "bytes", "without": 0, "with": 1.7e9, "difference": 1.7e9}) == "+1.7 GB"
    assert fmt_difference({"unit": "s", "without": 0.017, "with": 0.0106, "difference": -0.0064}) == "-6.4 ms"
    assert fmt_difference({"unit": "text", "without": "a", "with": "a", "difference": None}) == "same"


def test_gpu_types_that_do_not_fit_are_named():
    out = run(
        "plan",
        "deepseek-r1-distill-qwen-32b",
        "--gpu",
        "rtx-3060",
        "--gpu",
        "rtx-4090",
        "--engine",
        "llamacpp",
        "--weights",
        "q4_k_m",
        "--spec",
        "draft:deepseek-r1-distill-qwen-1.5b:4",
        "--format",
        "markdown",
    )
    assert "#### rtx-4090:" in out and "#### rtx-3060:" not in out
    assert "rtx-3060 does not fit: does not fit even on 1 GPU (TP1): short by" in out


def test_vllm_cores_are_its_documented_minimum_plus_the_os():
    # vLLM docs, configuration/optimization.md "CPU Resources for GPU Deployments": at least 2 + N physical cores
    _, s = sheet_json("deepseek-r1", "--gpu", "h200", "--engine", "vllm")
    assert row(s, "CPU per node", "serving processes")["with"] == 2 + 8
    assert row(s, "CPU per node", "physical cores per node")["with"] == 2 + 8 + 2  # + 2 for the OS (assumption)


def test_ram_option_is_checked_against_the_whole_need():
    """--ram: the plan checks the offloaded experts (395.9 GB) alone; the sheet adds the OS and server (10 GB)."""
    base = (*R1_4090_KTRANSFORMERS, "--spec", "none")
    r = CliRunner().invoke(cli, ["plan", *base, "--ram", "256", "--sheet"])
    assert r.exit_code == 1 and "host RAM short by 139.9 GB" in r.output and "Traceback" not in r.output
    _, s = sheet_json(*base, "--ram", "400")
    assert (
        "--ram 400 GB: short by 5.9 GB once the OS and server are counted"
        in row(s, "host RAM per node", "host RAM needed per node")["note"]
    )
    _, s = sheet_json(*base, "--ram", "512")
    assert row(s, "host RAM per node", "host RAM needed per node")["note"].startswith("--ram 512 GB: enough")


def test_sheet_catalogs_are_keyed_and_sourced():
    """Every power entry names a GPU of the catalog and carries its sources; every engine has its host needs;
    every storage figure has a source."""
    from specsize import catalog
    from specsize.engines import ENGINES
    from specsize.hardware import gpu_ids
    from specsize.sheet_data import engine_host, storage_options

    power = catalog.hardware_entries("power")
    assert set(power) <= set(gpu_ids())
    for e in power.values():
        assert e["gpu_W"] > 0 and e["gpu_source"] and e["host_source"]
    for name in ENGINES:  # an engine without its own entry falls back to one that says "assumption" everywhere
        eh = engine_host(name)
        assert eh.loading in ("shard_by_shard", "mmap", "read", "experts_to_ram")
        assert eh.loading_source and eh.cores_source
    fallback = engine_host("an-engine-not-listed")
    assert all("assumption" in x for x in (fallback.loading_source, fallback.processes_source, fallback.cores_source))
    assert all(s.read_bandwidth > 0 and s.source for s in storage_options())
