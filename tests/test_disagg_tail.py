"""scripts/disagg_tail.py: the disaggregated tail sorted by what each point's own figures say."""

from tests.scripts import load_script


def _script():
    return load_script("scripts/disagg_tail.py")


def _row(model_seqs, measured_seqs, input_error=0.0, prefill_bound=False, ttft_ms=300.0):
    return {"decode_seqs": model_seqs, "decode_seqs_measured": measured_seqs, "prefill_bound": prefill_bound,
            "metrics": {"ttft_ms": {"measured": ttft_ms}, "input_tok_s_per_gpu": {"error": input_error}}}  # fmt: skip


def test_each_class_is_the_signature_its_docstring_names():
    classify = _script().classify
    assert classify(_row(2000, 950)) == "outside-batch"  # half the model's batch decoded: the rest waited
    assert classify(_row(2000, 3500)) == "inside-batch"  # more decoded than the model lets through
    assert classify(_row(500, 480, input_error=-0.4, prefill_bound=True)) == "prefill-rate"
    assert classify(_row(500, 480, input_error=-0.4, ttft_ms=9000)) == "prefill-rate"  # saturated by its own TTFT
    assert classify(_row(500, 480, input_error=-0.4)) == "decode-step"  # prefill off but nowhere limiting
    assert classify(_row(500, None)) == "other"


def test_it_runs_on_the_bundled_corpus(capsys):
    import sys

    argv, sys.argv = sys.argv, ["disagg_tail.py"]
    try:
        _script().main()
    finally:
        sys.argv = argv
    out = capsys.readouterr().out
    assert "output_tok_s_per_gpu:" in out and "outside-batch" in out and "points over 30%" in out
