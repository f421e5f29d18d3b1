"""What the `plan --sheet` tests share: run the CLI as a user does, read its JSON, find a row."""

import json

from click.testing import CliRunner

from specsize.cli import cli

GB = 1e9
# R1 Q4_K_M on one RTX 4090 with the routed experts in host RAM (ktransformers): the consumer sheets' main case
R1_4090_KTRANSFORMERS = ("deepseek-r1", "--gpu", "rtx-4090", "--weights", "q4_k_m", "--engine", "ktransformers",
                         "--offload-experts")  # fmt: skip


def run(*args):
    r = CliRunner().invoke(cli, list(args))
    assert r.exit_code == 0, r.output
    return r.output


def sheet_json(*args):
    """The plan report and its first sheet, as `plan --sheet --json` prints them."""
    d = json.loads(run("plan", *args, "--sheet", "--json"))
    return d, d["sheets"][0]


def row(sheet, section, resource):
    sec = next(s for s in sheet["sections"] if s["title"] == section)
    return next(r for r in sec["rows"] if r["resource"] == resource)
