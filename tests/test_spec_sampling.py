"""Sampling is lossless: the rejection sampler's output is distributed as the target's p, whatever the draft.

The bound: for N samples of a distribution over V outcomes, the Bretagnolle-Huber-Carol inequality gives
P(sum |p_hat - p| >= lam) <= 2^V exp(-N lam^2 / 2). We set the false-alarm probability per check to 1e-6 and
solve for lam; with the fixed seeds below the checks are deterministic, and a negative control (a verifier that
always accepts the draft) fails the same bound, so the test has the power to see a wrong sampler."""

import copy
import math
import random

import pytest
import torch

from specsize.config import parse_config
from specsize.engine.compile import compile_steps
from specsize.engine.generate import generate
from specsize.engine.model import Transformer, init_weights
from specsize.engine.proposers import DraftModelProposer, MTPProposer, NgramProposer
from specsize.engine.sampling import SamplingParams, probs, verify

from .conftest import random_config

FALSE_ALARM = 1e-6


def l1_bound(v: int, n: int, delta: float = FALSE_ALARM) -> float:
    return math.sqrt(2 * (v * math.log(2) + math.log(1 / delta)) / n)


def l1(counts: torch.Tensor, p: torch.Tensor) -> float:
    return float((counts / counts.sum() - p).abs().sum())


def _pairs():
    g = torch.Generator().manual_seed(0)
    v = 6
    rand = [torch.rand(v, generator=g) ** 3 for _ in range(6)]
    norm = [x / x.sum() for x in rand]
    one_hot = torch.zeros(v)
    one_hot[2] = 1.0
    disjoint_p = torch.tensor([0.5, 0.5, 0, 0, 0, 0])
    disjoint_q = torch.tensor([0, 0, 0, 0.3, 0.3, 0.4])
    return [
        ("random", norm[0], norm[1]), ("random", norm[2], norm[3]), ("random", norm[4], norm[5]),
        ("q = p", norm[0], norm[0]), ("one-hot draft", norm[1], one_hot), ("disjoint supports", disjoint_p, disjoint_q),
        ("p one-hot", one_hot, norm[2]),
    ]  # fmt: skip


def run_round(p1, p2, q1, one_hot: bool, n: int, seed: int, broken: bool = False) -> torch.Tensor:
    """k = 1 rounds with memoryless p (p1 at the draft's position, p2 after it): counts of the first two
    emitted tokens, [V * V]."""
    g = torch.Generator().manual_seed(seed)
    v = p1.shape[0]
    logits = torch.stack((p1, p2)).clamp_min(1e-30).log()  # softmax(log p) = p at temperature 1
    params = SamplingParams(temperature=1.0)
    counts = torch.zeros(v * v)
    for _ in range(n):
        x = int(torch.multinomial(q1, 1, generator=g))
        m, nxt = (1, int(torch.multinomial(p2, 1, generator=g))) if broken else verify(
            logits, [x], None if one_hot else q1[None], params, g)  # fmt: skip
        first = x if m == 1 else nxt
        second = nxt if m == 1 else int(torch.multinomial(p2, 1, generator=g))
        counts[first * v + second] += 1
    return counts


@pytest.mark.parametrize("case, p, q", [pytest.param(*c, id=c[0]) for c in _pairs()])
def test_rejection_sampler_emits_p(case, p, q):
    n = 12_000
    p2 = torch.tensor([0.1, 0.2, 0.3, 0.1, 0.2, 0.1])
    counts = run_round(p, p2, q, one_hot=(case == "one-hot draft"), n=n, seed=1)
    joint = (p[:, None] * p2[None, :]).flatten()
    assert l1(counts, joint) < l1_bound(36, n)


def test_negative_control_fails_the_same_bound():
    _, p, q = _pairs()[0]
    n = 12_000
    p2 = torch.full((6,), 1 / 6)
    counts = run_round(p, p2, q, False, n, seed=1, broken=True)
    assert l1(counts, (p[:, None] * p2[None, :]).flatten()) > l1_bound(36, n)


def test_top_k_and_top_p_apply_to_both_distributions():
    logits = torch.tensor([3.0, 2.0, 1.0, 0.0, -1.0])
    assert torch.count_nonzero(probs(logits, SamplingParams(1.0, top_k=2))) == 2
    p = probs(logits, SamplingParams(1.0, top_p=0.8))
    assert torch.count_nonzero(p) == 2 and float(p.sum()) == pytest.approx(1.0)
    assert int(probs(logits, SamplingParams(0.5)).argmax()) == 0


# --- end to end: sequences from a tiny-vocabulary model ---------------------------------------------------------


def _tiny(family, seed, vocab, **extra):
    c = random_config(family, random.Random(seed))
    c.update(vocab_size=vocab, max_position_embeddings=64, **extra)
    return init_weights(Transformer(parse_config(c, "tiny", "test")), std=0.15, seed=seed).eval()


@torch.inference_mode()
def exact_distribution(model, prompt, params, steps=3):
    """P(t_1..t_steps) of plain sampling, by enumerating the tree (V^steps leaves)."""
    v = model.arch.vocab_size
    dist = {(): 1.0}
    for _ in range(steps):
        nxt = {}
        for seq, pr in dist.items():
            p = probs(model(torch.tensor([prompt + list(seq)]))[0, -1], params)
            for t in range(v):
                nxt[(*seq, t)] = pr * float(p[t])
        dist = nxt
    return dist


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("method", ["draft", "mtp", "ngram"])
def test_generated_sequences_match_plain_sampling(method, compiled):
    v, n, prompt = 4, 2000, [0, 0, 0, 1, 0, 0]  # repeats the lookup can continue
    params = SamplingParams(temperature=1.0)
    family = "deepseek_v3" if method == "mtp" else "qwen2"
    target = _tiny(family, 11, v)
    exact = exact_distribution(target, prompt, params)
    marginal = torch.zeros(v * v)  # of (t_2, t_3): the tokens a k = 2 round drafts and verifies
    for (_t1, t2, t3), pr in exact.items():
        marginal[t2 * v + t3] += pr
    counts = torch.zeros(v * v)
    draft_model = copy.deepcopy(target) if method == "draft" else None  # a draft close to the target, not equal
    if draft_model is not None:
        with torch.no_grad():
            for w in draft_model.parameters():
                w.add_(torch.randn(w.shape, generator=torch.Generator().manual_seed(5)) * 0.1)
    if compiled:  # the rounds as the compiled graphs run them (the sampler on the device, drafts unrolled)
        for m in (target, draft_model) if draft_model is not None else (target,):
            compile_steps(m)
    g = torch.Generator().manual_seed(3)
    accepted = 0
    for i in range(n):
        if method == "draft":
            prop = DraftModelProposer(draft_model, v, params, 16, generator=g)
        elif method == "mtp":
            prop = MTPProposer(target, params, generator=g)
        else:
            prop = NgramProposer(1, 2)
        out = generate(target, prompt, 3, params, prop, k=2, seed=10_000 + i)
        accepted += out.stats.num_accepted_tokens
        counts[out.token_ids[1] * v + out.token_ids[2]] += 1
    # the drafts are accepted often enough for the test to mean something (random MTP weights draft worse)
    assert accepted > n * (0.3 if method == "draft" else 0.03)
    assert l1(counts, marginal) < l1_bound(v * v, n)


class _Counting(MTPProposer):
    """MTPProposer that counts the rounds whose drafts its fused verification made (not the catch-up)."""

    fused_rounds = 0

    def propose(self, tokens, k):
        _Counting.fused_rounds += self.next is not None
        return super().propose(tokens, k)


def test_mtp_drafts_made_inside_the_verification_sample_like_plain():
    """MTP's fused round: the drafts of every round after the first come out of the previous verification
    (rounds.verify_mtp_round), with the drafter's own noise. Five tokens at k = 2: the first round drafts from the
    catch-up, the next from the fused verification; the marginal of (t_4, t_5), which those later rounds decide,
    matches plain sampling's exact one within the bound."""
    v, n, prompt = 4, 2000, [0, 0, 0, 1, 0, 0]
    params = SamplingParams(temperature=1.0)
    target = _tiny("deepseek_v3", 11, v)
    marginal = torch.zeros(v * v)
    for seq, pr in exact_distribution(target, prompt, params, steps=5).items():
        marginal[seq[3] * v + seq[4]] += pr
    counts = torch.zeros(v * v)
    g = torch.Generator().manual_seed(3)
    _Counting.fused_rounds = 0
    for i in range(n):
        out = generate(target, prompt, 5, params, _Counting(target, params, generator=g), k=2, seed=20_000 + i)
        counts[out.token_ids[3] * v + out.token_ids[4]] += 1
    assert _Counting.fused_rounds > n / 2  # most generations had a round drafted by the fused verification
    assert l1(counts, marginal) < l1_bound(v * v, n)
