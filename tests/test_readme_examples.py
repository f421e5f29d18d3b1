"""The README's `$ specsize ...` examples are what those commands print today (scripts/readme_examples.py
regenerates them; this runs its --check). A change to the planner's figures that leaves the README behind fails
here, with the command to run."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_examples_are_current():
    out = subprocess.run([sys.executable, "scripts/readme_examples.py", "--check"], cwd=ROOT, capture_output=True,
                         text=True)  # fmt: skip
    assert out.returncode == 0, (
        f"stale README examples; run `python scripts/readme_examples.py`:\n{out.stdout}{out.stderr}"
    )


def test_an_excerpt_that_no_longer_matches_is_an_error(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("```\n$ specsize plan\nfirst line\n...\nno such line in the output\n```\n", encoding="utf-8")
    out = subprocess.run([sys.executable, str(ROOT / "scripts/readme_examples.py"), "--readme", str(readme)],
                         cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert out.returncode != 0 and "no longer in its output" in out.stderr
    assert "no such line" in readme.read_text(encoding="utf-8")  # nothing written
