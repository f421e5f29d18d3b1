"""Regenerate the README's requirements-sheet examples from the commands themselves (run from the repository
root with specsize importable): everything between the paragraph that starts with START and the line END."""

import re
import subprocess
from pathlib import Path

START = "`specsize plan ... --sheet` — the requirements sheet"
END = "`specsize validate [FILE ...]`"
DRAFT = "--spec draft:deepseek-r1-distill-qwen-1.5b:4"
FIRST_LINES = re.compile(r"^(### |#### |\*\*|\S+ does not fit)")


def sh(cmd: str) -> str:
    return subprocess.run(cmd, shell=True, capture_output=True, text=True, check=True).stdout


def first_lines(md: str) -> str:
    return "\n\n".join(line for line in md.splitlines() if FIRST_LINES.match(line)) + "\n\n"


def main() -> None:
    readme = Path("README.md")
    text = readme.read_text(encoding="utf-8")
    i, j = text.index(START), text.index(END)
    intro = text[i : text.index("The seed question, full R1", i)]
    r1 = first_lines(
        sh(
            "specsize plan deepseek-r1 --gpu h200 --gpu b200 --gpu mi300x --gpu h100-sxm --gpu a100-80gb "
            "--format markdown"
        )
    )
    rtx = " ".join(f"--gpu rtx-{n}" for n in (3060, 3070, 3080, 3090, 4090))
    distills = "".join(
        first_lines(
            sh(
                f"specsize plan deepseek-r1-distill-qwen-{m} {rtx} --engine llamacpp --weights "
                f"q4_k_m {DRAFT} --format markdown"
            )
        )
        for m in ("7b", "14b", "32b")
    )
    h100 = sh("specsize plan deepseek-r1 --gpu h100-sxm --format markdown")
    d32 = sh(
        f"specsize plan deepseek-r1-distill-qwen-32b --gpu rtx-4090 --engine llamacpp --weights q4_k_m {DRAFT} "
        "--format markdown"
    )
    section = (
        intro
        + f"""The seed question, full R1 (`specsize plan deepseek-r1 --gpu h200 --gpu b200 --gpu mi300x
--gpu h100-sxm --gpu a100-80gb --format markdown`, first lines of each sheet):

{r1}
The distills on an RTX 3060-4090 with the 1.5B distill drafting (for M in 7b 14b 32b: `specsize plan
deepseek-r1-distill-qwen-$M --gpu rtx-3060 --gpu rtx-3070 --gpu rtx-3080 --gpu rtx-3090 --gpu rtx-4090 --engine
llamacpp --weights q4_k_m --spec draft:deepseek-r1-distill-qwen-1.5b:4 --format markdown`, first lines):

{distills}
Two whole sheets:

<details><summary><code>specsize plan deepseek-r1 --gpu h100-sxm --format markdown</code></summary>

{h100}
</details>

<details><summary><code>specsize plan deepseek-r1-distill-qwen-32b --gpu rtx-4090 --engine llamacpp
--weights q4_k_m --spec draft:deepseek-r1-distill-qwen-1.5b:4 --format markdown</code></summary>

{d32}
</details>

"""
    )
    readme.write_text(text[:i] + section + text[j:], encoding="utf-8")


if __name__ == "__main__":
    main()
