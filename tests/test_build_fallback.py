"""engine_builds.nearest_build: the build an engine build without fitted constants takes, the same rule for
`plan` on a GPU architecture the corpus lacks and for scripts/fit_serving.py's leave-one-GPU-type-out refits."""

import json
from importlib.resources import files

from specsize import engine_builds as builds
from specsize import perf_constants as pc
from specsize.hardware import get_gpu, gpu_ids


def test_every_fallback_is_a_build_with_constants():
    assert set(builds.BUILD_FALLBACK.values()) <= set(pc.ENGINE_PERF)


def test_nearest_build_walks_the_chain_to_a_known_build():
    assert builds.nearest_build("sglang-rocm-gfx950", {"sglang", "sglang-rocm"}) == "sglang-rocm"
    assert builds.nearest_build("sglang-rocm-gfx950", {"sglang"}) == "sglang"
    assert builds.nearest_build("atom", {"sglang-rocm", "trtllm"}) == "sglang-rocm"
    assert builds.nearest_build("trtllm-1.2", {"trtllm"}) == "trtllm"
    assert builds.nearest_build("sglang", {"sglang"}) == "sglang"
    assert builds.nearest_build("mlx", {"sglang"}) == "mlx"  # no relative: itself (its own priors)
    # MI300X's build: the generic one
    assert builds.nearest_build("sglang-rocm-gfx942", pc.ENGINE_PERF) == "sglang-rocm"
    assert builds.nearest_build("trtllm-rocm-gfx942", pc.ENGINE_PERF) == "trtllm"


def test_every_build_reaches_its_engine():
    """Every fitted build's chain ends at an engine's own constants, without a loop."""
    for build in pc.ENGINE_PERF:
        seen = [build]
        while (parent := builds.parent_build(seen[-1])) is not None:
            assert parent not in seen, seen
            seen.append(parent)
        assert seen[-1] in pc.ENGINE_PERF, seen


def test_plan_and_the_leave_one_out_take_the_same_build_for_an_architecture_without_constants(monkeypatch):
    """Without SGLang's gfx950 build (MI355X left out), engine_perf_for (what `plan` uses) falls back to the build
    nearest_build names."""
    table = {k: v for k, v in pc.ENGINE_PERF.items() if k != "sglang-rocm-gfx950"}
    monkeypatch.setattr(pc, "ENGINE_PERF", table)
    fallback = builds.nearest_build("sglang-rocm-gfx950", table)
    assert builds.engine_perf_for("sglang", None, "amd", "gfx950").name == fallback


def test_a_generation_is_a_version_range_so_later_builds_take_the_current_constants():
    """engine_version strings name versions in each publisher's spelling; a build later than the corpus (which ends in
    2026-06) is in the newest generation's open range, not back at the oldest constants."""
    cases = {
        ("sglang", "SGLang 0.4.3.post2"): "sglang-0.4",
        ("sglang", "lmsysorg/sglang:v0.4.6"): "sglang-0.4",
        ("sglang", "lmsysorg/sglang:v0.5.12-cu130"): None,
        ("sglang", "lmsysorg/sglang-rocm:v0.6.0-rocm720-mi35x"): None,
        ("sglang", "rocm/sglang-staging:20250212"): None,  # a date, not a version
        ("vllm", "vLLM 0.7.3.dev138+g21f6ca217 (ROCm 6.3)"): "vllm-0.7",
        ("vllm", "vllm/vllm-openai:v0.11.0"): None,
        ("trtllm", "nvcr.io/nvidia/tensorrt-llm/release:1.1.0rc2.post2"): None,
        ("trtllm", "nvcr.io/nvidia/tensorrt-llm/release:1.2.0rc6.post2"): "trtllm-1.2",
        ("trtllm", "nvcr.io/nvidia/tensorrt-llm/release:1.4.0rc1"): "trtllm-1.2",
        ("trtllm", "nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:0.5.1-rc0.pre3"): None,
        ("trtllm", "nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:0.8.1.post2"): "trtllm-1.2",
        ("trtllm", "nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:1.0.0"): "trtllm-1.2",
        ("trtllm", "TensorRT-LLM 0.17.post1.dev"): None,
        ("trtllm", None): None,
        # other publishers' spellings (review of ac3eff7): the engine's own version, not a ROCm or Dynamo one
        ("sglang", "sglang==0.4.6"): "sglang-0.4",
        ("sglang", "SGLang v0.4.3"): "sglang-0.4",
        ("sglang", "nvcr.io/nvidia/ai-dynamo/sglang-runtime:0.4.0"): None,
        ("vllm", "rocm/vllm:rocm6.3.1_instinct_vllm0.7.3_20250311"): "vllm-0.7",
        ("vllm", "nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.6.1"): None,
        ("vllm", "vllm==0.6.6"): "vllm-0.7",
        ("trtllm", "TensorRT-LLM v1.2.0"): "trtllm-1.2",
        ("trtllm", "TRT-LLM 1.2.0"): "trtllm-1.2",
        ("trtllm", "tensorrt_llm==1.3.0"): "trtllm-1.2",
        ("trtllm", "nvcr.io/nvidia/tensorrt-llm/devel:1.2.0"): "trtllm-1.2",
        ("trtllm", "tensorrt_llm==1.1.0"): None,
    }
    for (engine, version), generation in cases.items():
        assert builds.engine_generation(engine, version) == generation, version
    assert builds.engine_perf_for("trtllm", "nvcr.io/nvidia/tensorrt-llm/release:1.4.0rc1").name == "trtllm-1.2"
    assert builds.engine_perf_for("sglang", "lmsysorg/sglang:v0.6.0", "nvidia", "sm100").name == "sglang"


def test_tensorrt_llm_12_on_hopper_takes_its_own_build_and_blackwell_the_generations():
    """TensorRT-LLM 1.2's decode gains are Blackwell's (engine_builds.ENGINE_GENERATIONS): on Hopper (sm90) it has a
    build of its own; Blackwell, and an architecture without a build of its own, take the generation's constants."""
    dynamo = "nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:0.8.1.post1"
    release = "nvcr.io/nvidia/tensorrt-llm/release:1.3.0rc14"
    for gpu, build in {"h200": "trtllm-1.2-sm90", "h100-sxm": "trtllm-1.2-sm90", "b200": "trtllm-1.2",
                       "gb200": "trtllm-1.2", "b300": "trtllm-1.2", "rtx-pro-6000": "trtllm-1.2"}.items():  # fmt: skip
        g = get_gpu(gpu)
        assert builds.engine_perf_for("trtllm", dynamo, g.vendor, g.arch).name == build, gpu
        assert builds.engine_perf_for("trtllm", release, g.vendor, g.arch).name == build, gpu
        assert builds.engine_perf_for("trtllm", None, g.vendor, g.arch).name == "trtllm", gpu  # 1.1, as before
    # the other engines' generations are not split by architecture
    assert builds.engine_perf_for("sglang", "SGLang 0.4.3.post2", "nvidia", "sm90").name == "sglang-0.4"


def test_every_gpu_of_an_engine_vendor_names_its_architecture_with_a_source():
    """Builds are chosen per architecture (above, and SGLang's ROCm builds per gfx target), so every NVIDIA and AMD
    GPU in the catalog names its own, with where it was read."""
    for gpu_id in gpu_ids():
        g = get_gpu(gpu_id)
        if g.vendor in ("nvidia", "amd"):
            assert g.arch.startswith("sm" if g.vendor == "nvidia" else "gfx"), gpu_id
    entries = json.loads((files("specsize") / "catalog" / "hardware" / "gpus.json").read_text())
    assert all(e["arch_source"] for e in entries if e.get("arch"))
