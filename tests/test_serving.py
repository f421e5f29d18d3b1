"""The serving steady state (serving.py): identities of the closed loop."""

import pytest

from specsize.deployment import build_deployment
from specsize.engines import get_engine
from specsize.hardware import get_gpu, get_link
from specsize.resolve import load_model
from specsize.scenario import Layout
from specsize.serving import Pool, adp_balance_wait, decode_iteration, prefill_cost, steady_state


@pytest.fixture(scope="module")
def dep():
    return build_deployment(load_model("deepseek-r1"), get_gpu("h200"), "fp8", "bf16", Layout(tp=8),
                            get_engine("sglang"))  # fmt: skip


def test_one_user_pays_no_prefill_share_and_the_loop_closes(dep):
    p = steady_state(Pool(dep), 1, 1024, 1024)
    assert p.tpot == pytest.approx(dep.decode_step(1, 1024 + 512).total)
    assert p.rate == pytest.approx(1 / (p.ttft + 1024 * p.tpot))
    assert p.tok_s_per_gpu() == pytest.approx(p.rate * 1024 / 8)


def test_a_lone_user_never_queues_behind_itself(dep):
    """A long prompt and a short answer keep the prefill busy most of a lone user's cycle; still, its prompt finds
    nothing ahead of it (closed loop, arrival theorem): TTFT is the prompt alone, half a decode step to join the
    batch, and the engine's per-request cost. Two users: one may wait for the other's prompt."""
    one = steady_state(Pool(dep), 1, 8192, 64)
    alone = prefill_cost(dep, 8192, batched=False)
    half_step = dep.decode_step(1, 8192 + 32).total / 2
    assert one.ttft == pytest.approx(alone + half_step + dep.machine.engine.request_overhead)
    assert steady_state(Pool(dep), 2, 8192, 64).ttft > one.ttft


def test_many_users_pay_the_others_prefill_in_their_tpot(dep):
    p = steady_state(Pool(dep), 32, 1024, 1024)
    share = 31 * prefill_cost(dep, 1024) / 1024
    assert p.tpot == pytest.approx(dep.decode_step(32, 1024 + 512).total + share)
    assert p.tok_s_per_user < steady_state(Pool(dep), 1, 1024, 1024).tok_s_per_user


def test_past_the_kv_limit_users_wait_in_ttft_not_in_tpot(dep):
    free = steady_state(Pool(dep, 1, 64), 64, 1024, 1024)
    full = steady_state(Pool(dep, 1, 64), 256, 1024, 1024)
    assert full.kv_limited and not free.kv_limited
    assert full.tpot == pytest.approx(free.tpot) and full.rate == pytest.approx(free.rate, rel=0.05)
    assert full.ttft > 3 * free.ttft


def test_disaggregated_decode_pays_no_prefill_share_and_a_small_prefill_pool_saturates(dep):
    agg = steady_state(Pool(dep), 64, 8192, 1024)
    dis = steady_state(Pool(dep), 64, 8192, 1024, prefill=Pool(dep, 1), link=get_link("ib-ndr"))
    assert dis.tpot < agg.tpot
    big = steady_state(Pool(dep), 1024, 8192, 1024, prefill=Pool(dep, 1), link=get_link("ib-ndr"))
    assert big.prefill_bound and big.rate == pytest.approx(1 / prefill_cost(dep, 8192), rel=1e-6)


def test_disaggregated_decode_holds_no_more_sequences_than_its_kv_slots(dep):
    """Little's law on the decode pool: rate x OSL x TPOT sequences decode at once, at most its KV slots. With
    a large prefill pool and 32 slots, 512 users get 32 slots' worth of throughput (they wait in TTFT), whatever
    the prefill pool could feed."""
    prefill, link = Pool(dep, 8), get_link("ib-ndr")
    p = steady_state(Pool(dep, 1, 32), 512, 1024, 1024, prefill=prefill, link=link)
    assert p.kv_limited and not p.prefill_bound
    assert p.decode_seqs == pytest.approx(32, rel=1e-6)
    assert p.output_tok_s == pytest.approx(32 / p.tpot, rel=1e-6)
    assert p.rate == pytest.approx(512 / (p.ttft + 1024 * p.tpot), rel=1e-6)  # the loop still closes
    roomy = steady_state(Pool(dep, 1, 4096), 512, 1024, 1024, prefill=prefill, link=link)
    assert roomy.output_tok_s > p.output_tok_s and not roomy.kv_limited


@pytest.fixture(scope="module")
def trt_dp():
    return build_deployment(load_model("deepseek-r1"), get_gpu("b200"), "nvfp4", "fp8",
                            Layout(tp=8, ep=8, attention="dp"), get_engine("trtllm"))  # fmt: skip


def test_tensorrt_llms_attention_dp_balance_holds_a_prompt_for_the_other_ranks_arrivals(trt_dp):
    """TensorRT-LLM's attention-DP balance: a prompt waits for each of the group's 7 other ranks to receive one,
    7 arrivals at the loop's own rate users / (TTFT + OSL x TPOT), at most timeout_iters iterations; the loop still
    closes with the wait in TTFT."""
    p = steady_state(Pool(trt_dp), 256, 1024, 1024)
    iteration = decode_iteration(trt_dp, 256, 1024 + 512)[0]
    wait = adp_balance_wait(trt_dp, 256, 1.0, iteration)
    assert wait == pytest.approx(7 / (256 / (1.0 + wait)))  # 7 arrivals at the rate the wait itself slows
    assert p.rate == pytest.approx(256 / (p.ttft + 1024 * p.tpot))
    assert adp_balance_wait(trt_dp, 256, 1e4, iteration) == pytest.approx(60 * iteration)  # the timeout


def test_no_balance_wait_below_one_user_per_rank_without_attention_dp_or_in_other_engines(trt_dp, dep):
    """With fewer users than ranks some rank has nothing to decode, and TensorRT-LLM then schedules prompts at
    once; a TP-attention group has one rank; SGLang has no balance."""
    assert adp_balance_wait(trt_dp, 7, 30.0, 0.03) == 0.0
    assert adp_balance_wait(trt_dp, 8, 30.0, 0.03) > 0.0
    tp = build_deployment(load_model("deepseek-r1"), get_gpu("b200"), "nvfp4", "fp8", Layout(tp=8, ep=8),
                          get_engine("trtllm"))  # fmt: skip
    assert adp_balance_wait(tp, 256, 30.0, 0.03) == 0.0
    sglang_dp = build_deployment(load_model("deepseek-r1"), get_gpu("b200"), "nvfp4", "fp8",
                                 Layout(tp=8, ep=8, attention="dp"), get_engine("sglang"))  # fmt: skip
    assert adp_balance_wait(sglang_dp, 256, 30.0, 0.03) == 0.0
    assert steady_state(Pool(trt_dp), 256, 1024, 1024).ttft > steady_state(Pool(trt_dp), 4, 1024, 1024).ttft


def test_a_scheduler_that_polls_every_n_iterations_adds_half_the_interval_to_ttft(dep):
    """SGLang --scheduler-recv-interval N: a prompt arriving while the batch decodes waits for the next poll, N / 2
    iterations on average, of which the half step to join the batch was already counted; TPOT is untouched."""
    every = steady_state(Pool(dep, 1, None, 1), 64, 1024, 1024)
    thirty = steady_state(Pool(dep, 1, None, 30), 64, 1024, 1024)
    assert thirty.tpot == pytest.approx(every.tpot)
    assert thirty.ttft - every.ttft == pytest.approx(29 / 2 * decode_iteration(dep, 64, 1024 + 512)[0], rel=1e-3)
