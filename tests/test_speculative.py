"""The speculative model: E[L] identities, Leviathan's worked examples, the sourced MTP defaults, and the MoE
penalty (verification of k+1 tokens touches more experts, so MTP's gain shrinks as concurrency grows)."""

import itertools

import pytest

from specsize.deployment import build_deployment
from specsize.engines import get_engine
from specsize.errors import PlanError
from specsize.hardware import get_gpu
from specsize.perf import distinct_experts
from specsize.resolve import load_model
from specsize.scenario import Layout, Speculative
from specsize.speculative import (
    acceptance_rates,
    best_k,
    break_even,
    default_acceptance,
    evaluate,
    expected_length,
    ideal_speedup,
    measured_speedup,
)


@pytest.mark.parametrize("alpha", [0.3, 0.6, 0.8, 0.95])
@pytest.mark.parametrize("k", [1, 3, 8])
def test_expected_length_matches_the_iid_closed_form(alpha, k):
    assert expected_length((alpha,) * k) == pytest.approx((1 - alpha ** (k + 1)) / (1 - alpha))


@pytest.mark.parametrize("alpha, c, k_star, speedup", [(0.8, 0.05, 8, 3.09), (0.6, 0.1, 3, 1.67)])
def test_leviathan_examples(alpha, c, k_star, speedup):
    # docs/reference/speculative.md: alpha=0.8, c=0.05 -> k*=8, 3.09x; alpha=0.6, c=0.1 -> k*=3, 1.67x
    best = max(range(1, 12), key=lambda k: ideal_speedup((alpha,) * k, c))
    assert best == k_star
    assert ideal_speedup((alpha,) * best, c) == pytest.approx(speedup, abs=0.01)


def test_mtp_defaults_reproduce_their_sources():
    rates = default_acceptance("mtp", 7)
    assert rates[0] == 0.85  # DeepSeek-V3 report: 85-90% for the second token
    assert expected_length(rates) == pytest.approx(3.20, abs=0.01)  # original MTP, k=7 (nebius model card)
    assert all(b < a for a, b in itertools.pairwise(rates))


def test_given_rates_are_extended_past_their_end():
    assert acceptance_rates(Speculative("draft", 3, draft=load_model("r1-distill-qwen-1.5b"),
                                        acceptance=(0.9,)), 3) == (0.9, 0.9, 0.9)  # fmt: skip
    mtp = acceptance_rates(Speculative("mtp", 3, acceptance=(0.9,)), 3)
    assert mtp[0] == 0.9 and mtp[2] < mtp[1] < 0.9
    assert acceptance_rates(Speculative("ngram", 2), 2, repeat_fraction=0.7) == (0.7, 0.7)


@pytest.fixture(scope="module")
def r1_mtp():
    return build_deployment(load_model("deepseek-r1"), get_gpu("h200"), "fp8", "bf16", Layout(tp=8),
                            get_engine("sglang"), Speculative("mtp", 1))  # fmt: skip


def test_r1_mtp_batch_one_speedup_is_the_published_one(r1_mtp):
    # SGLang docs: 1.8x at batch size 1 on H200 TP8 (validation case, tolerance 20%)
    assert 1.8 * 0.8 <= evaluate(r1_mtp, 1, 2048).speedup <= 1.8 * 1.2


def test_the_moe_penalty_shrinks_mtp_gain_as_concurrency_grows(r1_mtp):
    rs = [evaluate(r1_mtp, b, 2048) for b in (1, 2, 4, 8)]
    speedups = [r.speedup for r in rs]
    assert speedups == sorted(speedups, reverse=True) and speedups[0] > speedups[-1]
    # past ~8 the penalty fades (a plain step touches most experts too) and the gain recovers, still below batch 1
    assert evaluate(r1_mtp, 16, 2048).speedup < speedups[0]
    # at batch 1, verifying 2 correlated tokens reads the experts 2 tokens of one sequence touch
    assert rs[0].moe_penalty == pytest.approx(distinct_experts(2, 256, 8) / 8)
    # the penalty fades once a step touches nearly every expert anyway
    assert evaluate(r1_mtp, 256, 2048).moe_penalty < 1.05 < rs[0].moe_penalty


def test_a_dense_distill_with_a_draft_loses_less_at_the_same_concurrency(r1_mtp):
    target, draft = load_model("r1-distill-qwen-32b"), load_model("r1-distill-qwen-1.5b")
    dense = build_deployment(target, get_gpu("h200"), "bf16", "bf16", Layout(tp=1), get_engine("sglang"),
                             Speculative("draft", 1, draft, acceptance=(0.85,)))  # fmt: skip
    assert evaluate(dense, 1, 2048).moe_penalty is None

    def fall(d):
        return 1 - evaluate(d, 16, 2048).speedup / evaluate(d, 1, 2048).speedup

    assert fall(dense) < fall(r1_mtp)


def test_best_k_and_break_even():
    target, draft = load_model("r1-distill-qwen-32b"), load_model("r1-distill-qwen-1.5b")

    def dep(acc):
        return build_deployment(target, get_gpu("h100-sxm"), "bf16", "bf16", Layout(tp=1), get_engine("vllm"),
                                Speculative("draft", 4, draft, acceptance=(acc,)))  # fmt: skip

    good = best_k(dep(0.9), 1, 2048)
    assert good.k > 1 and good.speedup > 1.5
    assert best_k(dep(0.9), 1, 2048).speedup >= evaluate(dep(0.9), 1, 2048, k=1).speedup
    assert break_even(dep(0.05), 2048, 64) == 1  # a draft that is almost never right never pays
    be = break_even(dep(0.9), 2048, 4096)
    assert be is None or evaluate(dep(0.9), be, 2048, k=4).speedup < 1.0


def test_evaluate_refuses_no_method(r1_mtp):
    plain = build_deployment(r1_mtp.arch, get_gpu("h200"), "fp8", "bf16", Layout(tp=8), get_engine("sglang"))
    with pytest.raises(PlanError, match="nothing to evaluate"):
        evaluate(plain, 1, 1024)


def test_measured_speedup_charges_every_forward_the_loop_overhead():
    # E[L] = 1.5; verification T(2) + o = 1.6; the draft's catch-up over round(1.5) = 2 tokens, + o: 0.4
    t, t_draft = [1.0, 1.5], [0.2, 0.3]
    assert measured_speedup("draft", 1, (0.5,), t, t_draft, 0.1) == pytest.approx(1.5 * 1.1 / 2.0)
    assert measured_speedup("ngram", 1, (0.5,), t, None, 0.1) == pytest.approx(1.5 * 1.1 / 1.6)  # lookup: free
    assert measured_speedup("mtp", 1, (), t, t_draft, 0.0) == pytest.approx(1 / 1.7)  # unmeasured positions: 0


def test_the_scheduler_step_cost_is_paid_once_per_round_not_per_draft_pass():
    """The k draft passes run inside the round's engine step: raising the engine's per-step cost by d raises the
    plain step and the verification by d each and leaves the k = 3 draft passes as they were, so a round costs
    d more (not (k + 1) d)."""
    from dataclasses import replace

    dep = build_deployment(load_model("deepseek-r1"), get_gpu("mi300x"), "fp8", "bf16", Layout(tp=8),
                           get_engine("sglang"), Speculative("mtp", 3))  # fmt: skip
    d = 5e-3
    eng = dep.machine.engine
    slow = replace(dep, machine=replace(dep.machine, engine=replace(eng, step_overhead=eng.step_overhead + d)))
    a, b = evaluate(dep, 4, 2048), evaluate(slow, 4, 2048)
    assert b.plain_step - a.plain_step == pytest.approx(d)
    assert b.verify - a.verify == pytest.approx(d)
    assert b.draft == pytest.approx(a.draft)
    assert b.round_time - a.round_time == pytest.approx(d)
