"""perf_constants.nearest_build: the build an engine build without fitted constants takes, the same rule for
`plan` on a GPU architecture the corpus lacks and for scripts/fit_serving.py's leave-one-GPU-type-out refits."""

from specsize import perf_constants as pc


def test_every_fallback_is_a_build_with_constants():
    assert set(pc.BUILD_FALLBACK.values()) <= set(pc.ENGINE_PERF)


def test_nearest_build_walks_the_chain_to_a_known_build():
    assert pc.nearest_build("sglang-rocm-gfx950", {"sglang", "sglang-rocm"}) == "sglang-rocm"
    assert pc.nearest_build("sglang-rocm-gfx950", {"sglang"}) == "sglang"
    assert pc.nearest_build("atom", {"sglang-rocm", "trtllm"}) == "sglang-rocm"
    assert pc.nearest_build("trtllm-1.2", {"trtllm"}) == "trtllm"
    assert pc.nearest_build("sglang", {"sglang"}) == "sglang"
    assert pc.nearest_build("mlx", {"sglang"}) == "mlx"  # no relative: itself (its own priors)
    assert pc.nearest_build("sglang-rocm-gfx942", pc.ENGINE_PERF) == "sglang-rocm"  # MI300X's build: the generic one
    assert pc.nearest_build("trtllm-rocm-gfx942", pc.ENGINE_PERF) == "trtllm"


def test_every_build_reaches_its_engine():
    """Every fitted build's chain ends at an engine's own constants, without a loop."""
    for build in pc.ENGINE_PERF:
        seen = [build]
        while (parent := pc.parent_build(seen[-1])) is not None:
            assert parent not in seen, seen
            seen.append(parent)
        assert seen[-1] in pc.ENGINE_PERF, seen


def test_plan_and_the_leave_one_out_take_the_same_build_for_an_architecture_without_constants(monkeypatch):
    """Without SGLang's gfx950 build (MI355X left out), engine_perf_for (what `plan` uses) falls back to the build
    nearest_build names."""
    table = {k: v for k, v in pc.ENGINE_PERF.items() if k != "sglang-rocm-gfx950"}
    monkeypatch.setattr(pc, "ENGINE_PERF", table)
    assert pc.engine_perf_for("sglang", None, "amd", "gfx950").name == pc.nearest_build("sglang-rocm-gfx950", table)
