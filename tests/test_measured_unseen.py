"""Measured files the planner has not seen (docs/measured-format.md): corpus points moved to values the corpus lacks
(GPUs B300, GB300, H100 in place of H200, MI300X <-> MI325X; newer engine builds; a later date; vLLM's DP+EP
spelling) are each predicted (finite, positive) or counted as not representable with a reason, never an exception.
Later nightly runs will look like this."""

import copy
import json
import math
import re

import pytest
from click.testing import CliRunner

from specsize.cli import cli
from specsize.hardware import get_gpu
from specsize.measured import (
    BUNDLED_MEASURED,
    METRICS,
    _arch,
    _layout,
    counted_gpus,
    evaluate_point,
    load_points,
    resolve,
)
from specsize.memory import weight_bytes_per_gpu
from specsize.quant import get_precision

CORPUS = load_points(BUNDLED_MEASURED)
MOVE = {"b200": "b300", "gb200": "gb300", "h200": "h100-sxm", "mi300x": "mi325x", "mi325x": "mi300x"}


def sample(keep, n: int = 6) -> list[dict]:
    """Up to n corpus points that `keep` accepts, spread over their concurrencies (low to high)."""
    pts = sorted((p for p in CORPUS if keep(p)), key=lambda p: (p["workload"]["concurrency"], p["id"]))
    return [pts[i * (len(pts) - 1) // max(n - 1, 1)] for i in range(min(n, len(pts)))]


def moved(p: dict) -> dict:
    return {**copy.deepcopy(p), "gpu": MOVE[p["gpu"]], "id": p["id"] + "-moved"}


def bumped(p: dict) -> dict:
    """The same point from a later build: SGLang v0.5.x -> v0.6.0, TensorRT-LLM release 1.4.0, Dynamo's
    tensorrtllm-runtime 1.0.0, ATOM 0.2.0; run on a later date."""
    v = p.get("engine_version") or ""
    later = (
        (r"v0\.5\.[0-9]+(\.post[0-9]+)?", "v0.6.0"),
        (r"sglang-0\.5\.[0-9]+(\.post[0-9]+)?", "sglang-0.6.0"),
        (r"release:[0-9][0-9a-z.]*", "release:1.4.0"),
        (r"tensorrtllm-runtime:[0-9][0-9a-z.\-]*", "tensorrtllm-runtime:1.0.0"),
        (r"atom[0-9.]+", "atom0.2.0"),
    )
    for old, new in later:
        v = re.sub(old, new, v)
    return {**copy.deepcopy(p), "engine_version": v or None, "date": "2027-01-15", "id": p["id"] + "-bumped"}


def vllm_dp_ep(p: dict, layout: dict) -> dict:
    return {**copy.deepcopy(p), "engine": "vllm", "engine_version": "vllm/vllm-openai:v0.11.0", "layout": layout,
            "id": p["id"] + "-vllm-" + "-".join(f"{k}{v}" for k, v in layout.items())}  # fmt: skip


MOVED = [moved(p) for gpu in MOVE for mode in (False, True) for p in
         sample(lambda p, gpu=gpu, mode=mode: p["gpu"] == gpu and bool(p.get("disaggregated")) == mode, 4)]  # fmt: skip
BUMPED = [bumped(p) for p in sample(lambda p: "v0.5." in (p.get("engine_version") or ""), 6)
          + sample(lambda p: "sgl-dev:sglang-0.5" in (p.get("engine_version") or ""), 3)
          + sample(lambda p: "tensorrt-llm/release:" in (p.get("engine_version") or ""), 6)
          + sample(lambda p: "tensorrtllm-runtime:" in (p.get("engine_version") or ""), 6)
          + sample(lambda p: p["engine"] == "atom", 3)]  # fmt: skip
# vLLM's own spelling of attention DP + EP (TP 1, DP 8, EP 8; the format has no dp field: an engine TP smaller than
# the instance is attention DP), with and without the dp_attention flag, on 8-GPU aggregated points
DP_EP = {"tp": 1, "dp": 8, "ep": 8}
VLLM = [vllm_dp_ep(p, lay) for gpu in ("h200", "b200", "mi300x", "mi355x")
        for p in sample(lambda p, gpu=gpu: p["gpu"] == gpu and p["gpus"] == 8 and not p.get("disaggregated"), 2)
        for lay in (DP_EP, {**DP_EP, "dp_attention": True}, {**DP_EP, "dp_attention": False})]  # fmt: skip
UNSEEN = MOVED + [bumped(p) for p in MOVED] + BUMPED + VLLM


def weights_fill_the_gpu(p: dict) -> bool:
    """The point's weights alone take over 95% of a GPU's usable memory (R1's FP8 weights over 8 x H100 80GB),
    so no engine leaves room for a KV cache."""
    dis = p.get("disaggregated") or {}
    gpus = dis["decode_gpus"] // dis["decode_workers"] if dis else p["gpus"]
    lay = _layout(p["layout"], gpus)
    w = weight_bytes_per_gpu(_arch(p["model"]), get_precision(p["weights"]), lay)
    return w > 0.95 * get_gpu(p["gpu"]).usable_bytes


def original(p: dict) -> dict:
    return next(q for q in CORPUS if p["id"].startswith(q["id"]))


def test_the_unseen_cases_cover_what_the_corpus_lacks():
    assert {p["gpu"] for p in MOVED} == {"b300", "gb300", "h100-sxm", "mi300x", "mi325x"}
    assert {"disagg" if p.get("disaggregated") else "agg" for p in MOVED if p["gpu"] == "b300"} == {"agg", "disagg"}
    versions = {p["engine_version"] for p in BUMPED}
    assert all(any(key in v for v in versions) for key in ("v0.6.0", "sglang-0.6.0", "release:1.4.0",
                                                            "tensorrtllm-runtime:1.0.0", "atom0.2.0"))  # fmt: skip
    assert not {p["engine_version"] for p in BUMPED} & {p.get("engine_version") for p in CORPUS}


@pytest.mark.parametrize("p", UNSEEN, ids=lambda p: p["id"])
def test_an_unseen_point_is_predicted_or_refused_with_a_reason(p):
    r = evaluate_point(p)
    if r["reason"]:
        assert isinstance(r["reason"], str) and r["reason"].strip()
        # what the corpus's own point predicts is refused only on a GPU its weights do not fit (as the test below)
        refused = evaluate_point(original(p))["reason"]
        assert refused or ("does not fit" in r["reason"] and weights_fill_the_gpu(p)), r["reason"]
        return
    assert set(r["metrics"]) == set(METRICS)
    for metric, m in r["metrics"].items():
        assert math.isfinite(m["predicted"]) and m["predicted"] > 0, (metric, m)
    # no more tokens/s in all than every user decoding at the per-user speed
    total = r["metrics"]["output_tok_s_per_gpu"]["predicted"] * counted_gpus(p)
    assert total <= p["workload"]["concurrency"] * r["metrics"]["output_tok_s_per_user"]["predicted"] * (1 + 1e-9)


@pytest.mark.parametrize("p", MOVED, ids=lambda p: p["id"])
def test_a_moved_point_is_refused_only_where_its_weights_fill_the_gpu(p):
    """A GPU the corpus lacks refuses nothing that the point's own GPU predicts, unless the weights do not fit it:
    the corpus's FP8 R1 on 8 x H200 does not fit 8 x H100."""
    r, before = evaluate_point(p), evaluate_point(original(p))
    if r["reason"] and not before["reason"]:
        assert "does not fit" in r["reason"] and weights_fill_the_gpu(p), r["reason"]
    if before["reason"]:  # the corpus's own refusals (worker counts not recorded) stay refusals
        assert r["reason"] == before["reason"]


def test_a_move_within_an_architecture_follows_the_bandwidth():
    """MI325X and MI300X share gfx942 (the same engine build); MI325X has 6.0 TB/s of HBM to MI300X's 5.3, so at
    1-8 users (decode reads the weights every step) the move up predicts more tok/s per user, the move down less."""
    checked = 0
    for p in MOVED:
        if p["gpu"] not in ("mi300x", "mi325x") or p["workload"]["concurrency"] > 8:
            continue
        faster = get_gpu(p["gpu"]).bandwidth > get_gpu(original(p)["gpu"]).bandwidth
        up = _predicted(p)["output_tok_s_per_user"] > _predicted(original(p))["output_tok_s_per_user"]
        assert up == faster, p["id"]
        checked += 1
    assert checked >= 2


@pytest.mark.parametrize("p", sample(lambda p: True, 8), ids=lambda p: p["id"])
def test_the_date_does_not_change_a_prediction(p):
    later = {**p, "date": "2027-01-15"}
    a, b = evaluate_point(p), evaluate_point(later)
    assert a["reason"] == b["reason"]
    assert {k: m["predicted"] for k, m in a["metrics"].items()} == {k: m["predicted"] for k, m in b["metrics"].items()}


def _predicted(p: dict) -> dict:
    return {k: m["predicted"] for k, m in evaluate_point(p)["metrics"].items()}


@pytest.mark.parametrize("p", VLLM, ids=lambda p: p["id"])
def test_vllms_dp_ep_spelling_is_the_same_deployment_as_sglangs(p):
    """vLLM's TP 1 / DP 8 / EP 8 is attention data-parallel over 8 GPUs with the experts split 8 ways: the same
    deployment as SGLang's spelling of it (--tp 8 --dp 8 --enable-dp-attention, EP 8), on the same engine."""
    sglang_spelling = {**p, "layout": {"tp": 8, "ep": 8, "dp_attention": True}}
    assert not evaluate_point(p)["reason"]
    assert _predicted(p) == _predicted(sglang_spelling)


EIGHT = sample(lambda p: p["gpus"] == 8 and p["layout"]["tp"] == 8 and not p.get("disaggregated"), 4)


@pytest.mark.parametrize("p", EIGHT, ids=lambda p: p["id"])
def test_vllms_dp_without_ep_is_one_group_with_its_experts_tensor_split(p):
    """vLLM TP 1 / DP 8 without --enable-expert-parallel is one group of 8 GPUs, attention data-parallel and the
    experts split by tensor parallelism over the group (vLLM's default for an MoE model under DP), not 8 one-GPU
    replicas: SGLang's --tp 8 --enable-dp-attention without EP, on the same engine."""
    q = vllm_dp_ep(p, {"tp": 1, "dp": 8})
    c = resolve(q)
    assert not c.reason and c.decode.instances == 1 and c.decode.dep.gpus == 8
    assert _predicted(q) == _predicted({**q, "layout": {"tp": 8, "ep": 1, "dp_attention": True}})


def test_pipeline_stages_count_in_an_instance():
    """TP 8 x PP 2 on 16 GPUs is one instance of 16, not two of 8 that each lack a stage."""
    p = EIGHT[0]
    q = {**p, "gpus": 16, "nodes": 2, "layout": {**p["layout"], "pp": 2}, "id": p["id"] + "-pp2"}
    c = resolve(q)
    assert not c.reason and c.decode.instances == 1 and c.decode.dep.gpus == 16


@pytest.mark.parametrize("gpus", [4, 12])
def test_gpus_that_are_not_whole_instances_are_refused_with_the_reason(gpus):
    """A layout of 8 GPUs on a point of 4 or 12: the file contradicts itself; it is listed, not predicted as 8 GPUs."""
    r = evaluate_point({**EIGHT[0], "gpus": gpus, "id": f"tp8-on-{gpus}"})
    assert "not a whole number of the layout's 8-GPU instances" in r["reason"]


def test_a_disaggregated_point_without_its_pool_sizes_is_refused_with_the_field_named():
    p = next(p for p in CORPUS if (p.get("disaggregated") or {}).get("decode_workers"))
    q = {**p, "disaggregated": {k: v for k, v in p["disaggregated"].items() if k != "decode_gpus"}}
    assert "decode_gpus" in evaluate_point(q)["reason"]


@pytest.mark.parametrize(
    "keep",
    [
        pytest.param(lambda p: "lmsysorg/sglang:v0.5." in (p.get("engine_version") or ""), id="sglang"),
        pytest.param(
            lambda p: re.search(r"release:1\.[23]\.|tensorrtllm-runtime:0\.8\.", p.get("engine_version") or ""),
            id="trtllm-1.2+",
        ),
    ],
)
def test_a_later_build_keeps_its_generations_constants(keep):
    """A build newer than the corpus's (SGLang v0.6.0, TensorRT-LLM 1.4.0) is predicted with the constants of the
    newest generation it follows, not an older one's: the same predictions as the point's recorded build."""
    pts = sample(keep, 6)
    assert pts
    for p in pts:
        assert _predicted(bumped(p)) == _predicted(p), p["id"]


def test_a_file_of_unseen_points_runs_through_validate(tmp_path):
    path = tmp_path / "later-nightly.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in UNSEEN))
    r = CliRunner().invoke(cli, ["validate", str(path), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    s = data["summary"]
    assert s["points"] == len(UNSEEN) == s["predicted"] + len(s["unrepresentable"])
    assert all(u["reason"] for u in s["unrepresentable"])
    assert {u["id"] for u in s["unrepresentable"]} == {p["id"] for p in UNSEEN if evaluate_point(p)["reason"]}
    assert s["predicted"] > 0
