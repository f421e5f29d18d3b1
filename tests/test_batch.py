"""Batched speculative decoding (engine/batch.py) is lossless row by row: with continuous batching (more
requests than slots, so rows join and leave between rounds), every request's greedy output is token-identical
to that request decoded alone with plain greedy decoding, for every drafting method and several k; sampling
from a batch is distributed as plain sampling (the bound of test_spec_sampling)."""

import copy

import pytest
import torch

from specsize.engine.batch import BatchDraft, BatchEngine, BatchMTP, BatchNgram, Sequence
from specsize.engine.generate import generate
from specsize.engine.proposers import MTPProposer
from specsize.engine.sampling import SamplingParams
from specsize.errors import SpecsizeError

from .test_spec_greedy import prompts, tiny
from .test_spec_sampling import _tiny, exact_distribution, l1, l1_bound

GREEDY = SamplingParams()
N = 20


@pytest.fixture(scope="module")
def m():
    """test_spec_greedy's random models: an R1-like MoE with MTP, a dense target and a dense draft."""
    return {"r1": tiny("deepseek_v3", 7), "dense": tiny("qwen2", 3), "draft": tiny("qwen2", 4, vocab=64)}


@pytest.fixture(scope="module")
def bundled():
    from specsize.engine.loader import find_model_dir
    from specsize.engine.run import load_draft, load_target

    target, tok = load_target(find_model_dir("tiny-r1"))
    texts = ["How many r are in strawberry?", "Tell me a story.", "2+2=", "hello hello hello hello", "Why?"]
    ids = [tok.encode(tok.apply_chat_template([{"role": "user", "content": t}]), add_special=False) for t in texts]
    return target, load_draft("tiny-r1-draft", target, tok), ids


def batched(target, drafter, k, ps, slots=3, n=N, **kw):
    engine = BatchEngine(target, drafter, k, slots=slots, max_len=128)
    return engine.run([Sequence(p, n, **kw) for p in ps])


def check(target, drafter, k, ps, slots=3):
    refs = [generate(target, p, N).token_ids for p in ps]
    seqs = batched(target, drafter, k, ps, slots)
    assert [s.out for s in seqs] == refs
    return seqs


@pytest.mark.parametrize("k", [1, 2, 4, 7])
def test_mtp_batched_greedy_is_identical(m, k):
    seqs = check(m["r1"], BatchMTP(m["r1"]), k, prompts(5, 64, k))
    assert sum(s.stats.num_draft_tokens for s in seqs) > 0


@pytest.mark.parametrize("k", [1, 2, 3])
def test_mtp_batched_drafts_are_the_single_sequence_drafts(bundled, k):
    """Rows that accepted different numbers of drafts catch up on different numbers of states, padded to the
    longest; each row's drafts come from its own last real state (MTPLayer.predict's per-row index), so on the
    bundled tiny-r1 (whose MTP drafts are mostly accepted) every row accepts what it accepts decoded alone. Drafts
    from another row's position would be lossless too, but accepted less often."""
    target, _, ids = bundled
    alone = [generate(target, p, N, proposer=MTPProposer(target, GREEDY, fused=False), k=k).stats for p in ids]
    seqs = batched(target, BatchMTP(target), k, ids)
    assert [s.stats.num_accepted_tokens for s in seqs] == [a.num_accepted_tokens for a in alone]
    assert [s.stats.num_draft_tokens for s in seqs] == [a.num_draft_tokens for a in alone]
    assert sum(a.num_accepted_tokens for a in alone) > 0


@pytest.mark.parametrize("k", [1, 3, 6])
def test_draft_batched_greedy_is_identical(m, k):
    target, draft = m["dense"], m["draft"]
    check(target, BatchDraft(draft, 64), k, prompts(5, 64, 10 + k))
    seqs = check(target, BatchDraft(copy.deepcopy(target), 64), k, prompts(4, 64, 30 + k))
    assert all(s.stats.draft_acceptance_rate == 1.0 for s in seqs)  # a perfect drafter, row by row


@pytest.mark.parametrize("k", [1, 4])
def test_ngram_and_plain_batched_greedy_are_identical(m, k):
    for model in (m["dense"], m["r1"]):
        ps = prompts(5, 64, 20 + k)
        check(model, BatchNgram(1, 3), k, ps)
        check(model, None, 0, ps, slots=2)


@pytest.mark.parametrize("method, k", [("mtp", 2), ("mtp", 5), ("draft", 3), ("ngram", 4), ("none", 0)])
def test_bundled_tiny_r1_batched_is_identical(bundled, method, k):
    target, draft, ids = bundled
    drafter = {"mtp": BatchMTP(target), "draft": BatchDraft(draft, target.arch.vocab_size), "ngram": BatchNgram(),
               "none": None}[method]  # fmt: skip
    check(target, drafter, k, ids, slots=4)


def test_rows_stop_on_their_own(m):
    r1_like = m["r1"]
    """Per-request max_tokens, EOS, a stop callback and a cancellation, in one batch."""
    ps = prompts(4, 64, 3)
    refs = [generate(r1_like, p, N).token_ids for p in ps]
    engine = BatchEngine(r1_like, BatchMTP(r1_like), 3, slots=4, max_len=128)
    short = Sequence(ps[0], 5)
    eos = Sequence(ps[1], N, eos_ids=(refs[1][6],))
    stopper = Sequence(ps[2], N, on_tokens=lambda new: len(stopper.out) >= 4)
    cancel = Sequence(ps[3], N)
    for s in (short, eos, stopper, cancel):
        engine.add(s)
    engine.step()
    cancel.cancelled = True
    while engine.active:
        engine.step()
    assert short.out == refs[0][:5] and short.finish_reason == "length"
    assert eos.out == refs[1][: refs[1].index(refs[1][6]) + 1] and eos.finish_reason == "eos"
    assert stopper.finish_reason == "stop" and stopper.out == refs[2][: len(stopper.out)]
    assert cancel.finish_reason == "abort" and engine.free_slots == 4


def test_bad_input(m):
    r1_like = m["r1"]
    engine = BatchEngine(r1_like, None, 0, slots=1, max_len=64)
    with pytest.raises(SpecsizeError, match="empty"):
        engine.add(Sequence([], 4))
    with pytest.raises(SpecsizeError, match="prompt tokens"):
        engine.add(Sequence([1] * 80, 4))
    with pytest.raises(SpecsizeError, match="k must be >= 1"):
        BatchEngine(r1_like, BatchNgram(), 0)
    long = Sequence([1, 2, 3], 500)
    engine.run([long])
    assert long.finish_reason == "context" and len(long.out) == 64 - 3 - 1  # the slot's room, not max_tokens


@pytest.mark.parametrize("method", ["draft", "mtp", "ngram"])
def test_batched_sampling_matches_plain_sampling(method):
    """test_spec_sampling's end-to-end check, the 2000 sequences decoded 8 at a time, each with its own seed,
    next to greedy rows (per-request parameters in one batch)."""
    v, n, prompt = 4, 2000, [0, 0, 0, 1, 0, 0]
    params = SamplingParams(temperature=1.0)
    target = _tiny("deepseek_v3" if method == "mtp" else "qwen2", 11, v)
    exact = exact_distribution(target, prompt, params)
    marginal = torch.zeros(v * v)
    for (_t1, t2, t3), pr in exact.items():
        marginal[t2 * v + t3] += pr
    if method == "draft":
        draft = copy.deepcopy(target)
        with torch.no_grad():
            for w in draft.parameters():
                w.add_(torch.randn(w.shape, generator=torch.Generator().manual_seed(5)) * 0.1)
        drafter = BatchDraft(draft, v)
    else:
        drafter = BatchMTP(target) if method == "mtp" else BatchNgram(1, 2)
    engine = BatchEngine(target, drafter, 2, slots=8, max_len=16)
    sampled = [Sequence(prompt, 3, params, seed=10_000 + i) for i in range(n)]
    greedy = [Sequence(prompt, 3) for _ in range(n // 50)]
    mixed = []
    for i, s in enumerate(sampled):
        mixed += [s, greedy[i // 50]] if i % 50 == 0 else [s]
    engine.run(mixed)
    counts = torch.zeros(v * v)
    for s in sampled:
        counts[s.out[1] * v + s.out[2]] += 1
    assert sum(s.stats.num_accepted_tokens for s in sampled) > n * (0.3 if method == "draft" else 0.03)
    assert l1(counts, marginal) < l1_bound(v * v, n)
    plain = generate(target, prompt, 3).token_ids
    assert all(g.out == plain for g in greedy)


def test_a_failing_request_fails_alone(m):
    r1_like = m["r1"]
    """A request whose own code raises (here its token callback) ends with an error; its batch-mates finish
    with their batch-1 output."""
    ps = prompts(3, 64, 8)
    refs = [generate(r1_like, p, N).token_ids for p in ps]

    def boom(new):
        if len(bad.out) > 3:
            raise RuntimeError("boom")

    bad = Sequence(ps[0], N, on_tokens=boom)
    good = [Sequence(p, N) for p in ps[1:]]
    BatchEngine(r1_like, BatchMTP(r1_like), 2, slots=3, max_len=128).run([bad, *good])
    assert bad.finish_reason == "error" and "boom" in bad.error
    assert [s.out for s in good] == refs[1:]
