"""The opt-in compiled steps (specsize.engine.compile) compute what the eager model computes: the logits of
one-token steps and of k+1 blocks at new positions, the MTP module's too, with a bounded number of graphs (a
new position or block size does not recompile), and greedy speculative generation through them is
token-identical to eager plain decoding. Compiling takes tens of seconds here, so one model per family."""

import copy

import pytest
import torch
from torch._dynamo.utils import counters

from specsize.assets import bundled_model_dir
from specsize.engine.compile import compile_steps
from specsize.engine.generate import generate
from specsize.engine.loader import load_model
from specsize.engine.proposers import DraftModelProposer, MTPProposer
from specsize.engine.sampling import SamplingParams

from .test_spec_greedy import tiny

TOL = 1e-4


def steps(m, tokens):
    """Prefill 6, one token at 5 positions, then a rolled-back 4-token block and a 3-token one. Each step's
    tokens are a new tensor, as in the generation loop (a view's storage offset is one more symbol to guard)."""
    out = [m(tokens[:, :6], start=0)] + [m(tokens[:, i : i + 1].clone(), start=i) for i in range(6, 11)]
    out += [m(tokens[:, 8:12].clone(), start=8), m(tokens[:, 12:15].clone(), start=12)]
    return out


def counted(calls: dict, name: str, fn):
    """fn, counting its calls in calls[name]."""

    def call(*a):
        calls[name] += 1
        return fn(*a)

    return call


@pytest.mark.parametrize("family, seed", [("llama", 3), ("deepseek_v3", 7)])
@torch.inference_mode()
def test_compiled_steps_match_eager(family, seed):
    m = tiny(family, seed).fuse()
    tokens = torch.randint(0, m.arch.vocab_size, (1, 16), generator=torch.Generator().manual_seed(seed))
    m.setup_cache(1, 32)
    eager = steps(m, tokens)
    blocks, mtp_eager = [], []
    if m.mtp is not None:  # the MTP module: a catch-up block and chained one-token steps
        h = m(tokens[:, :12], start=0, return_hidden=True)[1]
        at = ((4, 3), (7, 1), (8, 1))
        blocks = [(h[:, i : i + n].clone(), tokens[:, i + 1 : i + 1 + n].clone(), i) for i, n in at]
        mtp_eager = [m.mtp_forward(*b)[0] for b in blocks]
    graphs = counters["stats"]["unique_graphs"]
    compiled = copy.deepcopy(m)
    compile_steps(compiled).setup_cache(1, 32)
    for e, c in zip(eager, steps(compiled, tokens), strict=True):
        assert (e - c).abs().max() < TOL
    for e, b in zip(mtp_eager, blocks, strict=True):
        assert (e - compiled.mtp_forward(*b)[0]).abs().max() < TOL
    # one graph for one-token steps, one for blocks (twice with MTP); not one per position or size
    assert counters["stats"]["unique_graphs"] - graphs <= (4 if blocks else 2)


@torch.inference_mode()
def test_compiled_mtp_generation_is_lossless():
    # the bundled tiny-r1: its MTP drafts are often accepted, so catch-up blocks of several states arrive, as
    # slices of the target's verification block and as concatenations
    m = load_model(bundled_model_dir("tiny-r1")).model
    prompts = [[0, 5, 6, 7, 8, 9], [0, 9, 8, 7, 6, 5, 4, 3, 2]]
    plain = [generate(m, p, 40).token_ids for p in prompts]
    # eager, fused (the drafts made inside the verification, rounds.verify_mtp_round) and not: the same drafts
    eager = {(i, k, f): generate(m, p, 40, proposer=MTPProposer(m, SamplingParams(), fused=f), k=k)
             for i, p in enumerate(prompts) for k in (1, 2, 3) for f in (True, False)}  # fmt: skip
    for (i, k, f), g in eager.items():
        assert g.token_ids == plain[i]
        assert g.stats.num_accepted_tokens_per_pos == eager[(i, k, not f)].stats.num_accepted_tokens_per_pos
    graphs = counters["stats"]["unique_graphs"]
    compile_steps(m)
    calls = {"verify_mtp": 0, "mtp_round": 0}

    m.steps.verify_mtp = counted(calls, "verify_mtp", m.steps.verify_mtp)
    m.steps.mtp_round = counted(calls, "mtp_round", m.steps.mtp_round)
    for i, p in enumerate(prompts):
        for k in (1, 2, 3):
            calls.update(verify_mtp=0, mtp_round=0)
            g = generate(m, p, 40, proposer=MTPProposer(m, SamplingParams()), k=k)
            assert g.token_ids == plain[i]
            assert g.stats.num_accepted_tokens_per_pos == eager[(i, k, True)].stats.num_accepted_tokens_per_pos
            # one compiled call a round: the verification with the next round's drafts; the first round's
            # drafts from the catch-up on the prompt's last states
            assert calls == {"verify_mtp": g.stats.num_rounds, "mtp_round": 1}
    # per k: the fused verification (a block, and the one-token step of the last round) and the first round's
    # catch-up
    assert counters["stats"]["unique_graphs"] - graphs <= 3 * 3


@torch.inference_mode()
def test_compiled_draft_generation_is_lossless_and_one_graph_per_k():
    """The draft model's k steps run as one unrolled graph: greedy output identical to eager plain decoding,
    and once compiled, a second generation compiles nothing."""
    root = bundled_model_dir("tiny-r1")
    target = load_model(root).model.fuse()
    draft = load_model(bundled_model_dir("tiny-r1-draft"), mtp=False).model.fuse()
    prompts = [[0, 5, 6, 7, 8, 9], [0, 9, 8, 7, 6, 5, 4, 3, 2]]
    plain = [generate(target, p, 40).token_ids for p in prompts]
    compile_steps(target)
    compile_steps(draft)
    k = 4

    def spec(p):
        prop = DraftModelProposer(draft, target.arch.vocab_size, SamplingParams(), len(p) + 40 + k + 2)
        return generate(target, p, 40, proposer=prop, k=k)

    calls = {"verify": 0, "draft": 0}

    target.steps.verify = counted(calls, "verify", target.steps.verify)
    draft.steps.draft = counted(calls, "draft", draft.steps.draft)
    first = spec(prompts[0])
    assert first.token_ids == plain[0] and first.stats.mean_acceptance_length > 2  # drafts are mostly accepted
    # a round is two compiled calls: the k draft steps in one, the verification (and sampler) in the other
    assert calls == {"verify": first.stats.num_rounds, "draft": first.stats.num_drafts}
    graphs = counters["stats"]["unique_graphs"]
    assert spec(prompts[1]).token_ids == plain[1]
    assert counters["stats"]["unique_graphs"] == graphs  # warm: the second prompt runs the same graphs


@torch.inference_mode()
def test_compiled_batched_mtp_is_lossless():
    """Batched MTP (serve's engine, batch.BatchMTP) through the compiled steps: rows that accepted different numbers
    of drafts catch up on different numbers of states (padded to the longest; the module's MLP and head on each
    row's own last one, MTPLayer.predict's per-row index), and every row's greedy output equals plain decoding."""
    from specsize.engine.batch import BatchEngine, BatchMTP, Sequence

    m = load_model(bundled_model_dir("tiny-r1")).model
    prompts = [[0, 5, 6, 7, 8, 9], [0, 9, 8, 7, 6, 5, 4, 3, 2], [0, 3, 3, 3], [0, 7, 1, 7, 1, 7]]
    plain = [generate(m, p, 32).token_ids for p in prompts]
    alone = [generate(m, p, 32, proposer=MTPProposer(m, SamplingParams(), fused=False), k=2).stats for p in prompts]
    compile_steps(m)
    seqs = BatchEngine(m, BatchMTP(m), 2, slots=3, max_len=128).run([Sequence(p, 32) for p in prompts])
    assert [s.out for s in seqs] == plain
    # each row drafts from its own last state: it accepts what it accepts decoded alone (eager)
    assert [s.stats.num_accepted_tokens for s in seqs] == [a.num_accepted_tokens for a in alone]
    assert sum(a.num_accepted_tokens for a in alone) > 0
