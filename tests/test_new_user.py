"""What a new user hits, run as a user runs it (CliRunner): every bad input gets one clear line and a non-zero
exit, never a traceback; the documented commands work (issue 18, items 5 and 6)."""

import json

from click.testing import CliRunner

from specsize.cli import cli


def run(*args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], **kw)


def one_line_error(r, needle):
    assert r.exit_code == 1, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert "Traceback" not in r.output and needle in r.output, r.output


# --- planner ------------------------------------------------------------------------------------------------------


def test_fit_tiny_r1_clips_the_default_context_with_a_note():
    r = run("fit", "tiny-r1", "--gpu", "h200")
    assert r.exit_code == 0, r.output
    assert "note: tiny-r1 holds 1,024 positions" in r.output and "512 input + 512 output tokens" in r.output
    r = run("fit", "tiny-r1", "--gpu", "h200", "--input", "4096")  # a length the user gives is never changed
    one_line_error(r, "exceeds tiny-r1's maximum of 1,024")


def test_a_config_with_1e10_layers_is_one_line(tmp_path):
    from specsize import catalog

    cfg = dict(catalog.find_model("r1-distill-qwen-1.5b")["config"], num_hidden_layers=10**10)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    one_line_error(run("inspect", tmp_path / "config.json"), "num_hidden_layers' must be at most 10,000")
    cfg["num_hidden_layers"] = 1e10
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    one_line_error(run("fit", tmp_path / "config.json"), "num_hidden_layers' must be a positive integer")


def test_a_config_json_in_the_current_folder_is_named_for_the_folder(tmp_path, monkeypatch):
    from specsize import catalog

    d = tmp_path / "my-model"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(catalog.find_model("r1-distill-qwen-1.5b")["config"]))
    monkeypatch.chdir(d)
    r = run("fit", "config.json", "--gpu", "h200", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["model"] == "my-model"
    r = run("fit", "config.json", "--gpu", "h200", "--context", "10000000")
    one_line_error(r, "exceeds my-model's maximum")


def test_spec_with_an_extra_field_a_draft_tp_the_layout_cannot_host_and_a_repeated_gpu():
    one_line_error(run("plan", "--spec", "ngram:3:4", "--gpu", "h200"), "one field too many; the form is ngram[:k]")
    one_line_error(run("plan", "r1-distill-qwen-7b", "--spec", "draft:r1-distill-qwen-1.5b:3:1", "--gpu", "h200"),
                   "draft:MODEL[:k]")  # fmt: skip
    args = ["r1-distill-qwen-32b", "--spec", "draft:r1-distill-qwen-1.5b:4", "--gpu", "h100-sxm", "--engine", "vllm"]
    one_line_error(run("plan", *args, "--gpus", "4", "--draft-tp", "2"), "vLLM runs a draft at TP 1 or at the target")
    one_line_error(run("plan", *args, "--draft-tp", "16"), "--draft-tp 16: the target runs on")
    one_line_error(run("fit", *args, "--draft-tp", "16"), "--draft-tp 16: the target runs on")
    ok = run("plan", *args, "--gpus", "4", "--draft-tp", "4", "--json")
    assert ok.exit_code == 0, ok.output
    assert '"draft_tensor_parallel_size": 4' in json.loads(ok.output)["commands"]["lines"][-1]
    one_line_error(run("plan", "--gpu", "h200", "--gpu", "h200"), "--gpu h200 is given twice")
    one_line_error(run("fit", "--gpu", "h200", "--gpu", "b200", "--gpu", "H200"), "is given twice")
