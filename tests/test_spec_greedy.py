"""Lossless greedy speculative decoding: for every drafting method and k = 1..8, over many prompts and random
tiny models (dense and DeepSeek-V3 with its MTP layer), the output is token-identical to plain greedy decoding.
Drafts that are always right (the target drafting for itself) and mostly wrong (random weights) both occur,
so full acceptance (bonus tokens), partial acceptance and immediate rejection are all exercised."""

import copy
import random

import pytest

from specsize.config import parse_config
from specsize.engine.generate import generate
from specsize.engine.model import Transformer, init_weights
from specsize.engine.proposers import DraftModelProposer, MTPProposer, NgramProposer, Proposer
from specsize.engine.sampling import SamplingParams
from specsize.errors import SpecsizeError

from .conftest import random_config

GREEDY = SamplingParams()


def tiny(family, seed, vocab=64, **extra):
    c = random_config(family, random.Random(seed))
    c.update(vocab_size=vocab, max_position_embeddings=256, **extra)
    return init_weights(Transformer(parse_config(c, f"{family}-{seed}", "test")), std=0.3, seed=seed).eval()


def prompts(n, vocab, seed):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        base = [rng.randrange(vocab) for _ in range(rng.randint(2, 10))]
        out.append(base * (1 + i % 3))  # repeats give the n-gram drafter something to find
    return out


@pytest.fixture(scope="module")
def r1_like():
    return tiny("deepseek_v3", 7)


@pytest.fixture(scope="module")
def dense_pair():
    return tiny("qwen2", 3), tiny("qwen2", 4, vocab=64)


def plain(model, p, n=24):
    return generate(model, p, n, GREEDY).token_ids


@pytest.mark.parametrize("k", range(1, 9))
def test_mtp_greedy_is_identical(r1_like, k):
    for p in prompts(4, 64, k):
        ref = plain(r1_like, p)
        got = generate(r1_like, p, 24, GREEDY, MTPProposer(r1_like, GREEDY), k=k)
        assert got.token_ids == ref
        assert got.stats.num_draft_tokens > 0


@pytest.mark.parametrize("k", [3, 5, 8])
def test_mtp_runs_to_the_end_of_the_context_with_every_k(r1_like, k):
    """Fused MTP drafts the next round inside the verification, its chained steps past the verified block: near
    the model's last position (256 here) the chain is cut to the positions left, and the output stays plain
    greedy decoding's up to the context's end (both stop there, finish "context")."""
    rng = random.Random(k)
    p = [rng.randrange(64) for _ in range(240)]
    want = generate(r1_like, p, 100, GREEDY)
    for fused in (True, False):
        got = generate(r1_like, p, 100, GREEDY, MTPProposer(r1_like, GREEDY, fused=fused), k=k)
        assert got.token_ids == want.token_ids and got.finish_reason == want.finish_reason == "context"


@pytest.mark.parametrize("k", range(1, 9))
def test_draft_model_greedy_is_identical(dense_pair, k):
    target, draft = dense_pair
    for p in prompts(4, 64, 10 + k):
        ref = plain(target, p)
        prop = DraftModelProposer(draft, 64, GREEDY, max_len=len(p) + 24 + 10)
        assert generate(target, p, 24, GREEDY, prop, k=k).token_ids == ref
        self_draft = DraftModelProposer(copy.deepcopy(target), 64, GREEDY, max_len=len(p) + 24 + 10)
        got = generate(target, p, 24, GREEDY, self_draft, k=k)
        assert got.token_ids == ref
        assert got.stats.draft_acceptance_rate == 1.0  # a perfect drafter: every draft accepted, bonus each round


@pytest.mark.parametrize("k", range(1, 9))
def test_ngram_greedy_is_identical(dense_pair, r1_like, k):
    for model in (dense_pair[0], r1_like):
        for p in prompts(4, 64, 20 + k):
            ref = plain(model, p)
            assert generate(model, p, 24, GREEDY, NgramProposer(1, 3), k=k).token_ids == ref


def test_adaptive_k_is_identical_and_moves(dense_pair):
    target, _ = dense_pair
    p = prompts(1, 64, 99)[0]
    ref = plain(target, p, 40)
    perfect = DraftModelProposer(copy.deepcopy(target), 64, GREEDY, max_len=len(p) + 40 + 20)
    got = generate(target, p, 40, GREEDY, perfect, k=2, adaptive=True)
    assert got.token_ids == ref
    assert len(got.stats.num_accepted_tokens_per_pos) > 2  # k grew past its start after full acceptance


def test_draft_vocabulary_padding_is_accepted_and_mismatch_refused(dense_pair):
    target, _ = dense_pair
    padded = tiny("qwen2", 5, vocab=64 + 64)
    p = prompts(1, 64, 5)[0]
    assert generate(target, p, 12, GREEDY, DraftModelProposer(padded, 64, GREEDY, 64), k=3).token_ids == plain(
        target, p, 12)  # fmt: skip
    with pytest.raises(SpecsizeError, match="not the same tokenizer"):
        DraftModelProposer(tiny("qwen2", 6, vocab=600), 64, GREEDY, 64)


def test_bad_input(dense_pair):
    target, _ = dense_pair
    with pytest.raises(SpecsizeError, match="k must be >= 1"):
        generate(target, [1, 2], 4, GREEDY, NgramProposer(), k=0)
    with pytest.raises(SpecsizeError, match="has no MTP layer"):
        MTPProposer(target, GREEDY)
    with pytest.raises(SpecsizeError, match="holds 256 positions"):
        generate(target, [1] * 300, 4, GREEDY)
    with pytest.raises(SpecsizeError, match="empty"):
        generate(target, [], 4, GREEDY)


def test_eos_and_length_stop(dense_pair):
    target, _ = dense_pair
    p = prompts(1, 64, 1)[0]
    ref = plain(target, p, 20)
    eos = ref[5]
    first = ref.index(eos)
    got = generate(target, p, 20, GREEDY, NgramProposer(), k=4, eos_ids=(eos,))
    assert got.token_ids == ref[: first + 1] and got.finish_reason == "eos"
    assert generate(target, p, 7, GREEDY, NgramProposer(), k=4).finish_reason == "length"
    assert len(generate(target, p, 7, GREEDY, NgramProposer(), k=4).token_ids) == 7


def test_stats_count_a_known_case(dense_pair):
    """A drafter whose drafts are right for the first j tokens and then wrong: every round accepts exactly j."""
    target, _ = dense_pair
    p = prompts(1, 64, 2)[0]
    ref = plain(target, p, 30)

    class Oracle:
        def __init__(self, j):
            self.j = j

        def begin(self, prompt, hidden):
            self.n0 = len(prompt)

        def propose(self, tokens, k):
            done = len(tokens) - self.n0  # generated so far, the newest included
            right = ref[done : done + k]
            draft = right[: self.j] + [(t + 1) % 64 for t in right[self.j :]]
            return type("P", (), {"token_ids": draft, "probs": None})()

        def accepted(self, tokens, hidden):
            pass

    for j in range(0, 5):
        got = generate(target, p, 30, GREEDY, Oracle(j), k=4)
        assert got.token_ids == ref
        # the schedule by hand: each round drafts min(4, tokens still to make - 1), accepts min(j, that)
        made, drafts, accepted, per_pos = 1, 0, 0, [0, 0, 0, 0]
        rounds = 0
        while made < 30:
            kk = min(4, 30 - made - 1)
            m = min(j, kk)
            drafts, accepted, rounds = drafts + kk, accepted + m, rounds + (kk > 0)
            for i in range(m):
                per_pos[i] += 1
            made += m + 1
        s = got.stats
        assert (s.num_drafts, s.num_draft_tokens, s.num_accepted_tokens) == (rounds, drafts, accepted)
        assert s.num_accepted_tokens_per_pos == per_pos[: len(s.num_accepted_tokens_per_pos)]
        assert s.mean_acceptance_length == pytest.approx(1 + accepted / rounds)
        assert s.draft_acceptance_rate == pytest.approx(accepted / drafts)


def test_every_drafter_is_a_proposer(dense_pair, r1_like):
    """The three drafters implement the Proposer protocol generate() is typed against (begin, propose, accepted)."""
    _, draft = dense_pair
    for drafter in (NgramProposer(), DraftModelProposer(draft, 64, GREEDY, 32), MTPProposer(r1_like, GREEDY)):
        assert isinstance(drafter, Proposer)
    assert not isinstance(object(), Proposer)
